//! The process's monotonic clock: the only clock read in the crate (`clippy.toml` forbids
//! `Instant::now` elsewhere).

use std::sync::OnceLock;
use std::time::Instant;

/// Microseconds on a monotonic clock since an arbitrary origin (the first call).
#[allow(clippy::disallowed_methods)] // This is the crate's one clock.
pub fn monotonic_micros() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    // The origin is pushed 1 s into the past so that no reading is ever 0 (libutp's timestamp
    // field uses 0 for "none").
    u64::try_from(origin.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .saturating_add(1_000_000)
}

/// The engine's notion of now.
pub fn now() -> crate::proto::Instant {
    crate::proto::Instant::from_micros(monotonic_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards() {
        let a = monotonic_micros();
        let b = monotonic_micros();
        assert!(b >= a && a >= 1_000_000);
    }
}
