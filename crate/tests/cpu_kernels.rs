//! exitwise's CPU kernels (`backend::cpu_kernels`) against tract's own ops: the same bits on
//! random shapes and on every shipped bundle's parts, and the swapped plans really run them (so
//! the slow tract ops cannot creep back unnoticed). The random-shape tests also run in Chromium
//! (`wasm-pack test`), where the kernels take their wasm-SIMD paths.

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use exitwise::backend::cpu_kernels::{op_names, optimize};
use exitwise::bundle::BATCH;
#[cfg(not(target_arch = "wasm32"))]
use exitwise::Bundle;
use std::collections::HashMap;
#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;
use support::onnx::{int, ints, Graph, Lcg};
use tract_onnx::prelude::*;

/// The graph of `bytes` with every input dim concrete (the batch `N` bound to `n`).
fn typed(bytes: &[u8], n: usize) -> TypedModel {
    let g = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap().into_typed().unwrap().into_decluttered().unwrap();
    bind(&g, n)
}

fn bind(g: &TypedModel, n: usize) -> TypedModel {
    g.set_symbols(&HashMap::from([(g.sym(BATCH), TDim::Val(n as i64))])).unwrap()
}

fn inputs(g: &TypedModel, rng: &mut Lcg) -> TVec<TValue> {
    g.input_outlets()
        .unwrap()
        .iter()
        .map(|&o| {
            let shape: Vec<usize> = g.outlet_fact(o).unwrap().shape.as_concrete().unwrap().to_vec();
            let n = shape.iter().product();
            Tensor::from_shape(&shape, &rng.vec(n, 1.0)).unwrap().into_tvalue()
        })
        .collect()
}

/// Runs `g` through tract's own plan and through exitwise's; asserts equal bits and returns the
/// op names of exitwise's plan.
fn same_bits(g: &TypedModel, seed: u64, what: &str) -> Vec<String> {
    same_bits_on(g, inputs(g, &mut Lcg(seed)), what)
}

/// `same_bits` on the given inputs.
fn same_bits_on(g: &TypedModel, x: TVec<TValue>, what: &str) -> Vec<String> {
    // exitwise's plan first: on wasm it runs the static constructors tract's kernels need.
    let plan = optimize(g.clone()).unwrap();
    let want = g.clone().into_optimized().unwrap().into_runnable().unwrap().run(x.clone()).unwrap();
    let names = op_names(&plan);
    let got = plan.into_runnable().unwrap().run(x).unwrap();
    assert_eq!(want.len(), got.len(), "{what}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.shape(), g.shape(), "{what}");
        let (w, g) = (w.try_as_plain_ram().unwrap(), g.try_as_plain_ram().unwrap());
        let (w, g) = (w.as_slice::<f32>().unwrap(), g.as_slice::<f32>().unwrap());
        let diff = w.iter().zip(g).position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(diff.is_none(), "{what}: value {diff:?} differs: tract {:?}, exitwise {:?}", diff.map(|i| w[i]), diff.map(|i| g[i]));
    }
    names
}

#[test]
fn max_pools_equal_tracts_on_random_shapes() {
    let mut rng = Lcg(7);
    let mut pick = |n: usize| ((rng.next() + 1.0) * 0.5 * n as f32) as usize % n;
    let mut cases = 0;
    for case in 0..160 {
        let (k0, k1) = (1 + pick(3), 1 + pick(3));
        let (s0, s1) = (1 + pick(3), 1 + pick(3));
        let (d0, d1) = (1 + pick(2), 1 + pick(2));
        let (h, w) = (k0 * d0 + pick(9), k1 * d1 + pick(9));
        let pads = [pick(k0), pick(k1), pick(k0), pick(k1)].map(|p| p as i64);
        let ceil = pick(2) as i64;
        let (n, c) = (1 + pick(3), 1 + pick(4));
        let mut g = Graph::default();
        let x = g.input("x", &[None, Some(c as i64), Some(h as i64), Some(w as i64)]);
        let mut attrs = vec![ints("kernel_shape", &[k0 as i64, k1 as i64]), ints("strides", &[s0 as i64, s1 as i64]), ints("pads", &pads), int("ceil_mode", ceil)];
        if (d0, d1) != (1, 1) {
            attrs.push(ints("dilations", &[d0 as i64, d1 as i64]));
        }
        g.node("MaxPool", &[&x], attrs, Some("y"));
        g.output("y");
        let what = format!("case {case}: {n}×{c}×{h}×{w}, kernel {k0}×{k1}, stride {s0}×{s1}, dilation {d0}×{d1}, pads {pads:?}, ceil {ceil}");
        let names = same_bits(&typed(&g.bytes(), n), case, &what);
        assert!(names.iter().any(|n| n == "exitwise.MaxPool2d"), "{what}: not swapped: {names:?}");
        cases += 1;
    }
    assert_eq!(cases, 160);
}

/// The 2×2, stride-2 pool of every shipped bundle (wasm: four outputs at a time, then the
/// tail) on widths 2–21, with NaN, infinities and signed zeros among the values: tract's fold
/// keeps the running maximum unless a value is greater, so a NaN never replaces it.
#[test]
fn max_pool_2x2_stride_2_equals_tracts_on_special_values() {
    let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::MIN, f32::MAX, -f32::NAN];
    let mut rng = Lcg(3);
    for w in 2..=21usize {
        let (n, c, h) = (2, 3, 2 + w % 5);
        let mut g = Graph::default();
        let x = g.input("x", &[None, Some(c as i64), Some(h as i64), Some(w as i64)]);
        g.node("MaxPool", &[&x], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])], Some("y"));
        g.output("y");
        let mut v = rng.vec(n * c * h * w, 1.0);
        for (i, x) in v.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
            *x = special[(i / 3) % special.len()];
        }
        let x = tvec![Tensor::from_shape(&[n, c, h, w], &v).unwrap().into_tvalue()];
        let what = format!("{n}×{c}×{h}×{w}, 2×2/2");
        let names = same_bits_on(&typed(&g.bytes(), n), x, &what);
        assert!(names.iter().any(|n| n == "exitwise.MaxPool2d"), "{what}: not swapped: {names:?}");
    }
}

#[test]
fn pads_before_lazy_im2col_convolutions_equal_tracts() {
    let mut rng = Lcg(11);
    for (case, (cin, cout, k, stride, pad, hw)) in
        [(1, 8, 3, 1, 1, 28), (16, 16, 3, 1, 1, 14), (16, 32, 3, 2, 1, 14), (3, 8, 5, 1, 2, 11), (4, 4, 3, 1, 2, 6)].into_iter().enumerate()
    {
        let mut g = Graph::default();
        let x = g.input("x", &[None, Some(cin), Some(hw), Some(hw)]);
        let y = g.conv(&mut rng, &x, cin, cout, k, stride, pad);
        g.node("Relu", &[&y], vec![], Some("y"));
        g.output("y");
        let what = format!("case {case}: conv {cin}→{cout}, {k}×{k}/{stride}, pad {pad}, {hw}×{hw}");
        let names = same_bits(&typed(&g.bytes(), 1), case as u64, &what);
        assert!(!names.iter().any(|n| n == "Pad"), "{what}: tract's Pad left in the plan: {names:?}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn bundles() -> Vec<PathBuf> {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&models).unwrap().flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").exists()).collect();
    v.sort();
    v
}

/// Every part of every shipped bundle, at batch 1 and 16: exitwise's plan gives tract's bits,
/// and none of tract's slow ops that a kernel here replaces is left in a batch-1 plan.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn shipped_parts_equal_tracts_and_run_exitwise_kernels() {
    let mut swapped = 0;
    for dir in bundles() {
        let bundle = Bundle::from_dir(&dir).unwrap();
        for (i, part) in bundle.segments.iter().chain(&bundle.exits).enumerate() {
            for n in [1, 16] {
                if n > 1 && !part.batchable {
                    continue;
                }
                let g = if part.batchable { bind(&part.graph, n) } else { part.graph.clone() };
                let what = format!("{} {} at batch {n}", dir.display(), part.file);
                let names = same_bits(&g, i as u64, &what);
                if n == 1 {
                    for slow in ["Pad", "OptMaxPool", "MaxPool"] {
                        assert!(!names.iter().any(|o| o == slow), "{what}: tract's {slow} is in the plan: {names:?}");
                    }
                }
                swapped += names.iter().filter(|o| o.starts_with("exitwise.")).count();
            }
        }
    }
    assert!(swapped > 0, "no exitwise kernel in any shipped plan");
}
