"""Operating points on each bundle's own calibration pack, computed by the `exitwise` CLI.

    python -m models.train.oppoints            # from the repository root; every bundle of index.json
    python -m models.train.oppoints --check    # recompute, compare with the committed files, write nothing

models/REPORT.md's main operating points are calibrated on the whole validation split (what a
bundle's calibration trace holds, and what `exitwise calibrate` reads by default); a bundle's
pixels cover only its first 1,000 images (`calibpack.bin`). This script asks the CLI for the
points on those: `exitwise calibrate BUNDLE --greedy --calib-pack calibpack.bin --max-drop D --json` (BUNDLE.md's greedy search, run by the crate) for the thresholds and their
figures, `exitwise info --json` for the MACs. No PyTorch.

Beside them it records two diagnostics from the bundle's ONNX parts run with onnxruntime
(bundle.run_chain, the runtime's preprocessing) and the runtime's rules mirrored in rules.py
(checked against crate/tests/golden.rs's vectors): how many confidences sit exactly on a grid
value, and how far the nearest image is from flipping at each point's thresholds.

Writes `models/<name>/operating-points.json` and the section of models/REPORT.md between
`<!-- calibration-pack operating points -->` and `<!-- end calibration-pack operating points -->`.
`crate/tests/calibrate_report.rs` checks the CLI against the committed JSON, so a change in the
crate's calibration shows up there.
"""
import json
import math
import os
import sys

import numpy as np

from . import cli
from .bundle import load_manifest, preprocess, read_pack, run_chain
from .rules import exit_trace, simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # models/
DROPS = [0.1, 0.5, 1.0]
GRID = [k / 100 for k in range(101)]   # the greedy search's threshold grid (BUNDLE.md)
BEGIN = "<!-- calibration-pack operating points -->"
END = "<!-- end calibration-pack operating points -->"
F32 = np.float32
COMPUTED_BY = ("python -m models.train.oppoints: `exitwise calibrate --greedy --json` (BUNDLE.md's greedy search, "
               "run by the crate) and `exitwise info --json` (the runtime's MACs); diagnostics from onnxruntime on "
               "the bundle's ONNX parts with the runtime's preprocessing and rules (models/train/rules.py)")


def onnx_trace(bundle, man, px):
    """conf[E, N] and pred[E, N] of every exit from onnxruntime, by the runtime's rules."""
    env = run_chain(bundle, man, preprocess(man["input"], px))
    E, N = len(man["exits"]), px.shape[0]
    conf = np.zeros((E, N), F32)
    pred = np.zeros((E, N), np.int64)
    for j, ex in enumerate(man["exits"]):
        learned = env[ex["confidence"]] if ex.get("confidence") else None
        conf[j], pred[j] = exit_trace(ex["rule"], env[ex["logits"]].reshape(N, -1), learned)
    return conf, pred


def grid_ties(conf, n_early):
    """Confidences of early exits exactly equal to a grid value (float32), per exit: where a
    1-ulp difference between runtimes (tract vs onnxruntime) could flip an exit."""
    g = np.asarray(GRID, F32)
    return [int(np.isin(conf[j], g).sum()) for j in range(n_early)]


def margin(conf, thresholds):
    """Smallest |confidence − threshold| over the early exits at these thresholds (float32
    threshold, as compared): how far the nearest image is from flipping."""
    return min(float(np.abs(conf[j].astype(np.float64) - np.float64(F32(t))).min())
               for j, t in enumerate(thresholds))


def bundle_points(name, rel):
    bundle = os.path.join(os.path.dirname(ROOT), rel)
    man = load_manifest(bundle)
    cp = man["calibration_pack"]["file"]
    px, labels = read_pack(os.path.join(bundle, cp))
    costs = cli.costs(bundle)
    conf, _ = onnx_trace(bundle, man, px)
    N, E = len(labels), len(man["exits"])
    points, first = [], None
    for d in DROPS:
        # Named: by default the CLI calibrates on the bundle's calibration trace (the whole split).
        got = cli.calibrate(bundle, d, greedy=True, calib_pack=os.path.join(bundle, cp))
        c = got["calibration"]
        if os.path.basename(c["pack"]) != cp or c["count"] != N:
            raise ValueError(f"[{name}] the CLI calibrated on {c['pack']} ({c['count']} images), not {cp} ({N})")
        first = first or c
        th = got["thresholds"]
        final_correct = round(c["final_accuracy"] * N)
        # eval.rs's bound, in counts: correct >= final_correct - max_drop/100·N (up to 1e-9).
        min_correct = int(math.ceil(final_correct - d / 100 * N - 1e-9))
        hist = np.bincount(simulate(conf, th), minlength=E).tolist()
        if hist != c["histogram"]:
            print(f"note: [{name}] max drop {d}: onnxruntime's exits give the histogram {hist}, "
                  f"tract's {c['histogram']} (images within float noise of a threshold)", file=sys.stderr)
        points.append({
            "max_drop": d, "thresholds": th, "accuracy": c["accuracy"], "final_accuracy": c["final_accuracy"],
            "target_accuracy": c["final_accuracy"] - d / 100.0, "min_correct": min_correct,
            "correct": round(c["accuracy"] * N), "mean_macs": c["mean_macs"],
            "macs_saved_fraction": c["macs_saved_fraction"], "histogram": c["histogram"],
            "nearest_confidence_distance": margin(conf, th),
        })
    return {
        "model": man["name"],
        "data": (f"the bundle's calibration pack `{cp}` (sha-256 {man['calibration_pack']['sha256']}): "
                 f"the first {N:,} images of the validation split (`exitwise calibrate --calib-pack`)"),
        "count": N,
        "computed_by": COMPUTED_BY,
        "exits": [e["name"] for e in man["exits"]],
        "rules": [e["rule"] for e in man["exits"]],
        **costs,
        "exit_accuracies": first["exit_accuracies"],
        "final_correct": round(first["final_accuracy"] * N),
        "confidences_on_grid_values": grid_ties(conf, E - 1),
        "operating_points": points,
    }


def section(results):
    lines = [BEGIN, "", "## Operating points on the bundles' calibration packs", "",
             "The operating points above are calibrated on the whole validation split, which each bundle "
             "now ships as its calibration trace (`calibtrace.bin`, read by `exitwise calibrate` by default). "
             "Its pixels cover only the first 1,000 images (`calibpack.bin`). `python -m models.train.oppoints` "
             "asks the CLI for the points on that pack: `exitwise calibrate BUNDLE --greedy --calib-pack "
             "calibpack.bin --max-drop X --json` (the same greedy search, run by the crate) and `exitwise info` for the MACs. "
             "It writes `models/<name>/operating-points.json`; `crate/tests/calibrate_report.rs` checks that "
             "the CLI still gives the same thresholds, accuracy, MACs saved and exit histogram. These are figures on the calibration pack, not on the test set; they differ "
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


def compare(old, new):
    """Differences between a committed operating-points.json and a recomputed one (the
    `computed_by` text aside); floats compare to 1e-12, except the distances from a threshold
    to the nearest confidence: confidences can differ in their last bits between machines
    (tract picks its matmul kernels by CPU), so those compare to 1e-6."""
    diffs = []

    def walk(a, b, path, tol=1e-12):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k != "computed_by":
                    walk(a.get(k), b.get(k), f"{path}.{k}", 1e-6 if k == "nearest_confidence_distance" else 1e-12)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{path}[{i}]", tol)
        elif isinstance(a, float) or isinstance(b, float):
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol):
                diffs.append(f"{path}: {a!r} vs {b!r}")
        elif a != b:
            diffs.append(f"{path}: {a!r} vs {b!r}")

    walk(old, new, "")
    return diffs


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    check_only = "--check" in argv
    index = json.load(open(os.path.join(ROOT, "index.json")))
    results, failed = [], False
    for item in index:
        r = bundle_points(item["name"], item["path"])
        out = os.path.join(os.path.dirname(ROOT), item["path"], "operating-points.json")
        if check_only:
            diffs = compare(json.load(open(out)), r)
            print(f"[{r['model']}] {'same as' if not diffs else 'DIFFERS from'} {out}" +
                  "".join(f"\n  {d}" for d in diffs), flush=True)
            failed |= bool(diffs)
            continue
        with open(out, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
        for p in r["operating_points"]:
            print(f"[{r['model']}] max drop {p['max_drop']}: thresholds {p['thresholds']} "
                  f"accuracy {p['accuracy']:.4f} saved {p['macs_saved_fraction']:.4f} hist {p['histogram']}",
                  flush=True)
        results.append(r)
    if check_only:
        if failed:
            raise SystemExit(1)
        return results
    write_section(os.path.join(ROOT, "REPORT.md"), section(results))
    return results


if __name__ == "__main__":
    main()
