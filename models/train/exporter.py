"""Exports a PyTorch early-exit network (segments + exit heads, see parts.py / exitnet.py) as an
`exitwise/1` bundle (crate/BUNDLE.md): one ONNX per segment and per exit head, manifest.json with
the sha-256 of every file, full.onnx (the plain network, final logits only), testpack.bin,
calibpack.bin and reference.bin.

    from models.train.exporter import export_bundle
    export_bundle("models/my-net", "my-net", segments, exits, labels=[...],
                  mean=[0.5], std=[0.5], test_pack=(u8_images, u8_labels),
                  calib_pack=(u8_images, u8_labels))

It refuses (raises) what the runtime would refuse: part lists (parts.check_parts: names used
twice or named `full`, unknown rules, early exits without a threshold in [0, 1], ...) before
anything is written, and each exported ONNX part the runtime's admission would not run on the
backends asked for (onnxcheck.check: operators, domains, opsets, data types, attributes).
PyTorch is imported only when a part is exported, so the checks run without it.
"""
import copy
import hashlib
import json
import math
import os

import numpy as np

from . import onnxcheck
from .bundle import (exit_records, pack_bytes, preprocess, read_pack, reference_bytes,  # noqa: F401
                     run_chain, write_pack)
from .parts import check_parts, part_file

OPSET = 17
# Kept for callers of the old name: the one ONNX-chain runner is bundle.run_chain.
onnx_run_chain = run_chain


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def _as_tuple(y):
    return y if isinstance(y, (tuple, list)) else (y,)


_WRAP = None


def _wrap_class():
    """The nn.Module the exporter traces a part through (one tensor out when the part has one
    output, else a tuple). Made on first use so that this module imports without torch; named
    and placed as when it was defined at module level, so that exports stay byte-identical."""
    global _WRAP
    if _WRAP is None:
        import torch.nn as nn

        class _Wrap(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, *xs):
                ys = _as_tuple(self.m(*xs))
                return ys[0] if len(ys) == 1 else tuple(ys)

        _Wrap.__qualname__ = "_Wrap"
        _WRAP = _Wrap
    return _WRAP


def export_part(module, example_inputs, input_names, output_names, path, opset=OPSET,
                backends=onnxcheck.BACKENDS):
    """Exports one part (eval mode, batch dim dynamic, BatchNorm folded into Conv by the exporter's
    eval-mode constant folding), runs onnx.checker, and raises onnxcheck.OnnxRejected if the
    runtime could not run it on `backends`. Returns (op types used, backends it runs on)."""
    import onnx
    import torch
    m = copy.deepcopy(module).eval()
    dyn = {n: {0: "N"} for n in list(input_names) + list(output_names)}
    torch.onnx.export(_wrap_class()(m), tuple(example_inputs), path, input_names=list(input_names),
                      output_names=list(output_names), dynamic_axes=dyn, opset_version=opset,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
                      dynamo=False)
    model = onnx.load(path)
    if strip_identity(model):
        onnx.save(model, path)
    onnx.checker.check_model(model, full_check=True)
    runs_on = onnxcheck.check(model, os.path.basename(path), backends)
    return sorted({n.op_type for n in model.graph.node}), runs_on


def export_onnx(module, example_inputs, input_names, output_names, path, opset=OPSET,
                backends=onnxcheck.BACKENDS):
    """export_part, returning only the op types."""
    return export_part(module, example_inputs, input_names, output_names, path, opset, backends)[0]


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


def torch_outputs(segments, exits, x, batch=500):
    """All exits' outputs as numpy arrays keyed by activation name (eval mode, batched)."""
    import torch
    from .exitnet import run_parts
    for p in list(segments) + list(exits):
        p.module.eval()
    names = [n for e in exits for n in e.outputs]
    chunks = {n: [] for n in names}
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            env = run_parts(segments, exits, x[i:i + batch])
            for n in names:
                chunks[n].append(env[n].detach().cpu().numpy())
    return {n: np.concatenate(v) for n, v in chunks.items()}


def check_export(segments, exits, labels, mean, std, input_shape, value_range, backends):
    """Everything about an export that can be refused before a file is written (torch-free)."""
    check_parts(segments, exits)
    if len(labels) < 2:
        raise ValueError(f"labels: need at least 2 classes, got {list(labels)!r}")
    if len(input_shape) != 4 or any(int(d) < 1 for d in input_shape[1:]):
        raise ValueError(f"input_shape {tuple(input_shape)} must be (1, C, H, W)")
    c_in = int(input_shape[1])
    if len(mean) != c_in or len(std) != c_in:
        raise ValueError(f"mean and std need {c_in} entries (one per channel), got {len(mean)} and {len(std)}")
    if not all(math.isfinite(m) for m in mean) or not all(math.isfinite(s) and s > 0 for s in std):
        raise ValueError("mean must be finite and std finite and > 0")
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range {tuple(value_range)} must be finite with min < max")
    bad = [b for b in backends if b not in onnxcheck.BACKENDS]
    if bad or not backends:
        raise ValueError(f"backends {tuple(backends)!r}: choose from {onnxcheck.BACKENDS}")


def runtime_check(out_dir):
    """`exitwise info` on the written bundle: the runtime's own admission, shape checks and load
    checks (packs, reference outputs). Returns what happened; raises if the bundle is refused."""
    from . import cli
    try:
        binary = cli.find_exitwise()
    except FileNotFoundError as e:
        return f"skipped: {e}"
    cli.run("info", out_dir, binary=binary)
    return f"ok: {binary} info loads the bundle"


def export_bundle(out_dir, name, segments, exits, labels, mean, std, input_shape=(1, 1, 28, 28),
                  description="", test_pack=None, calib_pack=None, reference=True,
                  value_range=(0.0, 1.0), opset=OPSET, verify=True, tol=1e-5,
                  backends=onnxcheck.BACKENDS):
    """Writes the bundle folder `out_dir`. segments / exits: lists of parts.Segment / Exit (every
    early exit with a threshold in [0, 1]). test_pack / calib_pack: (u8 images [n,C,H,W],
    u8 labels [n]) or None; the reference outputs are PyTorch's on the test pack's pixels mapped
    into `value_range` and normalised exactly as the runtime does (bundle.preprocess).
    backends: those every part must run on ("cpu", "webgpu"); an op one of them lacks raises.
    Returns a dict with the manifest, op types and backends per file, the verification result
    and `runtime_check` (`exitwise info` on the bundle when a binary is found)."""
    check_export(segments, exits, labels, mean, std, input_shape, value_range, backends)
    import torch
    from .exitnet import PlainNet, run_parts
    os.makedirs(out_dir, exist_ok=True)
    # example activations for tracing (batch 2, to keep the batch dim honest)
    x_ex = torch.zeros((2,) + tuple(input_shape[1:]))
    for p in list(segments) + list(exits):
        p.module.eval()
    with torch.no_grad():
        env = run_parts(segments, exits, x_ex)
    files, ops, runs_on = {}, {}, {}

    def put(fname, data=None):
        path = os.path.join(out_dir, fname)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        with open(path, "rb") as f:
            files[fname] = sha256_bytes(f.read())
        return files[fname]

    def export(module, inputs, input_names, output_names, fname):
        ops[fname], runs_on[fname] = export_part(module, inputs, input_names, output_names,
                                                 os.path.join(out_dir, fname), opset, backends)

    man_segments, man_exits = [], []
    for seg in segments:
        fname = part_file(seg.name)
        export(seg.module, [env[n] for n in seg.inputs], seg.inputs, seg.outputs, fname)
        man_segments.append({"name": seg.name, "file": fname, "sha256": put(fname),
                             "inputs": list(seg.inputs), "outputs": list(seg.outputs)})
    for j, ex in enumerate(exits):
        fname = part_file(ex.name)
        export(ex.module, [env[n] for n in ex.inputs], ex.inputs, ex.outputs, fname)
        d = {"name": ex.name, "after": ex.after, "file": fname, "sha256": put(fname),
             "inputs": list(ex.inputs), "outputs": list(ex.outputs), "logits": ex.logits}
        if ex.confidence is not None:
            d["confidence"] = ex.confidence
        d["rule"] = ex.rule
        if j < len(exits) - 1:
            d["threshold"] = float(ex.threshold)      # check_parts: set and within [0, 1]
        man_exits.append(d)
    # the plain network, final output only
    plain = PlainNet(segments, exits).eval()
    export(plain, [x_ex], ["input"], [exits[-1].logits], "full.onnx")
    put("full.onnx")

    manifest = {"format": "exitwise/1", "name": name, "description": description,
                "labels": list(labels),
                "input": {"shape": [1] + list(input_shape[1:]), "dtype": "f32", "layout": "NCHW",
                          "range": [float(value_range[0]), float(value_range[1])],
                          "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
                "segments": man_segments, "exits": man_exits}
    result = {"ops": ops, "backends": runs_on}
    if test_pack is not None:
        manifest["test_pack"] = {"file": "testpack.bin", "sha256": put("testpack.bin", pack_bytes(*test_pack))}
    if calib_pack is not None:
        manifest["calibration_pack"] = {"file": "calibpack.bin",
                                        "sha256": put("calibpack.bin", pack_bytes(*calib_pack))}
    if test_pack is not None and reference:
        # The runtime's input for each pack image: pixels into input.range, then normalised.
        x_np = preprocess(manifest["input"], np.asarray(test_pack[0], np.uint8))
        x = torch.from_numpy(x_np)
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
            result["verify"] = verify_bundle(out_dir, manifest, x_np, outs, plain, tol)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    result["manifest"] = manifest
    result["runtime_check"] = runtime_check(out_dir)
    return result


def set_thresholds(out_dir, thresholds):
    """Rewrites the early exits' default thresholds in out_dir/manifest.json (the manifest is not
    hashed, so the other files stay valid)."""
    path = os.path.join(out_dir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    early = manifest["exits"][:-1]
    if len(thresholds) != len(early) or not all(0 <= float(t) <= 1 for t in thresholds):
        raise ValueError(f"{len(early)} thresholds in [0, 1] needed, got {list(thresholds)}")
    for e, t in zip(early, thresholds):
        e["threshold"] = float(t)
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def verify_bundle(out_dir, manifest, x_np, torch_outs, plain, tol):
    """Compares onnxruntime (part by part, and full.onnx) against PyTorch; raises above tol."""
    import onnxruntime as ort
    import torch
    env = run_chain(out_dir, manifest, x_np)
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
