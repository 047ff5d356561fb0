//! What path-MTU discovery found per destination host, so that a new connection to the same
//! host starts at the discovered size instead of searching again (RFC 8899 section 4.1 and
//! RFC 1191 section 5 keep the PMTU per destination; Linux keeps its route-cache PMTU for 10
//! minutes).
//!
//! Keyed by IP address (all ports of a host share the path). Entries expire after the raise
//! interval (the same 10 minutes after which a converged search would probe again anyway), and
//! the table is bounded: when full, the entry closest to expiry makes room.

use crate::proto::time::Instant;
use core::net::IpAddr;
use core::time::Duration;
use std::collections::HashMap;

/// Destinations remembered. Our own choice: a few hundred peers is a large BitTorrent swarm;
/// an entry costs about 40 bytes.
pub const MTU_CACHE_ENTRIES: usize = 1024;

/// One destination's search bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    confirmed: usize,
    too_big: usize,
    expires: Instant,
}

/// The per-destination path-MTU cache of an endpoint.
#[derive(Debug)]
pub struct MtuCache {
    entries: HashMap<IpAddr, Entry>,
    lifetime: Duration,
    capacity: usize,
}

impl MtuCache {
    /// An empty cache whose entries live `lifetime`, holding at most `capacity` of them.
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        MtuCache {
            entries: HashMap::new(),
            lifetime,
            capacity: capacity.max(1),
        }
    }

    /// The bounds remembered for `ip` (largest confirmed size, smallest failed size), if fresh.
    pub fn get(&mut self, now: Instant, ip: IpAddr) -> Option<(usize, usize)> {
        let e = *self.entries.get(&ip)?;
        if e.expires <= now {
            self.entries.remove(&ip);
            return None;
        }
        Some((e.confirmed, e.too_big))
    }

    /// Remembers what a connection to `ip` found, for the lifetime from `now`.
    pub fn insert(&mut self, now: Instant, ip: IpAddr, bounds: (usize, usize)) {
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(
            ip,
            Entry {
                confirmed: bounds.0,
                too_big: bounds.1,
                expires: now + self.lifetime,
            },
        );
    }

    /// Destinations held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Instant {
        Instant::from_micros(s * 1_000_000)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn entries_expire_and_are_per_host() {
        let mut c = MtuCache::new(Duration::from_secs(600), 8);
        c.insert(t(0), ip(1), (1248, 1253));
        assert_eq!(c.get(t(599), ip(1)), Some((1248, 1253)));
        assert_eq!(c.get(t(1), ip(2)), None);
        assert_eq!(c.get(t(600), ip(1)), None, "expired");
        assert!(c.is_empty(), "the expired entry is dropped");
    }

    #[test]
    fn a_full_cache_evicts_the_entry_closest_to_expiry() {
        let mut c = MtuCache::new(Duration::from_secs(600), 3);
        for i in 0..3u8 {
            c.insert(t(u64::from(i)), ip(i), (1400, 1473));
        }
        c.insert(t(10), ip(9), (1300, 1400));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(t(10), ip(0)), None, "oldest evicted");
        assert_eq!(c.get(t(10), ip(1)), Some((1400, 1473)));
        assert_eq!(c.get(t(10), ip(9)), Some((1300, 1400)));
        // Updating a present entry evicts nothing.
        c.insert(t(11), ip(1), (1472, 1473));
        assert_eq!(c.len(), 3);
    }
}
