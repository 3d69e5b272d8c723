//! `exitwise` — the native command line: inspect a bundle, classify an image, evaluate a test
//! pack, sweep the accuracy-vs-cost frontier and calibrate thresholds.
//!
//! ```text
//! exitwise info      BUNDLE
//! exitwise classify  BUNDLE IMAGE|pack:N [--thresholds a,b,…] [--invert]
//! exitwise eval      BUNDLE [--thresholds a,b,…] [--pack FILE]
//! exitwise sweep     BUNDLE [--pack FILE]
//! exitwise calibrate BUNDLE --max-drop PTS [--delta D] [--split FRACTION] [--greedy] [--calib-pack FILE] [--pack FILE]
//! ```
//!
//! `calibrate` certifies thresholds by Learn then Test (with probability ≥ 1 − δ, δ = 0.1 by
//! default, the accuracy drop is ≤ the max drop on data like the calibration pack); `--greedy`
//! is the old grid search, with no guarantee.
//!
//! Every command takes `--json` (machine-readable, snake_case keys); otherwise it prints tables.
//! Errors print `error: CODE: message` on stderr (the library's stable codes) and exit with 1;
//! usage errors exit with 2. On wasm32 this binary is an empty `main`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "exitwise/cli.rs"]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
#[path = "exitwise/data.rs"]
mod data;
#[cfg(not(target_arch = "wasm32"))]
#[path = "exitwise/report.rs"]
mod report;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
