//! Reading a tensor back to the host: copy into a mappable buffer, map it, await the map.

use super::device::Gpu;
use super::stats::Event;
use super::{oneshot, GpuTensor};
use crate::backend::HostTensor;
use crate::error::{Error, ErrorCode, Result};

fn fail(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Backend, format!("reading back: {e}"))
}

/// Reads `a` back. Natively the map completes inside `device.poll`, so the future is ready when
/// first polled; in the browser it resolves from the JS event loop and must be awaited.
pub async fn read(gpu: &Gpu, a: &GpuTensor) -> Result<HostTensor> {
    gpu.check("reading back")?;
    let len: usize = a.shape.iter().product();
    let size = (len as u64 * 4).max(4);
    let staging = gpu.buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(&a.buffer, 0, &staging, 0, size);
    gpu.submit(encoder.finish());
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
    let data = {
        let view = staging.get_mapped_range(..).map_err(fail)?;
        view.chunks_exact(4).take(len).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    staging.unmap();
    gpu.check("reading back")?;
    Ok(HostTensor { shape: a.shape.clone(), data })
}
