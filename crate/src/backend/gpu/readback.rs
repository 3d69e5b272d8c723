//! Reading tensors back to the host: copy them into one mappable buffer (kept for the next
//! read-back of that size), submit with the pending commands, map it once, await the map.

use super::device::Gpu;
use super::stats::Event;
use super::{oneshot, GpuTensor};
use crate::backend::HostTensor;
use crate::error::{Error, ErrorCode, Result};

fn fail(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Backend, format!("reading back: {e}"))
}

/// Reads every tensor of `tensors` back with one staging buffer, one copy each, one submit and
/// one map. Natively the map completes inside `device.poll`, so the future is ready when first
/// polled; in the browser it resolves from the JS event loop and must be awaited.
pub async fn read_all(gpu: &Gpu, tensors: &[&GpuTensor]) -> Result<Vec<HostTensor>> {
    gpu.check("reading back")?;
    // Each tensor's place in the staging buffer (copies need 4-byte offsets: f32s are).
    let mut spans = Vec::with_capacity(tensors.len());
    let mut size = 0u64;
    for t in tensors {
        let bytes = t.shape.iter().product::<usize>() as u64 * 4;
        spans.push((size, bytes));
        size += bytes;
    }
    if tensors.is_empty() {
        return Ok(vec![]);
    }
    // A map of 0 bytes is invalid; 8 keeps the mapped range's alignment.
    let staging = gpu.staging(size.max(8).next_multiple_of(8));
    // The copies join the commands that compute the tensors: one submit.
    gpu.record(|encoder| {
        for (t, &(offset, bytes)) in tensors.iter().zip(&spans) {
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(&t.buffer, 0, &staging, offset, bytes);
            }
        }
        Ok(())
    })?;
    gpu.flush()?;
    let (tx, rx) = oneshot::channel();
    gpu.counters.count(Event::Readback);
    staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
    #[cfg(not(target_arch = "wasm32"))]
    gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(fail)?;
    match rx.await {
        Some(r) => r.map_err(fail)?,
        None => {
            // The callback was dropped unrun: the device's own error says why, if it has one.
            gpu.check("reading back")?;
            return Err(fail("the map was abandoned"));
        }
    }
    let out = {
        let view = staging.get_mapped_range(..).map_err(fail)?;
        tensors
            .iter()
            .zip(&spans)
            .map(|(t, &(offset, bytes))| {
                let bytes = view.get(offset as usize..(offset + bytes) as usize).ok_or_else(|| fail("a short staging buffer"))?;
                let data = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                Ok(HostTensor { shape: t.shape.clone(), data })
            })
            .collect::<Result<Vec<_>>>()
    };
    staging.unmap();
    gpu.keep_staging(staging);
    gpu.check("reading back")?;
    out
}

/// Reads one tensor back ([`read_all`] of one).
pub async fn read(gpu: &Gpu, a: &GpuTensor) -> Result<HostTensor> {
    read_all(gpu, &[a]).await?.pop().ok_or_else(|| fail("nothing read back"))
}
