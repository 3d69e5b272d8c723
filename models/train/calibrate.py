"""Early-exit traces, the exit simulation and the threshold calibration of crate/BUNDLE.md, in numpy.

A *trace* of a data set: conf[E, N] (float32 confidence of every exit per image; the final exit's
is unused), pred[E, N] (argmax class), labels[N], and cost[E] = MACs executed by an image that
leaves at exit j (all segments up to exit j's segment + all heads up to and including j).
"""
import numpy as np

GRID = [k / 100 for k in range(101)]   # 0.00, 0.01, ..., 1.00


def softmax_conf(logits, rule):
    """Confidence of a max_softmax / entropy exit from its logits (float32, as the runtime)."""
    l = logits.astype(np.float32)
    z = l - l.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    if rule == "max_softmax":
        return p.max(axis=1).astype(np.float32)
    if rule == "entropy":
        c = l.shape[1]
        h = -(p * np.log(np.clip(p, 1e-30, None))).sum(axis=1)
        return (1.0 - h / np.log(c)).astype(np.float32)
    raise ValueError(rule)


def simulate(conf, thresholds):
    """Exit index per image: the first early exit with conf >= threshold, else the final.
    Confidences and thresholds are compared as float32 (threshold k/100 rounded to f32)."""
    E, N = conf.shape
    t = np.asarray(thresholds, dtype=np.float32).reshape(-1, 1)
    fire = np.concatenate([conf[:E - 1] >= t, np.ones((1, N), bool)], axis=0)
    return fire.argmax(axis=0)


def evaluate_thresholds(trace, thresholds, plain_macs):
    conf, pred, labels, cost = trace["conf"], trace["pred"], trace["labels"], trace["cost"]
    ex = simulate(conf, thresholds)
    N = len(labels)
    correct = pred[ex, np.arange(N)] == labels
    macs = np.asarray(cost, dtype=np.int64)[ex]
    hist = np.bincount(ex, minlength=conf.shape[0])
    return {"acc": float(correct.mean()), "mean_macs": float(macs.sum() / N),
            "saved": float(1.0 - macs.sum() / N / plain_macs), "hist": hist.tolist(),
            "thresholds": [float(t) for t in thresholds]}


def calibrate(trace, max_drop):
    """Greedy threshold search of BUNDLE.md: start every early exit at 1.00; each round try every
    single-exit change to every grid value, keep the one lowering the mean MACs most with
    accuracy >= acc_final - max_drop/100 (ties: lower exit index, then higher threshold); stop when
    no change lowers the mean MACs. Returns the thresholds (grid values)."""
    conf, pred, labels, cost = trace["conf"], trace["pred"], trace["labels"], trace["cost"]
    E, N = conf.shape
    cost = np.asarray(cost, dtype=np.int64)
    correct = pred == labels[None, :]                         # [E, N]
    acc_final = correct[E - 1].mean()
    target = acc_final - max_drop / 100.0
    grid32 = np.asarray(GRID, dtype=np.float32)
    # fires[j, g, n]: early exit j fires on image n at grid value g
    fires = conf[:E - 1, None, :] >= grid32[None, :, None]

    def run(tidx):
        fire = np.concatenate([np.stack([fires[j, tidx[j]] for j in range(E - 1)]),
                               np.ones((1, N), bool)], axis=0)
        ex = fire.argmax(axis=0)
        return correct[ex, np.arange(N)].sum(), cost[ex].sum()   # integer totals: exact compares

    t = [len(GRID) - 1] * (E - 1)                             # every early exit at 1.00
    _, cur = run(t)
    while True:
        best = None                                           # (total_macs, j, g)
        for j in range(E - 1):                                # lower exit index first
            for g in range(len(GRID) - 1, -1, -1):            # higher threshold first
                if g == t[j]:
                    continue
                cand = list(t)
                cand[j] = g
                ok, macs = run(cand)
                if ok / N >= target and macs < cur and (best is None or macs < best[0]):
                    best = (macs, j, g)
        if best is None:
            break
        cur, t[best[1]] = best[0], best[2]
    return [GRID[g] for g in t], float(acc_final), float(target)
