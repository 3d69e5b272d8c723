//! Static constructors, run once.
//!
//! tract registers its kernels and knobs through `inventory`, i.e. static constructors. A module
//! that never calls `__wasm_call_ctors` itself is linked "command-style" by wasm-ld: every export
//! then starts by running all constructors again — in Chromium 6 % of a tiny-mnist `classify`
//! (`__wasm_call_ctors` 3.6 %, `inventory` registration 2.4 %). Calling it ourselves makes the
//! module a reactor: exports run as written, and constructors run where [`ensure`] says — once,
//! at instantiation (the start function), and before any load builds tract plans (test harnesses
//! such as wasm-bindgen-test do not run a library's start function).
//! (tests/package.test.mjs checks the shipped `.wasm` has no constructor wrappers.)

use std::sync::atomic::{AtomicBool, Ordering};
use wasm_bindgen::prelude::*;

unsafe extern "C" {
    fn __wasm_call_ctors();
}

static DONE: AtomicBool = AtomicBool::new(false);

/// Runs every static constructor, the first time only.
pub fn ensure() {
    if !DONE.swap(true, Ordering::Relaxed) {
        // SAFETY: wasm-ld's synthesised constructor runner, run once per instance (the flag),
        // before anything that reads what the constructors register.
        unsafe { __wasm_call_ctors() }
    }
}

#[wasm_bindgen(start, skip_typescript)]
fn run_constructors_once() {
    ensure();
}
