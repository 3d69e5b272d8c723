//! exitwise: early-exit neural networks, segment by segment, stopping at the first confident exit.
//!
//! A model is a *bundle* (`BUNDLE.md`): a manifest plus one ONNX file per segment and per exit
//! head. [`Bundle`] verifies and checks it, a [`backend::Backend`] runs its parts, and
//! [`Model`] drives them: [`Model::classify`] stops at the first exit that fires,
//! [`Model::trace`] + [`Model::decide`] answer for any thresholds without re-running, and
//! [`Evaluation`] does the same over a labelled set.
//!
//! **FLOPs saved** = 1 − (MACs executed: every segment run + every exit head evaluated) ÷ (MACs
//! of the plain network: all segments + the final classifier). 1 MAC = 2 FLOPs.

pub mod admission;
pub mod backend;
pub mod bundle;
pub mod calibrate;
pub mod calibtrace;
pub mod engine;
pub mod error;
pub mod eval;
pub mod info;
pub mod input;
pub mod macs;
pub mod manifest;
pub mod onnx;
pub mod ops;
pub mod pack;
pub mod resplit;
pub mod rules;
#[cfg(target_arch = "wasm32")]
pub mod js;

pub use backend::tract::TractCpu;
#[cfg(feature = "webgpu")]
pub use backend::gpu::WebGpu;
pub use bundle::Bundle;
pub use calibrate::{CalibrateOptions, CalibrationPath, Certified};
pub use engine::{BatchClassification, Classification, Costs, ExitOutput, ExitRecord, Model, Trace};
pub use error::{Error, ErrorCode, Result};
pub use eval::{Evaluation, FrontierPoint, Summary};
pub use manifest::{ExitRule, Manifest};

/// A model on the tract CPU backend.
pub type CpuModel = Model<TractCpu>;

/// A model on the WebGPU backend (in the browser, build it with [`WebGpu::prepare_async`] and
/// [`Model::with_backend`], and run it with the `*_async` calls).
#[cfg(feature = "webgpu")]
pub type GpuModel = Model<WebGpu>;
