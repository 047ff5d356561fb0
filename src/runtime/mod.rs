//! The runtime: the one place that reads the clock (and, with issue 4, owns sockets and
//! threads).

pub mod clock;
pub mod driver;
pub mod udp;
pub mod wake;
pub mod wakers;
