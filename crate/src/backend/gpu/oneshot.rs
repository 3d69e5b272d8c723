//! A one-value channel whose receiving end is a future (std only). wgpu completes buffer maps
//! through a callback: natively during `device.poll`, in the browser from the JS event loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    /// The sender is gone: no value will ever come if none is here.
    closed: bool,
    waker: Option<Waker>,
}

pub struct Sender<T>(Arc<Mutex<Slot<T>>>);
pub struct Receiver<T>(Arc<Mutex<Slot<T>>>);

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, closed: false, waker: None }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        if let Ok(mut s) = self.0.lock() {
            s.value = Some(value);
        }
        // Dropping `self` closes the slot and wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    /// Also runs when a callback is dropped unrun (say, on a lost device), so the receiver
    /// ends with `None` instead of waiting forever.
    fn drop(&mut self) {
        let waker = self.0.lock().ok().and_then(|mut s| {
            s.closed = true;
            s.waker.take()
        });
        // Woken outside the lock: the waker may poll the receiver at once.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    /// `None` when the sender was dropped without sending.
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Ok(mut s) = self.0.lock() else {
            return Poll::Ready(None);
        };
        if let Some(v) = s.value.take() {
            Poll::Ready(Some(v))
        } else if s.closed {
            Poll::Ready(None)
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
