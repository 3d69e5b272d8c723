"""The runtime's exit rules and exit simulation in numpy, for where Python needs them while
training and reporting (confidences of PyTorch traces, trade-off tables). The rules themselves
live in crate/src/rules.rs and crate/src/eval.rs; these mirrors are checked (decisions equal, floats within one ulp) against
the golden vectors that crate/tests/golden.rs writes (models/tests/test_golden.py), and
operating points come from the CLI (models/train/cli.py), never from here.

A *trace* of a data set: conf[E, N] (float32 confidence of every exit per image; the final
exit's is unused), pred[E, N] (class), labels[N], cost[E] (MACs executed by an image that leaves
at exit j).
"""
import numpy as np

F32 = np.float32


def _exp32(z):
    # f32::exp (the platform's expf) against the golden vectors: exp in float64 rounded once to
    # float32 matches it, where numpy's own float32 exp may differ by an ulp.
    return np.exp(z.astype(np.float64)).astype(F32)


def _ln32(x):
    return np.log(x.astype(np.float64)).astype(F32)


def _fmax_rows(x, start):
    # f32::max ignores NaN: a NaN column never wins, and the fold starts at `start`.
    out = np.full(x.shape[0], start, F32)
    for k in range(x.shape[1]):
        out = np.fmax(out, x[:, k])
    return out


def softmax(logits):
    """rules.rs `softmax` per row: max-shifted exp, a left-to-right f32 sum, then division."""
    l = np.asarray(logits, F32)
    l = l.reshape(-1, l.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        e = _exp32(l - _fmax_rows(l, -np.inf)[:, None])
        s = e[:, 0].copy()
        for k in range(1, e.shape[1]):
            s = (s + e[:, k]).astype(F32)
        return (e / s[:, None]).astype(F32)


def argmax(p):
    """rules.rs `argmax` per row: the first largest value; a NaN never wins (a later value
    replaces it)."""
    p = np.asarray(p, F32)
    best = np.zeros(p.shape[0], np.int64)
    cur = p[:, 0].copy()
    for k in range(1, p.shape[1]):
        v = p[:, k]
        take = (v > cur) | np.isnan(cur)
        best = np.where(take, k, best)
        cur = np.where(take, v, cur)
    return best


def entropy_confidence(p):
    """rules.rs `entropy_confidence`: 1 − H(p)/ln(C), terms with p > 0 summed left to right."""
    p = np.asarray(p, F32)
    n, c = p.shape
    if c < 2:
        return np.ones(n, F32)
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = p > 0
        term = np.where(pos, (-p * _ln32(np.where(pos, p, F32(1)))).astype(F32), F32(0))
        h = term[:, 0].astype(F32)
        for k in range(1, c):
            h = (h + term[:, k]).astype(F32)
        return np.clip(F32(1) - h / _ln32(np.asarray([c], F32))[0], F32(0), F32(1)).astype(F32)


def confidence(rule, p, learned=None):
    """rules.rs `confidence` per row, from softmax probabilities p [N, C] and, for `learned`,
    the head's own output [N] or [N, 1]."""
    if rule == "learned":
        if learned is None:
            raise ValueError("rule learned needs the head's confidence output")
        return np.clip(np.asarray(learned, F32).reshape(-1), F32(0), F32(1))
    if rule == "max_softmax":
        return _fmax_rows(np.asarray(p, F32), 0.0)
    if rule == "entropy":
        return entropy_confidence(p)
    raise ValueError(f"unknown rule {rule!r}")


def exit_trace(rule, logits, learned=None):
    """One exit's (confidence [N], class [N]) from its logits, as engine.rs `exit_outputs`."""
    p = softmax(logits)
    return confidence(rule, p, learned), argmax(p)


def simulate(conf, thresholds):
    """Exit index per image (eval.rs `fires`): the first early exit whose confidence is ≥ its
    threshold, compared in float32 (a threshold is parsed to f32 first), else the final."""
    conf = np.asarray(conf, F32)
    e, n = conf.shape
    t = np.asarray(thresholds, np.float64).astype(F32).reshape(-1, 1)
    if t.shape[0] != e - 1:
        raise ValueError(f"{t.shape[0]} thresholds for {e - 1} early exits")
    fire = np.concatenate([conf[:e - 1] >= t, np.ones((1, n), bool)], axis=0)
    return fire.argmax(axis=0)


def evaluate_thresholds(trace, thresholds, plain_macs):
    """eval.rs `summary`: accuracy, mean MACs, MACs saved and the exit histogram at thresholds."""
    conf, pred, labels, cost = trace["conf"], trace["pred"], trace["labels"], trace["cost"]
    ex = simulate(conf, thresholds)
    n = len(labels)
    correct = pred[ex, np.arange(n)] == labels
    macs = int(np.asarray(cost, dtype=np.int64)[ex].sum())   # integer total: exact, as in Rust
    mean = macs / n
    return {"acc": int(correct.sum()) / n, "mean_macs": mean, "saved": 1.0 - mean / max(plain_macs, 1),
            "hist": np.bincount(ex, minlength=conf.shape[0]).tolist(),
            "thresholds": [float(t) for t in thresholds]}
