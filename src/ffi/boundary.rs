//! The FFI boundary: every exported function runs its body through [`guard`], so a panic
//! becomes libutp's error value for that function instead of unwinding into C (which would be
//! undefined behaviour). Functions on a context or socket use `guard_context` and
//! `guard_socket`, which also take a managed context's lock and count the call as entered on
//! the context, so that a `utp_destroy` from inside a callback waits for the outermost call.
//! Those two read the handle they are given: they are for the exported functions only, which
//! pass on the pointer their caller gave them under their own contract (NULL, or a handle of
//! this library that is live or, for a socket, still in its context's graveyard); so they are
//! not public.

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
/// lock (see [`super::managed`]); the call counts as entered on the context (see [`entered`]).
pub(crate) fn guard_context<T>(ctx: *mut UtpContext, on_panic: T, body: impl FnOnce() -> T) -> T {
    let managed = super::managed::of_context(ctx);
    guard(on_panic, || {
        super::managed::locked(managed, || {
            // SAFETY: the exported functions' contract: `ctx` is NULL or a live context.
            unsafe { entered(ctx, body) }
        })
    })
}

/// [`guard`] for a function on socket `s`: when its context is managed, the call holds the
/// context's lock; the call counts as entered on the socket's context (see [`entered`]).
pub(crate) fn guard_socket<T>(s: *mut UtpSocket, on_panic: T, body: impl FnOnce() -> T) -> T {
    let managed = super::managed::of_socket(s);
    guard(on_panic, || {
        super::managed::locked(managed, || {
            // SAFETY: the exported functions' contract: `s` is NULL or a socket of ours that
            // is live or still in its context's graveyard; only its fields are read.
            let ctx = unsafe { super::socket::live(s) }.map_or(core::ptr::null_mut(), |x| x.ctx);
            // SAFETY: a live socket's context is live.
            unsafe { entered(ctx, body) }
        })
    })
}

/// Runs `body` as one library call on `ctx` (NULL or not live: just runs it). While calls are
/// entered, `utp_destroy` only records the request (a callback destroying its own context must
/// not free it under the calls still running on it); the outermost call performs it as it
/// returns. Dispatch loops of nested calls only send datagrams (see [`super::dispatch`]).
///
/// # Safety
/// `ctx` must be NULL or a live context.
unsafe fn entered<T>(ctx: *mut UtpContext, body: impl FnOnce() -> T) -> T {
    // SAFETY: forwarded contract.
    let Some(ctx) = (unsafe { super::api_context::live(ctx) }) else {
        return body();
    };
    /// Leaves the call, also when `body` panics.
    struct Exit(*mut UtpContext);
    impl Drop for Exit {
        fn drop(&mut self) {
            // SAFETY: the context stays allocated while `entered` > 0, since `utp_destroy`
            // only records its request then; no borrow is alive here.
            unsafe {
                let c = self.0;
                (*c).entered -= 1;
                if (*c).entered == 0 && (*c).destroy_requested && !std::thread::panicking() {
                    super::api_context::destroy_plain(c);
                }
            }
        }
    }
    // SAFETY: live context, no borrow alive.
    unsafe { (*ctx).entered += 1 };
    let _exit = Exit(ctx);
    body()
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
