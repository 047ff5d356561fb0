//! The table of connections by handle, hashed cheaply.
//!
//! Handles come from the endpoint's own counter, never from the network, so the table needs
//! no protection against keys chosen to collide (what the standard library's keyed SipHash is
//! for), and it is consulted several times per datagram. Fibonacci hashing (Knuth, TAOCP vol. 3,
//! section 6.4: multiply by 2^64 divided by the golden ratio) spreads consecutive handles over
//! the whole 64-bit range, high bits included, which the table's probing uses.

use super::ConnectionHandle;
use core::hash::{BuildHasherDefault, Hasher};
use std::collections::HashMap;

/// A map keyed by [`ConnectionHandle`] with [`HandleHasher`].
pub type HandleMap<V> = HashMap<ConnectionHandle, V, BuildHasherDefault<HandleHasher>>;

/// 2^64 / golden ratio, odd (Knuth's multiplicative hashing constant).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hasher for a handle: one multiplication.
#[derive(Debug, Default, Clone, Copy)]
pub struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }

    /// Other integer shapes (not used by [`ConnectionHandle`]) still hash every byte.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    fn hash(h: u64) -> u64 {
        BuildHasherDefault::<HandleHasher>::default().hash_one(ConnectionHandle(h))
    }

    #[test]
    fn consecutive_handles_differ_in_their_high_bits() {
        // The table picks a tag from the top 7 bits: consecutive handles must not share it.
        let tags: std::collections::HashSet<u64> = (0..64).map(|h| hash(h) >> 57).collect();
        assert!(tags.len() > 32, "only {} distinct tags", tags.len());
    }

    #[test]
    fn the_map_finds_what_it_holds() {
        let mut m: HandleMap<u64> = HandleMap::default();
        // 1,000 entries: the table grows several times (and Miri runs it in seconds).
        for h in 0..1_000 {
            m.insert(ConnectionHandle(h * 3), h);
        }
        assert!((0..1_000).all(|h| m.get(&ConnectionHandle(h * 3)) == Some(&h)));
        assert!(!m.contains_key(&ConnectionHandle(1)));
    }
}
