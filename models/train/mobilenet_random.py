"""mobilenet-random: a MobileNetV1-style early-exit bundle with RANDOM weights, for the speed
benchmark only (no CIFAR / SVHN on these machines, so nothing to train it on).

    python -m models.train.mobilenet_random          # from the repository root

Network (3x32x32 input, 100 classes; every conv is followed by BatchNorm and ReLU6, and the
exporter folds each BatchNorm into its conv):

    seg0  stem 3x3 conv 3->16 @32x32, DS(16->32) @32x32, DS(32->64, stride 2) -> 64x16x16
    seg1  DS(64->64) @16x16, DS(64->128, stride 2)                          -> 128x8x8
    seg2  DS(128->128) x2 @8x8, DS(128->256, stride 2), DS(256->256) @4x4    -> 256x4x4
    exit0 / exit1 / final: global average pool + linear -> 100 logits (max_softmax)

DS = depthwise-separable block: depthwise 3x3 conv (groups = C) + BN + ReLU6, then pointwise
1x1 conv + BN + ReLU6.

Weights are seeded (torch.manual_seed(SEED)); BatchNorm gains and offsets are random too, and
its running statistics are set from one train-mode pass over Fashion-MNIST training images, so
activations keep a sane scale through the 17 conv + ReLU6 layers. Each head's linear layer is
then centred and scaled on that same batch (bias = -W.mean feature, logits' standard deviation
LOGIT_STD) so that its predictions spread over the classes and its max-softmax over (0, 1)
instead of sitting near 1/100 for every image. Packs: Fashion-MNIST images
zero-padded 28->32 and replicated to 3 channels (their labels 0..9, so accuracy means nothing).
The early
exits' default thresholds are quantiles of the calibration pack's max-softmax so that about
EXIT_SHARE[0] of the images leave at exit0 and EXIT_SHARE[1] at exit1.

The bundle is deliberately NOT listed in models/index.json (the demo's model list).
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn

from .data import load_fmnist, to_input
from .exitnet import Exit, Segment, count_part_macs, exit_costs, run_parts
from .exporter import export_bundle
from .nets import GapFc

SEED = 20260101
NAME = "mobilenet-random"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # models/
OUT = os.path.join(ROOT, NAME)
NCLS = 100
INPUT_SHAPE = (1, 3, 32, 32)
N_TEST, N_CALIB, N_BN = 1000, 500, 2048
EXIT_SHARE = (0.25, 0.20)          # wanted fraction of all images leaving at exit0, exit1
BN_EPS = 1e-3                      # Keras MobileNet's; bounds the gain BN folding gives a conv
LOGIT_STD = 2.0                    # spread of each head's logits on the BatchNorm batch
MAX_FILE = 5 * 1024 * 1024
# onnxruntime vs PyTorch, relative to max |output| (the exporter's default is 1e-5). The final
# head's centred weights are large and its bias cancels most of W.features, so float32 rounding
# in the features shows up at about 9e-6 of the logits' range (1.4e-5 in probabilities; the
# Rust parity test allows 1e-4).
VERIFY_TOL = 3e-5


def cbr6(cin, cout, k, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU6()]


def ds(cin, cout, stride=1):
    """Depthwise-separable block: depthwise 3x3 (groups = cin) + BN + ReLU6, 1x1 + BN + ReLU6."""
    return cbr6(cin, cin, 3, stride, groups=cin) + cbr6(cin, cout, 1)


def mobilenet(ncls=NCLS):
    seg0 = nn.Sequential(*cbr6(3, 16, 3), *ds(16, 32), *ds(32, 64, 2))            # 64x16x16
    seg1 = nn.Sequential(*ds(64, 64), *ds(64, 128, 2))                             # 128x8x8
    seg2 = nn.Sequential(*ds(128, 128), *ds(128, 128), *ds(128, 256, 2), *ds(256, 256))  # 256x4x4
    segments = [Segment("seg0", seg0, ["input"], ["a0"]),
                Segment("seg1", seg1, ["a0"], ["a1"]),
                Segment("seg2", seg2, ["a1"], ["a2"])]
    exits = [Exit("exit0", 0, GapFc(64, ncls), ["a0"], ["e0_logits"], "e0_logits", rule="max_softmax"),
             Exit("exit1", 1, GapFc(128, ncls), ["a1"], ["e1_logits"], "e1_logits", rule="max_softmax"),
             Exit("final", 2, GapFc(256, ncls), ["a2"], ["logits"], "logits")]
    return segments, exits


def randomize_bn(modules, gen):
    """Random BatchNorm gains in [0.5, 1.5] and offsets in [-0.25, 0.25] (so that folding them
    into the convs is not a no-op)."""
    for m in modules:
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                b.weight.data = torch.rand(b.num_features, generator=gen) + 0.5
                b.bias.data = (torch.rand(b.num_features, generator=gen) - 0.5) * 0.5


@torch.no_grad()
def set_bn_statistics(segments, exits, x):
    """One train-mode pass (cumulative average, a single batch) sets every BatchNorm's running
    mean and variance to that batch's statistics; no weight changes. Returns the eval-mode
    activations of that batch."""
    mods = [p.module for p in list(segments) + list(exits)]
    for m in mods:
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                b.reset_running_stats()
                b.momentum = None
        m.train()
    run_parts(segments, exits, x)
    for m in mods:
        m.eval()
    return run_parts(segments, exits, x)


@torch.no_grad()
def centre_heads(exits, env, logit_std=LOGIT_STD):
    """Each GapFc head keeps its random directions W but is centred on the batch's mean pooled
    feature (bias = -W mu) and scaled so that its logits have standard deviation `logit_std`."""
    for ex in exits:
        f = env[ex.inputs[0]].mean(dim=(2, 3)).double()
        fc = ex.module.fc
        w = fc.weight.double()
        mu = f.mean(dim=0)
        gain = logit_std / float(((f - mu) @ w.T).std())
        w = w * gain
        fc.weight.copy_(w.float())
        fc.bias.copy_((-(w @ mu)).float())


def to32x3(u8):
    """uint8 [N,1,28,28] -> [N,3,32,32]: zero padding (Fashion-MNIST's background is 0), the one
    channel replicated."""
    p = np.pad(u8, ((0, 0), (0, 0), (2, 2), (2, 2)))
    return np.ascontiguousarray(np.repeat(p, 3, axis=1))


def max_softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).max(axis=1)


@torch.no_grad()
def confidences(segments, exits, x):
    env = run_parts(segments, exits, x)
    return [max_softmax(env[e.logits].numpy().astype(np.float64)) for e in exits]


def pick_thresholds(calib_conf, test_conf, shares=EXIT_SHARE, window=0.02):
    """Thresholds from the calibration pack's max-softmax: exit0 near its (1 - shares[0])
    quantile, then exit1 near the quantile, among the images exit0 kept, that sends shares[1] of
    all there. Each threshold is the midpoint of the widest gap between neighbouring confidences
    (calibration and test packs together) within `window` of that quantile, rounded to 6
    decimals, so that no image sits on a threshold (the runtimes' float32 softmax then makes the
    same exit decisions as the reference)."""
    th = []
    keep = np.ones(len(calib_conf[0]), bool)
    for j, share in enumerate(shares):
        q = min(max(1.0 - share * len(keep) / max(1, keep.sum()), 0.0), 1.0)
        kept = calib_conf[j][keep]
        lo, hi = np.quantile(kept, max(q - window, 0.0)), np.quantile(kept, min(q + window, 1.0))
        v = np.unique(np.concatenate([calib_conf[j], test_conf[j]]))
        v = v[(v >= lo) & (v <= hi)]
        k = int(np.argmax(np.diff(v)))
        t = float(np.round((v[k] + v[k + 1]) / 2, 6))
        assert v[k] < t < v[k + 1], (v[k], t, v[k + 1])
        th.append(t)
        keep &= calib_conf[j] < t
    return th


def margin(conf, th):
    return min(float(np.min(np.abs(c - t))) for c, t in zip(conf, th))


def histogram(conf, th):
    n = len(conf[0])
    left = np.full(n, len(conf) - 1)
    for j in reversed(range(len(th))):
        left[conf[j] >= th[j]] = j
    return np.bincount(left, minlength=len(conf)).tolist()


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)          # one summation order for the BatchNorm statistics
    gen = torch.Generator().manual_seed(SEED)
    segments, exits = mobilenet()
    randomize_bn([p.module for p in segments + exits], gen)

    data = load_fmnist()
    xtr, _ = data["train"]
    xv, yv = data["val"]
    xt, yt = data["test"]
    train32 = to32x3(xtr[:N_BN])
    f = train32.astype(np.float64) / 255.0
    mean = [round(float(f.mean()), 4)] * 3
    std = [round(float(f.std()), 4)] * 3
    env = set_bn_statistics(segments, exits, to_input(train32, mean, std))
    centre_heads(exits, env)

    test_u8, test_lab = to32x3(xt[:N_TEST]), yt[:N_TEST].copy()
    cal_u8, cal_lab = to32x3(xv[:N_CALIB]), yv[:N_CALIB].copy()
    cc = confidences(segments, exits, to_input(cal_u8, mean, std))
    tc = confidences(segments, exits, to_input(test_u8, mean, std))
    th = pick_thresholds(cc, tc)
    for ex, t in zip(exits[:-1], th):
        ex.threshold = t
    hist_cal, hist_test = histogram(cc, th), histogram(tc, th)

    seg_macs, exit_macs = count_part_macs(segments, exits, INPUT_SHAPE)
    cum, plain = exit_costs(segments, exits, seg_macs, exit_macs)
    share = [100.0 * v / N_TEST for v in hist_test]
    description = (
        "Random weights, for speed benchmarks only — not trained: its predictions and accuracy mean "
        "nothing. MobileNetV1-style CNN for 3x32x32 inputs and 100 classes: a 3x3 stem conv and 8 "
        "depthwise-separable blocks (depthwise 3x3 + pointwise 1x1), every conv followed by BatchNorm "
        f"(folded) and ReLU6, {plain / 1e6:.1f} M MACs; two early exits and the final, each a global "
        "average pool + linear head (max_softmax). Packs: Fashion-MNIST images zero-padded to 32x32 and "
        f"replicated to 3 channels (test pack: the first {N_TEST} official test images; calibration "
        f"pack: {N_CALIB} validation images), with their Fashion-MNIST labels 0-9. Default thresholds "
        "are quantiles of the calibration pack's max-softmax picked so that some images exit early: "
        f"on the test pack {share[0]:.0f} % leave at exit0 and {share[1]:.0f} % at exit1. "
        "Built by python -m models.train.mobilenet_random."
    )
    r = export_bundle(OUT, NAME, segments, exits, [f"class{i}" for i in range(NCLS)], mean, std,
                      input_shape=INPUT_SHAPE, description=description,
                      test_pack=(test_u8, test_lab), calib_pack=(cal_u8, cal_lab), tol=VERIFY_TOL)
    sizes = {f: os.path.getsize(os.path.join(OUT, f)) for f in sorted(os.listdir(OUT))}
    big = {f: s for f, s in sizes.items() if s > MAX_FILE}
    if big:
        raise SystemExit(f"files over {MAX_FILE} bytes: {big}")
    summary = {
        "seg_macs": dict(zip([s.name for s in segments], seg_macs)),
        "exit_macs": dict(zip([e.name for e in exits], exit_macs)),
        "cum_macs": dict(zip([e.name for e in exits], cum)), "plain_macs": plain,
        "params": sum(p.numel() for s in segments + exits for p in s.module.parameters()),
        "mean": mean, "std": std, "thresholds": th,
        "exit_histogram": {"calib": hist_cal, "test": hist_test},
        "threshold_margin": {"calib": margin(cc, th), "test": margin(tc, th)},
        "max_softmax_min_median_max": {e.name: [float(c.min()), float(np.median(c)), float(c.max())]
                              for e, c in zip(exits, tc)},
        "ops": r["ops"], "verify_max_rel_diff": r["verify"]["max_rel_diff"],
        "files": sizes, "total_bytes": sum(sizes.values()),
    }
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
