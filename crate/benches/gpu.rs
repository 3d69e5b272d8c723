//! `cargo bench -p exitwise --features webgpu --bench gpu`: the WebGPU backend against the tract
//! CPU backend, per segment and per exit head, for every bundle under `models/*/`, at the
//! batch sizes of `EXITWISE_GPU_BATCHES` (default `1,64,256`; sizes above 1 only when the bundle
//! takes a dynamic batch).
//!
//! Ids read `<model>/b<batch>/<part>/<backend>`: `cpu`, or `webgpu` — `webgpu-software` when the
//! adapter is a CPU rasteriser (llvmpipe/lavapipe, SwiftShader), whose numbers say nothing
//! about a real GPU. Each part runs on the activations the CPU produces for the first test-pack
//! images. A GPU iteration is one `run_segment`/`run_exit` plus waiting for the device to
//! finish (`WebGpu::finish`), without read-back; `<model>/b<batch>/trace_batch` adds the whole
//! run with every exit's read-back, as `eval` does.
//!
//! Defaults are short (10 samples, 1 s each); criterion's flags override them, e.g.
//! `-- --measurement-time 3 tiny-mnist/`. `gpu-machine.sh` runs it on a real GPU.

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use criterion::{black_box, BenchmarkId, Criterion};
    use exitwise::backend::gpu::{GpuTensor, WebGpu};
    use exitwise::backend::{Backend, HostTensor};
    use exitwise::input::{from_u8, normalize};
    use exitwise::manifest::{Step, INPUT};
    use exitwise::pack::Pack;
    use exitwise::{Bundle, CpuModel, Model};
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::time::Duration;
    use tract_onnx::prelude::TValue;

    /// The batch sizes: `EXITWISE_GPU_BATCHES` (comma-separated) or 1, 64 and 256.
    pub fn batches() -> Result<Vec<usize>, String> {
        let spec = std::env::var("EXITWISE_GPU_BATCHES").unwrap_or_else(|_| "1,64,256".into());
        spec.split(',').map(|b| b.trim().parse::<usize>().ok().filter(|&b| b > 0).ok_or(format!("EXITWISE_GPU_BATCHES: {b:?} is not a batch size"))).collect()
    }

    struct Case {
        name: String,
        cpu: CpuModel,
        gpu: Model<WebGpu>,
        /// Up to the largest batch of test-pack images, in the manifest's range, one after another.
        images: Vec<f32>,
        count: usize,
    }

    /// CPU rasterisers report themselves by name.
    pub fn software(adapter: &str) -> bool {
        let a = adapter.to_lowercase();
        ["llvmpipe", "lavapipe", "swiftshader"].iter().any(|s| a.contains(s))
    }

    fn load(dir: &Path, most: usize) -> Result<Case, String> {
        let bundle = Bundle::from_dir(dir).map_err(|e| e.to_string())?;
        let m = bundle.manifest.clone();
        let pack = m
            .test_pack
            .as_ref()
            .and_then(|r| bundle.data.get(&r.file).map(|b| Pack::parse(&r.file, b)))
            .transpose()
            .map_err(|e| e.to_string())?
            .ok_or("no test pack")?;
        let count = pack.count.min(most);
        if count == 0 {
            return Err("an empty test pack".into());
        }
        let images = from_u8(&m.input, &pack.pixels)[..count * m.input.len()].to_vec();
        let cpu = CpuModel::new(bundle.clone()).map_err(|e| e.to_string())?;
        let gpu = Model::<WebGpu>::new(bundle).map_err(|e| format!("WebGPU: {e}"))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(m.name);
        Ok(Case { name, cpu, gpu, images, count })
    }

    /// Every activation of one CPU run over the first `n` images, by name.
    fn activations(case: &Case, n: usize) -> Result<HashMap<String, HostTensor>, String> {
        let (m, b) = (case.cpu.manifest(), &case.cpu.backend);
        let x = normalize(&m.input, &case.images[..n * m.input.len()], n).map_err(|e| e.to_string())?;
        let mut acts: HashMap<String, TValue> = HashMap::new();
        acts.insert(INPUT.into(), b.upload(x).map_err(|e| e.to_string())?);
        for step in m.steps() {
            let (_, inputs, outputs) = m.step_io(step);
            let args = inputs.iter().map(|a| acts.get(a).cloned()).collect::<Option<Vec<_>>>().ok_or("a missing activation")?;
            let out = match step {
                Step::Segment(k) => b.run_segment(k, args),
                Step::Exit(e) => b.run_exit(e, args),
            }
            .map_err(|e| e.to_string())?;
            acts.extend(outputs.iter().cloned().zip(out));
        }
        acts.into_iter()
            .map(|(k, v)| Ok((k, pollster::block_on(b.download(&v)).map_err(|e| e.to_string())?)))
            .collect()
    }

    fn bench_batch(c: &mut Criterion, case: &Case, n: usize, gpu_label: &str) -> Result<(), String> {
        let m = case.cpu.manifest();
        let host = activations(case, n)?;
        let (cb, gb) = (&case.cpu.backend, &case.gpu.backend);
        let cpu_acts: HashMap<&str, TValue> =
            host.iter().map(|(k, h)| Ok((k.as_str(), cb.upload(h.clone()).map_err(|e| e.to_string())?))).collect::<Result<_, String>>()?;
        let gpu_acts: HashMap<&str, GpuTensor> =
            host.iter().map(|(k, h)| Ok((k.as_str(), gb.upload(h.clone()).map_err(|e| e.to_string())?))).collect::<Result<_, String>>()?;
        let mut g = c.benchmark_group(format!("{}/b{n}", case.name));
        for step in m.steps() {
            let (_, inputs, _) = m.step_io(step);
            let ca = inputs.iter().map(|a| cpu_acts.get(a.as_str()).cloned()).collect::<Option<Vec<_>>>().ok_or("missing")?;
            let ga = inputs.iter().map(|a| gpu_acts.get(a.as_str()).cloned()).collect::<Option<Vec<_>>>().ok_or("missing")?;
            let (part, macs) = match step {
                Step::Segment(k) => (format!("seg{k}:{}", m.segments[k].name), case.cpu.costs.segments[k]),
                Step::Exit(e) => (format!("exit{e}:{}", m.exits[e].name), case.cpu.costs.exits[e]),
            };
            let part = format!("{part} ({:.2} MMAC)", (macs * n as u64) as f64 / 1e6);
            let run_cpu = |a: &[TValue]| match step {
                Step::Segment(k) => cb.run_segment(k, a.to_vec()),
                Step::Exit(e) => cb.run_exit(e, a.to_vec()),
            };
            let run_gpu = |a: &[GpuTensor]| {
                let out = match step {
                    Step::Segment(k) => gb.run_segment(k, a.to_vec()),
                    Step::Exit(e) => gb.run_exit(e, a.to_vec()),
                };
                out.and_then(|o| gb.finish().map(|_| o))
            };
            // Fail before measuring rather than inside criterion's loop.
            run_cpu(&ca).map_err(|e| e.to_string())?;
            run_gpu(&ga).map_err(|e| e.to_string())?;
            g.bench_function(BenchmarkId::new(part.clone(), "cpu"), |bn| bn.iter(|| black_box(run_cpu(black_box(&ca)))));
            g.bench_function(BenchmarkId::new(part, gpu_label), |bn| bn.iter(|| black_box(run_gpu(black_box(&ga)))));
        }
        let images = &case.images[..n * m.input.len()];
        g.bench_function(BenchmarkId::new("trace_batch", "cpu"), |bn| bn.iter(|| black_box(case.cpu.trace_batch(images, n))));
        g.bench_function(BenchmarkId::new("trace_batch", gpu_label), |bn| bn.iter(|| black_box(case.gpu.trace_batch(images, n))));
        g.finish();
        // What one (warm) trace_batch asks of the device.
        let before = gb.stats();
        case.gpu.trace_batch(images, n).map_err(|e| e.to_string())?;
        let s = gb.stats().since(&before);
        println!(
            "{}/b{n}/trace_batch/{gpu_label}: {} dispatches, {} submits, {} read-backs, {} buffers and {} bind groups created",
            case.name, s.dispatches, s.submits, s.readbacks, s.buffers, s.bind_groups
        );
        Ok(())
    }

    fn bundles() -> Vec<PathBuf> {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("manifest.json").is_file()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    pub fn main() -> Result<(), String> {
        let mut c = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .configure_from_args();
        let dirs = bundles();
        if dirs.is_empty() {
            return Err("no bundle under models/*/manifest.json".into());
        }
        let sizes = batches()?;
        let most = sizes.iter().copied().max().unwrap_or(1);
        for dir in dirs {
            let case = load(&dir, most).map_err(|e| format!("{}: {e}", dir.display()))?;
            let adapter = case.gpu.backend.adapter_name().to_string();
            let label = if software(&adapter) { "webgpu-software" } else { "webgpu" };
            let kind = if software(&adapter) { "software rasteriser: not a GPU measurement" } else { "hardware" };
            let batches: Vec<usize> = sizes.iter().copied().filter(|&n| n <= case.count && (n == 1 || case.cpu.bundle.batchable())).collect();
            println!("{}: adapter {adapter:?} ({kind}); batches {batches:?}", case.name);
            for n in batches {
                bench_batch(&mut c, &case, n, label).map_err(|e| format!("{} batch {n}: {e}", case.name))?;
            }
        }
        c.final_summary();
        Ok(())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = bench::main() {
        eprintln!("gpu bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
