//! `cargo bench --bench engine`: the tract CPU backend per part and per model.
//!
//! For the generated fixture bundle (`tests/support`, early-view assist, dynamic batch) and every
//! real bundle under `models/*/`:
//! - `<model>/parts/<part>`: one backend `run_segment` / `run_exit` call, batch 1, on the
//!   activations the first test image produces;
//! - `<model>/model/…`, per image over a fixed set of test-pack images, one at a time:
//!   `trace` (every segment and every exit head — what an input that never exits early costs),
//!   `classify@default` (early exit at the manifest's thresholds), `classify@0` (thresholds 0:
//!   every input leaves at the first exit — the floor), `plain` (the bundle's
//!   `full.onnx`, the network without exit heads, when present) and `trace_batch` (all the
//!   images in one batched run, as `exitwise eval` does).
//!
//! Defaults are short (20 samples, 2 s); criterion's flags override them, e.g.
//! `cargo bench --bench engine -- --measurement-time 5 chain/`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use super::support;
    use criterion::{black_box, BenchmarkId, Criterion, SamplingMode, Throughput};
    use exitwise::backend::Backend;
    use exitwise::input::{from_u8, normalize};
    use exitwise::manifest::{Step, INPUT};
    use exitwise::pack::Pack;
    use exitwise::{Bundle, CpuModel};
    use std::collections::{BTreeMap, HashMap};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;
    use tract_onnx::prelude::*;

    /// Images per model-level iteration: fixture, real bundle.
    const FIXTURE_IMAGES: usize = 64;
    const REAL_IMAGES: usize = 16;

    struct Case {
        name: String,
        model: CpuModel,
        /// Inputs in the manifest's range, C·H·W each.
        images: Vec<Vec<f32>>,
        plain: Option<Arc<TypedRunnableModel>>,
    }

    fn fixture() -> Case {
        let files: BTreeMap<String, Vec<u8>> = support::chain(true, true);
        let model = CpuModel::new(Bundle::from_files(&files).expect("fixture bundle")).expect("fixture model");
        let images = (0..FIXTURE_IMAGES as u64).map(support::input).collect();
        Case { name: "chain".into(), model, images, plain: None }
    }

    fn real(dir: &Path) -> Result<Case, String> {
        let bundle = Bundle::from_dir(dir).map_err(|e| e.to_string())?;
        let model = CpuModel::new(bundle).map_err(|e| e.to_string())?;
        let spec = model.manifest().input.clone();
        let pack = model
            .manifest()
            .test_pack
            .as_ref()
            .and_then(|r| model.bundle.data.get(&r.file).map(|b| Pack::parse(&r.file, b)))
            .transpose()
            .map_err(|e| e.to_string())?;
        let images: Vec<Vec<f32>> = match &pack {
            Some(p) if p.count > 0 => (0..REAL_IMAGES.min(p.count)).map(|i| from_u8(&spec, p.image(i))).collect(),
            _ => {
                eprintln!("{}: no test pack; benchmarking a mid-range image", dir.display());
                vec![vec![(spec.range[0] + spec.range[1]) / 2.0; spec.len()]]
            }
        };
        let full = dir.join("full.onnx");
        let plain = if full.is_file() {
            match plain_network(&full, &spec.shape) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("{}: cannot plan full.onnx: {e}", dir.display());
                    None
                }
            }
        } else {
            None
        };
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| model.manifest().name.clone());
        Ok(Case { name, model, images, plain })
    }

    /// The bundle's `full.onnx` (the network without exit heads) for batch 1.
    fn plain_network(path: &Path, shape: &[usize]) -> TractResult<Arc<TypedRunnableModel>> {
        let mut m = tract_onnx::onnx().model_for_path(path)?;
        let shape: TVec<TDim> = shape.iter().map(|d| d.to_dim()).collect();
        m.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))?;
        m.into_typed()?.into_decluttered()?.into_optimized()?.into_runnable()
    }

    fn normalized(case: &Case, x: &[f32]) -> Tensor {
        let t = normalize(&case.model.manifest().input, x, 1).expect("input in range");
        Tensor::from_shape(&t.shape, &t.data).expect("tensor")
    }

    /// Runs every step once for image 0, keeping every activation by name.
    fn activations(case: &Case) -> HashMap<String, TValue> {
        let m = case.model.manifest();
        let b = &case.model.backend;
        let mut acts: HashMap<String, TValue> = HashMap::new();
        acts.insert(INPUT.into(), normalized(case, &case.images[0]).into_tvalue());
        for step in m.steps() {
            let (_, inputs, outputs) = m.step_io(step);
            let args: Vec<TValue> = inputs.iter().map(|a| acts[a].clone()).collect();
            let out = match step {
                Step::Segment(k) => b.run_segment(k, args),
                Step::Exit(e) => b.run_exit(e, args),
            }
            .expect("part runs");
            for (name, v) in outputs.iter().zip(out) {
                acts.insert(name.clone(), v);
            }
        }
        acts
    }

    fn bench_parts(c: &mut Criterion, case: &Case) {
        let m = case.model.manifest();
        let b = &case.model.backend;
        let acts = activations(case);
        let mut g = c.benchmark_group(format!("{}/parts", case.name));
        for step in m.steps() {
            let (_, inputs, _) = m.step_io(step);
            let args: Vec<TValue> = inputs.iter().map(|a| acts[a].clone()).collect();
            match step {
                Step::Segment(k) => {
                    let id = format!("seg{k}:{} ({} MACs)", m.segments[k].name, case.model.costs.segments[k]);
                    g.bench_function(id, |bn| bn.iter(|| b.run_segment(k, black_box(args.clone())).expect("segment")));
                }
                Step::Exit(e) => {
                    let id = format!("exit{e}:{} ({} MACs)", m.exits[e].name, case.model.costs.exits[e]);
                    g.bench_function(id, |bn| bn.iter(|| b.run_exit(e, black_box(args.clone())).expect("exit")));
                }
            }
        }
        g.finish();
    }

    fn bench_model(c: &mut Criterion, case: &Case) {
        let model = &case.model;
        let m = model.manifest();
        let defaults = m.default_thresholds();
        let n = case.images.len();
        // Where these images leave at the default thresholds, to read the timings against.
        let mut histogram = vec![0usize; m.exits.len()];
        let mut macs = 0u64;
        for x in &case.images {
            let r = model.classify(x, &defaults).expect("classify");
            histogram[r.exit] += 1;
            macs += r.macs_executed;
        }
        let plain = model.costs.plain;
        println!(
            "{}: {n} image(s) at thresholds {:?} leave at exits {:?}; mean MACs {:.0} of {} plain (saved {:.1} %), every exit {}",
            case.name,
            defaults,
            histogram,
            macs as f64 / n as f64,
            plain,
            (1.0 - macs as f64 / n as f64 / plain.max(1) as f64) * 100.0,
            model.costs.to_exit.last().copied().unwrap_or(0)
        );

        let mut g = c.benchmark_group(format!("{}/model", case.name));
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("trace", format!("{n} images")), |b| {
            b.iter(|| {
                for x in &case.images {
                    black_box(model.trace(black_box(x)).expect("trace"));
                }
            })
        });
        g.bench_function(BenchmarkId::new("classify@default", format!("{n} images")), |b| {
            b.iter(|| {
                for x in &case.images {
                    black_box(model.classify(black_box(x), &defaults).expect("classify"));
                }
            })
        });
        let zeros = vec![0.0f32; defaults.len()];
        g.bench_function(BenchmarkId::new("classify@0 (first exit)", format!("{n} images")), |b| {
            b.iter(|| {
                for x in &case.images {
                    black_box(model.classify(black_box(x), &zeros).expect("classify"));
                }
            })
        });
        if let Some(p) = &case.plain {
            let inputs: Vec<TValue> = case.images.iter().map(|x| normalized(case, x).into_tvalue()).collect();
            g.bench_function(BenchmarkId::new("plain full.onnx", format!("{n} images")), |b| {
                b.iter(|| {
                    for x in &inputs {
                        black_box(p.run(tvec![x.clone()]).expect("plain run"));
                    }
                })
            });
        }
        if n > 1 && model.bundle.batchable() {
            let all: Vec<f32> = case.images.concat();
            g.bench_function(BenchmarkId::new("trace_batch", format!("{n} images")), |b| {
                b.iter(|| black_box(model.trace_batch(black_box(&all), n).expect("trace_batch")))
            });
        }
        g.finish();
    }

    fn real_bundles() -> Vec<PathBuf> {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("manifest.json").is_file()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    pub fn main() {
        let mut c = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args();
        let mut cases = vec![fixture()];
        let dirs = real_bundles();
        if dirs.is_empty() {
            println!("no real bundles under models/*/manifest.json; benchmarking the fixture only");
        }
        for dir in dirs {
            match real(&dir) {
                Ok(case) => cases.push(case),
                Err(e) => println!("{}: skipped, the bundle does not load: {e}", dir.display()),
            }
        }
        for case in &cases {
            bench_parts(&mut c, case);
            bench_model(&mut c, case);
        }
        c.final_summary();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    bench::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}
