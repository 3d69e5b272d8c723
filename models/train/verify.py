"""Independent check of a bundle folder against crate/BUNDLE.md, using only the files:
hashes, pack and reference formats, ONNX shapes, and onnxruntime outputs vs reference.bin.
No PyTorch: numpy, onnx and onnxruntime.

    python -m models.train.verify models/tiny-mnist [models/resnet-fmnist ...]
"""
import hashlib
import os
import sys

import numpy as np

from .bundle import exit_records, load_manifest, preprocess, read_pack, read_reference, run_chain


def check(bundle, tol=1e-4):
    import onnx
    man = load_manifest(bundle)
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
    ref = read_reference(os.path.join(bundle, man["reference"]["file"]))
    assert len(ref) == len(ex) and all(r.shape[0] == len(lab) for r in ref)
    for e, r in zip(ex, ref):
        assert r.shape[1] == C + (1 if "confidence" in e else 0), e["name"]
    # The runtime's input: pixels into input.range, normalised (bundle.preprocess).
    got = exit_records(man, run_chain(bundle, man, preprocess(man["input"], px)))
    worst = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
    acc = [float((g[:, :C].argmax(1) == lab).mean()) for g in got]
    assert worst <= tol, f"reference parity {worst} > {tol}"
    return {"bundle": bundle, "max_abs_diff_vs_reference": worst, "test_pack_acc": acc}


if __name__ == "__main__":
    for d in sys.argv[1:]:
        print(check(d))
