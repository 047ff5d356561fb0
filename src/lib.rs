//! rutp: uTP, the Micro Transport Protocol of BitTorrent (BEP 29), in Rust.
//!
//! Layers, dependencies flowing one way:
//!
//! ```text
//! proto  <-  ffi          (libutp C API, application-driven)      [issue 3]
//! proto  <-  runtime  <-  stream (Rust API), ffi/managed           [issue 4]
//! ```
//!
//! * [`proto`]: the sans-IO engine. Time and randomness are inputs; datagrams, events and timer
//!   deadlines are polled out. Every protocol decision lives there.
//! * `sim` (feature `sim`, and in unit tests): a deterministic network simulator with virtual
//!   time and seeded impairments, used by the scenario tests and the engine benchmark.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod ffi;
pub mod proto;
pub mod runtime;
pub mod stream;
#[cfg(feature = "async")]
pub mod stream_async;

#[cfg(any(test, feature = "sim"))]
pub mod sim;
