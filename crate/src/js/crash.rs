//! What the package's JS facade (`crate/npm/facade.js`) needs to survive a trap: a count of Rust
//! frames running a call right now, and a test-only way to trap.
//!
//! A trap (a bug: exitwise never panics on purpose) abandons every Rust frame on the stack, so the
//! count stays above zero. Calls run in microtasks, so the trap surfaces as an uncaught error or
//! rejection on the global scope, where no exitwise frame can legitimately be running: there,
//! "count > 0" tells the facade that the error is ours, and it moves to a fresh instance.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasm_bindgen::prelude::*;

thread_local! {
    static RUNNING: Cell<u32> = const { Cell::new(0) };
}

/// Counts the Rust frames it is alive in.
pub struct Running;

impl Running {
    pub fn enter() -> Running {
        RUNNING.with(|r| r.set(r.get().saturating_add(1)));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(r.get().saturating_sub(1)));
    }
}

/// A future counted as running only while it is being polled (not while it waits).
pub struct Counted<F>(pub Pin<Box<F>>);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _running = Running::enter();
        self.0.as_mut().poll(cx)
    }
}

/// Rust frames running a call now (for the facade).
#[doc(hidden)]
#[wasm_bindgen(js_name = __exitwiseRunning)]
pub fn running() -> u32 {
    RUNNING.with(|r| r.get())
}

/// Test-only: traps the instance, at once or (`later`) in the microtask that polls the returned
/// Promise, as a bug would. The facade's recovery is tested with it.
#[doc(hidden)]
#[wasm_bindgen(js_name = __exitwiseTrap, unchecked_return_type = "Promise<never>")]
pub fn trap(later: bool) -> js_sys::Promise {
    if !later {
        let _running = Running::enter();
        core::arch::wasm32::unreachable();
    }
    wasm_bindgen_futures::future_to_promise(Counted(Box::pin(async {
        wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL)).await?;
        core::arch::wasm32::unreachable()
    })))
}
