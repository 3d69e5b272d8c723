"""Architectures, each built directly as exitwise parts (exitnet.Segment / exitnet.Exit)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .exitnet import Segment, Exit, count_part_macs


def cbr(cin, cout, stride=1, k=3):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class Seq(nn.Sequential):
    pass


# --------------------------------------------------------------------------------------------
# tiny-mnist: T-RECX-style tiny CNN with two early exits and early-view assist
# --------------------------------------------------------------------------------------------
class TinyExit0(nn.Module):
    """Cheap first exit: one strided conv, 2x2 average pool, FC. Its pooled features (e0_feat)
    are also handed to the final classifier (T-RECX early-view assist)."""

    def __init__(self, c=8, w=24, ncls=10):
        super().__init__()
        self.conv = nn.Sequential(*cbr(c, w, stride=2))     # 14x14 -> 7x7
        self.pool = nn.AvgPool2d(2)                         # 7x7 -> 3x3
        self.flat = nn.Flatten()
        self.fc = nn.Linear(w * 9, ncls)

    def forward(self, a0):
        feat = self.flat(self.pool(self.conv(a0)))
        return self.fc(feat), feat


class GapFc(nn.Module):
    def __init__(self, c, ncls=10):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(c, ncls)

    def forward(self, a):
        return self.fc(self.flat(self.gap(a)))


class AssistFinal(nn.Module):
    """Final classifier: GAP of the last activation concatenated with the early exit's features."""

    def __init__(self, c, cfeat, ncls=10):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(c + cfeat, ncls)

    def forward(self, a, feat):
        return self.fc(torch.cat([self.flat(self.gap(a)), feat], dim=1))


def tiny_mnist(assist=True, ncls=10):
    seg0 = Seq(*cbr(1, 8), nn.MaxPool2d(2))                                  # 8x14x14
    seg1 = Seq(*cbr(8, 32), nn.MaxPool2d(2), *cbr(32, 64))                   # 64x7x7
    seg2 = Seq(*cbr(64, 64))                                                 # 64x7x7
    e0 = TinyExit0(8, 24, ncls)
    segments = [Segment("seg0", seg0, ["input"], ["a0"]),
                Segment("seg1", seg1, ["a0"], ["a1"]),
                Segment("seg2", seg2, ["a1"], ["a2"])]
    exits = [Exit("exit0", 0, e0, ["a0"], ["e0_logits", "e0_feat"], "e0_logits", rule="max_softmax"),
             Exit("exit1", 1, GapFc(64, ncls), ["a1"], ["e1_logits"], "e1_logits", rule="max_softmax")]
    if assist:
        exits.append(Exit("final", 2, AssistFinal(64, 24 * 9, ncls), ["a2", "e0_feat"], ["logits"], "logits"))
    else:
        exits.append(Exit("final", 2, GapFc(64, ncls), ["a2"], ["logits"], "logits"))
    return segments, exits


# --------------------------------------------------------------------------------------------
# ResNet-20 (3 stages x 3 basic blocks) for 28x28 inputs, early exits with confidence branches
# --------------------------------------------------------------------------------------------
WIDTHS = (16, 32, 48)   # stage 3 trimmed from 64 to 48 so that all bundles fit in 10 MB


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:   # option B: 1x1 projection shortcut
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


def resnet20_layers(widths=WIDTHS, cin=1):
    """[stem, block1..block9] as modules, plus their output channels and spatial size."""
    # stem: 3x3 conv at 28x28 then 2x2 max-pool, so the three stages run at 14x14, 7x7, 4x4
    # (keeps training affordable on 2 CPU cores; the 3 x 3 basic-block layout is ResNet-20's)
    layers = [Seq(*cbr(cin, widths[0]), nn.MaxPool2d(2))]
    shapes = [(widths[0], 14)]
    c, s = widths[0], 14
    for st, w in enumerate(widths):
        for b in range(3):
            stride = 2 if (st > 0 and b == 0) else 1
            layers.append(BasicBlock(c, w, stride))
            c = w
            s = (s + 1) // 2 if stride == 2 else s
            shapes.append((c, s))
    return layers, shapes


class ConfHead(nn.Module):
    """Exit branch: down to 4x4 (none at stage 3), GAP, then a softmax branch (FC -> logits) and
    a confidence branch (FC -> sigmoid), as in EENets / PTEENet. From 14x14 a 2x2 average pool
    comes first (no MACs), then one strided conv: the stage-1 head cost 37 % of its segment with
    two strided convs (373,600 MACs), ~7 % this way."""

    def __init__(self, c, s, ncls=10, width=32):
        super().__init__()
        layers = []
        if s >= 14:
            layers.append(nn.AvgPool2d(2))
            s = s // 2
        while s > 4:
            w = width
            layers += cbr(c, w, stride=2)
            c, s = w, (s + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(c, ncls)
        self.conf = nn.Linear(c, 1)
        self.sig = nn.Sigmoid()

    def forward(self, a):
        f = self.flat(self.gap(self.convs(a)))
        return self.fc(f), self.sig(self.conf(f))


class LogitsOnly(nn.Module):
    """A ConfHead without its confidence branch: what is exported when the exit's rule, chosen by
    evidence, is not `learned` (the branch would cost MACs and a read-back for an unused
    number). Same weights, same logits."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, a):
        h = self.head
        return h.fc(h.flat(h.gap(h.convs(a))))


def eenet_thresholds(n_exits, distribution="pareto"):
    """EENet's exit placement schedule as fractions of the total cost (Demir, 'Early-exit
    convolutional neural networks', 2018): pareto 1-0.8^k, fine 1-0.95^k, linear k/(K+1),
    golden ratio phi^(k-K-1)."""
    out = []
    for i in range(n_exits):
        if distribution == "pareto":
            out.append(1 - 0.8 ** (i + 1))
        elif distribution == "fine":
            out.append(1 - 0.95 ** (i + 1))
        elif distribution == "linear":
            out.append((i + 1) / (n_exits + 1))
        elif distribution == "gold_ratio":
            out.append(1.61803398875 ** (i - n_exits))
        else:
            raise ValueError(distribution)
    return out


def place_exits(layer_macs, n_exits=3, distribution="linear"):
    """Exit after the last layer (stem = layer 0, blocks 1..9) whose cumulative backbone MACs do
    not exceed each scheduled fraction of the total; duplicates dropped; never after the last."""
    total = sum(layer_macs)
    cum, acc = [], 0
    for m in layer_macs:
        acc += m
        cum.append(acc / total)
    places = []
    for t in eenet_thresholds(n_exits, distribution):
        cands = [i for i in range(1, len(cum) - 1) if cum[i] <= t + 1e-9]
        if cands and cands[-1] not in places:
            places.append(cands[-1])
    return places, cum


def resnet_layer_macs(layers, shapes):
    from .exitnet import MacCounter
    macs = []
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for l in layers:
            l.eval()
            c = MacCounter(l)
            x = l(x)
            c.close()
            macs.append(c.macs)
    return macs


def resnet_exit_net(ncls=10, n_exits=3, distribution="linear", with_exits=True):
    """ResNet-20 cut into segments at the EENet-scheduled exit points. Returns (segments, exits,
    info). Without exits it is the plain ResNet (one segment + final) with the same cut points
    recorded in info['places'] so branches can be attached later (PTEENet)."""
    layers, shapes = resnet20_layers()
    lm = resnet_layer_macs(layers, shapes)
    places, cum = place_exits(lm, n_exits, distribution)
    bounds = places + [len(layers) - 1]
    segments, start = [], 0
    for k, b in enumerate(bounds):
        inp = "input" if k == 0 else f"a{k - 1}"
        segments.append(Segment(f"seg{k}", Seq(*layers[start:b + 1]), [inp], [f"a{k}"]))
        start = b + 1
    exits = []
    if with_exits:
        for k, p in enumerate(places):
            c, s = shapes[p]
            exits.append(Exit(f"exit{k}", k, ConfHead(c, s, ncls), [f"a{k}"],
                              [f"e{k}_logits", f"e{k}_conf"], f"e{k}_logits",
                              confidence=f"e{k}_conf", rule="learned"))
    exits.append(Exit("final", len(segments) - 1, GapFc(WIDTHS[-1], ncls), [f"a{len(segments) - 1}"],
                      ["logits"], "logits"))
    info = {"places": places, "cum_frac": cum, "layer_macs": lm, "shapes": shapes,
            "distribution": distribution}
    return segments, exits, info


def attach_branches(segments, exits, places, shapes, ncls=10):
    """PTEENet: the plain network's parts unchanged plus new confidence branches after each
    segment but the last."""
    new = []
    for k, p in enumerate(places):
        c, s = shapes[p]
        new.append(Exit(f"exit{k}", k, ConfHead(c, s, ncls), [f"a{k}"],
                        [f"e{k}_logits", f"e{k}_conf"], f"e{k}_logits",
                        confidence=f"e{k}_conf", rule="learned"))
    return new + [exits[-1]]
