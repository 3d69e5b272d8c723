//! Admission: every part's ONNX protobuf is checked before tract builds anything from it, since
//! tract trusts its input and a crafted file (stride 0, axis 99, a STRING tensor, a 4 GiB
//! ConstantOfShape …) can panic or exhaust memory inside it, which aborts a wasm instance.
//!
//! Accepted: operators of [`crate::ops::OPS`] in the default domain at a supported opset;
//! FLOAT data (INT64 only as constant shape, axes, pads or indices inputs); attributes within
//! what each op means; shapes that propagate from the part's concrete inputs with checked
//! arithmetic; and an estimated peak memory within [`LoadLimits::memory_budget_bytes`].
//! Errors: [`ErrorCode::BadOnnx`] for malformed or insane files and over-budget parts,
//! [`ErrorCode::UnsupportedOp`] for what is valid ONNX but not run; messages name the file, the
//! node (index, name, op_type) and the attribute or input.

mod array;
mod budget;
mod ctx;
mod graph;
mod infer;
mod nn;
mod node;
mod tensor;
mod value;
mod window;

pub use budget::Estimate;

use crate::error::{err, Error, ErrorCode, Result};
use crate::ops;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::ModelProto;
use value::{Dt, Val};

/// The default memory budget per part: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

/// Limits applied while a bundle loads (JS: `LoadOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadLimits {
    /// Largest estimated peak of tensor bytes one part may need at batch 1: its constants plus
    /// the activations alive at once. A part over it is refused with `BAD_ONNX`.
    pub memory_budget_bytes: u64,
    /// Load (verify and parse) the bundle's reference outputs. They serve only to check an
    /// export against the training framework natively; the browser skips them (never fetched).
    pub reference: bool,
    /// Load (verify, parse and bind to the parts) the bundle's calibration trace. `exitwise
    /// trace` skips it: re-tracing a re-exported bundle must not fail on the stale one.
    pub calibration_trace: bool,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits { memory_budget_bytes: DEFAULT_MEMORY_BUDGET, reference: true, calibration_trace: true }
    }
}

/// Checks the part `file` before tract sees it. `in_shapes`: each model input's shape without
/// the batch, as its producers give it (batch 1 is assumed for the estimate).
pub fn admit(file: &str, proto: &ModelProto, in_shapes: &[Vec<usize>], limits: &LoadLimits) -> Result<Estimate> {
    let opset = graph::opset(file, proto)?;
    let g = proto.graph.as_ref().ok_or_else(|| graph::bad(file, "the model has no graph"))?;
    if !g.sparse_initializer.is_empty() {
        return err(ErrorCode::UnsupportedOp, format!("{file}: sparse initializers are not supported"));
    }
    let budget = limits.memory_budget_bytes;
    let mut vals: HashMap<&str, Val> = HashMap::new();
    for t in &g.initializer {
        let whom = format!("{file}: initializer {:?}", t.name);
        let v = tensor::constant(t, &whom)?;
        if t.name.is_empty() || vals.insert(&t.name, v).is_some() {
            return Err(graph::bad(file, format!("initializer {:?} is unnamed or named twice", t.name)));
        }
    }
    // Model inputs: graph inputs that are not initialisers (older files list both).
    let mut real = Vec::new();
    let mut seen = HashSet::new();
    for vi in &g.input {
        let model_input = !vals.contains_key(vi.name.as_str());
        let dims = graph::declared(file, "input", vi, model_input)?;
        if model_input {
            if !seen.insert(vi.name.as_str()) {
                return Err(graph::bad(file, format!("input {:?} is declared twice", vi.name)));
            }
            real.push((vi.name.as_str(), dims));
        }
    }
    for vi in &g.output {
        graph::declared(file, "output", vi, false)?;
    }
    for vi in &g.value_info {
        graph::declared(file, "value_info", vi, false)?;
    }
    if real.len() != in_shapes.len() {
        return err(ErrorCode::ShapeMismatch, format!("{file}: the graph has {} inputs, the manifest names {}", real.len(), in_shapes.len()));
    }
    for (i, ((name, declared), want)) in real.iter().zip(in_shapes).enumerate() {
        if let Some(d) = declared {
            fits(file, i, d, want)?;
        }
        let shape: Vec<u64> = std::iter::once(1).chain(want.iter().map(|&d| d as u64)).collect();
        value::numel(&shape, Dt::F32).map_err(|why| graph::bad(file, format!("input {i}: {why}")))?;
        vals.insert(name, Val::f32(shape));
    }
    let defined: HashSet<&str> = vals.keys().copied().collect();
    let order = graph::order(file, g, &defined)?;
    let mut scratch = vec![0u64; g.node.len()];
    let mut constants = vals.values().filter(|v| v.konst).fold(0u64, |a, v| a.saturating_add(v.bytes()));
    over(file, "its initializers", constants, budget)?;
    for &index in &order {
        let node = &g.node[index];
        let at = ctx::At { file, index, node };
        if !ops::is_onnx_domain(&node.domain) {
            return Err(at.unsupported("domain", format!("{:?}: exitwise runs only the default ONNX domain", node.domain)));
        }
        if ops::find(&node.op_type).is_none() {
            return Err(at.unsupported("op_type", "operator not supported by exitwise"));
        }
        let ins = node.input.iter().map(|s| (!s.is_empty()).then(|| vals.get(s.as_str()).cloned()).flatten()).collect();
        let n = node::Node { at, opset, ins };
        let outs = infer::infer(&n)?;
        // tract folds a node of constants into a constant at load (Constant has no inputs).
        let konst = n.ins.iter().flatten().all(|v| v.konst);
        scratch[index] = outs.scratch;
        for (name, mut v) in node.output.iter().zip(outs.vals) {
            v.konst = konst;
            let b = v.bytes();
            if b > budget {
                return Err(n.at.bad(&format!("output {name:?}"), format!("{b} bytes ({:?} {:?}), over the memory budget of {budget} bytes", v.dt, v.shape)));
            }
            if konst {
                constants = constants.saturating_add(b);
                over(file, &format!("the constants up to {}", n.at.whom()), constants, budget)?;
            }
            vals.insert(name, v);
        }
    }
    for o in &g.output {
        if !vals.contains_key(o.name.as_str()) {
            return Err(graph::bad(file, format!("graph output {:?} is not computed by the graph", o.name)));
        }
    }
    let e = budget::estimate(g, &order, &vals, &scratch);
    if e.total() > budget {
        let at = e.peak_node.and_then(|i| g.node.get(i).map(|node| ctx::At { file, index: i, node }.whom()));
        return Err(graph::bad(file, format!(
            "needs an estimated {} bytes at batch 1 ({} of constants, {} of activations{}), over the memory budget of {budget} bytes",
            e.total(), e.constant_bytes, e.activation_bytes, at.map(|w| format!(" at {w}")).unwrap_or_default()
        )));
    }
    Ok(e)
}

fn over(file: &str, what: &str, bytes: u64, budget: u64) -> Result<()> {
    match bytes > budget {
        true => Err(graph::bad(file, format!("{what} hold {bytes} bytes, over the memory budget of {budget} bytes"))),
        false => Ok(()),
    }
}

/// A declared model input against its producer's shape (`want`, without the batch).
fn fits(file: &str, i: usize, declared: &[Option<u64>], want: &[usize]) -> Result<()> {
    let show = want.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    let mismatch = |why: String| Error::new(ErrorCode::ShapeMismatch, format!("{file}: input {i} {why}"));
    if declared.len() != want.len() + 1 {
        return Err(mismatch(format!("has rank {}, its producer gives rank {} ([N, {show}])", declared.len(), want.len() + 1)));
    }
    for (d, (got, w)) in declared[1..].iter().zip(want).enumerate() {
        if let Some(g) = got {
            if *g != *w as u64 {
                return Err(mismatch(format!("expects dim {} = {g}, its producer gives [N, {show}]", d + 1)));
            }
        }
    }
    match declared[0] {
        Some(b) if b != 1 => Err(mismatch(format!("has a fixed batch of {b}, need 1 or dynamic"))),
        _ => Ok(()),
    }
}
