//! The one trait every compute backend implements. The engine drives it; it never asks which
//! backend it has. The tract CPU backend lives in `tract.rs`; a WebGPU one plugs in beside it.

use crate::bundle::Bundle;
use crate::error::Result;

pub mod choose;
pub mod cpu_kernels;
pub mod tract;
pub mod wait;
pub mod window;
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
    /// An input of `shape` written by `fill` straight into the backend's own buffer where it can
    /// (the CPU backend: tract's tensor), so a normalised input is written once.
    fn input(&self, shape: &[usize], fill: &mut dyn FnMut(&mut [f32]) -> Result<()>) -> Result<Self::Activation> {
        let mut data = vec![0f32; shape.iter().product()];
        fill(&mut data)?;
        self.upload(HostTensor { shape: shape.to_vec(), data })
    }
    async fn download(&self, activation: &Self::Activation) -> Result<HostTensor>;
    /// Several activations at once, in order: what one exit's outputs (logits, learned
    /// confidence) need. A GPU backend brings them back in one read-back; by default one
    /// [`Backend::download`] each.
    async fn download_all(&self, activations: &[&Self::Activation]) -> Result<Vec<HostTensor>> {
        let mut out = Vec::with_capacity(activations.len());
        for a in activations {
            out.push(self.download(a).await?);
        }
        Ok(out)
    }
    /// The rows `rows` (indices along the batch axis, in order) of a batched activation: what
    /// is left of a batch after some of its inputs exited. By default through host memory.
    async fn gather(&self, activation: &Self::Activation, rows: &[usize]) -> Result<Self::Activation> {
        let t = self.download(activation).await?;
        let n = t.shape.first().copied().unwrap_or(0);
        let row = if n == 0 { 0 } else { t.data.len() / n };
        let mut data = Vec::with_capacity(rows.len() * row);
        for &r in rows {
            let src = t.data.get(r * row..(r + 1) * row).ok_or_else(|| {
                crate::error::Error::new(crate::error::ErrorCode::Backend, format!("row {r} of a batch of {n}"))
            })?;
            data.extend_from_slice(src);
        }
        let mut shape = t.shape;
        if let Some(b) = shape.first_mut() {
            *b = rows.len();
        }
        self.upload(HostTensor { shape, data })
    }
    /// A hint that batches of `n` will come often (evaluation's chunk size): a backend may plan
    /// for that size now. Other sizes still run, perhaps slower.
    fn plan_batch(&self, _n: usize) -> Result<()> {
        Ok(())
    }
    /// Runs segment `k`; inputs and outputs in the order the manifest names them. Inputs are
    /// moved in, so an activation no later step needs can be reused in place.
    fn run_segment(&self, k: usize, inputs: Vec<Self::Activation>) -> Result<Vec<Self::Activation>>;
    /// Runs exit head `e`.
    fn run_exit(&self, e: usize, inputs: Vec<Self::Activation>) -> Result<Vec<Self::Activation>>;
}
