//! `auto`'s choice between the CPU and a GPU, per kind of work, from a short measured probe of
//! the loaded model on both (never from the mere presence of an adapter: at these model sizes a
//! GPU's dispatch and read-back latency often loses to wasm SIMD).

/// The kinds of work a model does, each given to whichever backend ran it faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// One input: `classify`, `classifyFull`, `trace`.
    Single,
    /// Many inputs at once: `classifyBatch`, `evaluate`.
    Batch,
}

/// Batch size of the probe's batched runs: the chunk `evaluate` traces.
pub const PROBE_BATCH: usize = 64;

/// A backend's probe: median ms of one input through every part, and ms per input of a batch
/// of [`PROBE_BATCH`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub single_ms: f64,
    pub batch_ms_per_input: f64,
}

/// Where each kind of work goes: `true` = the GPU. A GPU only wins what it ran strictly faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub single_on_gpu: bool,
    pub batch_on_gpu: bool,
}

impl Choice {
    pub fn on_gpu(&self, w: Work) -> bool {
        match w {
            Work::Single => self.single_on_gpu,
            Work::Batch => self.batch_on_gpu,
        }
    }
}

fn faster(gpu: f64, cpu: f64) -> bool {
    gpu.is_finite() && (!cpu.is_finite() || gpu < cpu)
}

pub fn choose(cpu: Timing, gpu: Timing) -> Choice {
    Choice {
        single_on_gpu: faster(gpu.single_ms, cpu.single_ms),
        batch_on_gpu: faster(gpu.batch_ms_per_input, cpu.batch_ms_per_input),
    }
}

/// The evidence, in words: `"classify: cpu (0.190 ms vs webgpu 0.930 ms); batches of 64: webgpu
/// (0.050 vs cpu 0.310 ms/input); probe 45 ms"`.
pub fn reason(cpu: Timing, gpu: Timing, c: Choice, probe_ms: f64) -> String {
    let side = |on_gpu: bool| if on_gpu { ("webgpu", "cpu") } else { ("cpu", "webgpu") };
    let (s, s_other) = side(c.single_on_gpu);
    let (s_ms, s_other_ms) = if c.single_on_gpu { (gpu.single_ms, cpu.single_ms) } else { (cpu.single_ms, gpu.single_ms) };
    let (b, b_other) = side(c.batch_on_gpu);
    let (b_ms, b_other_ms) =
        if c.batch_on_gpu { (gpu.batch_ms_per_input, cpu.batch_ms_per_input) } else { (cpu.batch_ms_per_input, gpu.batch_ms_per_input) };
    format!(
        "classify: {s} ({s_ms:.3} ms vs {s_other} {s_other_ms:.3} ms); batches of {PROBE_BATCH}: {b} ({b_ms:.3} vs {b_other} {b_other_ms:.3} ms/input); probe {probe_ms:.0} ms"
    )
}

/// The median of a few timings (a probe's runs).
pub fn median(mut ms: Vec<f64>) -> f64 {
    ms.retain(|x| x.is_finite());
    if ms.is_empty() {
        return f64::INFINITY;
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    ms[ms.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: Timing = Timing { single_ms: 0.19, batch_ms_per_input: 0.31 };

    #[test]
    fn the_faster_backend_wins_each_kind_of_work() {
        let gpu = Timing { single_ms: 0.93, batch_ms_per_input: 0.05 };
        let c = choose(CPU, gpu);
        assert_eq!(c, Choice { single_on_gpu: false, batch_on_gpu: true });
        assert!(!c.on_gpu(Work::Single) && c.on_gpu(Work::Batch));
        assert_eq!(
            reason(CPU, gpu, c, 45.2),
            "classify: cpu (0.190 ms vs webgpu 0.930 ms); batches of 64: webgpu (0.050 vs cpu 0.310 ms/input); probe 45 ms"
        );
    }

    #[test]
    fn a_tie_or_a_failed_gpu_run_stays_on_the_cpu() {
        assert_eq!(choose(CPU, CPU), Choice { single_on_gpu: false, batch_on_gpu: false });
        let broken = Timing { single_ms: f64::INFINITY, batch_ms_per_input: f64::NAN };
        assert_eq!(choose(CPU, broken), Choice { single_on_gpu: false, batch_on_gpu: false });
    }

    #[test]
    fn median_ignores_failed_runs() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![f64::NAN, 5.0]), 5.0);
        assert_eq!(median(vec![]), f64::INFINITY);
    }
}
