"""Operating points on each bundle's own calibration pack, computed from the bundle files alone.

    python -m models.train.oppoints            # from the repository root; every bundle of index.json

models/REPORT.md's operating points are calibrated on the whole validation split (in PyTorch),
but a bundle ships only its first 1,000 images (`calibpack.bin`), which is what
`exitwise calibrate` uses by default. This script redoes the calibration on exactly that pack,
without PyTorch: it runs the bundle's ONNX parts with onnxruntime as the manifest wires them,
mirrors the runtime's preprocessing and confidence rules (crate/src/input.rs, crate/src/rules.rs,
crate/src/engine.rs), counts each part's MACs from its ONNX graph, and calls
`calibrate.calibrate` / `calibrate.evaluate_thresholds` (BUNDLE.md's greedy search).

Writes `models/<name>/operating-points.json` and the section of models/REPORT.md between
`<!-- calibration-pack operating points -->` and `<!-- end calibration-pack operating points -->`.
`crate/tests/calibrate_report.rs` checks `exitwise calibrate --max-drop X --json` against the JSON.
"""
import json
import os
import struct
import sys

import numpy as np

from .calibrate import GRID, calibrate, evaluate_thresholds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # models/
DROPS = [0.1, 0.5, 1.0]
BEGIN = "<!-- calibration-pack operating points -->"
END = "<!-- end calibration-pack operating points -->"
F32 = np.float32


def read_pack(path):
    """EWTP v1 (BUNDLE.md): u8 pixels [n, c, h, w] and u8 labels [n]."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"EWTP":
        raise ValueError(f"{path}: not an EWTP pack")
    ver, n, c, h, w = struct.unpack("<5I", b[4:24])
    if ver != 1 or len(b) != 24 + n * c * h * w + n:
        raise ValueError(f"{path}: bad version or length")
    px = np.frombuffer(b, np.uint8, n * c * h * w, 24).reshape(n, c, h, w)
    lab = np.frombuffer(b, np.uint8, n, 24 + n * c * h * w)
    return px, lab


def preprocess(spec, px):
    """input.rs: `from_u8` (lo + p/255·(hi − lo)), then `normalize` ((clamp(x) − mean[c]) / std[c]),
    all in float32."""
    lo, hi = (F32(v) for v in spec["range"])
    x = lo + px.astype(F32) / F32(255.0) * (hi - lo)
    x = np.clip(x, lo, hi)
    mean = np.asarray(spec["mean"], F32).reshape(1, -1, 1, 1)
    std = np.asarray(spec["std"], F32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).astype(F32)


def _exp32(z):
    # f32::exp (libm expf) is correctly rounded in practice; exp in f64 rounded once to f32
    # matches it, where numpy's own float32 exp may differ by an ulp.
    return np.exp(z.astype(np.float64)).astype(F32)


def softmax(logits):
    """rules.rs `softmax`: max-shifted exp, a left-to-right f32 sum, then division."""
    l = logits.astype(F32)
    e = _exp32(l - l.max(axis=1, keepdims=True))
    s = e[:, 0].copy()
    for k in range(1, e.shape[1]):
        s = (s + e[:, k]).astype(F32)
    return (e / s[:, None]).astype(F32)


def confidence(rule, p, learned):
    """rules.rs `confidence`."""
    if rule == "learned":
        return np.clip(learned.reshape(-1).astype(F32), F32(0), F32(1))
    if rule == "max_softmax":
        return p.max(axis=1).astype(F32)
    if rule == "entropy":
        c = p.shape[1]
        if c < 2:
            return np.ones(p.shape[0], F32)
        term = np.where(p > 0, -p * np.log(np.where(p > 0, p, F32(1)).astype(np.float64)).astype(F32), F32(0))
        h = term[:, 0].astype(F32)
        for k in range(1, c):
            h = (h + term[:, k]).astype(F32)
        return np.clip(F32(1) - h / F32(np.log(np.float64(c))), F32(0), F32(1)).astype(F32)
    raise ValueError(f"unknown rule {rule}")


def part_macs(path):
    """MACs of one part per image, counted from its ONNX graph as REPORT.md's hooks count them:
    Conv = output elements × in-channels/groups × kH × kW, Gemm / MatMul = in × out; nothing else."""
    import onnx
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    g = m.graph
    shapes = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in g.node:
        if n.op_type == "Conv":
            w = shapes[n.input[1]]                       # [Cout, Cin/groups, kH, kW]
            out = shapes[n.output[0]]                    # [N, Cout, H, W]
            total += int(np.prod(out[1:])) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            b = shapes[n.input[1]]
            total += int(b[0]) * int(b[1])
        elif n.op_type == "MatMul":
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            total += int(np.prod(a[1:])) * int(b[-1])
        elif n.op_type in ("ConvTranspose", "Einsum", "LSTM", "GRU", "RNN"):
            raise ValueError(f"{path}: {n.op_type} not counted here")
    return total


def costs(man, seg_macs, exit_macs):
    """engine.rs `Costs::of`: MACs when exit e fires, and the plain network's MACs (all segments,
    the final classifier and every exit head it consumes, directly or through a segment)."""
    to_exit = [sum(seg_macs[:x["after"] + 1]) + sum(exit_macs[:e + 1]) for e, x in enumerate(man["exits"])]
    producer = {}
    for k, s in enumerate(man["segments"]):
        for o in s["outputs"]:
            producer[o] = ("seg", k)
    for e, x in enumerate(man["exits"]):
        for o in x["outputs"]:
            producer[o] = ("exit", e)
    last = len(man["exits"]) - 1
    needed = [False] * len(man["exits"])
    needed[last] = True
    stack = list(man["exits"][last]["inputs"]) + [a for s in man["segments"] for a in s["inputs"]]
    while stack:
        p = producer.get(stack.pop())
        if p and p[0] == "exit" and not needed[p[1]]:
            needed[p[1]] = True
            stack += man["exits"][p[1]]["inputs"]
    plain = sum(seg_macs) + sum(c for c, n in zip(exit_macs, needed) if n)
    return to_exit, plain


def run_bundle(bundle, man, x):
    """Every part once, in the runtime's step order (segment k, then the exits after k in list
    order); `inputs[i]` binds to the graph's i-th input, `outputs[j]` names its j-th output.
    exporter.onnx_run_chain does the same, but importing exporter imports torch, which this
    script must not need."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    env = {"input": x}
    steps = []
    for k, seg in enumerate(man["segments"]):
        steps.append(seg)
        steps += [e for e in man["exits"] if e["after"] == k]
    for p in steps:
        s = ort.InferenceSession(os.path.join(bundle, p["file"]), so, providers=["CPUExecutionProvider"])
        ins = s.get_inputs()
        if len(ins) != len(p["inputs"]):
            raise ValueError(f"{p['file']}: {len(ins)} graph inputs, manifest names {len(p['inputs'])}")
        outs = s.run(None, {i.name: env[a] for i, a in zip(ins, p["inputs"])})
        env.update(zip(p["outputs"], outs))
    return env


def trace_pack(bundle, man, px, labels, cost):
    x = preprocess(man["input"], px)
    env = run_bundle(bundle, man, x)
    E, N, C = len(man["exits"]), len(labels), len(man["labels"])
    conf = np.zeros((E, N), F32)
    pred = np.zeros((E, N), np.int64)
    for j, ex in enumerate(man["exits"]):
        p = softmax(env[ex["logits"]].reshape(N, C))
        learned = env[ex["confidence"]] if ex.get("confidence") else None
        conf[j] = confidence(ex["rule"], p, learned)
        pred[j] = p.argmax(axis=1)                          # first on ties, as rules.rs `argmax`
    return {"conf": conf, "pred": pred, "labels": labels.astype(np.int64), "cost": list(cost)}


def grid_ties(trace, n_early):
    """Confidences of early exits exactly equal to a grid value (float32), per exit: where a
    1-ulp difference between runtimes (tract vs onnxruntime) could flip an exit."""
    g = np.asarray(GRID, F32)
    return [int(np.isin(trace["conf"][j], g).sum()) for j in range(n_early)]


def margin(trace, thresholds):
    """Smallest |confidence − threshold| over the early exits at these thresholds (float32
    threshold, as compared): how far the nearest image is from flipping."""
    return min(float(np.abs(trace["conf"][j].astype(np.float64) - np.float64(F32(t))).min())
               for j, t in enumerate(thresholds))


def bundle_points(name, rel):
    bundle = os.path.join(os.path.dirname(ROOT), rel)
    man = json.load(open(os.path.join(bundle, "manifest.json")))
    cp = man["calibration_pack"]["file"]
    px, labels = read_pack(os.path.join(bundle, cp))
    seg_macs = [part_macs(os.path.join(bundle, s["file"])) for s in man["segments"]]
    exit_macs = [part_macs(os.path.join(bundle, e["file"])) for e in man["exits"]]
    to_exit, plain = costs(man, seg_macs, exit_macs)
    tr = trace_pack(bundle, man, px, labels, to_exit)
    N, E = len(labels), len(man["exits"])
    final_correct = int((tr["pred"][E - 1] == tr["labels"]).sum())
    points = []
    for d in DROPS:
        th, acc_final, target = calibrate(tr, d)
        ev = evaluate_thresholds(tr, th, plain)
        # eval.rs compares counts: correct >= final_correct - max_drop/100·N - 1e-9; calibrate.py
        # compares fractions in float64. Check that both draw the line at the same count here.
        min_correct = int(np.ceil(final_correct - d / 100 * N - 1e-9))
        if [r / N >= target for r in (min_correct - 1, min_correct)] != [False, True]:
            print(f"warning: [{name}] max drop {d}: calibrate.py's float bound {target!r} and the "
                  f"runtime's count bound {min_correct} disagree at the boundary", file=sys.stderr)
        points.append({
            "max_drop": d, "thresholds": th, "accuracy": ev["acc"], "final_accuracy": acc_final,
            "target_accuracy": target, "min_correct": min_correct, "correct": int(round(ev["acc"] * N)),
            "mean_macs": ev["mean_macs"], "macs_saved_fraction": ev["saved"], "histogram": ev["hist"],
            "nearest_confidence_distance": margin(tr, th),
        })
    return {
        "model": man["name"],
        "data": (f"the bundle's calibration pack `{cp}` (sha-256 {man['calibration_pack']['sha256']}): "
                 f"the first {N:,} images of the validation split, the pack `exitwise calibrate` uses by default"),
        "count": N,
        "computed_by": ("python -m models.train.oppoints: onnxruntime on the bundle's ONNX parts, the runtime's "
                        "preprocessing and confidence rules, MACs counted from the ONNX graphs (Conv, Gemm, "
                        "MatMul), models/train/calibrate.py (BUNDLE.md's greedy search)"),
        "exits": [e["name"] for e in man["exits"]],
        "rules": [e["rule"] for e in man["exits"]],
        "segment_macs": seg_macs,
        "exit_macs": exit_macs,
        "macs_to_exit": to_exit,
        "macs_full": plain,
        "exit_accuracies": [float((tr["pred"][j] == tr["labels"]).mean()) for j in range(E)],
        "final_correct": final_correct,
        "confidences_on_grid_values": grid_ties(tr, E - 1),
        "operating_points": points,
    }


def section(results):
    lines = [BEGIN, "", "## Operating points on the bundles' calibration packs", "",
             "The operating points above are calibrated on the whole validation split. A bundle ships only "
             "its first 1,000 images (`calibpack.bin`), which is what `exitwise calibrate` uses by default, so "
             "the CLI cannot reproduce those. `python -m models.train.oppoints` (run by `models.train.all`) "
             "recomputes them on the calibration pack itself, from the bundle files alone: onnxruntime on the "
             "ONNX parts as the manifest wires them, the runtime's preprocessing and confidence rules, MACs "
             "counted from the ONNX graphs, and the same numpy calibration. It writes "
             "`models/<name>/operating-points.json`; `crate/tests/calibrate_report.rs` checks that "
             "`exitwise calibrate BUNDLE --max-drop X --json` gives the same thresholds, accuracy, MACs saved "
             "and exit histogram. These are figures on the calibration pack, not on the test set; they differ "
             "from the validation-split points above because the sample is 5–10× smaller.", ""]
    for r in results:
        alone = ", ".join(f"{n} {100 * a:.1f} %" for n, a in zip(r["exits"], r["exit_accuracies"]))
        lines += [f"`{r['model']}` — {r['count']:,} calibration images; each exit alone: {alone}.", "",
                  "| max drop | thresholds | accuracy | MACs saved | exit histogram |",
                  "|---:|---|---:|---:|---|"]
        for p in r["operating_points"]:
            hist = ", ".join(f"{n}:{h}" for n, h in zip(r["exits"], p["histogram"]))
            lines.append(f"| {p['max_drop']:.1f} pt | {', '.join(f'{t:.2f}' for t in p['thresholds'])} | "
                         f"{100 * p['accuracy']:.2f} % | {100 * p['macs_saved_fraction']:.1f} % | {hist} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_section(path, text):
    body = open(path).read() if os.path.exists(path) else ""
    if BEGIN in body and END in body:
        a = body.index(BEGIN)
        b = body.index(END) + len(END)
        body = body[:a] + text + body[b:]
    else:
        # Before the "Comparison with the papers" section when there is one, else at the end.
        key = "\n## Comparison with the papers"
        i = body.find(key)
        body = (body[:i + 1] + text + "\n" + body[i:]) if i >= 0 else body.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(body)


def main(argv=None):
    index = json.load(open(os.path.join(ROOT, "index.json")))
    results = []
    for item in index:
        r = bundle_points(item["name"], item["path"])
        out = os.path.join(os.path.dirname(ROOT), item["path"], "operating-points.json")
        with open(out, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
        for p in r["operating_points"]:
            print(f"[{r['model']}] max drop {p['max_drop']}: thresholds {p['thresholds']} "
                  f"accuracy {p['accuracy']:.4f} saved {p['macs_saved_fraction']:.4f} hist {p['histogram']}",
                  flush=True)
        results.append(r)
    write_section(os.path.join(ROOT, "REPORT.md"), section(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
