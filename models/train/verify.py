"""Independent check of a bundle folder against crate/BUNDLE.md, using only the files:
hashes, pack and reference formats, ONNX shapes, and onnxruntime outputs vs reference.bin.

    python -m models.train.verify models/tiny-mnist [models/resnet-fmnist ...]
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np


def check(bundle, tol=1e-4):
    import onnx
    from .exporter import onnx_run_chain, read_pack
    man = json.load(open(os.path.join(bundle, "manifest.json")))
    assert man["format"] == "exitwise/1"
    C = len(man["labels"])
    refs = [man[k] for k in ("test_pack", "calibration_pack", "reference") if k in man]
    for part in man["segments"] + man["exits"] + refs:
        b = open(os.path.join(bundle, part["file"]), "rb").read()
        assert hashlib.sha256(b).hexdigest() == part["sha256"], part["file"]
    for part in man["segments"] + man["exits"]:
        m = onnx.load(os.path.join(bundle, part["file"]))
        onnx.checker.check_model(m)
        inits = {t.name for t in m.graph.initializer}
        ins = [i for i in m.graph.input if i.name not in inits]
        assert len(ins) == len(part["inputs"]) and len(m.graph.output) == len(part["outputs"]), part["file"]
        for v in list(ins) + list(m.graph.output):
            assert v.type.tensor_type.shape.dim[0].dim_param, f"{part['file']}: batch dim not dynamic"
    ex = man["exits"]
    assert ex[-1]["after"] == len(man["segments"]) - 1
    px, lab = read_pack(os.path.join(bundle, man["test_pack"]["file"]))
    assert list(px.shape[1:]) == man["input"]["shape"][1:]
    read_pack(os.path.join(bundle, man["calibration_pack"]["file"]))
    b = open(os.path.join(bundle, man["reference"]["file"]), "rb").read()
    assert b[:4] == b"EWRF"
    ver, n, E = struct.unpack("<3I", b[4:16])
    widths = struct.unpack(f"<{E}I", b[16:16 + 4 * E])
    assert ver == 1 and n == len(lab) and E == len(ex)
    for e, w in zip(ex, widths):
        assert w == C + (1 if "confidence" in e else 0)
    rec = np.frombuffer(b, "<f4", offset=16 + 4 * E).reshape(n, sum(widths))
    mean = np.asarray(man["input"]["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(man["input"]["std"], np.float32).reshape(1, -1, 1, 1)
    x = (px.astype(np.float32) / np.float32(255.0) - mean) / std
    env = onnx_run_chain(bundle, man, x)
    worst, off = 0.0, 0
    acc = []
    for e, w in zip(ex, widths):
        got = env[e["logits"]].reshape(n, C)
        if "confidence" in e:
            got = np.concatenate([got, env[e["confidence"]].reshape(n, 1)], axis=1)
        worst = max(worst, float(np.abs(got - rec[:, off:off + w]).max()))
        acc.append(float((got[:, :C].argmax(1) == lab).mean()))
        off += w
    assert worst <= tol, f"reference parity {worst} > {tol}"
    return {"bundle": bundle, "max_abs_diff_vs_reference": worst, "test_pack_acc": acc}


if __name__ == "__main__":
    for d in sys.argv[1:]:
        print(check(d))
