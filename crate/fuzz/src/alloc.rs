//! A counting allocator (installed by the binary): live bytes, the peak since the last reset,
//! and a cap. An allocation over the cap fails (null): fallible callers get their error, the
//! others abort with "memory allocation of N bytes failed", which the supervisor reports as an
//! `alloc` finding instead of the OS killing the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

pub fn set_cap(bytes: usize) {
    CAP.store(bytes, Relaxed);
}

/// Resets the peak to the live bytes; returns the previous peak.
pub fn take_peak() -> usize {
    PEAK.swap(LIVE.load(Relaxed), Relaxed)
}

/// Allocations refused so far (over the cap).
pub fn refused() -> usize {
    REFUSED.load(Relaxed)
}

fn grow(size: usize) -> bool {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    if live > CAP.load(Relaxed) {
        LIVE.fetch_sub(size, Relaxed);
        REFUSED.fetch_add(1, Relaxed);
        return false;
    }
    PEAK.fetch_max(live, Relaxed);
    true
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !grow(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        match (p.is_null(), new_size > old) {
            (true, true) => {
                LIVE.fetch_sub(new_size - old, Relaxed);
            }
            (false, false) => {
                LIVE.fetch_sub(old - new_size, Relaxed);
            }
            _ => {}
        }
        p
    }
}
