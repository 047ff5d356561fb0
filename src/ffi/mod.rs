//! libutp's C API over the engine: the only module with `extern "C"`.
//!
//! A C or C++ program written for libutp compiles against `include/utp.h` and links against
//! our `libutp.so`/`libutp.a` unchanged. Every exported function catches panics and returns
//! libutp's error value instead; NULL and destroyed handles are refused, not dereferenced;
//! callbacks run with no Rust borrow alive, so they may call back into the library.
//!
//! * [`types`]: the C structs and constants, layout-checked at compile time.
//! * [`names`]: the exported name tables.
//! * [`api_context`], [`api_socket`]: the 30 functions.
//! * [`dispatch`]: turning engine output into callbacks.

pub mod accept;
pub mod api_context;
pub mod api_socket;
pub mod boundary;
pub mod context;
pub mod dispatch;
pub mod logging;
pub mod managed;
pub mod names;
pub mod sockaddr;
pub mod socket;
#[cfg(test)]
mod tests;
pub mod types;
