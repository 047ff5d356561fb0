//! The FFI boundary: every exported function runs its body through [`guard`], so a panic
//! becomes libutp's error value for that function instead of unwinding into C (which would be
//! undefined behaviour).

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
