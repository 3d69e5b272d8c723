//! Every WebGPU kernel against tract on small random graphs (ONNX built in Rust, decluttered by
//! tract exactly as bundle parts are). Error measure: max |gpu − cpu| / max(1, max |cpu|),
//! required ≤ 1e-4. Fails (never skips) when no adapter is found.
#![cfg(all(feature = "webgpu", not(target_arch = "wasm32")))]

mod support;

use exitwise::backend::gpu::lower::lower;
use exitwise::backend::gpu::WebGpu;
use exitwise::backend::{Backend, HostTensor};
use exitwise::ErrorCode;
use support::onnx::{int, ints, Graph, Lcg};
use tract_onnx::prelude::*;

const N: Option<i64> = None;
const TOL: f32 = 1e-4;

/// The decluttered graph tract makes of `g`, as `Bundle` does for every part.
fn typed(g: Graph) -> TypedModel {
    let bytes = g.bytes();
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_decluttered())
        .expect("tract loads the test graph")
}

fn rel_err(gpu: &[f32], cpu: &[f32]) -> f32 {
    assert_eq!(gpu.len(), cpu.len(), "output sizes differ");
    let scale = cpu.iter().fold(1f32, |m, v| m.max(v.abs()));
    gpu.iter().zip(cpu).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

/// Runs `g` on tract and on the GPU with random inputs of the given shapes (batch `batch`
/// substituted for `None`); asserts that the lowering uses a step whose `Debug` contains
/// `step` and that the outputs agree; returns the error.
fn check(name: &str, step: &str, g: Graph, inputs: &[Vec<Option<i64>>], batch: usize, seed: u64) -> f32 {
    let model = typed(g);
    let steps: Vec<String> = lower(&model, name).unwrap().steps.iter().map(|s| format!("{:?}", s.op)).collect();
    assert!(steps.iter().any(|s| s.contains(step)), "{name}: no {step} step in {steps:?}");
    let mut rng = Lcg(seed);
    let hosts: Vec<HostTensor> = inputs
        .iter()
        .map(|dims| {
            let shape: Vec<usize> = dims.iter().map(|d| d.map_or(batch, |d| d as usize)).collect();
            let len = shape.iter().product();
            HostTensor { shape, data: rng.vec(len, 1.0) }
        })
        .collect();
    let cpu_in: TVec<TValue> =
        hosts.iter().map(|h| Tensor::from_shape(&h.shape, &h.data).unwrap().into_tvalue()).collect();
    let cpu = model.clone().into_optimized().unwrap().into_runnable().unwrap().run(cpu_in).unwrap();
    let gpu = WebGpu::from_graphs(&[(format!("{name}.onnx"), model)]).expect("WebGPU backend (is an adapter installed?)");
    let acts: Vec<_> = hosts.into_iter().map(|h| gpu.upload(h).unwrap()).collect();
    let outs = gpu.run_segment(0, acts).unwrap();
    let mut worst = 0f32;
    for (o, c) in outs.iter().zip(&cpu) {
        let got = pollster::block_on(gpu.download(o)).unwrap();
        assert_eq!(got.shape, c.shape(), "{name}: output shape");
        let want: Vec<f32> = c.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        worst = worst.max(rel_err(&got.data, &want));
    }
    assert!(worst <= TOL, "{name} (batch {batch}): relative error {worst:e}");
    println!("{name:<40} batch {batch}: rel err {worst:.2e}");
    worst
}

#[allow(clippy::too_many_arguments)]
fn conv_graph(rng: &mut Lcg, cin: i64, cout: i64, hw: [i64; 2], k: [i64; 2], stride: i64, pads: [i64; 4], group: i64, dil: i64, bias: bool) -> (Graph, Vec<Option<i64>>) {
    let mut g = Graph::default();
    let dims = vec![N, Some(cin), Some(hw[0]), Some(hw[1])];
    let x = g.input("x", &dims);
    let w = g.init(&[cout, cin / group, k[0], k[1]], rng.vec((cout * cin / group * k[0] * k[1]) as usize, 0.5));
    let mut ins = vec![x.clone(), w];
    if bias {
        ins.push(g.init(&[cout], rng.vec(cout as usize, 0.5)));
    }
    let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
    let attrs = vec![ints("kernel_shape", &k), ints("strides", &[stride, stride]), ints("pads", &pads), int("group", group), ints("dilations", &[dil, dil])];
    g.node("Conv", &refs, attrs, Some("y"));
    g.output("y");
    (g, dims)
}

#[test]
fn convolutions() {
    let mut rng = Lcg(11);
    // (name, cin, cout, hw, kernel, stride, pads t/l/b/r, group, dilation, bias)
    #[allow(clippy::type_complexity)] // one inline table of cases reads best
    let cases: [(&str, i64, i64, [i64; 2], [i64; 2], i64, [i64; 4], i64, i64, bool); 10] = [
        // Cout/G a multiple of 4 runs conv.wgsl with 4 channels per thread, else 1.
        ("conv 3x3 padded (4 ch/thread)", 3, 8, [9, 7], [3, 3], 1, [1, 1, 1, 1], 1, 1, true),
        ("conv 3x3 stride 2", 4, 6, [11, 10], [3, 3], 2, [1, 1, 1, 1], 1, 1, true),
        ("conv 5x3 asymmetric pads", 2, 3, [8, 9], [5, 3], 1, [2, 0, 1, 1], 1, 1, false),
        ("conv grouped", 6, 4, [7, 7], [3, 3], 1, [1, 1, 1, 1], 2, 1, true),
        ("conv grouped (4 ch/thread)", 6, 8, [7, 6], [3, 3], 2, [1, 1, 0, 0], 2, 1, true),
        ("conv depthwise stride 2", 8, 8, [10, 10], [3, 3], 2, [1, 1, 1, 1], 8, 1, true),
        ("conv dilated", 3, 4, [12, 12], [3, 3], 1, [2, 2, 2, 2], 1, 2, true),
        ("conv 1x1", 16, 12, [6, 5], [1, 1], 1, [0, 0, 0, 0], 1, 1, true),
        ("conv 1x1 stride 2", 8, 16, [7, 7], [1, 1], 2, [0, 0, 0, 0], 1, 1, true),
        ("conv 1x1 no bias", 5, 7, [4, 4], [1, 1], 1, [0, 0, 0, 0], 1, 1, false),
    ];
    for (i, (name, cin, cout, hw, k, s, p, gr, d, b)) in cases.into_iter().enumerate() {
        for batch in [1, 3] {
            let (g, dims) = conv_graph(&mut rng, cin, cout, hw, k, s, p, gr, d, b);
            let step = if k == [1, 1] && gr == 1 { "fast: true" } else { "fast: false" };
            check(name, step, g, &[dims], batch, 100 + i as u64);
        }
    }
}

#[test]
fn gemm_with_and_without_bias() {
    let mut rng = Lcg(12);
    for (name, k, m, bias, trans_b) in [("gemm bias transB", 17, 10, true, true), ("gemm no bias transB", 9, 4, false, true), ("gemm bias B[K,M]", 33, 7, true, false)] {
        for batch in [1, 5] {
            let mut g = Graph::default();
            let x = g.input("x", &[N, Some(k)]);
            let w = if trans_b { g.init(&[m, k], rng.vec((m * k) as usize, 0.8)) } else { g.init(&[k, m], rng.vec((m * k) as usize, 0.8)) };
            let mut ins = vec![x, w];
            if bias {
                ins.push(g.init(&[m], rng.vec(m as usize, 0.3)));
            }
            let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
            g.node("Gemm", &refs, vec![int("transB", trans_b as i64)], Some("y"));
            g.output("y");
            check(name, "Gemm", g, &[vec![N, Some(k)]], batch, 200);
        }
    }
}

#[test]
fn flatten() {
    let mut rng = Lcg(13);
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(4), Some(3), Some(3)]);
    let f = g.node("Flatten", &[&x], vec![int("axis", 1)], None);
    let w = g.init(&[36, 6], rng.vec(36 * 6, 0.5));
    g.node("MatMul", &[&f, &w], vec![], Some("y"));
    g.output("y");
    // tract folds the flatten into the product: its summed axes (C, H, W) read as one.
    check("flatten + matmul", "Gemm", g, &[vec![N, Some(4), Some(3), Some(3)]], 4, 300);
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(4), Some(3), Some(3)]);
    g.node("Flatten", &[&x], vec![int("axis", 1)], Some("y"));
    g.output("y");
    check("flatten", "View", g, &[vec![N, Some(4), Some(3), Some(3)]], 2, 301);
}

#[test]
fn binary_ops_with_broadcast() {
    let mut rng = Lcg(14);
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min"] {
        // A computed tensor, a per-channel constant [1, C, 1, 1], and a second input of full shape.
        let dims = vec![N, Some(3), Some(5), Some(4)];
        let mut g = Graph::default();
        let x = g.input("x", &dims);
        let z = g.input("z", &dims);
        let c = g.init(&[1, 3, 1, 1], rng.vec(3, 1.0).iter().map(|v| v + 2.0).collect());
        let t = g.node(op, &[&x, &c], vec![], None);
        g.node(op, &[&t, &z], vec![], Some("y"));
        g.output("y");
        check(&format!("{op} broadcast"), "Binary", g, &[dims.clone(), dims], 2, 400);
    }
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(6)]);
    let r = g.input("r", &[Some(1), Some(6)]);
    g.node("Add", &[&x, &r], vec![], Some("y"));
    g.output("y");
    check("Add [N,6] + [1,6] input", "Binary(0)", g, &[vec![N, Some(6)], vec![Some(1), Some(6)]], 3, 401);
}

#[test]
fn relu_clip_sigmoid() {
    let dims = vec![N, Some(2), Some(6), Some(6)];
    let mut g = Graph::default();
    let x = g.input("x", &dims);
    g.node("Relu", &[&x], vec![], Some("y"));
    g.output("y");
    check("relu", "Binary(4)", g, std::slice::from_ref(&dims), 3, 500);
    let mut g = Graph::default();
    let x = g.input("x", &dims);
    let lo = g.init(&[], vec![-0.25]);
    let hi = g.init(&[], vec![0.5]);
    g.node("Clip", &[&x, &lo, &hi], vec![], Some("y"));
    g.output("y");
    check("clip", "Binary(5)", g, std::slice::from_ref(&dims), 3, 501);
    let mut g = Graph::default();
    let x = g.input("x", &dims);
    g.node("Sigmoid", &[&x], vec![], Some("y"));
    g.output("y");
    check("sigmoid", "Unary(0)", g, &[dims], 3, 502);
}

#[test]
fn pooling() {
    let dims = vec![N, Some(3), Some(9), Some(8)];
    for (name, op, k, s, pads, include) in [
        ("maxpool 2x2 s2", "MaxPool", 2, 2, [0, 0, 0, 0], 0),
        ("maxpool 3x3 s2 padded", "MaxPool", 3, 2, [1, 1, 1, 1], 0),
        ("avgpool 2x2 s2", "AveragePool", 2, 2, [0, 0, 0, 0], 0),
        ("avgpool 3x3 s1 padded, pad excluded", "AveragePool", 3, 1, [1, 1, 1, 1], 0),
        ("avgpool 3x3 s2 padded, pad included", "AveragePool", 3, 2, [1, 0, 1, 1], 1),
    ] {
        let mut g = Graph::default();
        let x = g.input("x", &dims);
        let mut attrs = vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("pads", &pads)];
        if op == "AveragePool" {
            attrs.push(int("count_include_pad", include));
        }
        g.node(op, &[&x], attrs, Some("y"));
        g.output("y");
        check(name, "Pool", g, std::slice::from_ref(&dims), 2, 600);
    }
    let mut g = Graph::default();
    let x = g.input("x", &dims);
    g.node("GlobalAveragePool", &[&x], vec![], Some("y"));
    g.output("y");
    check("global average pool", "Reduce", g, std::slice::from_ref(&dims), 4, 601);
    let mut g = Graph::default();
    let x = g.input("x", &dims);
    g.node("GlobalMaxPool", &[&x], vec![], Some("y"));
    g.output("y");
    check("global max pool", "Reduce", g, &[dims], 2, 602);
}

#[test]
fn softmax_and_concat() {
    for axis in [1, -1] {
        let mut g = Graph::default();
        let x = g.input("x", &[N, Some(10)]);
        g.node("Softmax", &[&x], vec![int("axis", axis)], Some("y"));
        g.output("y");
        check(&format!("softmax axis {axis}"), "Softmax", g, &[vec![N, Some(10)]], 7, 700);
    }
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(3), Some(4)]);
    g.node("Softmax", &[&x], vec![int("axis", 1)], Some("y"));
    g.output("y");
    check("softmax middle axis", "Softmax", g, &[vec![N, Some(3), Some(4)]], 2, 701);
    let mut g = Graph::default();
    let a = g.input("a", &[N, Some(5)]);
    let b = g.input("b", &[N, Some(3)]);
    g.node("Concat", &[&a, &b], vec![int("axis", 1)], Some("y"));
    g.output("y");
    check("concat axis 1", "Concat", g, &[vec![N, Some(5)], vec![N, Some(3)]], 3, 702);
}

#[test]
fn reductions() {
    let dims = vec![N, Some(4), Some(5), Some(3)];
    // ReduceSum without axes (opset 13 takes them as an input) reduces everything, batch included.
    for (op, axes, keep) in [("ReduceMean", vec![1], 1), ("ReduceMax", vec![2, 3], 0), ("ReduceMin", vec![3], 1), ("ReduceSum", vec![], 1)] {
        let mut g = Graph::default();
        let x = g.input("x", &dims);
        let mut attrs = vec![int("keepdims", keep)];
        if !axes.is_empty() {
            attrs.push(ints("axes", &axes));
        }
        g.node(op, &[&x], attrs, Some("y"));
        g.output("y");
        check(&format!("{op} {axes:?} keepdims={keep}"), "Reduce", g, std::slice::from_ref(&dims), 3, 800);
    }
}

/// An operator without a kernel (Sin) fails preparation with UNSUPPORTED_OP naming the op and
/// the part file.
#[test]
fn unsupported_op_fails_prepare() {
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(4)]);
    g.node("Sin", &[&x], vec![], Some("y"));
    g.output("y");
    let e = WebGpu::from_graphs(&[("sine.onnx".into(), typed(g))]).err().expect("Sin must not lower");
    assert_eq!(e.code, ErrorCode::UnsupportedOp, "{e}");
    assert!(e.message.contains("Sin") && e.message.contains("sine.onnx"), "{e}");
}

/// `download_all` brings several tensors (an empty one among them) back with one map, each
/// equal to its own `download`.
#[test]
fn download_all_reads_several_tensors_in_one_map() {
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(4)]);
    g.node("Relu", &[&x], vec![], Some("y"));
    g.output("y");
    let gpu = WebGpu::from_graphs(&[("relu.onnx".into(), typed(g))]).expect("WebGPU backend");
    let mut rng = Lcg(900);
    let hosts: Vec<HostTensor> = [vec![5], vec![1], vec![0, 3], vec![2, 3, 7]]
        .into_iter()
        .map(|shape: Vec<usize>| {
            let len = shape.iter().product();
            HostTensor { shape, data: rng.vec(len, 1.0) }
        })
        .collect();
    let acts: Vec<_> = hosts.iter().map(|h| gpu.upload(h.clone()).unwrap()).collect();
    let before = gpu.stats();
    let all = pollster::block_on(gpu.download_all(&acts.iter().collect::<Vec<_>>())).unwrap();
    let s = gpu.stats().since(&before);
    assert_eq!((s.readbacks, s.submits), (1, 1), "{s:?}");
    assert_eq!(all, hosts);
    for (a, h) in acts.iter().zip(&hosts) {
        assert_eq!(&pollster::block_on(gpu.download(a)).unwrap(), h);
    }
    assert!(pollster::block_on(gpu.download_all(&[])).unwrap().is_empty());
}
