//! Path-MTU discovery for one connection, in the manner of RFC 8899 (datagram packetization
//! layer PMTU discovery, DPLPMTUD): the connection sends data at a size it believes the path
//! carries and, one at a time, sends larger probes with the don't-fragment bit set. An
//! acknowledged probe confirms its size; a lost one bounds the search from above. The search is
//! a binary search between the largest confirmed size and the smallest failed one, after a first
//! probe at the ceiling (the answer on most paths, found in one round trip) and one at the
//! Ethernet size when the ceiling is larger (a jumbo ceiling on an ordinary path, which then
//! stops the search at Ethernet's size).
//!
//! All sizes here are uTP packet sizes: the UDP payload, uTP header included, IP and UDP headers
//! excluded (an IPv4 path MTU of 1500 is a size of 1472 here, an IPv6 one 1452).
//!
//! This type is only the search state. The connection decides when a probe can go, builds it,
//! and reports what happened to it ([`PmtuSearch::on_probe_acked`],
//! [`PmtuSearch::on_probe_lost`]), to ICMP ([`PmtuSearch::on_packet_too_big`]) and to repeated
//! timeouts of full-size packets ([`PmtuSearch::on_black_hole`]).
//!
//! Invariants: `floor <= confirmed < too_big`, `confirmed <= ceiling` except after an ICMP
//! report below the floor; at most one probe is outstanding, and its size lies strictly between
//! `confirmed` and `too_big`.

use crate::proto::time::Instant;
use core::net::SocketAddr;
use core::time::Duration;

/// IP and UDP header bytes over IPv4: 20 (RFC 791) + 8 (RFC 768).
pub const IPV4_OVERHEAD: usize = 20 + 8;

/// IP and UDP header bytes over IPv6: 40 (RFC 8200) + 8 (RFC 768).
pub const IPV6_OVERHEAD: usize = 40 + 8;

/// The smallest packet every IPv4 path carries: 576-byte datagrams, which every host must
/// accept (RFC 791, RFC 1122 section 3.3.3), less headers. libutp's search floor is 576 too.
pub const IPV4_FLOOR: usize = 576 - IPV4_OVERHEAD;

/// The smallest packet every IPv6 path carries: the minimum link MTU of 1280 (RFC 8200
/// section 5), less headers.
pub const IPV6_FLOOR: usize = 1280 - IPV6_OVERHEAD;

/// The size a connection sends at before any probe succeeds (RFC 8899 section 5.1.2
/// `BASE_PLPMTU`): 1232 for both families. Over IPv6 it is the floor; over IPv4 it makes
/// 1260-byte IP packets, which fit every path of the 1280-byte IPv6 minimum or more (RFC 8899
/// recommends a base of 1200 for IPv4 for the same reason). Starting here rather than at
/// libutp's 1402 means a path of 1280 never sees an oversized data packet.
pub const BASE: usize = 1280 - IPV6_OVERHEAD;

/// Ethernet's 1500-byte MTU as a packet size over IPv4: probed second when the ceiling is
/// larger (jumbo frames are configured, the path may not have them).
pub const ETHERNET_V4: usize = 1500 - IPV4_OVERHEAD;

/// Ethernet's 1500-byte MTU as a packet size over IPv6.
pub const ETHERNET_V6: usize = 1500 - IPV6_OVERHEAD;

/// The search stops once the largest confirmed size is within this many bytes of the smallest
/// failed one. Our own choice: about 1 % of a packet, three probes fewer than searching to the
/// byte (RFC 8899 section 5.3.2 leaves the step to the implementation).
pub const CONVERGED_WITHIN: usize = 16;

/// The largest uTP packet (UDP payload) that fits an IP path MTU of `mtu` bytes towards
/// `remote` (IPv4-mapped IPv6 addresses travel as IPv4), or `None` when the headers alone do
/// not fit. ICMP reports IP sizes; the engine counts UDP payloads.
pub fn packet_size_for_mtu(remote: SocketAddr, mtu: usize) -> Option<usize> {
    let ipv4 = match remote {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
    };
    let overhead = if ipv4 { IPV4_OVERHEAD } else { IPV6_OVERHEAD };
    mtu.checked_sub(overhead).filter(|&size| size > 0)
}

/// Whether the search has anything left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Probing.
    Searching,
    /// Converged; searching again from `raise_at` on (RFC 8899 `PMTU_RAISE_TIMER`).
    Done { raise_at: Instant },
    /// Discovery is off: the size never changes except by ICMP.
    Off,
}

/// The path-MTU search of one connection.
#[derive(Debug, Clone)]
pub struct PmtuSearch {
    floor: usize,
    ceiling: usize,
    /// Ethernet's size for this family: the second candidate below a larger ceiling.
    common: usize,
    confirmed: usize,
    too_big: usize,
    phase: Phase,
    probe: Option<usize>,
    raise_interval: Duration,
    /// The ceiling was probed since the search (re)started.
    tried_ceiling: bool,
    /// The Ethernet size was probed since the search (re)started.
    tried_common: bool,
    /// The size an ICMP message reported, probed next (libutp does the same): the report is
    /// a hint until a probe confirms it (RFC 8899 section 4.6.2).
    reported: Option<usize>,
}

impl PmtuSearch {
    /// A search between `floor` and `ceiling`, sending at `start` until a probe succeeds
    /// (`start` is clamped into `[floor, ceiling]`); `common` is the family's Ethernet size.
    /// With `enabled` false no probe is ever asked for and the size stays at `ceiling`.
    pub fn new(
        floor: usize,
        start: usize,
        ceiling: usize,
        common: usize,
        raise_interval: Duration,
        enabled: bool,
    ) -> Self {
        let floor = floor.min(ceiling);
        let (confirmed, phase) = if enabled {
            (start.clamp(floor, ceiling), Phase::Searching)
        } else {
            (ceiling, Phase::Off)
        };
        PmtuSearch {
            floor,
            ceiling,
            common,
            confirmed,
            too_big: ceiling + 1,
            phase,
            probe: None,
            raise_interval,
            tried_ceiling: false,
            tried_common: false,
            reported: None,
        }
    }

    /// Continues from what an earlier connection to the same host found: `confirmed` works,
    /// `too_big` failed. Converged bounds are taken as converged (no probe until the raise
    /// timer); others are searched from.
    pub fn resume(&mut self, now: Instant, confirmed: usize, too_big: usize) {
        if self.phase == Phase::Off || confirmed < self.floor || confirmed >= too_big {
            return;
        }
        self.confirmed = confirmed.min(self.ceiling);
        self.too_big = too_big.min(self.ceiling + 1).max(self.confirmed + 1);
        self.tried_ceiling = self.too_big <= self.ceiling;
        self.tried_common = self.tried_ceiling;
        self.phase = Phase::Searching;
        self.check_converged(now);
    }

    /// The packet size to send ordinary packets at.
    pub fn current(&self) -> usize {
        self.confirmed
    }

    /// The size the connection falls back to after a black hole.
    pub fn floor(&self) -> usize {
        self.floor
    }

    /// The largest size confirmed and the smallest size known to fail (`ceiling + 1` when none
    /// has), for the per-destination cache.
    pub fn bounds(&self) -> (usize, usize) {
        (self.confirmed, self.too_big)
    }

    /// True once the search converged (until the raise timer restarts it).
    pub fn is_converged(&self) -> bool {
        matches!(self.phase, Phase::Done { .. })
    }

    /// The size of the probe outstanding, if any.
    pub fn probe_in_flight(&self) -> Option<usize> {
        self.probe
    }

    /// When the search restarts after converging (for the connection's timer).
    pub fn raise_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done { raise_at } => Some(raise_at),
            _ => None,
        }
    }

    /// The size of the next probe, if one should go now: none while one is outstanding, after
    /// convergence until the raise timer, or with discovery off. Restarts a converged search
    /// once its raise time has come.
    pub fn next_probe(&mut self, now: Instant) -> Option<usize> {
        if self.probe.is_some() {
            return None;
        }
        match self.phase {
            Phase::Off => return None,
            Phase::Done { raise_at } if now < raise_at => return None,
            Phase::Done { .. } => self.restart(),
            Phase::Searching => {}
        }
        if self.check_converged(now) {
            return None;
        }
        let reported = self
            .reported
            .take()
            .filter(|&r| r > self.confirmed && r < self.too_big);
        let size = if let Some(r) = reported {
            r
        } else if !self.tried_ceiling && self.too_big > self.ceiling {
            self.ceiling
        } else if !self.tried_common && self.common > self.confirmed && self.common < self.too_big {
            self.common
        } else {
            self.confirmed + (self.too_big - self.confirmed) / 2
        };
        Some(size)
    }

    /// Restarts a converged search whose raise time has come (the connection's timer fired);
    /// the next probe goes out when data waits to be sent.
    pub fn raise_if_due(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Done { raise_at } if now >= raise_at) {
            self.restart();
        }
    }

    /// A probe of `size` (from [`PmtuSearch::next_probe`]) went out.
    pub fn on_probe_sent(&mut self, size: usize) {
        if size == self.ceiling {
            self.tried_ceiling = true;
        }
        if size == self.common {
            self.tried_common = true;
        }
        self.probe = Some(size);
    }

    /// The outstanding probe was acknowledged: its size works. Returns the new packet size when
    /// it grew.
    pub fn on_probe_acked(&mut self, now: Instant) -> Option<usize> {
        let size = self.probe.take()?;
        let grew = size > self.confirmed && size < self.too_big;
        if grew {
            self.confirmed = size;
        }
        if size == self.common && self.too_big <= self.ceiling {
            // A larger ceiling failed and Ethernet's size works: the path is an Ethernet path
            // (MTUs cluster at a few plateaus, RFC 1191 section 7). Searching the gap between
            // Ethernet and jumbo sizes would cost a lost probe per step for nothing; stop here
            // and let the raise timer look again.
            self.too_big = self.common + 1;
        }
        self.check_converged(now);
        grew.then_some(self.confirmed)
    }

    /// The outstanding probe was lost (or its fate cannot be known): its size is taken to fail.
    /// A lost probe says nothing about congestion.
    pub fn on_probe_lost(&mut self, now: Instant) {
        let Some(size) = self.probe.take() else {
            return;
        };
        if size > self.confirmed {
            self.too_big = self.too_big.min(size);
        }
        self.check_converged(now);
    }

    /// An ICMP "fragmentation needed" / "packet too big" or a local `EMSGSIZE` said packets
    /// above `max` do not fit (`max` already converted to a packet size). Lowers the search's
    /// upper bound, and the packet size at once when it is larger, down to `min_size` at the
    /// lowest (ICMP may report a path below our floor; we follow it, RFC 1191 section 3).
    /// Returns the new packet size when it fell. A report above the current size is used as
    /// an upper bound only (RFC 8899 section 4.6.2: it must not raise anything).
    pub fn on_packet_too_big(
        &mut self,
        now: Instant,
        max: usize,
        min_size: usize,
    ) -> Option<usize> {
        let max = max.max(min_size);
        if self.probe.is_some_and(|p| p > max) {
            self.probe = None;
        }
        self.too_big = self.too_big.min(max + 1);
        self.reported = Some(max);
        let fell = self.confirmed > max;
        if fell {
            self.confirmed = max;
            self.floor = self.floor.min(max);
        }
        if self.phase != Phase::Off {
            self.phase = Phase::Searching;
            self.check_converged(now);
        }
        fell.then_some(self.confirmed)
    }

    /// Full-size packets keep being lost while the path is otherwise alive: the confirmed size
    /// no longer fits (a route change, a tunnel that drops fragments). Falls back to the floor
    /// and searches again from there (RFC 8899 section 4.3 black-hole detection, section 5.2
    /// "ERROR" state), returning the new packet size, or `None` when already at the floor.
    pub fn on_black_hole(&mut self) -> Option<usize> {
        if self.confirmed <= self.floor {
            return None;
        }
        self.too_big = self.confirmed;
        self.confirmed = self.floor;
        self.probe = None;
        if self.phase != Phase::Off {
            self.phase = Phase::Searching;
            // The ceiling and Ethernet size are above what just failed: no point trying them.
            self.tried_ceiling = true;
            self.tried_common = true;
        }
        Some(self.confirmed)
    }

    /// Starts searching again above the confirmed size, forgetting failed sizes (they may fit
    /// after a route change).
    fn restart(&mut self) {
        self.too_big = self.ceiling + 1;
        self.tried_ceiling = false;
        self.tried_common = false;
        self.phase = Phase::Searching;
    }

    /// Ends the search when nothing worth probing is left; returns whether it is over.
    fn check_converged(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Off => true,
            Phase::Done { .. } => true,
            Phase::Searching => {
                let remaining = self.too_big.min(self.ceiling + 1) - self.confirmed;
                if self.probe.is_none() && remaining <= CONVERGED_WITHIN.max(1) {
                    self.phase = Phase::Done {
                        raise_at: now + self.raise_interval,
                    };
                    true
                } else {
                    false
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAISE: Duration = Duration::from_secs(600);

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn v4(ceiling: usize) -> PmtuSearch {
        PmtuSearch::new(IPV4_FLOOR, BASE, ceiling, ETHERNET_V4, RAISE, true)
    }

    /// Runs the search against a path carrying packets up to `path` bytes; returns the probe
    /// sizes in order and the result.
    fn run(search: &mut PmtuSearch, path: usize) -> (Vec<usize>, usize) {
        let mut probes = Vec::new();
        while let Some(size) = search.next_probe(t(0)) {
            assert!(probes.len() < 20, "search does not end: {probes:?}");
            search.on_probe_sent(size);
            assert_eq!(search.next_probe(t(0)), None, "one probe at a time");
            probes.push(size);
            if size <= path {
                search.on_probe_acked(t(0));
            } else {
                search.on_probe_lost(t(0));
            }
        }
        (probes, search.current())
    }

    #[test]
    fn starts_at_the_base_and_confirms_the_ceiling_in_one_probe() {
        let mut s = v4(ETHERNET_V4);
        assert_eq!(s.current(), BASE);
        let (probes, result) = run(&mut s, ETHERNET_V4);
        assert_eq!(probes, vec![ETHERNET_V4]);
        assert_eq!(result, ETHERNET_V4);
        assert!(s.is_converged());
    }

    #[test]
    fn binary_search_below_a_smaller_path_converges_within_the_step() {
        let mut s = v4(ETHERNET_V4);
        // An IPv4 path MTU of 1280: packets up to 1252 bytes.
        let (probes, result) = run(&mut s, 1252);
        assert!(
            result <= 1252 && result + CONVERGED_WITHIN >= 1252,
            "{result}"
        );
        assert!(probes.len() <= 6, "{probes:?}");
        assert_eq!(probes[0], ETHERNET_V4, "the ceiling first");
    }

    #[test]
    fn a_jumbo_ceiling_tries_ethernet_second() {
        let mut s = v4(9000 - IPV4_OVERHEAD);
        let (probes, result) = run(&mut s, ETHERNET_V4);
        assert_eq!(probes, vec![9000 - IPV4_OVERHEAD, ETHERNET_V4]);
        assert_eq!(result, ETHERNET_V4);
    }

    #[test]
    fn every_path_between_floor_and_ceiling_is_found_within_the_step() {
        for path in (IPV4_FLOOR..=ETHERNET_V4).step_by(7) {
            let mut s = v4(ETHERNET_V4);
            s.on_black_hole(); // start from the floor to cover paths below the base
            s.restart();
            let (probes, result) = run(&mut s, path);
            assert!(
                result <= path.max(IPV4_FLOOR) && result + CONVERGED_WITHIN >= path,
                "path {path}: {result} after {probes:?}"
            );
            assert!(probes.len() <= 9, "path {path}: {probes:?}");
        }
    }

    #[test]
    fn converged_search_restarts_after_the_raise_interval() {
        let mut s = v4(ETHERNET_V4);
        run(&mut s, 1300);
        let before = s.current();
        assert_eq!(s.next_probe(t(1000)), None);
        assert_eq!(s.raise_at(), Some(t(0) + RAISE));
        s.raise_if_due(t(1000));
        assert!(s.is_converged(), "not yet");
        s.raise_if_due(t(0) + RAISE);
        assert!(
            !s.is_converged() && s.raise_at().is_none(),
            "searching again"
        );
        // The path grew meanwhile.
        let next = s.next_probe(t(0) + RAISE).expect("re-probe");
        assert_eq!(next, ETHERNET_V4, "failed sizes are forgotten");
        s.on_probe_sent(next);
        assert_eq!(s.on_probe_acked(t(0) + RAISE), Some(ETHERNET_V4));
        assert!(before < s.current());
    }

    #[test]
    fn packet_too_big_lowers_at_once_and_cancels_a_larger_probe() {
        let mut s = v4(ETHERNET_V4);
        run(&mut s, ETHERNET_V4);
        assert_eq!(s.on_packet_too_big(t(5), 1400, 150), Some(1400));
        assert_eq!(s.current(), 1400);
        assert_eq!(s.bounds(), (1400, 1401));
        // A report above the current size only bounds the search.
        assert_eq!(s.on_packet_too_big(t(5), 1450, 150), None);
        assert_eq!(s.current(), 1400);
        // A probe larger than a report is over.
        let mut s = v4(ETHERNET_V4);
        let p = s.next_probe(t(0)).unwrap();
        s.on_probe_sent(p);
        s.on_packet_too_big(t(0), 1300, 150);
        assert_eq!(s.probe_in_flight(), None);
        assert_eq!(s.current(), BASE);
        let (probes, result) = run(&mut s, 1300);
        assert_eq!(probes, vec![1300], "the reported size is probed first");
        assert_eq!(result, 1300);
    }

    #[test]
    fn black_hole_falls_back_to_the_floor_and_searches_below_the_failed_size() {
        let mut s = v4(ETHERNET_V4);
        run(&mut s, ETHERNET_V4);
        assert_eq!(s.on_black_hole(), Some(IPV4_FLOOR));
        let (probes, result) = run(&mut s, 1252);
        assert!(probes.iter().all(|&p| p < ETHERNET_V4), "{probes:?}");
        assert!(result <= 1252 && result + CONVERGED_WITHIN >= 1252);
        let mut at_floor = v4(ETHERNET_V4);
        at_floor.on_black_hole();
        assert_eq!(at_floor.on_black_hole(), None, "nothing below the floor");
    }

    #[test]
    fn ip_mtus_become_packet_sizes_by_family() {
        let v4: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:1".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:1".parse().unwrap();
        assert_eq!(packet_size_for_mtu(v4, 1500), Some(1472));
        assert_eq!(packet_size_for_mtu(mapped, 1500), Some(1472));
        assert_eq!(packet_size_for_mtu(v6, 1280), Some(IPV6_FLOOR));
        assert_eq!(packet_size_for_mtu(v6, 48), None);
    }

    #[test]
    fn disabled_search_never_probes_and_keeps_the_ceiling() {
        let mut s = PmtuSearch::new(IPV4_FLOOR, BASE, 1402, ETHERNET_V4, RAISE, false);
        assert_eq!(s.current(), 1402);
        assert_eq!(s.next_probe(t(0)), None);
        assert_eq!(s.on_packet_too_big(t(0), 1300, 150), Some(1300));
        assert_eq!(s.next_probe(t(0)), None);
    }

    #[test]
    fn resume_takes_converged_bounds_as_converged() {
        let mut s = v4(ETHERNET_V4);
        s.resume(t(0), 1248, 1253);
        assert_eq!(s.current(), 1248);
        assert!(s.is_converged());
        assert_eq!(s.next_probe(t(1)), None);
        let mut s = v4(ETHERNET_V4);
        s.resume(t(0), 1300, ETHERNET_V4 + 1);
        assert_eq!(s.next_probe(t(0)), Some(ETHERNET_V4));
        let mut s = v4(ETHERNET_V4);
        s.resume(t(0), 100, 200);
        assert_eq!(s.current(), BASE, "bounds below the floor are ignored");
    }
}
