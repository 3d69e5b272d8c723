"""Shared by the tests: the repository root on sys.path (so `models.train` imports however the
tests are started), the shipped bundles, and tiny bundles built with onnx.helper (no torch)."""
import hashlib
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

MODELS = os.path.join(REPO, "models")
SHIPPED = ["tiny-mnist", "resnet-fmnist", "resnet-fmnist-pt", "mobilenet-random"]
OPSET = 17


def bundle_dir(name):
    return os.path.join(MODELS, name)


def model(nodes, inputs, outputs, inits=(), opset=OPSET, domains=()):
    """An onnx.ModelProto from helper pieces; inputs / outputs: (name, shape[, elem type]), a
    None dim is the dynamic batch."""
    def vi(name, shape, elem=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, elem, [d if d is not None else "N" for d in shape])
    g = helper.make_graph(list(nodes), "g", [vi(*i) for i in inputs],
                          [vi(*o) for o in outputs],
                          [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    return m


def write_bundle(out, seg0, rng=(0.0, 1.0), mean=(0.0,), std=(1.0,), side=4, pack=None):
    """A one-segment bundle in `out`: seg0 (a ModelProto mapping input [N,1,side,side] to a0 of
    the same shape), then a final exit whose logits are the first two values of a0 (Flatten +
    Gemm with one-hot weights). pack: (u8 [n,1,side,side], u8 [n]) as testpack.bin."""
    from models.train.bundle import pack_bytes
    os.makedirs(out, exist_ok=True)
    k = side * side
    w = np.zeros((k, 2), np.float32)
    w[0, 0] = w[1, 1] = 1.0
    final = model([helper.make_node("Flatten", ["a0"], ["f"], axis=1),
                   helper.make_node("Gemm", ["f", "w"], ["logits"])],
                  [("a0", [None, 1, side, side])], [("logits", [None, 2])], inits=[("w", w)])
    files = {"seg0.onnx": seg0.SerializeToString(), "final.onnx": final.SerializeToString()}
    if pack is not None:
        files["testpack.bin"] = pack_bytes(*pack)
    sha = {f: hashlib.sha256(b).hexdigest() for f, b in files.items()}
    for f, b in files.items():
        with open(os.path.join(out, f), "wb") as fh:
            fh.write(b)
    manifest = {
        "format": "exitwise/1", "name": "tiny", "labels": ["a", "b"],
        "input": {"shape": [1, 1, side, side], "dtype": "f32", "layout": "NCHW", "range": list(rng),
                  "mean": list(mean), "std": list(std)},
        "segments": [{"name": "seg0", "file": "seg0.onnx", "sha256": sha["seg0.onnx"], "inputs": ["input"],
                      "outputs": ["a0"]}],
        "exits": [{"name": "final", "after": 0, "file": "final.onnx", "sha256": sha["final.onnx"],
                   "inputs": ["a0"], "outputs": ["logits"], "logits": "logits", "rule": "max_softmax"}],
    }
    if pack is not None:
        manifest["test_pack"] = {"file": "testpack.bin", "sha256": sha["testpack.bin"]}
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh)
    return manifest


def relu_segment(side=4, **node_kw):
    """seg0 of write_bundle: one Relu (attributes in node_kw end up on it)."""
    return model([helper.make_node("Relu", ["input"], ["a0"], **node_kw)],
                 [("input", [None, 1, side, side])], [("a0", [None, 1, side, side])])
