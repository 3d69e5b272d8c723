//! Where the time goes in a bundle on tract's CPU path, node by node.
//!
//!     cd models/train/profile_tract
//!     CARGO_TARGET_DIR=../../../target/profile-tract cargo run --release -- ../../mobilenet-random [reps] [batch]
//!
//! Each part gets two plans: "N symbolic", the bundle's decluttered graph with the batch still the
//! symbol `N`, `into_optimized`, `into_runnable` (the CPU backend's plan before it bound batch 1
//! at load), and "N fixed", the same with `N` set to `batch` before optimising, with exitwise's
//! own kernels swapped in (`exitwise::backend::cpu_kernels::optimize`: what
//! `crate/src/backend/tract.rs` builds). tract runs single-threaded here. Inputs
//! are the activations the first `batch` test-pack images produce. Per part: the median plain `run` time, then every node's share of the
//! instrumented runs (each node's `eval` timed; op name, tract's `info()`, output shape), and the
//! times summed by op name.
use exitwise::Bundle;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimpleState};

type Plan = Arc<TypedRunnableModel>;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The bundle's first `batch` test images, normalised as the runtime does, shape [batch, C, H, W].
fn input(bundle: &Bundle, batch: usize) -> Tensor {
    let m = &bundle.manifest;
    let pack = &bundle.data[&m.test_pack.as_ref().expect("test pack").file];
    let dims: Vec<usize> = (0..4).map(|i| u32::from_le_bytes(pack[8 + 4 * i..12 + 4 * i].try_into().unwrap()) as usize).collect();
    let (c, h, w) = (dims[1], dims[2], dims[3]);
    let len = c * h * w;
    let data: Vec<f32> = pack[24..24 + batch * len]
        .iter()
        .enumerate()
        .map(|(i, &p)| (p as f32 / 255.0 - m.input.mean[(i % len) / (h * w)]) / m.input.std[(i % len) / (h * w)])
        .collect();
    Tensor::from_shape(&[batch, c, h, w], &data).unwrap()
}

fn fixed(graph: &TypedModel, batch: usize) -> TractResult<TypedModel> {
    let mut subs = HashMap::new();
    subs.insert(graph.symbols.sym("N"), TDim::Val(batch as i64));
    graph.set_symbols(&subs)
}

struct Row {
    part: String,
    plan: &'static str,
    run: Duration,
    nodes: Vec<(String, String, String, String, Duration)>,
}

fn profile(part: &str, which: &'static str, plan: &Plan, inputs: &TVec<TValue>, reps: usize) -> TractResult<Row> {
    let mut state = SimpleState::new(plan)?;
    for _ in 0..reps.min(20) {
        state.run(inputs.clone())?;
    }
    let mut runs = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        state.run(inputs.clone())?;
        runs.push(t.elapsed());
    }
    let mut per: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for _ in 0..reps {
        state.run_plan_with_eval(inputs.clone(), |ctx, st, node, xs| {
            let t = Instant::now();
            let r = eval(ctx, st, node, xs);
            per.entry(node.id).or_default().push(t.elapsed());
            r
        })?;
    }
    let model = plan.model();
    let nodes = per
        .into_iter()
        .map(|(id, v)| {
            let n = model.node(id);
            let info = n.op.info().unwrap_or_default().join("; ");
            let shape = format!("{:?}", n.outputs.first().map(|o| o.fact.shape.to_tvec()).unwrap_or_default());
            (n.name.clone(), n.op.name().to_string(), info, shape, median(v))
        })
        .collect();
    Ok(Row { part: part.to_string(), plan: which, run: median(runs), nodes })
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| "../../mobilenet-random".into());
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    // Every file of the folder, read here (`Bundle::from_dir` is native-only; this also runs
    // as wasm32-wasip1 under Node's WASI, to profile tract's wasm kernels).
    let mut files = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            files.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path())?);
        }
    }
    let bundle = Bundle::from_files(&files).map_err(|e| TractError::msg(e.to_string()))?;
    let m = bundle.manifest.clone();
    println!("# {} — {reps} runs per plan, batch {batch}, one thread", m.name);
    let mut acts: HashMap<String, TValue> = HashMap::new();
    acts.insert("input".into(), input(&bundle, batch).into_tvalue());
    // Execution order: segment k, then its exits.
    let mut order = vec![];
    for (k, s) in m.segments.iter().enumerate() {
        order.push((true, k, s.inputs.clone(), s.outputs.clone()));
        for (e, x) in m.exits.iter().enumerate().filter(|(_, x)| x.after == k) {
            order.push((false, e, x.inputs.clone(), x.outputs.clone()));
        }
    }
    let mut rows = vec![];
    for (is_seg, i, ins, outs) in order {
        let part = if is_seg { &bundle.segments[i] } else { &bundle.exits[i] };
        let inputs: TVec<TValue> = ins.iter().map(|n| acts[n].clone()).collect();
        let runtime: Plan = part.graph.clone().into_optimized()?.into_runnable()?;
        let concrete: Plan = exitwise::backend::cpu_kernels::optimize(fixed(&part.graph, batch)?)?.into_runnable()?;
        let out = runtime.run(inputs.clone())?;
        for (n, v) in outs.iter().zip(out) {
            acts.insert(n.clone(), v);
        }
        let label = format!("{} ({} MACs)", part.file, part.macs);
        rows.push(profile(&label, "N symbolic", &runtime, &inputs, reps)?);
        rows.push(profile(&label, "N fixed", &concrete, &inputs, reps)?);
    }
    let mut by_op: BTreeMap<(&'static str, String), (Duration, usize)> = BTreeMap::new();
    let mut totals: BTreeMap<&'static str, Duration> = BTreeMap::new();
    for r in &rows {
        let sum: Duration = r.nodes.iter().map(|n| n.4).sum();
        *totals.entry(r.plan).or_default() += r.run;
        println!("\n## {} — plan: {} — run {:.1} µs (median), nodes sum {:.1} µs", r.part, r.plan, us(r.run), us(sum));
        for (name, op, info, shape, t) in &r.nodes {
            println!("{:>9.1} µs {:>5.1} %  {:<14} {:<40} {:<22} {}", us(*t), 100.0 * t.as_secs_f64() / sum.as_secs_f64(), op, name, shape, info);
            let e = by_op.entry((r.plan, op.clone())).or_default();
            e.0 += *t;
            e.1 += 1;
        }
    }
    println!("\n## by op, all parts (median node times summed)");
    for ((plan, op), (t, n)) in &by_op {
        println!("{plan:<22} {op:<16} {n:>3} nodes {:>9.1} µs", us(*t));
    }
    for (plan, t) in totals {
        println!("{plan:<22} all parts: {:.1} µs per run (sum of part medians)", us(t));
    }
    Ok(())
}
