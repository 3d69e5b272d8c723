//! Tensors stored in the file (initialisers, Constant values): FLOAT, or INT64 for shape-like
//! inputs; the data inline and exactly as long as the dims say.

use super::value::{numel, Dt, Val, MAX_INTS};
use crate::error::{Error, ErrorCode};
use std::rc::Rc;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::TensorProto;

pub fn dtype_name(t: i32) -> String {
    DataType::try_from(t).map(|t| format!("{t:?}").to_uppercase()).unwrap_or_else(|_| format!("data type {t}"))
}

/// The tensor `t` as a constant value; `whom` names it in errors ("seg0.onnx: initializer w1").
pub fn constant(t: &TensorProto, whom: &str) -> Result<Val, Error> {
    let bad = |why: String| Error::new(ErrorCode::BadOnnx, format!("{whom}: {why}"));
    let unsupported = |why: String| Error::new(ErrorCode::UnsupportedOp, format!("{whom}: {why}"));
    let dt = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => Dt::F32,
        Ok(DataType::Int64) => Dt::I64,
        _ => return Err(unsupported(format!("{} tensors are not supported (FLOAT, or INT64 for shapes and indices)", dtype_name(t.data_type)))),
    };
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(unsupported("external data is not supported: tensors must be inside the file".into()));
    }
    if t.segment.is_some() {
        return Err(unsupported("segmented tensors are not supported".into()));
    }
    let shape: Vec<u64> = t
        .dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| bad(format!("negative dimension {d} in dims {:?}", t.dims))))
        .collect::<Result<_, _>>()?;
    let n = numel(&shape, dt).map_err(bad)?;
    let typed = match dt {
        Dt::F32 => t.float_data.len(),
        Dt::I64 => t.int64_data.len(),
    };
    let others = t.int32_data.len() + t.string_data.len() + t.double_data.len() + t.uint64_data.len()
        + if dt == Dt::F32 { t.int64_data.len() } else { t.float_data.len() };
    let raw = t.raw_data.len() as u64;
    let ok = match (raw, typed) {
        (0, k) => k as u64 == n,
        (r, 0) => r == n * dt.size(),
        _ => false,
    };
    if !ok || others != 0 {
        return Err(bad(format!(
            "data does not match dims {:?} ({n} elements): {raw} raw bytes, {typed} typed values, {others} values in fields of other types",
            t.dims
        )));
    }
    let ints = (dt == Dt::I64 && n <= MAX_INTS).then(|| -> Rc<[i64]> {
        match raw {
            0 => t.int64_data.as_slice().into(),
            _ => t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
        }
    });
    Ok(Val { dt, shape, konst: true, ints })
}
