//! The one list of ONNX operators exitwise runs, and on which backend. Admission
//! (`crate::admission`) accepts only these; the WebGPU lowering names the CPU-only ones in its
//! errors; the Python exporter reads the same list from `models/train/supported_ops.json`
//! (written from here by the `supported_ops_json_is_current` test).

/// ONNX domains whose operators exitwise runs (both spell the default domain).
pub const DOMAINS: [&str; 2] = ["", "ai.onnx"];

/// Default-domain operator set versions accepted (tract is tested against 9 to 18; below 11 some
/// ops still take attributes where exitwise reads inputs).
pub const OPSET_MIN: i64 = 11;
pub const OPSET_MAX: i64 = 18;

/// An operator and whether each backend runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OpSupport {
    pub name: &'static str,
    /// The tract CPU backend.
    pub cpu: bool,
    /// The WebGPU backend (`backend/gpu/lower.rs`); checked against the lowering by a test.
    pub webgpu: bool,
}

const fn both(name: &'static str) -> OpSupport {
    OpSupport { name, cpu: true, webgpu: true }
}
const fn cpu(name: &'static str) -> OpSupport {
    OpSupport { name, cpu: true, webgpu: false }
}

/// Sorted by name. What the shipped bundles use, what the WebGPU lowering handles once tract has
/// decluttered the graph, and the shape and indexing ops common in exported CNNs.
pub const OPS: &[OpSupport] = &[
    both("Add"),
    both("AveragePool"),
    both("BatchNormalization"), // folded into Mul + Add by tract
    both("Clip"),
    both("Concat"),
    both("Constant"),
    both("ConstantOfShape"), // always of a constant shape: folded into a constant
    both("Conv"),
    both("Div"),
    cpu("Erf"),
    both("Flatten"),
    cpu("Gather"),
    both("Gemm"),
    both("GlobalAveragePool"),
    both("GlobalMaxPool"),
    both("Identity"),
    both("MatMul"),
    both("Max"),
    both("MaxPool"),
    both("Min"),
    both("Mul"),
    cpu("Pad"),
    both("Reciprocal"),
    both("ReduceMax"),
    both("ReduceMean"),
    both("ReduceMin"),
    both("ReduceSum"),
    both("Relu"),
    both("Reshape"),
    both("Sigmoid"),
    cpu("Slice"),
    both("Softmax"),
    cpu("Split"),
    both("Squeeze"),
    both("Sub"),
    cpu("Transpose"),
    both("Unsqueeze"),
];

/// The entry for an ONNX `op_type`, if exitwise runs it.
pub fn find(op_type: &str) -> Option<&'static OpSupport> {
    OPS.binary_search_by(|o| o.name.cmp(op_type)).ok().map(|i| &OPS[i])
}

pub fn is_onnx_domain(domain: &str) -> bool {
    DOMAINS.contains(&domain)
}

/// The list as the exporter reads it (`models/train/supported_ops.json`), one op a line.
pub fn supported_ops_json() -> String {
    let json = |v: serde_json::Value| v.to_string();
    let ops: Vec<String> = OPS.iter().map(|o| format!("    {}", serde_json::to_string(o).unwrap_or_default())).collect();
    format!(
        "{{\n  \"format\": \"exitwise-ops/1\",\n  \"generated_by\": {},\n  \"domains\": {},\n  \"opset\": {},\n  \"dtypes\": {},\n  \"ops\": [\n{}\n  ]\n}}\n",
        json("crate/src/ops.rs; EXITWISE_BLESS=1 cargo test --test admission supported_ops_json rewrites this file".into()),
        json(serde_json::json!(DOMAINS)),
        json(serde_json::json!({ "min": OPSET_MIN, "max": OPSET_MAX })),
        json(serde_json::json!(["FLOAT", "INT64 (constant shape, axes, pads and indices inputs only)"])),
        ops.join(",\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        assert!(OPS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(find("Conv").is_some_and(|o| o.webgpu) && find("Erf").is_some_and(|o| !o.webgpu));
        assert!(find("FancyNewOp").is_none());
    }

    #[test]
    fn json_parses_back() {
        let v: serde_json::Value = serde_json::from_str(&supported_ops_json()).expect("valid JSON");
        assert_eq!(v["ops"].as_array().map(Vec::len), Some(OPS.len()));
        assert_eq!(v["ops"][0]["name"], OPS[0].name);
    }
}
