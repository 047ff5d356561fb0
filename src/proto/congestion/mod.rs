//! Congestion control: LEDBAT (RFC 6817) with libutp-compatible delay measurement.
//!
//! * [`delay`]: base delay history and current delay filter of one direction.
//! * [`drift`]: clock drift estimate and the delay penalty libutp derives from it.
//! * [`ledbat`]: the congestion window.
//! * [`pacer`]: spreading the window's packets over the round trip.
//! * [`slowdown`]: LEDBAT++'s periodic slowdown schedule.

pub mod delay;
pub mod drift;
pub mod ledbat;
pub mod pacer;
pub mod slowdown;

pub use delay::DelayHistory;
pub use drift::ClockDrift;
pub use ledbat::{Ledbat, LedbatConfig};
pub use pacer::Pacer;

#[cfg(test)]
mod tests;
