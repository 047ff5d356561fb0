//! Who may open a connection: the per-address limit and the half-open limit with its SYN-flood
//! eviction (see [`Config::max_connections_per_ip`] and [`Config::max_half_open`]).
//!
//! Invariants:
//! * `per_ip[key]` is the number of connections held (any state, either direction) whose peer
//!   address maps to `key` (see [`peer_key`]); keys with none are absent.
//! * `half_open_count` is the number of held connections with `counted_half_open` set, and a
//!   connection is counted exactly while [`Connection::is_half_open`] holds (the endpoint
//!   updates the count in `touch`, after every input to a connection).
//! * `half_open` lists every counted connection in the order accepted (and possibly some that
//!   stopped being half-open since, skipped when met): its front is the oldest.
//!
//! Work is bounded: checking a SYN is O(1); an eviction pops stale entries, each pushed once.

use super::{ConnectionHandle, Endpoint};
use crate::proto::config::Config;
use crate::proto::connection::Connection;
use crate::proto::time::Instant;
use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, VecDeque};

/// What the per-address limit counts a peer address under: an IPv4 address as it is, an IPv6
/// address by its /64 prefix (one host or home network gets a whole /64, RFC 6177, so its
/// addresses are as cheap to vary as ports), and an IPv4-mapped IPv6 address as its IPv4
/// address.
pub(super) fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// The endpoint's admission bookkeeping.
#[derive(Debug, Default)]
pub(super) struct Admission {
    per_ip: HashMap<IpAddr, u32>,
    half_open: VecDeque<ConnectionHandle>,
    half_open_count: usize,
    /// Evicted connections the application has not closed yet: failed, their timers stopped,
    /// holding at most the initial window's packets (nothing was ever acknowledged) and no
    /// pooled buffers; not counted against [`Config::max_connections`] (else a flood would
    /// fill the endpoint with them between the application's closes).
    evicted_held: usize,
}

/// Why a connection request is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Its address holds [`Config::max_connections_per_ip`] connections already.
    PerPeer,
    /// The endpoint holds [`Config::max_connections`] and none of them is half-open.
    Full,
}

impl Admission {
    /// Connections held with peers whose address maps to the same key as `ip`.
    pub(super) fn count_for(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&peer_key(ip)).map_or(0, |&n| n as usize)
    }

    /// Half-open connections held.
    pub(super) fn half_open_count(&self) -> usize {
        self.half_open_count
    }

    /// Connections counted against [`Config::max_connections`] out of `held`.
    pub(super) fn counted(&self, held: usize) -> usize {
        held - self.evicted_held
    }

    /// Whether a SYN from `from` may become a connection, with `held` connections held now.
    /// When the endpoint is full, a half-open connection can still be evicted for it.
    pub(super) fn check(
        &self,
        config: &Config,
        from: SocketAddr,
        held: usize,
    ) -> Result<(), Refusal> {
        let ip = from.ip();
        if !ip.is_loopback() && self.count_for(ip) >= config.max_connections_per_ip {
            return Err(Refusal::PerPeer);
        }
        if self.counted(held) >= config.max_connections && self.half_open_count == 0 {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// A connection was added.
    pub(super) fn on_insert(&mut self, handle: ConnectionHandle, conn: &mut Connection) {
        *self.per_ip.entry(peer_key(conn.remote().ip())).or_default() += 1;
        if conn.is_half_open() {
            conn.counted_half_open = true;
            self.half_open_count += 1;
            self.half_open.push_back(handle);
        }
    }

    /// After any input to `conn`: it leaves the half-open count once it stopped being
    /// half-open (the peer answered, or it failed or closed).
    pub(super) fn on_touch(&mut self, conn: &mut Connection) {
        if conn.counted_half_open && !conn.is_half_open() {
            conn.counted_half_open = false;
            self.half_open_count -= 1;
        }
    }

    /// A connection was forgotten.
    pub(super) fn on_remove(&mut self, conn: &mut Connection) {
        self.on_touch(conn);
        if conn.counted_half_open {
            conn.counted_half_open = false;
            self.half_open_count -= 1;
        }
        if conn.was_evicted() {
            self.evicted_held -= 1;
        }
        let key = peer_key(conn.remote().ip());
        if let Some(n) = self.per_ip.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&key);
            }
        }
    }

    /// The oldest connection still half-open, taken off the list (stale entries before it are
    /// dropped).
    fn pop_oldest(
        &mut self,
        connections: &super::HandleMap<Box<Connection>>,
    ) -> Option<ConnectionHandle> {
        while let Some(h) = self.half_open.pop_front() {
            if connections.get(&h).is_some_and(|c| c.counted_half_open) {
                return Some(h);
            }
        }
        None
    }
}

impl Endpoint {
    /// Makes room for one more accepted connection: when the half-open limit (or the
    /// connection limit) is reached, the oldest half-open connection is evicted. Returns
    /// whether there is room now.
    pub(super) fn make_room(&mut self, now: Instant) -> bool {
        let half_open_limit = self.config.max_half_open.min(self.config.max_connections);
        let full =
            |e: &Endpoint| e.admission.counted(e.connections.len()) >= e.config.max_connections;
        while self.admission.half_open_count() >= half_open_limit || full(self) {
            let Some(victim) = self.admission.pop_oldest(&self.connections) else {
                return !full(self);
            };
            if let Some(conn) = self.connections.get_mut(&victim) {
                log::debug!(
                    "half-open connection from {} evicted for a new connection request",
                    conn.remote()
                );
                conn.evict(now, &mut self.events);
            }
            self.stats.half_open_evicted += 1;
            self.admission.evicted_held += 1;
            self.touch(victim);
        }
        self.sweep_half_open();
        true
    }

    /// Drops entries of connections no longer half-open from the list once they outnumber the
    /// counted ones (amortised O(1) per accepted connection).
    fn sweep_half_open(&mut self) {
        let a = &mut self.admission;
        if a.half_open.len() > 2 * a.half_open_count.max(32) {
            let connections = &self.connections;
            a.half_open
                .retain(|h| connections.get(h).is_some_and(|c| c.counted_half_open));
        }
    }

    /// Number of half-open connections held (accepted, the peer not yet heard from beyond its
    /// SYN; see [`Config::max_half_open`]).
    pub fn half_open_count(&self) -> usize {
        self.admission.half_open_count()
    }

    /// Whether connection `handle` is half-open (see [`Connection::is_half_open`]); false for
    /// unknown handles.
    pub fn is_half_open(&self, handle: ConnectionHandle) -> bool {
        self.connections
            .get(&handle)
            .is_some_and(|c| c.is_half_open())
    }
}

#[cfg(test)]
mod tests {
    use super::peer_key;
    use core::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn ipv6_peers_count_by_their_64_bit_prefix() {
        assert_eq!(peer_key(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(peer_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            peer_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            peer_key(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            peer_key(ip("2001:db8:1:3::1")),
            peer_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(peer_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }
}
