"""The parts of an early-exit network (segments and exit heads reading and writing named
activations, as an `exitwise/1` bundle wires them: crate/BUNDLE.md) and the checks an export must
pass before anything is written. Torch-free: `module` is whatever the exporter will export.
"""
import math
import re
from dataclasses import dataclass
from typing import Any, List, Optional

RULES = ("learned", "max_softmax", "entropy")   # crate/src/manifest.rs `ExitRule`
# Files every bundle may hold besides its parts (a part `<name>.onnx` must not take one).
RESERVED_FILES = {"full.onnx", "manifest.json", "testpack.bin", "calibpack.bin", "reference.bin"}
# manifest.rs `check_file_name`: a plain file name of 1-128 characters, no leading dot.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}$")


class PartError(ValueError):
    """A part list the runtime would refuse (or the exporter cannot write)."""


@dataclass
class Segment:
    name: str
    module: Any
    inputs: List[str]
    outputs: List[str]


@dataclass
class Exit:
    name: str
    after: int                      # index of the segment this exit is evaluated after
    module: Any
    inputs: List[str]
    outputs: List[str]
    logits: str
    confidence: Optional[str] = None
    rule: str = "max_softmax"       # max_softmax | entropy | learned
    threshold: Optional[float] = None


def ordered_parts(segments, exits):
    """Execution order: segment k, then the exits with after == k in list order."""
    order = []
    for k, seg in enumerate(segments):
        order.append(("segment", k, seg))
        for j, ex in enumerate(exits):
            if ex.after == k:
                order.append(("exit", j, ex))
    return order


def part_file(name):
    return f"{name}.onnx"


def check_parts(segments, exits):
    """Raises PartError on anything manifest.rs `validate` would refuse once exported, and on
    what would make the exporter overwrite its own files: part names used twice or whose file
    is one of RESERVED_FILES (a part named `full` would overwrite full.onnx)."""
    if not segments or not exits:
        raise PartError("need at least one segment and one exit (the final classifier)")
    names = set()
    for p in list(segments) + list(exits):
        if not isinstance(p.name, str) or not _FILE_NAME.match(part_file(p.name)):
            raise PartError(f"part name {p.name!r}: its file {part_file(p.name)!r} is not a plain file name "
                            "(letters, digits, '.', '_', '-'; no leading dot; at most 128 characters)")
        if p.name in names:
            raise PartError(f"part name {p.name!r} is used twice (parts are written to <name>.onnx)")
        if part_file(p.name) in RESERVED_FILES:
            raise PartError(f"part name {p.name!r} collides with the bundle's own {part_file(p.name)}")
        names.add(p.name)
        if not p.inputs or not p.outputs:
            raise PartError(f"{p.name}: a part needs at least one input and one output")
    last = len(segments) - 1
    for j, ex in enumerate(exits):
        if not isinstance(ex.after, int) or isinstance(ex.after, bool) or not 0 <= ex.after <= last:
            raise PartError(f"{ex.name}: after = {ex.after!r}, need a segment index in 0..{last}")
        if j > 0 and ex.after < exits[j - 1].after:
            raise PartError(f"{ex.name}: listed after an exit placed later in the network")
        if ex.rule not in RULES:
            raise PartError(f"{ex.name}: rule {ex.rule!r} is not one of {', '.join(RULES)}")
        if ex.logits not in ex.outputs:
            raise PartError(f"{ex.name}: logits {ex.logits!r} not among outputs")
        if ex.rule == "learned" and ex.confidence is None:
            raise PartError(f"{ex.name}: rule learned requires a confidence output")
        if ex.confidence is not None and ex.confidence not in ex.outputs:
            raise PartError(f"{ex.name}: confidence {ex.confidence!r} not among outputs")
        if j < len(exits) - 1:
            t = ex.threshold
            # No silent default: a threshold of 1.0 is not "never fire" (BUNDLE.md), so the
            # caller must choose one.
            if t is None:
                raise PartError(f"{ex.name}: an early exit needs a threshold in [0, 1]")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 1:
                raise PartError(f"{ex.name}: threshold {t!r} is outside [0, 1]")
    if exits[-1].after != last:
        raise PartError("the last exit (final classifier) must come after the last segment")
    seen = {"input"}
    for _, _, part in ordered_parts(segments, exits):
        for n in part.inputs:
            if n not in seen:
                raise PartError(f"{part.name}: input {n!r} is not produced before it")
        for n in part.outputs:
            if n in seen:
                raise PartError(f"{part.name}: output {n!r} produced twice")
            seen.add(n)
