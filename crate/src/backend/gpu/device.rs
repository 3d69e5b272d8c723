//! Adapter and device acquisition, and the one place GPU errors become typed [`Error`]s.

use crate::error::{Error, ErrorCode, Result};
use std::sync::{Arc, Mutex};

/// The device, its queue, and the first error wgpu reported outside an error scope.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_name: String,
    /// wgpu's default handler panics on an uncaptured error; ours records it for the next check.
    lost: Arc<Mutex<Option<String>>>,
}

fn backend_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Backend, msg)
}

impl Gpu {
    /// Requests an adapter (any backend wgpu was built with: Vulkan natively) and a device with
    /// the adapter's own limits, so that large batches fit in one storage binding.
    pub async fn new() -> Result<Gpu> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(|e| backend_err(format!("no WebGPU adapter: {e}")))?;
        let adapter_name = adapter.get_info().name;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("exitwise"),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| backend_err(format!("{adapter_name}: cannot open a device: {e}")))?;
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        Ok(Gpu { device, queue, adapter_name, lost })
    }

    /// Fails with the first uncaptured GPU error since the last check, if any.
    pub fn check(&self, what: &str) -> Result<()> {
        let taken = self.lost.lock().ok().and_then(|mut slot| slot.take());
        match taken {
            Some(e) => Err(backend_err(format!("{what}: {e}"))),
            None => Ok(()),
        }
    }

    /// A storage buffer of `bytes` (at least 4: bindings cannot be empty), within the
    /// device's binding limit; `what` names the part in errors.
    pub fn storage(&self, bytes: usize, what: &str) -> Result<wgpu::Buffer> {
        let l = self.device.limits();
        let max = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        let size = (bytes as u64).max(4);
        if size > max {
            return Err(backend_err(format!(
                "{what}: a {size}-byte tensor exceeds the device's {max}-byte binding limit; use a smaller batch"
            )));
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }
}
