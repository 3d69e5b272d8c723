"""Exit rules chosen by evidence (issue 13 §4), on the 'select' split: 2,000 Fashion-MNIST
training images held out of training *and* of the calibration split, so that choosing a rule
does not look at the images Learn then Test certifies on.

Two kinds of evidence per candidate:
- AUROC of each early exit's confidence for "this exit's class is right" (how well the
  confidence ranks the exit's own mistakes; what a threshold needs), per rule;
- certified MACs saved on the select split by the runtime itself: the bundle with that rule set
  is traced (`exitwise trace`) and calibrated (`exitwise calibrate`, Learn then Test, on the
  shared and the per-exit split path) at the bundle's headline budget.

The candidates are every exit on one rule (learned, max_softmax, entropy) and each exit on its
own best-AUROC rule; the one that certifies most savings wins (ties: higher mean AUROC), and
with it the path. Confidences come from rules.py on PyTorch's outputs (the runtime's rules,
checked against crate/tests/golden.rs's vectors); savings from the CLI.
"""
import json
import os
import shutil
import tempfile

import numpy as np

from . import cli
from .bundle import write_pack
from .rules import exit_trace

RULES = ("learned", "max_softmax", "entropy")
PATHS = {"shared": None, "split 0.5": 0.5}


def auroc(score, positive):
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney U)."""
    score = np.asarray(score, np.float64)
    positive = np.asarray(positive, bool)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), np.float64)
    s = score[order]
    i = 0
    while i < len(s):   # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def exit_aurocs(env, exits, labels):
    """{exit: {rule: AUROC}} for every early exit, from one forward pass's outputs `env`."""
    out = {}
    for ex in exits[:-1]:
        logits = env[ex.logits].numpy()
        learned = env[ex.confidence].numpy() if ex.confidence is not None else None
        row = {}
        for rule in RULES:
            if rule == "learned" and learned is None:
                continue
            conf, pred = exit_trace(rule, logits, learned)
            row[rule] = auroc(conf, pred == labels)
        out[ex.name] = row
    return out


def _with_rules(bundle, rules, tmp):
    """A copy of `bundle` whose early exits use `rules`, without its calibration trace (made by
    other rules, it would be refused)."""
    d = os.path.join(tmp, "bundle")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(bundle, d, ignore=shutil.ignore_patterns("calibtrace.bin"))
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    m.pop("calibration_trace", None)
    for ex, r in zip(m["exits"], rules):
        ex["rule"] = r
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f, indent=2)
    return d


def certified_savings(bundle, rules, select_pack, budget, tmp):
    """{path: (certified, MACs saved on select)} of the bundle with `rules` at `budget`."""
    d = _with_rules(bundle, rules, tmp)
    tr = os.path.join(tmp, "select.ewct")
    cli.trace(d, tr, pack=select_pack)
    out = {}
    for path, split in PATHS.items():
        c = cli.calibrate(d, budget, split=split, calib_trace=tr, test_trace=tr)
        out[path] = (bool(c["certificate"]["certified"]), c["calibration"]["macs_saved_fraction"])
    return out


def choose(bundle, exits, env, select, budget, log=print):
    """Picks the rule set and path. `env`: PyTorch outputs on the select images; `select`:
    (u8 images, labels). Returns the evidence (JSON-able) with 'rules' and 'path' chosen."""
    images, labels = select
    aur = exit_aurocs(env, exits, labels)
    early = [ex.name for ex in exits[:-1]]
    candidates = {f"all {r}": [r] * len(early) for r in RULES if all(r in aur[e] for e in early)}
    best = [max(aur[e], key=aur[e].get) for e in early]
    if best not in candidates.values():
        candidates["best AUROC per exit"] = best
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pack = os.path.join(tmp, "select.bin")
        write_pack(pack, images, labels)
        for name, rules in candidates.items():
            s = certified_savings(bundle, rules, pack, budget, tmp)
            mean_auc = float(np.mean([aur[e][r] for e, r in zip(early, rules)]))
            rows.append({"candidate": name, "rules": rules, "mean_auroc": mean_auc,
                         "select_saved": {p: v[1] for p, v in s.items()},
                         "select_certified": {p: v[0] for p, v in s.items()}})
            log(f"[rules] {name} {rules}: mean AUROC {mean_auc:.4f}, certified on select at "
                f"{budget} pt: {', '.join(f'{p} {100 * v[1]:.1f} %' for p, v in s.items())}")
    score = lambda r, p: (r["select_saved"][p] if r["select_certified"][p] else -1.0, r["mean_auroc"])
    win, path = max(((r, p) for r in rows for p in PATHS), key=lambda rp: score(*rp))
    log(f"[rules] chosen: {win['candidate']} {win['rules']}, path {path}")
    return {"n_select": int(len(labels)), "budget": budget, "auroc": aur, "candidates": rows,
            "rules": win["rules"], "candidate": win["candidate"], "path": path,
            "split": PATHS[path]}
