//! ONNX target: a real part decoded into `tract_onnx::pb::ModelProto`, mutated where hostile
//! files differ from honest ones (attributes, dims, initializer types and data, op types, node
//! wiring, opsets, domains), re-encoded, its sha256 fixed in the manifest, then loaded and run.

use crate::case::{Case, Run, Target};
use crate::rng::Rng;
use exitwise::bundle::sha256_hex;
use prost::Message;
use serde_json::Value;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{type_proto, AttributeProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto};

/// (bundle, part, weight): small parts weigh more (every load runs the parts before it).
pub const PARTS: &[(&str, &str, usize)] = &[
    ("tiny-mnist", "seg0.onnx", 8),
    ("tiny-mnist", "exit0.onnx", 5),
    ("tiny-mnist", "exit1.onnx", 5),
    ("tiny-mnist", "final.onnx", 5),
    ("tiny-mnist", "seg1.onnx", 3),
    ("tiny-mnist", "seg2.onnx", 2),
    ("resnet-fmnist", "seg0.onnx", 3),
    ("resnet-fmnist", "exit0.onnx", 1),
    ("resnet-fmnist", "exit1.onnx", 1),
    ("resnet-fmnist", "final.onnx", 2),
    ("resnet-fmnist-pt", "seg0.onnx", 1),
    ("resnet-fmnist-pt", "final.onnx", 1),
    ("mobilenet-random", "seg0.onnx", 3),
    ("mobilenet-random", "exit0.onnx", 2),
    ("mobilenet-random", "exit1.onnx", 1),
];

/// What exitwise runs, and some of what it does not.
const OP_TYPES: &[&str] = &[
    "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Erf",
    "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "Max", "MaxPool", "Min",
    "Mul", "Pad", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Sigmoid",
    "Slice", "Softmax", "Split", "Squeeze", "Sub", "Transpose", "Unsqueeze", "Loop", "If", "Scan", "Resize",
    "NonZero", "Einsum", "Range", "Tile", "Expand", "ConvTranspose", "LSTM", "TopK", "Shape", "Cast", "",
];

const ATTR_NAMES: &[&str] = &[
    "axis", "axes", "strides", "pads", "kernel_shape", "dilations", "group", "perm", "keepdims", "alpha", "beta",
    "transA", "transB", "epsilon", "momentum", "auto_pad", "ceil_mode", "count_include_pad", "storage_order", "value",
    "to", "split", "num_outputs", "min", "max", "allowzero", "noop_with_empty_axes", "mode", "starts", "ends",
    "training_mode", "spatial", "value_float", "value_ints", "sneaky", "",
];

const ODD_STRS: &[&str] = &[
    "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "", "SAME_SIDEWAYS", "constant", "reflect", "edge", "wrap", "\u{fffd}",
];

const ODD_FLOATS: &[f32] = &[0.0, -0.0, -1.0, 1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 1e-30, f32::MIN_POSITIVE, f32::MAX, 0.5];

const DATA_TYPES: &[i32] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 1000, -1];

fn edge_ints(rng: &mut Rng, near: &[i64]) -> Vec<i64> {
    let n = *rng.pick(&[0usize, 1, 2, 3, 4, 5, 6, 8, 16]);
    (0..n).map(|i| rng.edge_int(near.get(i).copied().unwrap_or(1))).collect()
}

fn mutate_ints(rng: &mut Rng, v: &mut Vec<i64>) -> String {
    match rng.below(6) {
        0 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = rng.edge_int(v[i]);
            format!("[{i}] = {}", v[i])
        }
        1 => {
            let x = rng.edge_int(v.last().copied().unwrap_or(1));
            v.push(x);
            format!("push {x}")
        }
        2 => {
            v.pop();
            "pop".into()
        }
        3 => {
            v.clear();
            "cleared".into()
        }
        4 => {
            let c = v.clone();
            v.extend(c);
            "doubled".into()
        }
        _ => {
            *v = edge_ints(rng, v);
            format!("= {v:?}")
        }
    }
}

fn random_attribute(rng: &mut Rng) -> AttributeProto {
    let mut a = AttributeProto { name: rng.pick(ATTR_NAMES).to_string(), ..Default::default() };
    match rng.below(5) {
        0 => {
            a.r#type = AttributeType::Int as i32;
            a.i = rng.edge_int(1);
        }
        1 => {
            a.r#type = AttributeType::Ints as i32;
            a.ints = edge_ints(rng, &[]);
        }
        2 => {
            a.r#type = AttributeType::Float as i32;
            a.f = *rng.pick(ODD_FLOATS);
        }
        3 => {
            a.r#type = AttributeType::String as i32;
            a.s = rng.pick(ODD_STRS).as_bytes().to_vec();
        }
        _ => {
            a.r#type = AttributeType::Tensor as i32;
            let mut t = TensorProto { data_type: 1, dims: vec![2], float_data: vec![0.5, -1.0], ..Default::default() };
            mutate_tensor(rng, &mut t, &[]);
            a.t = Some(t);
        }
    }
    a
}

fn mutate_attribute(rng: &mut Rng, a: &mut AttributeProto) -> String {
    let name = a.name.clone();
    let d = match rng.below(10) {
        0..=3 => match AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined) {
            AttributeType::Ints => mutate_ints(rng, &mut a.ints),
            AttributeType::Int => {
                a.i = rng.edge_int(a.i);
                format!("= {}", a.i)
            }
            AttributeType::Float => {
                a.f = *rng.pick(ODD_FLOATS);
                format!("= {}", a.f)
            }
            AttributeType::String => {
                a.s = rng.pick(ODD_STRS).as_bytes().to_vec();
                format!("= {:?}", String::from_utf8_lossy(&a.s))
            }
            AttributeType::Tensor => match a.t.as_mut() {
                Some(t) => mutate_tensor(rng, t, &[]),
                None => "no tensor".into(),
            },
            _ => mutate_ints(rng, &mut a.ints),
        },
        4 => {
            // Values in the field of another type (the `type` field says one, data another).
            a.ints = edge_ints(rng, &[a.i]);
            a.i = rng.edge_int(1);
            "ints and i both set".into()
        }
        5 => {
            a.r#type = *rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 99]);
            format!("type = {}", a.r#type)
        }
        6 => {
            a.name = rng.pick(ATTR_NAMES).to_string();
            format!("renamed {:?}", a.name)
        }
        7 => {
            a.t = Some(TensorProto { data_type: 1, dims: vec![], float_data: vec![f32::NAN], ..Default::default() });
            "tensor NaN added".into()
        }
        _ => {
            *a = random_attribute(rng);
            format!("replaced by {:?}", a.name)
        }
    };
    format!("attribute {name:?} {d}")
}

/// New dims for `t` with its data re-sized to match, so that the tensor itself stays valid and
/// the shape is what reaches shape inference (and tract).
fn reshape_consistently(rng: &mut Rng, t: &mut TensorProto) -> String {
    let mut dims = t.dims.clone();
    match rng.below(5) {
        0 if !dims.is_empty() => {
            let i = rng.below(dims.len());
            dims[i] = *rng.pick(&[0, 1, 2, 3, dims[i] + 1, dims[i] - 1, dims[i] * 2]);
        }
        1 if dims.len() >= 2 => {
            let (i, j) = (rng.below(dims.len()), rng.below(dims.len()));
            dims.swap(i, j);
        }
        2 => dims.insert(rng.below(dims.len() + 1), 1),
        3 => {
            dims.pop();
        }
        _ => dims = vec![*rng.pick(&[0i64, 1, 2, 4, 9, 64])],
    }
    let n = dims.iter().try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) });
    let size = if t.data_type == 7 { 8 } else { 4 };
    match n.filter(|&n| n <= 1 << 22) {
        Some(n) => {
            let mut raw = std::mem::take(&mut t.raw_data);
            if raw.is_empty() {
                raw = t.float_data.iter().flat_map(|f| f.to_le_bytes()).chain(t.int64_data.iter().flat_map(|i| i.to_le_bytes())).collect();
            }
            let len = n as usize * size;
            let fill = raw.clone();
            raw.resize(len, 0);
            for (k, b) in raw.iter_mut().enumerate().skip(fill.len()) {
                *b = fill.get(k % fill.len().max(1)).copied().unwrap_or(0);
            }
            t.raw_data = raw;
            t.float_data.clear();
            t.int64_data.clear();
            let old = std::mem::replace(&mut t.dims, dims);
            format!("reshaped {old:?} -> {:?} with data to match", t.dims)
        }
        None => "reshape too large".into(),
    }
}

fn mutate_tensor(rng: &mut Rng, t: &mut TensorProto, names: &[String]) -> String {
    let d = match rng.below(12) {
        10 | 11 => reshape_consistently(rng, t),
        0 | 1 => {
            let r = mutate_ints(rng, &mut t.dims);
            format!("dims {r}")
        }
        2 | 3 => {
            t.data_type = *rng.pick(DATA_TYPES);
            format!("data_type = {}", t.data_type)
        }
        4 | 5 => {
            let len = t.raw_data.len();
            match rng.below(5) {
                0 => t.raw_data.truncate(len.saturating_sub(rng.range(1, 8))),
                1 => t.raw_data.truncate(len / 2),
                2 => t.raw_data.extend(std::iter::repeat_n(0x7f, rng.range(1, 8))),
                3 => t.raw_data.clear(),
                _ => t.raw_data.extend(std::iter::repeat_n(0, len)),
            }
            format!("raw_data {len} -> {} bytes", t.raw_data.len())
        }
        6 => {
            // The same data in another field, or in two.
            let floats: Vec<f32> = t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            match rng.below(4) {
                0 => {
                    t.float_data = floats;
                    t.raw_data.clear();
                    "raw_data moved to float_data".into()
                }
                1 => {
                    t.float_data = floats;
                    "raw_data copied to float_data".into()
                }
                2 => {
                    t.int64_data = t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
                    t.raw_data.clear();
                    "raw_data moved to int64_data".into()
                }
                _ => {
                    t.int32_data = vec![1, 2, 3];
                    "int32_data added".into()
                }
            }
        }
        7 => {
            // Odd values in the data (NaN, ∞ in weights; huge ints in shape tensors).
            let n = t.raw_data.len();
            if t.data_type == 7 && n >= 8 {
                let i = rng.below(n / 8) * 8;
                let v = rng.edge_int(0);
                t.raw_data[i..i + 8].copy_from_slice(&v.to_le_bytes());
                format!("int64 [{}] = {v}", i / 8)
            } else if n >= 4 {
                let i = rng.below(n / 4) * 4;
                let v = *rng.pick(ODD_FLOATS);
                t.raw_data[i..i + 4].copy_from_slice(&v.to_le_bytes());
                format!("float [{}] = {v}", i / 4)
            } else if let Some(x) = t.int64_data.first_mut() {
                *x = rng.edge_int(*x);
                format!("int64_data[0] = {x}")
            } else if let Some(x) = t.float_data.first_mut() {
                *x = f32::NAN;
                "float_data[0] = NaN".into()
            } else {
                "no data".into()
            }
        }
        8 => match rng.below(3) {
            0 => {
                t.data_location = Some(1);
                t.external_data = vec![StringStringEntryProto { key: "location".into(), value: rng.pick(&["/etc/passwd", "../x", "seg0.onnx"]).to_string() }];
                "external data".into()
            }
            1 => {
                t.segment = Some(tract_onnx::pb::tensor_proto::Segment { begin: 0, end: rng.edge_int(4) });
                "segment".into()
            }
            _ => {
                t.string_data = vec![b"x".to_vec()];
                t.data_type = 8;
                "a STRING tensor".into()
            }
        },
        _ => {
            let old = t.name.clone();
            t.name = match names.is_empty() || rng.chance(1, 4) {
                true => rng.pick(&["", "input", "x", "a0"]).to_string(),
                false => rng.pick(names).clone(),
            };
            format!("renamed {old:?} -> {:?}", t.name)
        }
    };
    format!("tensor {:?} {d}", t.name)
}

fn mutate_shape(rng: &mut Rng, ty: &mut Option<TypeProto>) -> String {
    let Some(TypeProto { value: Some(type_proto::Value::TensorType(tt)), .. }) = ty.as_mut() else {
        *ty = None;
        return "no type".into();
    };
    match rng.below(6) {
        0 => {
            tt.elem_type = *rng.pick(DATA_TYPES);
            format!("elem_type = {}", tt.elem_type)
        }
        1 => {
            tt.shape = None;
            "shape removed".into()
        }
        _ => {
            let shape = tt.shape.get_or_insert_with(TensorShapeProto::default);
            let dims = &mut shape.dim;
            match rng.below(5) {
                0 if !dims.is_empty() => {
                    let i = rng.below(dims.len());
                    let v = rng.edge_int(1);
                    dims[i].value = Some(dimension::Value::DimValue(v));
                    format!("dim {i} = {v}")
                }
                1 if !dims.is_empty() => {
                    let i = rng.below(dims.len());
                    dims[i].value = Some(dimension::Value::DimParam(rng.pick(&["N", "batch", "", "M"]).to_string()));
                    format!("dim {i} symbolic")
                }
                2 => {
                    dims.pop();
                    "a dim dropped".into()
                }
                3 => {
                    dims.push(Dimension { value: Some(dimension::Value::DimValue(rng.edge_int(1))), ..Default::default() });
                    "a dim pushed".into()
                }
                _ => {
                    dims.clear();
                    "rank 0".into()
                }
            }
        }
    }
}

fn mutate_once(rng: &mut Rng, m: &mut ModelProto) -> String {
    let Some(g) = m.graph.as_mut() else { return "no graph".into() };
    let mut names: Vec<String> = g.input.iter().map(|v| v.name.clone()).collect();
    names.extend(g.initializer.iter().map(|t| t.name.clone()));
    names.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    let n_nodes = g.node.len();
    let node_of = |rng: &mut Rng, g: &mut tract_onnx::pb::GraphProto| -> Option<usize> { (!g.node.is_empty()).then(|| rng.below(g.node.len())) };
    let at = |i: usize, n: &NodeProto| format!("node {i} {:?} ({})", n.name, n.op_type);
    match rng.weighted(&[30, 12, 8, 10, 5, 5, 3, 8, 2, 3]) {
        0 => {
            // An attribute of a node that has some (or a new one).
            let with: Vec<usize> = (0..n_nodes).filter(|&i| !g.node[i].attribute.is_empty()).collect();
            match (with.is_empty(), rng.below(6)) {
                (false, 0..=4) => {
                    let i = *rng.pick(&with);
                    let who = at(i, &g.node[i]);
                    let n = &mut g.node[i];
                    match rng.below(8) {
                        0 => {
                            let k = rng.below(n.attribute.len());
                            let a = n.attribute.remove(k);
                            format!("{who}: attribute {:?} deleted", a.name)
                        }
                        1 => {
                            let k = rng.below(n.attribute.len());
                            let a = n.attribute[k].clone();
                            n.attribute.push(a);
                            format!("{who}: attribute {:?} twice", n.attribute[k].name)
                        }
                        _ => {
                            let k = rng.below(n.attribute.len());
                            format!("{who}: {}", mutate_attribute(rng, &mut n.attribute[k]))
                        }
                    }
                }
                _ => match node_of(rng, g) {
                    Some(i) => {
                        let a = random_attribute(rng);
                        let d = format!("{}: attribute {:?} added", at(i, &g.node[i]), a.name);
                        g.node[i].attribute.push(a);
                        d
                    }
                    None => "no node".into(),
                },
            }
        }
        1 => {
            // An initializer, or a Constant's value.
            let consts: Vec<usize> = (0..n_nodes).filter(|&i| g.node[i].attribute.iter().any(|a| a.t.is_some())).collect();
            if !g.initializer.is_empty() && (consts.is_empty() || rng.chance(3, 4)) {
                let k = rng.below(g.initializer.len());
                if rng.chance(1, 12) {
                    let t = g.initializer[k].clone();
                    g.initializer.push(t);
                    return format!("initializer {:?} twice", g.initializer[k].name);
                }
                format!("initializer {}", mutate_tensor(rng, &mut g.initializer[k], &names))
            } else if let Some(&i) = consts.first() {
                let i = if rng.chance(1, 2) { i } else { *rng.pick(&consts) };
                let who = at(i, &g.node[i]);
                let a = g.node[i].attribute.iter_mut().find(|a| a.t.is_some()).expect("has a tensor");
                format!("{who}: value {}", mutate_tensor(rng, a.t.as_mut().expect("has a tensor"), &names))
            } else {
                "no tensor".into()
            }
        }
        2 => match node_of(rng, g) {
            Some(i) => {
                let who = at(i, &g.node[i]);
                g.node[i].op_type = rng.pick(OP_TYPES).to_string();
                format!("{who}: op_type -> {}", g.node[i].op_type)
            }
            None => "no node".into(),
        },
        3 => match node_of(rng, g) {
            // Node wiring: an input or output renamed to another value, added, dropped.
            Some(i) => {
                let who = at(i, &g.node[i]);
                let other = match rng.below(5) {
                    0 => rng.pick(&["", "nowhere", "input", "x"]).to_string(),
                    _ => rng.pick(&names).clone(),
                };
                let n = &mut g.node[i];
                match rng.below(7) {
                    0 | 1 if !n.input.is_empty() => {
                        let k = rng.below(n.input.len());
                        n.input[k] = other.clone();
                        format!("{who}: input {k} = {other:?}")
                    }
                    2 if !n.output.is_empty() => {
                        let k = rng.below(n.output.len());
                        n.output[k] = other.clone();
                        format!("{who}: output {k} = {other:?}")
                    }
                    3 => {
                        n.input.push(other.clone());
                        format!("{who}: input {other:?} added")
                    }
                    4 => {
                        n.input.pop();
                        format!("{who}: last input dropped")
                    }
                    5 => {
                        n.output.push(other.clone());
                        format!("{who}: output {other:?} added")
                    }
                    _ => {
                        n.output.pop();
                        format!("{who}: last output dropped")
                    }
                }
            }
            None => "no node".into(),
        },
        4 => {
            // The node list: order, copies, removals.
            if n_nodes == 0 {
                return "no node".into();
            }
            let (i, j) = (rng.below(n_nodes), rng.below(n_nodes));
            match rng.below(3) {
                0 => {
                    g.node.swap(i, j);
                    format!("nodes {i} and {j} swapped")
                }
                1 => {
                    let n = g.node[i].clone();
                    g.node.insert(j, n);
                    format!("node {i} copied to {j}")
                }
                _ => {
                    g.node.remove(i);
                    format!("node {i} deleted")
                }
            }
        }
        5 => {
            // Graph inputs and outputs: their declared shapes and types, or the lists.
            let outputs = rng.chance(1, 3);
            let list = if outputs { &mut g.output } else { &mut g.input };
            if list.is_empty() {
                return "no graph input/output".into();
            }
            let k = rng.below(list.len());
            let which = if outputs { "output" } else { "input" };
            match rng.below(8) {
                0 => {
                    list.remove(k);
                    format!("graph {which} {k} deleted")
                }
                1 => {
                    let v = list[k].clone();
                    list.push(v);
                    format!("graph {which} {k} twice")
                }
                2 => {
                    list[k].name = rng.pick(&names).clone();
                    format!("graph {which} {k} renamed {:?}", list[k].name)
                }
                _ => format!("graph {which} {k}: {}", mutate_shape(rng, &mut list[k].r#type)),
            }
        }
        6 => {
            if g.value_info.is_empty() {
                let v = g.output.first().cloned().unwrap_or_default();
                g.value_info.push(v);
                return "value_info added".into();
            }
            let k = rng.below(g.value_info.len());
            format!("value_info {k}: {}", mutate_shape(rng, &mut g.value_info[k].r#type))
        }
        7 => {
            let v = *rng.pick(&[0i64, -1, 1, 7, 9, 10, 11, 12, 13, 17, 18, 19, 21, 1000, i64::MAX, i64::MIN]);
            match rng.below(5) {
                0 => {
                    m.opset_import.clear();
                    "no opset_import".into()
                }
                1 => {
                    m.opset_import.push(OperatorSetIdProto { domain: "".into(), version: v });
                    format!("a second default opset {v}")
                }
                2 => {
                    let d = rng.pick(&["ai.onnx.ml", "com.microsoft", "x"]).to_string();
                    m.opset_import.push(OperatorSetIdProto { domain: d.clone(), version: v });
                    format!("opset {d:?} {v} added")
                }
                3 => {
                    for o in &mut m.opset_import {
                        o.domain = "ai.onnx".into();
                    }
                    "opset domain ai.onnx".into()
                }
                _ => {
                    for o in &mut m.opset_import {
                        o.version = v;
                    }
                    format!("opset version {v}")
                }
            }
        }
        8 => {
            m.ir_version = *rng.pick(&[0i64, -1, 1, 3, 4, 7, 8, 9, 10, 11, 100, i64::MAX]);
            format!("ir_version {}", m.ir_version)
        }
        _ => match node_of(rng, g) {
            Some(i) => {
                let who = at(i, &g.node[i]);
                g.node[i].domain = rng.pick(&["ai.onnx", "ai.onnx.ml", "com.microsoft", "x", "ai.onnx\u{0}"]).to_string();
                format!("{who}: domain {:?}", g.node[i].domain)
            }
            None => "no node".into(),
        },
    }
}

pub fn generate(rng: &mut Rng, bases: &crate::case::Bases) -> Case {
    let weights: Vec<usize> = PARTS.iter().map(|p| p.2).collect();
    let (base, part, _) = PARTS[rng.weighted(&weights)];
    let files = bases.get(base);
    let mut m = ModelProto::decode(&files[part][..]).expect("a real part decodes");
    let mut notes = vec![part.to_string()];
    for _ in 0..crate::manifest::stack_depth(rng) {
        notes.push(mutate_once(rng, &mut m));
    }
    let mut bytes = m.encode_to_vec();
    // Now and then the protobuf bytes themselves: tract's decoder sees them first.
    if rng.chance(1, 32) {
        match rng.below(3) {
            0 => {
                let n = rng.below(bytes.len() + 1);
                bytes.truncate(n);
                notes.push(format!("truncated to {n} bytes"));
            }
            1 => {
                let i = rng.below(bytes.len().max(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b = *rng.pick(&[0u8, 0xff, 0x80, 0x7f, 0x0a, 0x12]);
                }
                notes.push(format!("byte {i} changed"));
            }
            _ => {
                bytes.extend_from_slice(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
                notes.push("a field of 4 GiB claimed".into());
            }
        }
    }
    let mut man: Value = serde_json::from_slice(&files["manifest.json"]).expect("a real manifest parses");
    for list in ["segments", "exits"] {
        for p in man[list].as_array_mut().into_iter().flatten() {
            if p["file"] == part {
                p["sha256"] = Value::String(sha256_hex(&bytes));
            }
        }
    }
    // Packs and reference outputs are not this target's: leave them out (faster loads).
    let mut drop = std::collections::BTreeSet::new();
    for k in ["test_pack", "calibration_pack", "reference", "calibration_trace"] {
        if let Some(f) = man.as_object_mut().and_then(|o| o.remove(k)) {
            drop.extend(f["file"].as_str().map(String::from));
        }
    }
    Case {
        target: Target::Onnx,
        base: base.to_string(),
        run: Run::Bundle,
        set: [(part.to_string(), bytes), ("manifest.json".to_string(), serde_json::to_vec_pretty(&man).unwrap_or_default())].into(),
        drop,
        note: notes.join("; "),
        origin: None,
    }
}
