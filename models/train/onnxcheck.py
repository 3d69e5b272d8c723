"""What the runtime's admission (crate/src/admission/) would refuse in an exported part, found at
export time instead of at load: the exporter raises OnnxRejected rather than writing a bundle
that cannot run.

The operator list and its per-backend flags are read from `supported_ops.json` (written by the
crate from crate/src/ops.rs; a Rust test keeps it current). The attribute rules below mirror
admission's per-op `only(...)` lists and its attribute-value checks (nn.rs, array.rs,
window.rs, infer.rs); models/tests/test_onnxcheck.py fails when an op of the JSON has no rule
here. Shape checks (kernels that fit, axes in range, the memory budget) need shape inference and
stay the runtime's: `exitwise info BUNDLE` after the export runs them.
"""
import json
import math
import os

BACKENDS = ("cpu", "webgpu")
OPS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supported_ops.json")

_WINDOW = ["auto_pad", "kernel_shape", "pads", "strides"]
# Per op: opset -> the attributes admission knows (each op's `n.attrs().only(...)`).
_ATTRS = {
    **{op: lambda o: [] for op in ("Relu", "Sigmoid", "Erf", "Reciprocal", "Add", "Sub", "Mul", "Div", "Max",
                                   "Min", "Clip", "GlobalAveragePool", "GlobalMaxPool", "MatMul", "Identity",
                                   "Slice")},
    "Conv": lambda o: _WINDOW + ["dilations", "group"],
    "MaxPool": lambda o: _WINDOW + ["ceil_mode", "dilations", "storage_order"],
    "AveragePool": lambda o: _WINDOW + ["ceil_mode", "count_include_pad"],
    "BatchNormalization": lambda o: ["epsilon", "momentum", "training_mode"],
    "Gemm": lambda o: ["alpha", "beta", "transA", "transB"],
    "Softmax": lambda o: ["axis"],
    "ReduceSum": lambda o: ["keepdims", "noop_with_empty_axes"] if o >= 13 else ["axes", "keepdims"],
    **{op: (lambda o: ["keepdims", "noop_with_empty_axes"] if o >= 18 else ["axes", "keepdims"])
       for op in ("ReduceMean", "ReduceMax", "ReduceMin")},
    "Flatten": lambda o: ["axis"],
    "Reshape": lambda o: ["allowzero"] if o >= 14 else [],
    "Squeeze": lambda o: [] if o >= 13 else ["axes"],
    "Unsqueeze": lambda o: [] if o >= 13 else ["axes"],
    "Transpose": lambda o: ["perm"],
    "Concat": lambda o: ["axis"],
    "Gather": lambda o: ["axis"],
    "Split": lambda o: ["axis", "split"] if o <= 12 else (["axis", "num_outputs"] if o >= 18 else ["axis"]),
    "Pad": lambda o: ["mode"],
    "ConstantOfShape": lambda o: ["value"],
    "Constant": lambda o: ["value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                           "value_strings", "sparse_value"],
}
# Attribute types as admission reads them (onnx.AttributeProto.AttributeType numbers).
_FLOAT, _INT, _STRING, _TENSOR, _FLOATS, _INTS = 1, 2, 3, 4, 6, 7
_TYPES = {"auto_pad": _STRING, "mode": _STRING, "kernel_shape": _INTS, "pads": _INTS, "strides": _INTS,
          "dilations": _INTS, "perm": _INTS, "axes": _INTS, "split": _INTS, "group": _INT, "axis": _INT,
          "num_outputs": _INT, "epsilon": _FLOAT, "momentum": _FLOAT, "alpha": _FLOAT, "beta": _FLOAT,
          "value": _TENSOR, "value_float": _FLOAT, "value_floats": _FLOATS, "value_int": _INT,
          "value_ints": _INTS}
_FLAGS = {"transA", "transB", "ceil_mode", "count_include_pad", "storage_order", "training_mode", "keepdims",
          "noop_with_empty_axes", "allowzero"}
_FLOAT_T, _INT64_T = 1, 7   # TensorProto data types


class OnnxRejected(ValueError):
    """A part the runtime cannot run (on the backends asked for). `problems`: [(backends, text)]."""

    def __init__(self, file, problems, backends):
        self.file, self.problems = file, problems
        lines = [f"  - {text}" + ("" if set(b) >= set(backends) else f" (cannot run on {', '.join(b)})")
                 for b, text in problems]
        super().__init__(f"{file}: exitwise cannot run this part on {', '.join(backends)}:\n" + "\n".join(lines))


def load_supported(path=OPS_JSON):
    """supported_ops.json: {"domains", "opset": {"min", "max"}, "ops": {name: {"cpu", "webgpu"}}}."""
    with open(path) as f:
        d = json.load(f)
    if d.get("format") != "exitwise-ops/1":
        raise ValueError(f"{path}: format {d.get('format')!r}, expected 'exitwise-ops/1'")
    return {"domains": list(d["domains"]), "opset": d["opset"],
            "ops": {o["name"]: {b: bool(o[b]) for b in BACKENDS} for o in d["ops"]}}


def _node_name(i, n):
    return f"node {i} {n.name!r} ({n.op_type})" if n.name else f"node {i} ({n.op_type})"


def _attr_problems(n, opset):
    """Attribute problems of node n (admission's `only`, types and value rules)."""
    out = []
    known = _ATTRS[n.op_type](opset)
    seen = set()
    vals = {}
    for a in n.attribute:
        if a.name not in known:
            out.append(f"attribute {a.name}: not an attribute of {n.op_type} at opset {opset} "
                       f"(known: {', '.join(known) or 'none'})")
            continue
        if a.name in seen:
            out.append(f"attribute {a.name}: given twice")
        seen.add(a.name)
        if a.ref_attr_name:
            out.append(f"attribute {a.name}: a reference to a function attribute")
            continue
        want = _INT if a.name in _FLAGS else _TYPES.get(a.name)
        if want is not None and a.type != want:
            out.append(f"attribute {a.name}: has type {a.type}, expected {want} (onnx AttributeType)")
            continue
        vals[a.name] = a
    for name in ("strides", "dilations", "kernel_shape"):
        if name in vals and any(v < 1 for v in vals[name].ints):
            out.append(f"attribute {name}: {list(vals[name].ints)} must all be at least 1")
    if "pads" in vals:
        p = list(vals["pads"].ints)
        if len(p) % 2 or any(v < 0 for v in p):
            out.append(f"attribute pads: {p} must be 2 × spatial rank values, none negative")
    auto = vals["auto_pad"].s.decode("utf-8", "replace") if "auto_pad" in vals else "NOTSET"
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        out.append(f"attribute auto_pad: {auto!r} is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    elif auto != "NOTSET" and "pads" in vals and any(vals["pads"].ints):
        out.append(f"attribute pads: given with auto_pad {auto}")
    if "group" in vals and vals["group"].i < 1:
        out.append(f"attribute group: {vals['group'].i} must be at least 1")
    for name in _FLAGS & set(vals):
        if vals[name].i not in (0, 1):
            out.append(f"attribute {name}: {vals[name].i} must be 0 or 1")
    if vals.get("training_mode") is not None and vals["training_mode"].i == 1:
        out.append("attribute training_mode: training mode is not supported")
    for name in ("epsilon", "momentum", "alpha", "beta"):
        if name in vals and not math.isfinite(vals[name].f):
            out.append(f"attribute {name}: {vals[name].f} is not finite")
    if "epsilon" in vals and vals["epsilon"].f < 0:
        out.append(f"attribute epsilon: {vals['epsilon'].f} is negative")
    if n.op_type == "Pad":
        mode = vals["mode"].s.decode("utf-8", "replace") if "mode" in vals else "constant"
        if mode not in ("constant", "reflect", "edge"):
            out.append(f"attribute mode: {mode!r} is not constant, reflect or edge")
        if len(n.input) > 3 and n.input[3]:
            out.append("input 3 (axes): Pad with axes is not supported")
    if n.op_type == "Conv" and len(n.input) > 2 and n.input[2] == "":
        out.append('input 2 (B): named "": leave an omitted bias out of the inputs')
    if n.op_type == "Concat" and "axis" not in vals:
        out.append("attribute axis: required")
    if n.op_type in ("MaxPool", "AveragePool") and "kernel_shape" not in vals:
        out.append("attribute kernel_shape: required")
    if n.op_type == "Squeeze":
        has_axes = (len(n.input) > 1 and n.input[1]) if opset >= 13 else "axes" in vals
        if not has_axes:
            out.append("axes: Squeeze without axes is not supported")
    if n.op_type == "Constant":
        if len(n.attribute) != 1:
            out.append("attributes: a Constant takes exactly one value attribute")
        elif n.attribute[0].name in ("value_string", "value_strings", "sparse_value"):
            out.append(f"attribute {n.attribute[0].name}: string and sparse constants are not supported")
        elif "value" in vals and vals["value"].t.data_type not in (_FLOAT_T, _INT64_T):
            out.append(f"attribute value: data type {vals['value'].t.data_type} (FLOAT, or INT64 for shapes)")
    if n.op_type == "ConstantOfShape" and "value" in vals and vals["value"].t.data_type != _FLOAT_T:
        out.append("attribute value: must be one FLOAT (float outputs only)")
    return out


def problems(model, supported=None):
    """Everything admission would refuse in `model` (an onnx.ModelProto), as [(backends, text)]
    where `backends` are those the problem stops (both, or webgpu for a CPU-only op)."""
    s = supported or load_supported()
    both = BACKENDS
    out = []
    lo, hi = s["opset"]["min"], s["opset"]["max"]
    imports = [o.version for o in model.opset_import if o.domain in s["domains"]]
    opset = imports[0] if len(imports) == 1 else None
    if len(imports) != 1:
        out.append((both, f"opset_import: the default ONNX domain is imported {len(imports)} times, need once"))
    elif not lo <= opset <= hi:
        out.append((both, f"opset_import: ONNX operator set {opset}, exitwise runs {lo} to {hi}"))
    g = model.graph
    if len(g.sparse_initializer):
        out.append((both, "sparse initializers are not supported"))
    inits = {t.name for t in g.initializer}
    for t in g.initializer:
        if t.data_type not in (_FLOAT_T, _INT64_T):
            out.append((both, f"initializer {t.name!r}: data type {t.data_type} (FLOAT, or INT64 for shapes and indices)"))
        if t.data_location == 1 or len(t.external_data):
            out.append((both, f"initializer {t.name!r}: external data is not supported"))
    for v in g.input:
        if v.name not in inits and v.type.tensor_type.elem_type != _FLOAT_T:
            out.append((both, f"input {v.name!r}: elem_type {v.type.tensor_type.elem_type}, model inputs must be FLOAT"))
    for i, n in enumerate(g.node):
        who = _node_name(i, n)
        if n.domain not in s["domains"]:
            out.append((both, f"{who}: domain {n.domain!r}: exitwise runs only the default ONNX domain"))
            continue
        flags = s["ops"].get(n.op_type)
        if flags is None:
            out.append((both, f"{who}: operator not supported by exitwise (crate/src/ops.rs)"))
            continue
        off = tuple(b for b in BACKENDS if not flags[b])
        if off:
            out.append((off, f"{who}: runs on {', '.join(b for b in BACKENDS if flags[b]) or 'no backend'} only"))
        if n.op_type not in _ATTRS:
            out.append((both, f"{who}: no attribute rule for {n.op_type} in models/train/onnxcheck.py"))
            continue
        if opset is not None:
            out += [(both, f"{who}: {p}") for p in _attr_problems(n, opset)]
    return out


def check(model, file, backends=BACKENDS, supported=None):
    """Raises OnnxRejected when `model` has a problem on any of `backends`. Returns the backends
    it runs on."""
    backends = tuple(backends)
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise ValueError(f"backends {backends!r}: choose from {BACKENDS}")
    found = problems(model, supported)
    stopping = [(b, t) for b, t in found if set(b) & set(backends)]
    if stopping:
        raise OnnxRejected(file, stopping, backends)
    return [b for b in BACKENDS if not any(b in bs for bs, _ in found)]
