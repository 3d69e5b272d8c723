"""A framework-neutral description of an early-exit network: segments and exit heads that read and
write named activations, exactly like an `exitwise/1` bundle (see crate/BUNDLE.md).

Each part is a torch.nn.Module whose forward takes its `inputs` (in order) and returns its
`outputs` (a tensor if one, else a tuple in order). The activation `input` is the normalised
model input.
"""
import torch
import torch.nn as nn

# The part descriptions and their checks are torch-free (parts.py); re-exported here.
from .parts import Exit, Segment, check_parts, ordered_parts  # noqa: F401


def _as_tuple(y):
    return y if isinstance(y, (tuple, list)) else (y,)


def run_parts(segments, exits, x, keep=None):
    """Runs every part on x (normalised input). Returns the activation environment (dict)."""
    env = {"input": x}
    for _, _, part in ordered_parts(segments, exits):
        ys = _as_tuple(part.module(*[env[n] for n in part.inputs]))
        if len(ys) != len(part.outputs):
            raise ValueError(f"{part.name}: returned {len(ys)} outputs, declared {part.outputs}")
        env.update(zip(part.outputs, ys))
    return env


def validate(segments, exits):
    """parts.check_parts: what the runtime would refuse, raised before anything is exported."""
    check_parts(segments, exits)


def plain_exit_set(segments, exits):
    """Indices of exits the plain network needs: the final and any head whose outputs a needed
    part consumes (early-view assist)."""
    producer = {}
    for j, ex in enumerate(exits):
        for n in ex.outputs:
            producer[n] = j
    needed = {len(exits) - 1}
    stack = [exits[-1]] + list(segments)
    while stack:
        part = stack.pop()
        for n in part.inputs:
            j = producer.get(n)
            if j is not None and j not in needed:
                needed.add(j)
                stack.append(exits[j])
    return sorted(needed)


class PlainNet(nn.Module):
    """The plain network (segments + final classifier + the heads it consumes), final logits only."""

    def __init__(self, segments, exits):
        super().__init__()
        self.segments = segments
        need = plain_exit_set(segments, exits)
        self.exits = [exits[j] for j in need]
        self.mods = nn.ModuleList([s.module for s in segments] + [e.module for e in self.exits])
        self.final_logits = exits[-1].logits

    def forward(self, x):
        env = run_parts(self.segments, self.exits, x)
        return env[self.final_logits]


class MacCounter:
    """Counts multiply-accumulates of Conv2d / Linear layers with our own forward hooks
    (elementwise ops, BN, pooling, activations are not counted, matching the runtime's cost model).
    Conv2d: out_elems * (in_ch / groups) * kh * kw;  Linear: in_features * out_features per row."""

    def __init__(self, module):
        self.macs = 0
        self.handles = []
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                self.handles.append(m.register_forward_hook(self._conv))
            elif isinstance(m, nn.Linear):
                self.handles.append(m.register_forward_hook(self._linear))

    def _conv(self, m, inp, out):
        per = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        self.macs += out[0].numel() * per   # per sample (batch element 0)

    def _linear(self, m, inp, out):
        self.macs += (out[0].numel() // m.out_features) * m.in_features * m.out_features

    def close(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def count_part_macs(segments, exits, input_shape):
    """MACs per part for ONE sample, counted independently per part with forward hooks."""
    x = torch.zeros((1,) + tuple(input_shape[1:]))
    env = {"input": x}
    seg_macs, exit_macs = [0] * len(segments), [0] * len(exits)
    was = [p.module.training for p in list(segments) + list(exits)]
    for p in list(segments) + list(exits):
        p.module.eval()
    for kind, i, part in ordered_parts(segments, exits):
        c = MacCounter(part.module)
        ys = _as_tuple(part.module(*[env[n] for n in part.inputs]))
        c.close()
        env.update(zip(part.outputs, ys))
        (seg_macs if kind == "segment" else exit_macs)[i] = c.macs
    for p, w in zip(list(segments) + list(exits), was):
        p.module.train(w)
    return seg_macs, exit_macs


def exit_costs(segments, exits, seg_macs, exit_macs):
    """cum[j] = MACs executed by an input leaving at exit j (segments run + heads evaluated);
    plain = MACs of the plain network."""
    cum = []
    for j, ex in enumerate(exits):
        cum.append(sum(seg_macs[: ex.after + 1]) + sum(exit_macs[: j + 1]))
    plain = sum(seg_macs) + sum(exit_macs[j] for j in plain_exit_set(segments, exits))
    return cum, plain
