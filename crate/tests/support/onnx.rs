//! A tiny ONNX graph builder for tests: real ONNX protobuf bytes, written with tract-onnx's own
//! protobuf types, so that fixtures need no Python.

use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Deterministic pseudo-random weights in [-1, 1).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    n: usize,
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tract_onnx::pb::tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}
pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: v, ..Default::default() }
}
pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f: v, ..Default::default() }
}
pub fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::String as i32, s: v.as_bytes().to_vec(), ..Default::default() }
}
pub fn tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Tensor as i32, t: Some(t), ..Default::default() }
}
/// An INT64 tensor (shapes, axes, pads, indices).
pub fn i64_tensor(dims: &[i64], data: Vec<i64>) -> TensorProto {
    TensorProto { dims: dims.to_vec(), data_type: 7, int64_data: data, ..Default::default() }
}

impl Graph {
    /// Declares a graph input; `None` dims are the dynamic batch `N`.
    pub fn input(&mut self, name: &str, dims: &[Option<i64>]) -> String {
        self.inputs.push(value_info(name, dims));
        name.to_string()
    }
    pub fn output(&mut self, name: &str) {
        self.outputs.push(ValueInfoProto { name: name.into(), ..Default::default() });
    }
    pub fn init(&mut self, dims: &[i64], data: Vec<f32>) -> String {
        self.n += 1;
        let name = format!("w{}", self.n);
        self.inits.push(TensorProto { name: name.clone(), dims: dims.to_vec(), data_type: 1, float_data: data, ..Default::default() });
        name
    }
    /// Adds an initializer as given (any type), named like `init`'s.
    pub fn init_tensor(&mut self, mut t: TensorProto) -> String {
        self.n += 1;
        t.name = format!("w{}", self.n);
        let name = t.name.clone();
        self.inits.push(t);
        name
    }
    /// An INT64 initializer.
    pub fn init_i64(&mut self, dims: &[i64], data: Vec<i64>) -> String {
        self.init_tensor(i64_tensor(dims, data))
    }
    /// Adds a node in `domain` with the given output names.
    pub fn node_in(&mut self, domain: &str, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, outs: &[&str]) {
        self.n += 1;
        self.nodes.push(NodeProto {
            op_type: op.into(),
            domain: domain.into(),
            name: format!("n{}", self.n),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
    }
    /// Adds a node; returns its (first) output name, or `out` when given.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, out: Option<&str>) -> String {
        self.n += 1;
        let o = out.map(String::from).unwrap_or_else(|| format!("t{}", self.n));
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name: format!("n{}", self.n),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![o.clone()],
            attribute: attrs,
            ..Default::default()
        });
        o
    }
    pub fn conv(&mut self, rng: &mut Lcg, x: &str, cin: i64, cout: i64, k: i64, stride: i64, pad: i64) -> String {
        let w = self.init(&[cout, cin, k, k], rng.vec((cout * cin * k * k) as usize, 0.5));
        let b = self.init(&[cout], rng.vec(cout as usize, 0.1));
        self.node("Conv", &[x, &w, &b], vec![ints("kernel_shape", &[k, k]), ints("strides", &[stride, stride]), ints("pads", &[pad, pad, pad, pad])], None)
    }
    pub fn dense(&mut self, rng: &mut Lcg, x: &str, fin: i64, fout: i64, out: Option<&str>) -> String {
        let w = self.init(&[fout, fin], rng.vec((fout * fin) as usize, 0.8));
        let b = self.init(&[fout], rng.vec(fout as usize, 0.1));
        self.node("Gemm", &[x, &w, &b], vec![int("transB", 1)], out)
    }
    pub fn bytes(self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
    /// The model, for tests that edit it before encoding.
    pub fn model(self) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
            producer_name: "exitwise-tests".into(),
            graph: Some(GraphProto {
                name: "g".into(),
                node: self.nodes,
                initializer: self.inits,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
