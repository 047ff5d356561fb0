//! The FFI boundary: every exported function runs its body through [`guard`], so a panic
//! becomes libutp's error value for that function instead of unwinding into C (which would be
//! undefined behaviour). Functions on a context or socket use [`guard_context`] and
//! [`guard_socket`], which also take a managed context's lock.

use super::context::UtpContext;
use super::socket::UtpSocket;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`, returning `on_panic` if it panics.
pub fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            log::error!("internal error (panic) caught at the C API boundary");
            on_panic
        }
    }
}

/// [`guard`] for a function on context `ctx`: when the context is managed, the call holds its
/// lock (see [`super::managed`]).
pub fn guard_context<T>(ctx: *mut UtpContext, on_panic: T, body: impl FnOnce() -> T) -> T {
    let managed = super::managed::of_context(ctx);
    guard(on_panic, || super::managed::locked(managed, body))
}

/// [`guard`] for a function on socket `s`: when its context is managed, the call holds the
/// context's lock.
pub fn guard_socket<T>(s: *mut UtpSocket, on_panic: T, body: impl FnOnce() -> T) -> T {
    let managed = super::managed::of_socket(s);
    guard(on_panic, || super::managed::locked(managed, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_error_value() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        assert_eq!(guard(-1, || -> i32 { panic!("boom") }), -1);
        std::panic::set_hook(prev);
        assert_eq!(guard(-1, || 7), 7);
    }
}
