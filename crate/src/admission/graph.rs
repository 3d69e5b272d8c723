//! Graph-level checks: the operator set import, declared value types and dims, and an
//! execution order (every input defined, every name defined once, no cycle).

use super::ctx::At;
use super::value::MAX_DIM;
use crate::error::{err, Error, ErrorCode, Result};
use crate::ops::{is_onnx_domain, OPSET_MAX, OPSET_MIN};
use std::collections::{BTreeSet, HashMap, HashSet};
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as Type;
use tract_onnx::pb::{GraphProto, ModelProto, ValueInfoProto};

/// The default domain's operator set version: imported once, within the range exitwise runs.
pub fn opset(file: &str, proto: &ModelProto) -> Result<i64> {
    let imports: Vec<i64> = proto.opset_import.iter().filter(|o| is_onnx_domain(&o.domain)).map(|o| o.version).collect();
    match imports[..] {
        [v] if (OPSET_MIN..=OPSET_MAX).contains(&v) => Ok(v),
        [v] => err(ErrorCode::UnsupportedOp, format!("{file}: opset_import: ONNX operator set {v}, exitwise runs {OPSET_MIN} to {OPSET_MAX}")),
        [] => err(ErrorCode::BadOnnx, format!("{file}: opset_import: no operator set for the default ONNX domain")),
        _ => err(ErrorCode::BadOnnx, format!("{file}: opset_import: the default ONNX domain is imported {} times", imports.len())),
    }
}

/// A dim_param tract can read as a plain symbol ("?" or a name), never an expression to parse.
fn plain_symbol(p: &str) -> bool {
    p == "?" || (!p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Checks a declared value (`role`: "input", "output", "value_info"). Returns its dims (None
/// where symbolic) when it declares a shape. A model input must be FLOAT with dims ≥ 1; other
/// declarations FLOAT or INT64 (or untyped), dims ≥ 0; every dim within i32.
pub fn declared(file: &str, role: &str, vi: &ValueInfoProto, model_input: bool) -> Result<Option<Vec<Option<u64>>>> {
    let whom = format!("{file}: {role} {:?}", vi.name);
    let Some(Type::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return match model_input {
            true => err(ErrorCode::BadOnnx, format!("{whom}: no tensor type")),
            false => Ok(None),
        };
    };
    let ok_type = match model_input {
        true => t.elem_type == 1,
        false => [0, 1, 7].contains(&t.elem_type),
    };
    if !ok_type {
        let name = super::tensor::dtype_name(t.elem_type);
        return err(ErrorCode::UnsupportedOp, format!("{whom}: {name} is not supported (FLOAT{})", if model_input { "" } else { " or INT64" }));
    }
    let Some(shape) = &t.shape else { return Ok(None) };
    let lo = if model_input { 1 } else { 0 };
    let mut dims = Vec::with_capacity(shape.dim.len());
    for (d, dim) in shape.dim.iter().enumerate() {
        dims.push(match &dim.value {
            Some(Dim::DimValue(v)) => match u64::try_from(*v) {
                Ok(v) if (lo..=MAX_DIM).contains(&v) => Some(v),
                _ => return err(ErrorCode::BadOnnx, format!("{whom}: dim {d} is {v}, outside {lo} to {MAX_DIM}")),
            },
            Some(Dim::DimParam(p)) if plain_symbol(p) => None,
            Some(Dim::DimParam(p)) => return err(ErrorCode::BadOnnx, format!("{whom}: dim {d}: dim_param {p:?} is not a plain name")),
            None => None,
        });
    }
    Ok(Some(dims))
}

/// An order to visit the nodes in: file order where it is already topological. `defined`:
/// initialiser and model input names.
pub fn order(file: &str, g: &GraphProto, defined: &HashSet<&str>) -> Result<Vec<usize>> {
    let at = |index| At { file, index, node: &g.node[index] };
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for (j, o) in n.output.iter().enumerate() {
            if o.is_empty() {
                return Err(at(i).bad(&format!("output {j}"), "has no name"));
            }
            if defined.contains(o.as_str()) || producer.insert(o, i).is_some() {
                return Err(at(i).bad(&format!("output {j}"), format!("{o:?} is defined twice")));
            }
        }
    }
    let mut pending = vec![0usize; g.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    for (i, n) in g.node.iter().enumerate() {
        for (k, name) in n.input.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            if defined.contains(name.as_str()) {
                continue;
            }
            let p = *producer.get(name.as_str()).ok_or_else(|| at(i).bad(&format!("input {k}"), format!("{name:?} is not defined in the graph")))?;
            pending[i] += 1;
            users[p].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..g.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if let Some(i) = (0..g.node.len()).find(|&i| pending[i] > 0) {
        return Err(at(i).bad("inputs", "the node is part of a cycle"));
    }
    Ok(order)
}

/// Shorthand for errors that name only the file.
pub fn bad(file: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::BadOnnx, format!("{file}: {why}"))
}
