"""Exports a PyTorch early-exit network (segments + exit heads, see exitnet.py) as an
`exitwise/1` bundle (crate/BUNDLE.md): one ONNX per segment and per exit head, manifest.json with
the sha-256 of every file, full.onnx (the plain network, final logits only), testpack.bin,
calibpack.bin and reference.bin.

    from models.train.exporter import export_bundle
    export_bundle("models/my-net", "my-net", segments, exits, labels=[...],
                  mean=[0.5], std=[0.5], test_pack=(u8_images, u8_labels),
                  calib_pack=(u8_images, u8_labels))
"""
import copy
import hashlib
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn

from .exitnet import PlainNet, Exit, Segment, run_parts, validate, _as_tuple

OPSET = 17
# Clip (ReLU6; its bounds come as Constant nodes): tract rewrites it into Max and Min, which the
# WebGPU lowering has kernels for (models/mobilenet-random).
ALLOWED_OPS = {"Conv", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
               "Reshape", "Gemm", "MatMul", "Sigmoid", "Concat", "BatchNormalization", "Clip",
               "Constant"}


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def pack_bytes(images_u8, labels_u8):
    """testpack/calibpack `EWTP` v1: header, u8 pixels image-major CHW, u8 labels."""
    images_u8 = np.ascontiguousarray(images_u8, dtype=np.uint8)
    labels_u8 = np.ascontiguousarray(labels_u8, dtype=np.uint8)
    n, c, h, w = images_u8.shape
    assert labels_u8.shape == (n,)
    return b"EWTP" + struct.pack("<5I", 1, n, c, h, w) + images_u8.tobytes() + labels_u8.tobytes()


def write_pack(path, images_u8, labels_u8):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(pack_bytes(images_u8, labels_u8))


def read_pack(path):
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"EWTP"
    ver, n, c, h, w = struct.unpack("<5I", b[4:24])
    px = np.frombuffer(b, np.uint8, n * c * h * w, 24).reshape(n, c, h, w)
    lab = np.frombuffer(b, np.uint8, n, 24 + n * c * h * w)
    return px, lab


def reference_bytes(per_exit):
    """reference.bin `EWRF` v1. per_exit: list of float32 arrays [n, width] (logits then conf)."""
    n = per_exit[0].shape[0]
    widths = [a.shape[1] for a in per_exit]
    rec = np.concatenate([a.astype(np.float32) for a in per_exit], axis=1)  # image-major records
    return (b"EWRF" + struct.pack("<3I", 1, n, len(per_exit)) + struct.pack(f"<{len(widths)}I", *widths)
            + np.ascontiguousarray(rec, dtype="<f4").tobytes())


class _Wrap(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, *xs):
        ys = _as_tuple(self.m(*xs))
        return ys[0] if len(ys) == 1 else tuple(ys)


def export_onnx(module, example_inputs, input_names, output_names, path, opset=OPSET):
    """Exports one part (eval mode, batch dim dynamic, BatchNorm folded into Conv by the exporter's
    eval-mode constant folding), runs onnx.checker and returns the op types used."""
    import onnx
    m = copy.deepcopy(module).eval()
    dyn = {n: {0: "N"} for n in list(input_names) + list(output_names)}
    torch.onnx.export(_Wrap(m), tuple(example_inputs), path, input_names=list(input_names),
                      output_names=list(output_names), dynamic_axes=dyn, opset_version=opset,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
                      dynamo=False)
    model = onnx.load(path)
    if strip_identity(model):
        onnx.save(model, path)
    onnx.checker.check_model(model, full_check=True)
    ops = sorted({n.op_type for n in model.graph.node})
    bad = [o for o in ops if o not in ALLOWED_OPS]
    if bad:
        print(f"warning: {os.path.basename(path)} uses ops outside the simple set: {bad}")
    return ops


def strip_identity(model):
    """Removes Identity nodes (the TorchScript exporter emits them when it de-duplicates equal
    initialisers): an Identity of an initialiser becomes a copy of it; otherwise its consumers
    read the Identity's input directly. Returns True if the graph changed."""
    import onnx
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    outs = {o.name for o in g.output}
    changed = False
    for node in [n for n in g.node if n.op_type == "Identity"]:
        x, y = node.input[0], node.output[0]
        if x in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[x])
            t.name = y
            g.initializer.append(t)
            inits[y] = t
        elif y in outs:
            # the graph output keeps its name: rename the producer's output instead
            for n in g.node:
                for i, o in enumerate(n.output):
                    if o == x:
                        n.output[i] = y
                for i, v in enumerate(n.input):
                    if v == x:
                        n.input[i] = y
        else:
            for n in g.node:
                for i, v in enumerate(n.input):
                    if v == y:
                        n.input[i] = x
        g.node.remove(node)
        changed = True
    if changed:   # drop initialisers nobody reads any more
        used = {v for n in g.node for v in n.input}
        keep = [t for t in g.initializer if t.name in used]
        del g.initializer[:]
        g.initializer.extend(keep)
    return changed


@torch.no_grad()
def torch_outputs(segments, exits, x, batch=500):
    """All exits' outputs as numpy arrays keyed by activation name (eval mode, batched)."""
    for p in list(segments) + list(exits):
        p.module.eval()
    names = [n for e in exits for n in e.outputs]
    chunks = {n: [] for n in names}
    for i in range(0, x.shape[0], batch):
        env = run_parts(segments, exits, x[i:i + batch])
        for n in names:
            chunks[n].append(env[n].detach().cpu().numpy())
    return {n: np.concatenate(v) for n, v in chunks.items()}


def onnx_run_chain(bundle_dir, manifest, x_np):
    """Runs the exported bundle part by part with onnxruntime; returns every activation."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    env = {"input": x_np}
    parts = []
    for k, seg in enumerate(manifest["segments"]):
        parts.append(seg)
        parts += [e for e in manifest["exits"] if e["after"] == k]
    for p in parts:
        s = ort.InferenceSession(os.path.join(bundle_dir, p["file"]), so, providers=["CPUExecutionProvider"])
        feeds = {i.name: env[n] for i, n in zip(s.get_inputs(), p["inputs"])}
        outs = s.run(None, feeds)
        env.update(zip(p["outputs"], outs))
    return env


def export_bundle(out_dir, name, segments, exits, labels, mean, std, input_shape=(1, 1, 28, 28),
                  description="", test_pack=None, calib_pack=None, reference=True,
                  value_range=(0.0, 1.0), opset=OPSET, verify=True, tol=1e-5):
    """Writes the bundle folder `out_dir`. segments / exits: lists of exitnet.Segment / Exit.
    test_pack / calib_pack: (u8 images [n,C,H,W], u8 labels [n]) or None.
    Returns a dict with the manifest, op types per file and the verification result."""
    validate(segments, exits)
    os.makedirs(out_dir, exist_ok=True)
    c_in = input_shape[1]
    assert len(mean) == len(std) == c_in
    # example activations for tracing (batch 2, to keep the batch dim honest)
    x_ex = torch.zeros((2,) + tuple(input_shape[1:]))
    for p in list(segments) + list(exits):
        p.module.eval()
    with torch.no_grad():
        env = run_parts(segments, exits, x_ex)
    files, ops = {}, {}

    def put(fname, data=None):
        path = os.path.join(out_dir, fname)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        with open(path, "rb") as f:
            files[fname] = sha256_bytes(f.read())
        return files[fname]

    man_segments, man_exits = [], []
    for seg in segments:
        fname = f"{seg.name}.onnx"
        ops[fname] = export_onnx(seg.module, [env[n] for n in seg.inputs], seg.inputs, seg.outputs,
                                 os.path.join(out_dir, fname), opset)
        man_segments.append({"name": seg.name, "file": fname, "sha256": put(fname),
                             "inputs": list(seg.inputs), "outputs": list(seg.outputs)})
    for j, ex in enumerate(exits):
        fname = f"{ex.name}.onnx"
        ops[fname] = export_onnx(ex.module, [env[n] for n in ex.inputs], ex.inputs, ex.outputs,
                                 os.path.join(out_dir, fname), opset)
        d = {"name": ex.name, "after": ex.after, "file": fname, "sha256": put(fname),
             "inputs": list(ex.inputs), "outputs": list(ex.outputs), "logits": ex.logits}
        if ex.confidence is not None:
            d["confidence"] = ex.confidence
        d["rule"] = ex.rule
        if j < len(exits) - 1:
            d["threshold"] = float(1.0 if ex.threshold is None else ex.threshold)
        man_exits.append(d)
    # the plain network, final output only
    plain = PlainNet(segments, exits).eval()
    ops["full.onnx"] = export_onnx(plain, [x_ex], ["input"], [exits[-1].logits],
                                   os.path.join(out_dir, "full.onnx"), opset)
    put("full.onnx")

    manifest = {"format": "exitwise/1", "name": name, "description": description,
                "labels": list(labels),
                "input": {"shape": [1] + list(input_shape[1:]), "dtype": "f32", "layout": "NCHW",
                          "range": [float(value_range[0]), float(value_range[1])],
                          "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
                "segments": man_segments, "exits": man_exits}
    result = {"ops": ops}
    if test_pack is not None:
        manifest["test_pack"] = {"file": "testpack.bin", "sha256": put("testpack.bin", pack_bytes(*test_pack))}
    if calib_pack is not None:
        manifest["calibration_pack"] = {"file": "calibpack.bin",
                                        "sha256": put("calibpack.bin", pack_bytes(*calib_pack))}
    if test_pack is not None and reference:
        from .data import to_input
        x = to_input(test_pack[0], mean, std)
        outs = torch_outputs(segments, exits, x)
        per_exit = []
        for ex in exits:
            a = outs[ex.logits].reshape(len(x), -1)
            if a.shape[1] != len(labels):
                raise ValueError(f"{ex.name}: logits width {a.shape[1]} != {len(labels)} labels")
            if ex.confidence is not None:
                a = np.concatenate([a, outs[ex.confidence].reshape(len(x), 1)], axis=1)
            per_exit.append(a)
        manifest["reference"] = {"file": "reference.bin", "sha256": put("reference.bin", reference_bytes(per_exit))}
        if verify:
            result["verify"] = verify_bundle(out_dir, manifest, x.numpy(), outs, plain, tol)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    result["manifest"] = manifest
    return result


def verify_bundle(out_dir, manifest, x_np, torch_outs, plain, tol):
    """Compares onnxruntime (part by part, and full.onnx) against PyTorch; raises above tol."""
    import onnxruntime as ort
    env = onnx_run_chain(out_dir, manifest, x_np)
    worst, scale = {}, {}
    for n, ref in torch_outs.items():
        worst[n] = float(np.max(np.abs(env[n].reshape(ref.shape) - ref)))
        scale[n] = max(1.0, float(np.max(np.abs(ref))))
    s = ort.InferenceSession(os.path.join(out_dir, "full.onnx"), providers=["CPUExecutionProvider"])
    full = s.run(None, {s.get_inputs()[0].name: x_np})[0]
    with torch.no_grad():
        pl = plain(torch.from_numpy(x_np)).numpy()
    worst["full.onnx"] = float(np.max(np.abs(full - pl)))
    scale["full.onnx"] = max(1.0, float(np.max(np.abs(pl))))
    # tolerance relative to the output's magnitude (BatchNorm folding reorders float32 rounding)
    rel = {n: worst[n] / scale[n] for n in worst}
    ok = all(v <= tol for v in rel.values())
    if not ok:
        raise AssertionError(f"onnxruntime vs PyTorch above {tol} (relative to max |output|): "
                             f"abs {worst} scale {scale}")
    return {"max_abs_diff": worst, "max_rel_diff": rel, "tol": tol, "ok": ok}
