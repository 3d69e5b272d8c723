//! Driving the engine's futures to completion for the synchronous API.
//!
//! Natively any future can block (pollster). On wasm32 nothing may block the browser's event
//! loop: a future that is not ready at once (a GPU read-back, an adapter request) can only be
//! awaited, so the synchronous API reports that instead of hanging or panicking.

use crate::error::Result;
use std::future::Future;

/// Runs `f` to completion (natively, blocking the thread).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    pollster::block_on(f)
}

/// Polls `f` once: the CPU backend's futures are always ready; a pending one (WebGPU) fails
/// with [`crate::ErrorCode::Backend`], naming the async call to use instead.
#[cfg(target_arch = "wasm32")]
pub fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(crate::error::Error::new(
            crate::error::ErrorCode::Backend,
            "this backend completes only asynchronously in the browser: use the *_async calls",
        )),
    }
}
