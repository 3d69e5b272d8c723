//! Counters of the GPU work the backend asks for: what a test can bound so that waste cannot
//! creep back (see `crate/tests/gpu_counts.rs`). Relaxed atomics: one add per event.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters since the backend was built or last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Command buffers submitted to the queue.
    pub submits: u64,
    /// Buffers created (storage, uniform, staging).
    pub buffers: u64,
    /// Bind groups created.
    pub bind_groups: u64,
    /// Read-backs: `map_async` calls.
    pub readbacks: u64,
}

impl Stats {
    /// The work done between `earlier` and `self`.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            dispatches: self.dispatches.saturating_sub(earlier.dispatches),
            submits: self.submits.saturating_sub(earlier.submits),
            buffers: self.buffers.saturating_sub(earlier.buffers),
            bind_groups: self.bind_groups.saturating_sub(earlier.bind_groups),
            readbacks: self.readbacks.saturating_sub(earlier.readbacks),
        }
    }
}

/// What is counted.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Dispatch,
    Submit,
    Buffer,
    BindGroup,
    Readback,
}

#[derive(Default)]
pub struct Counters([AtomicU64; 5]);

impl Counters {
    pub fn count(&self, e: Event) {
        self.0[e as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let v = |e: Event| self.0[e as usize].load(Ordering::Relaxed);
        Stats {
            dispatches: v(Event::Dispatch),
            submits: v(Event::Submit),
            buffers: v(Event::Buffer),
            bind_groups: v(Event::BindGroup),
            readbacks: v(Event::Readback),
        }
    }

    pub fn reset(&self) {
        for c in &self.0 {
            c.store(0, Ordering::Relaxed);
        }
    }
}
