//! exitwise's ONNX parser (`exitwise::onnx`, only the admitted operators) builds the same graph
//! as tract-onnx's full register: on every listed op's sample, on the opset variants of the ops
//! whose form changed between opsets 11 and 18, and on every shipped part — same typed ops, same
//! output bits.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use prost::Message;
use std::path::PathBuf;
use support::onnx::{float, int, ints, Graph, Lcg};
use support::samples::sample;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// The decluttered graph of `bytes` from `onnx`, every input at batch 2.
fn typed(onnx: &tract_onnx::Onnx, bytes: &[u8], shapes: &[Vec<usize>]) -> TractResult<TypedModel> {
    let mut model = onnx.model_for_read(&mut &bytes[..])?;
    for (i, s) in shapes.iter().enumerate() {
        let shape: Vec<usize> = std::iter::once(2).chain(s.iter().copied()).collect();
        model.set_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), &shape))?;
    }
    model.into_typed()?.into_decluttered()
}

/// Parsed by both front ends: the same op names, node for node, and the same output bits.
fn same_graph(bytes: &[u8], shapes: &[Vec<usize>], what: &str) {
    let theirs = typed(&tract_onnx::onnx(), bytes, shapes).unwrap_or_else(|e| panic!("{what}: tract-onnx: {e:?}"));
    let ours = typed(&exitwise::onnx::parser(), bytes, shapes).unwrap_or_else(|e| panic!("{what}: exitwise: {e:?}"));
    let ops = |m: &TypedModel| m.nodes().iter().map(|n| format!("{:?}", n.op)).collect::<Vec<_>>();
    assert_eq!(ops(&ours), ops(&theirs), "{what}: typed graphs differ");
    let mut rng = Lcg(11);
    let inputs: TVec<Tensor> = shapes
        .iter()
        .map(|s| {
            let shape: Vec<usize> = std::iter::once(2).chain(s.iter().copied()).collect();
            Tensor::from_shape(&shape, &rng.vec(shape.iter().product(), 2.0)).unwrap()
        })
        .collect();
    let run = |m: TypedModel| -> Vec<Vec<u32>> {
        let out = m.into_optimized().unwrap().into_runnable().unwrap().run(inputs.iter().cloned().map(|t| t.into_tvalue()).collect()).unwrap();
        out.iter().map(|t| t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()).collect()
    };
    assert!(run(ours) == run(theirs), "{what}: outputs differ");
}

#[test]
fn every_listed_op_parses_as_tract_onnx_does() {
    for o in exitwise::ops::OPS {
        let (g, shapes) = sample(o.name);
        same_graph(&g.bytes(), &shapes, o.name);
    }
}

/// `g`'s model at `opset`.
fn at(g: Graph, opset: i64) -> Vec<u8> {
    let mut m: ModelProto = g.model();
    m.opset_import[0].version = opset;
    m.encode_to_vec()
}

/// A graph on x [N, 3, 8, 8] (or [N, 6] when `flat`); `build` adds nodes ending in `y`.
fn graph(flat: bool, build: impl FnOnce(&mut Graph, &str)) -> (Graph, Vec<Vec<usize>>) {
    let mut g = Graph::default();
    let (x, shape) = if flat { (g.input("x", &[None, Some(6)]), vec![6]) } else { (g.input("x", &[None, Some(3), Some(8), Some(8)]), vec![3, 8, 8]) };
    build(&mut g, &x);
    g.output("y");
    (g, vec![shape])
}

#[test]
fn opset_variants_parse_as_tract_onnx_does() {
    let y = Some("y");
    let cases: Vec<(&str, i64, (Graph, Vec<Vec<usize>>))> = vec![
        ("Softmax flattening from axis 1", 11, graph(false, |g, x| { g.node("Softmax", &[x], vec![], y); })),
        ("Softmax on the last axis", 13, graph(false, |g, x| { g.node("Softmax", &[x], vec![], y); })),
        ("ReduceSum axes attribute", 11, graph(false, |g, x| { g.node("ReduceSum", &[x], vec![ints("axes", &[1]), int("keepdims", 0)], y); })),
        ("ReduceSum without axes", 13, graph(false, |g, x| { g.node("ReduceSum", &[x], vec![], y); })),
        ("ReduceMean axes input", 18, graph(false, |g, x| { let a = g.init_i64(&[2], vec![2, 3]); g.node("ReduceMean", &[x, &a], vec![], y); })),
        ("ReduceMax without axes, keepdims 0", 18, graph(false, |g, x| { g.node("ReduceMax", &[x], vec![int("keepdims", 0)], y); })),
        ("ReduceMin axes attribute", 13, graph(false, |g, x| { g.node("ReduceMin", &[x], vec![ints("axes", &[-1])], y); })),
        ("Squeeze and Unsqueeze axes attributes", 11, graph(false, |g, x| {
            let u = g.node("Unsqueeze", &[x], vec![ints("axes", &[0])], None);
            g.node("Squeeze", &[&u], vec![ints("axes", &[0])], y);
        })),
        ("Squeeze without axes", 13, graph(false, |g, x| {
            let a = g.init_i64(&[1], vec![-1]);
            let u = g.node("Unsqueeze", &[x, &a], vec![], None);
            g.node("Squeeze", &[&u], vec![], y);
        })),
        ("Split sizes attribute", 11, graph(false, |g, x| {
            g.node_in("", "Split", &[x], vec![int("axis", 1), ints("split", &[2, 1])], &["y", "z"]);
            g.output("z");
        })),
        ("Split evenly, no sizes", 13, graph(false, |g, x| {
            g.node_in("", "Split", &[x], vec![int("axis", 2)], &["y", "z"]);
            g.output("z");
        })),
        ("Clip with the minimum omitted", 13, graph(false, |g, x| { let hi = g.init(&[], vec![0.25]); g.node("Clip", &[x, "", &hi], vec![], y); })),
        ("Clip with no bounds", 11, graph(false, |g, x| { g.node("Clip", &[x], vec![], y); })),
        ("Slice with negative steps", 13, graph(false, |g, x| {
            let [s, e, a, st] = [[6], [1], [3], [-2]].map(|v| g.init_i64(&[1], v.to_vec()));
            g.node("Slice", &[x, &s, &e, &a, &st], vec![], y);
        })),
        ("Pad with a constant value and axes", 18, graph(false, |g, x| {
            let p = g.init_i64(&[4], vec![1, 0, 2, 3]);
            let c = g.init(&[], vec![0.5]);
            let a = g.init_i64(&[2], vec![2, -1]);
            g.node("Pad", &[x, &p, &c, &a], vec![], y);
        })),
        ("Pad with edge mode", 11, graph(false, |g, x| {
            let p = g.init_i64(&[8], vec![0, 0, 1, 2, 0, 0, 2, 1]);
            g.node("Pad", &[x, &p], vec![support::onnx::string("mode", "edge")], y);
        })),
        ("Gemm with alpha, beta and both transposes", 13, graph(true, |g, x| {
            let t = g.node("Transpose", &[x], vec![ints("perm", &[1, 0])], None);
            let w = g.init(&[4, 6], Lcg(4).vec(24, 1.0));
            let c = g.init(&[4], vec![0.5, -1.0, 2.0, 0.0]);
            g.node("Gemm", &[&t, &w, &c], vec![float("alpha", 0.5), float("beta", 2.0), int("transA", 1), int("transB", 1)], y);
        })),
        ("MaxPool and AveragePool, ceil mode and SAME padding", 13, graph(false, |g, x| {
            let m = g.node("MaxPool", &[x], vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2]), int("ceil_mode", 1)], None);
            g.node("AveragePool", &[&m], vec![ints("kernel_shape", &[2, 2]), support::onnx::string("auto_pad", "SAME_UPPER"), int("count_include_pad", 1)], y);
        })),
        ("grouped, dilated Conv without bias", 11, graph(false, |g, x| {
            let w = g.init(&[6, 1, 3, 3], Lcg(9).vec(54, 0.5));
            g.node("Conv", &[x, &w], vec![int("group", 3), ints("dilations", &[2, 2]), ints("pads", &[2, 1, 2, 1])], y);
        })),
    ];
    for (what, opset, (g, shapes)) in cases {
        same_graph(&at(g, opset), &shapes, &format!("{what} (opset {opset})"));
    }
}

#[test]
fn shipped_parts_parse_as_tract_onnx_does() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models).unwrap().flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").exists()).collect();
    dirs.sort();
    let mut parts = 0;
    for dir in dirs {
        let bundle = exitwise::Bundle::from_dir(&dir).unwrap();
        for part in bundle.segments.iter().chain(&bundle.exits) {
            let bytes = std::fs::read(dir.join(&part.file)).unwrap();
            same_graph(&bytes, &part.input_shapes, &format!("{} {}", dir.display(), part.file));
            parts += 1;
        }
    }
    assert!(parts >= 20, "only {parts} shipped parts found");
}

/// Where tract-onnx's builders indexed model data unchecked, exitwise's refuse it: a Pad axis
/// out of range (tract's solver panics on the huge position it became) is an error, not a panic.
#[test]
fn out_of_range_pad_axes_are_errors_not_panics() {
    for axis in [7, -9, i64::MIN] {
        let (g, shapes) = graph(false, |g, x| {
            let p = g.init_i64(&[2], vec![1, 1]);
            let c = g.init(&[], vec![0.0]);
            let a = g.init_i64(&[1], vec![axis]);
            g.node("Pad", &[x, &p, &c, &a], vec![], Some("y"));
        });
        let r = std::panic::catch_unwind(|| typed(&exitwise::onnx::parser(), &at(g, 18), &shapes).map(|_| ()));
        assert!(matches!(r, Ok(Err(_))), "axis {axis}: {:?}", r.map(|r| r.map_err(|e| e.to_string())));
    }
}
