//! Adapter and device acquisition, device health (errors, loss), and the one place GPU errors
//! become typed [`Error`]s.

use super::stats::{Counters, Event};
use crate::error::{Error, ErrorCode, Result};
use std::sync::{Arc, Mutex};

/// What wgpu reported outside error scopes.
#[derive(Default)]
struct Health {
    /// The first uncaptured error since the last [`Gpu::check`].
    error: Option<String>,
    /// Set once the device is lost (or hit an out-of-memory or internal error, after which its
    /// results cannot be trusted); never cleared.
    lost: Option<String>,
}

/// The device, its queue, and its health.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_name: String,
    /// The adapter says it is a software (CPU) implementation: lavapipe natively, a browser's
    /// fallback adapter (`GPUAdapterInfo.isFallbackAdapter`, e.g. SwiftShader) on the web.
    pub software: bool,
    /// wgpu's default handlers panic or log; ours record here for the next check.
    health: Arc<Mutex<Health>>,
    /// What the backend asked of the device (see [`super::WebGpu::stats`]).
    pub counters: Counters,
    /// Commands recorded but not yet submitted: consecutive parts share one encoder and one
    /// submit, made when something needs their results (a read-back) or a buffer is rewritten.
    pending: Mutex<Option<wgpu::CommandEncoder>>,
    /// Unmapped read-back buffers kept for the next read-back of the same size.
    staging: Mutex<Vec<wgpu::Buffer>>,
}

/// Read-back buffers kept at most.
const STAGING_KEPT: usize = 8;

fn backend_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Backend, msg)
}

/// wgpu panics in `Instance::new` when the page's global has no `navigator.gpu` it can reach
/// (not a window or dedicated worker, e.g. Node); look first.
#[cfg(target_arch = "wasm32")]
fn browser_has_webgpu() -> bool {
    use js_sys::Reflect;
    let global = js_sys::global();
    let defined = |o: &wasm_bindgen::JsValue, k: &str| Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let scope = defined(&global, "Window").is_some() || defined(&global, "WorkerGlobalScope").is_some();
    scope && defined(&global, "navigator").and_then(|n| defined(&n, "gpu")).is_some()
}

impl Gpu {
    /// Requests an adapter (Vulkan natively, the browser's WebGPU on wasm32) and a device with
    /// the adapter's own limits, so that large batches fit in one storage binding.
    pub async fn new() -> Result<Gpu> {
        if wgpu::Instance::enabled_backend_features().is_empty() {
            return Err(backend_err("this build has no wgpu backend for this platform"));
        }
        #[cfg(target_arch = "wasm32")]
        if !browser_has_webgpu() {
            return Err(backend_err("no WebGPU here: navigator.gpu is missing (needs a window or a dedicated worker)"));
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(|e| backend_err(format!("no WebGPU adapter: {e}")))?;
        let info = adapter.get_info();
        let (adapter_name, software) = (info.name, info.device_type == wgpu::DeviceType::Cpu);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("exitwise"),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| backend_err(format!("{adapter_name}: cannot open a device: {e}")))?;
        let health = Arc::new(Mutex::new(Health::default()));
        let sink = health.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let fatal = matches!(e, wgpu::Error::OutOfMemory { .. } | wgpu::Error::Internal { .. });
            if let Ok(mut h) = sink.lock() {
                let text = e.to_string();
                if fatal {
                    h.lost.get_or_insert_with(|| text.clone());
                }
                h.error.get_or_insert(text);
            }
        }));
        let sink = health.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut h) = sink.lock() {
                h.lost.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
            }
        });
        Ok(Gpu {
            device,
            queue,
            adapter_name,
            software,
            health,
            counters: Counters::default(),
            pending: Mutex::new(None),
            staging: Mutex::new(vec![]),
        })
    }

    /// True once the device is lost or hit an out-of-memory or internal error: every later call
    /// fails, so a caller should move to another backend.
    pub fn is_lost(&self) -> bool {
        self.health.lock().map_or(true, |h| h.lost.is_some())
    }

    /// Marks the device lost (the reason is reported by every later check).
    pub fn mark_lost(&self, reason: &str) {
        if let Ok(mut h) = self.health.lock() {
            h.lost.get_or_insert_with(|| reason.to_string());
        }
    }

    /// Fails if the device is lost, or with the first uncaptured GPU error since the last check.
    pub fn check(&self, what: &str) -> Result<()> {
        let Ok(mut h) = self.health.lock() else {
            return Err(backend_err(format!("{what}: the GPU error record is poisoned")));
        };
        if let Some(lost) = &h.lost {
            return Err(backend_err(format!("{what}: the GPU is unusable: {lost}")));
        }
        match h.error.take() {
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
        Ok(self.buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// Creates a buffer, counted.
    pub fn buffer(&self, desc: &wgpu::BufferDescriptor) -> wgpu::Buffer {
        self.counters.count(Event::Buffer);
        self.device.create_buffer(desc)
    }

    /// Creates a bind group, counted.
    pub fn bind_group(&self, desc: &wgpu::BindGroupDescriptor) -> wgpu::BindGroup {
        self.counters.count(Event::BindGroup);
        self.device.create_bind_group(desc)
    }

    /// Records into the pending encoder (created when there is none); nothing is submitted.
    pub fn record<T>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<T>) -> Result<T> {
        let mut pending = self.pending.lock().map_err(|_| backend_err("the pending commands are poisoned"))?;
        let encoder = pending.get_or_insert_with(|| self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("exitwise") }));
        f(encoder)
    }

    /// Submits the pending commands, if any, counted.
    pub fn flush(&self) -> Result<()> {
        let taken = self.pending.lock().map_err(|_| backend_err("the pending commands are poisoned"))?.take();
        if let Some(encoder) = taken {
            self.counters.count(Event::Submit);
            self.queue.submit([encoder.finish()]);
        }
        Ok(())
    }

    /// A mappable read-back buffer of exactly `size` bytes: a kept one, or a new one.
    pub fn staging(&self, size: u64) -> wgpu::Buffer {
        let kept = self.staging.lock().ok().and_then(|mut v| v.iter().position(|b| b.size() == size).map(|i| v.swap_remove(i)));
        kept.unwrap_or_else(|| {
            self.buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Gives an unmapped read-back buffer back for reuse.
    pub fn keep_staging(&self, b: wgpu::Buffer) {
        if let Ok(mut v) = self.staging.lock() {
            if v.len() < STAGING_KEPT {
                v.push(b);
            }
        }
    }
}
