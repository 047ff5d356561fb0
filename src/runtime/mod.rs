//! The runtime: the one place that reads the clock, owns UDP sockets and runs threads.
//!
//! * [`clock`]: the monotonic clock.
//! * [`udp`]: socket2 UDP sockets with ICMP error queues and DF probes.
//! * [`held`]: datagrams the kernel had no room for, sent when it has.
//! * [`wake`]: eventfd wake-ups and `ppoll`.
//! * [`pool`]: the worker threads and what they drive.
//! * [`driver`]: driving one engine for the Rust stream API.

pub mod clock;
pub mod driver;
pub mod held;
pub mod pool;
pub mod posted;
pub mod udp;
pub mod wake;
pub mod wakers;
