//! The one trait every compute backend implements. The engine drives it; it never asks which
//! backend it has. The tract CPU backend lives in `tract.rs`; a WebGPU one plugs in beside it.

use crate::bundle::Bundle;
use crate::error::Result;

pub mod tract;
pub mod wait;
#[cfg(feature = "webgpu")]
pub mod gpu;

/// A dense f32 tensor in host memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A compute backend prepared for one bundle.
///
/// Activations are the backend's own type so that a GPU backend can keep them on the device
/// across segments; only exit outputs are brought back with [`Backend::download`], which is
/// async because a browser GPU read-back completes only from the JS event loop.
// The trait is only used through generics, and its futures need not be `Send` (wasm32 GPU
// handles are not), so the lint's advice to spell out a `Send` bound does not apply.
#[allow(async_fn_in_trait)]
pub trait Backend: Sized {
    type Activation: Clone;

    /// Short name reported in every result, e.g. `"cpu"`.
    fn name(&self) -> &'static str;
    /// Prepares every part of the bundle (plans optimised once, weights uploaded once). A
    /// backend that can only be prepared asynchronously in the browser offers its own async
    /// constructor; build the model with [`crate::Model::with_backend`] then.
    fn prepare(bundle: &Bundle) -> Result<Self>;
    fn upload(&self, tensor: HostTensor) -> Result<Self::Activation>;
    async fn download(&self, activation: &Self::Activation) -> Result<HostTensor>;
    /// Runs segment `k`; inputs and outputs in the order the manifest names them.
    fn run_segment(&self, k: usize, inputs: &[Self::Activation]) -> Result<Vec<Self::Activation>>;
    /// Runs exit head `e`.
    fn run_exit(&self, e: usize, inputs: &[Self::Activation]) -> Result<Vec<Self::Activation>>;
}
