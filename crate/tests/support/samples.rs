//! One small graph per listed op (`exitwise::ops::OPS`), for the admission and parser tests.

use super::onnx::{float, int, ints, tensor, Graph, Lcg};
use tract_onnx::pb::TensorProto;

const N: Option<i64> = None;

/// One small graph per listed op: (graph, model input shapes without the batch).
pub fn sample(op: &str) -> (Graph, Vec<Vec<usize>>) {
    let img = vec![3, 8, 8];
    let mut g = Graph::default();
    let mut shapes = vec![img.clone()];
    let x = g.input("x", &[N, Some(3), Some(8), Some(8)]);
    let flat = |g: &mut Graph, shapes: &mut Vec<Vec<usize>>| {
        *g = Graph::default();
        *shapes = vec![vec![6]];
        g.input("x", &[N, Some(6)])
    };
    let y = Some("y");
    match op {
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" => {
            let c = g.init(&[1, 3, 1, 1], vec![1.5, 2.0, 2.5]);
            g.node(op, &[&x, &c], vec![], y);
        }
        "Relu" | "Sigmoid" | "Erf" | "Reciprocal" | "Identity" | "GlobalAveragePool" | "GlobalMaxPool" => {
            g.node(op, &[&x], vec![], y);
        }
        "Clip" => {
            let lo = g.init(&[], vec![-0.5]);
            let hi = g.init(&[], vec![0.5]);
            g.node(op, &[&x, &lo, &hi], vec![], y);
        }
        "Conv" => {
            let c = g.conv(&mut Lcg(1), &x, 3, 4, 3, 1, 1);
            g.node("Identity", &[&c], vec![], y);
        }
        "MaxPool" | "AveragePool" => {
            g.node(op, &[&x], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])], y);
        }
        "BatchNormalization" => {
            let p: Vec<String> = [0.5, 0.1, 0.2, 1.5].iter().map(|&v| g.init(&[3], vec![v; 3])).collect();
            g.node(op, &[&x, &p[0], &p[1], &p[2], &p[3]], vec![float("epsilon", 1e-5)], y);
        }
        "Gemm" => {
            let x = flat(&mut g, &mut shapes);
            g.dense(&mut Lcg(2), &x, 6, 4, y);
        }
        "MatMul" => {
            let x = flat(&mut g, &mut shapes);
            let w = g.init(&[6, 4], Lcg(3).vec(24, 1.0));
            g.node(op, &[&x, &w], vec![], y);
        }
        "Softmax" => {
            let x = flat(&mut g, &mut shapes);
            g.node(op, &[&x], vec![int("axis", 1)], y);
        }
        "ReduceSum" => {
            let a = g.init_i64(&[1], vec![1]);
            g.node(op, &[&x, &a], vec![], y);
        }
        "ReduceMean" | "ReduceMax" | "ReduceMin" => {
            g.node(op, &[&x], vec![ints("axes", &[2, 3]), int("keepdims", 1)], y);
        }
        "Flatten" => {
            g.node(op, &[&x], vec![int("axis", 1)], y);
        }
        "Reshape" => {
            let s = g.init_i64(&[2], vec![-1, 192]);
            g.node(op, &[&x, &s], vec![], y);
        }
        "Squeeze" | "Unsqueeze" => {
            let a = g.init_i64(&[1], vec![2]);
            let u = g.node("Unsqueeze", &[&x, &a], vec![], if op == "Unsqueeze" { y } else { None });
            if op == "Squeeze" {
                g.node(op, &[&u, &a], vec![], y);
            }
        }
        "Transpose" => {
            g.node(op, &[&x], vec![ints("perm", &[0, 1, 3, 2])], y);
        }
        "Concat" => {
            g.node(op, &[&x, &x], vec![int("axis", 1)], y);
        }
        "Gather" => {
            let i = g.init_i64(&[2], vec![0, -1]);
            g.node(op, &[&x, &i], vec![int("axis", 1)], y);
        }
        "Slice" => {
            let [s, e, a] = [[1], [5], [2]].map(|v| g.init_i64(&[1], v.to_vec()));
            g.node(op, &[&x, &s, &e, &a], vec![], y);
        }
        "Split" => {
            let s = g.init_i64(&[2], vec![1, 2]);
            g.node_in("", op, &[&x, &s], vec![int("axis", 1)], &["y", "z"]);
            g.output("z");
        }
        "Pad" => {
            let p = g.init_i64(&[8], vec![0, 0, 1, 1, 0, 0, 1, 1]);
            g.node(op, &[&x, &p], vec![], y);
        }
        "ConstantOfShape" => {
            let s = g.init_i64(&[4], vec![1, 3, 8, 8]);
            let c = g.node(op, &[&s], vec![tensor("value", TensorProto { dims: vec![1], data_type: 1, float_data: vec![0.5], ..Default::default() })], None);
            g.node("Add", &[&x, &c], vec![], y);
        }
        "Constant" => {
            let v = TensorProto { dims: vec![1, 3, 1, 1], data_type: 1, float_data: vec![1.0, 2.0, 3.0], ..Default::default() };
            let c = g.node(op, &[], vec![tensor("value", v)], None);
            g.node("Mul", &[&x, &c], vec![], y);
        }
        other => panic!("no sample for listed op {other}: add one"),
    }
    g.output("y");
    (g, shapes)
}
