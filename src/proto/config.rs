//! Engine configuration. Every default cites where it comes from; [`Config::validate`] rejects
//! values the engine cannot work with instead of letting them surface as odd behaviour later.

use core::fmt;
use core::time::Duration;

/// With [`Config::adaptive_ack`]: the delayed-ACK deadline is this many times the recent
/// spacing of the peer's data packets after the first unacknowledged one (twice the time
/// `ack_every` = 8 packets take, so a steady stream is acknowledged by count and a burst that
/// ends is acknowledged soon after). Our own choice.
pub const ACK_SPACING_FACTOR: u32 = 16;

/// With [`Config::adaptive_ack`]: the shortest delayed-ACK deadline (a timer finer than this
/// costs more wake-ups than the ACKs it saves). Our own choice.
pub const MIN_ADAPTIVE_ACK_DELAY: Duration = Duration::from_micros(50);

/// With [`Config::adaptive_ack`]: a packet shorter than a full one is acknowledged at once when
/// its delayed ACK would wait at least this long (a sporadic small message; the peer's Nagle may
/// be holding data until it is acknowledged). Our own choice: 1 ms.
pub const QUICK_ACK_DELAY: Duration = Duration::from_millis(1);

/// Default cap of the auto-sized send and receive buffers: 32 MiB, above the 1 Gbit/s x 140 ms
/// bandwidth-delay product (17.5 MB) plus LEDBAT's 100 ms of queue (12.5 MB). The in-flight
/// packet limit ([`MAX_PACKETS_IN_FLIGHT`]) binds first with full-size packets. Our own choice.
pub const DEFAULT_MAX_BUFFER: usize = 32 * 1024 * 1024;

/// Most data packets a connection keeps in flight, and the most a receive buffer holds beyond
/// its next expected packet: 16 383, far below half of BEP 29's 16-bit sequence space so that
/// every comparison of sequence numbers stays unambiguous. Our own choice (libutp stops at
/// 1024 packets either way).
pub const MAX_PACKETS_IN_FLIGHT: usize = 0x3FFF;

/// Tunables of an [`crate::proto::Endpoint`] and the connections it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// LEDBAT target queuing delay. Default 100 ms (RFC 6817 section 2.5 caps it at 100 ms; libutp
    /// uses 100 000 µs).
    pub target_delay: Duration,
    /// Bytes of unacknowledged data a connection may hold (caps the congestion window, as libutp's
    /// `UTP_SNDBUF`). Default 1 MiB, as libutp.
    pub send_buffer: usize,
    /// Receive buffer in bytes: in-order data not yet read plus out-of-order data held. The window
    /// we advertise is what is free in it. Default 1 MiB, as libutp's `UTP_RCVBUF`.
    pub recv_buffer: usize,
    /// Largest size the send buffer may grow to. A connection's send buffer starts at
    /// `send_buffer` and follows twice the congestion window (the bytes in flight plus as many
    /// queued behind them), so a long fat path is never limited by it; the congestion window
    /// itself is capped here. At or below `send_buffer` the buffer stays fixed, as libutp's.
    /// Default [`DEFAULT_MAX_BUFFER`].
    pub max_send_buffer: usize,
    /// Largest size the receive buffer may grow to. It starts at `recv_buffer` and grows to
    /// twice the bytes the peer delivered in one round trip when that exceeds it (dynamic
    /// right-sizing, as Linux TCP's receive autotuning), so the window we advertise never
    /// limits a sender that the reader keeps up with. At or below `recv_buffer` it stays fixed,
    /// as libutp's. Default [`DEFAULT_MAX_BUFFER`].
    pub max_recv_buffer: usize,
    /// Largest datagram (uTP header included, the UDP payload) to IPv4 peers: the ceiling of
    /// path-MTU discovery, or the fixed packet size when [`Config::pmtu_discovery`] is off.
    /// Default 1472: Ethernet's 1500-byte MTU less 20 bytes of IPv4 and 8 of UDP header. A
    /// runtime may raise it to its interface MTU (jumbo frames, loopback). libutp's fixed size
    /// is 1402 (1500 less IPv4, UDP, GRE, PPPoE, MPPE and a fudge).
    pub max_packet_size_v4: usize,
    /// Largest datagram to IPv6 peers, as `max_packet_size_v4`. Default 1452: Ethernet's 1500
    /// less 40 bytes of IPv6 and 8 of UDP header. libutp always sends 1232 (the 1280-byte IPv6
    /// minimum less headers, safe over Teredo); with discovery on that is where we start.
    pub max_packet_size_v6: usize,
    /// Search for the largest packet the path carries (RFC 8899 DPLPMTUD, see
    /// [`crate::proto::mtu`]): connections start at 1232 bytes, probe upward to the maximum
    /// packet size with don't-fragment probes, fall back when full-size packets vanish, follow
    /// ICMP "fragmentation needed", and remember the result per destination. Default on. Off:
    /// every packet is the maximum packet size (lowered only by ICMP), as libutp with a fixed
    /// MTU.
    pub pmtu_discovery: bool,
    /// How long a converged path-MTU search rests before probing for a larger size again.
    /// Default 600 s (RFC 8899 section 5.1.1 `PMTU_RAISE_TIMER`; RFC 1191 section 6.3 suggests
    /// 10 minutes too). Also the lifetime of the per-destination cache entries.
    pub pmtu_raise_interval: Duration,
    /// Floor of the retransmission timeout. libutp uses 1 s; RFC 6298 section 2.4 says 1 s "SHOULD"
    /// but modern TCP stacks use 200 ms. Default 250 ms: above our delayed-ACK timer plus a typical
    /// scheduling delay, well below libutp's floor.
    pub min_rto: Duration,
    /// Ceiling of the retransmission timeout after backoff. Default 60 s (RFC 6298 section 2.5).
    pub max_rto: Duration,
    /// Retransmission timeout before any RTT sample, also the first SYN timeout. Default 1 s
    /// (RFC 6298 section 2.1; libutp uses 3 s).
    pub initial_rto: Duration,
    /// Consecutive SYN timeouts after which connecting fails with `TimedOut`. Default 4: SYNs at
    /// 0, 1, 3, 7 and 15 s, failure at 31 s with the default initial RTO (libutp: 21 s).
    pub max_syn_retransmits: u32,
    /// Consecutive retransmission timeouts without progress after which a connection fails with
    /// `TimedOut`. Default 6 (libutp gives up after 4 doublings of a 1 s RTO, about 31 s; with a
    /// 250 ms floor 6 doublings also take about 31 s).
    pub max_retransmits: u32,
    /// Delayed ACK timer: received data is acknowledged at the latest this long after it arrived
    /// (RFC 1122 section 4.2.3.2 allows up to 500 ms). Default 10 ms.
    pub delayed_ack: Duration,
    /// Acknowledge at once after this many unacknowledged full-size data packets (RFC 1122: every
    /// second full segment). Default 2.
    pub ack_every: u16,
    /// Time the delayed-ACK timer by the peer's packet spacing instead of `delayed_ack` alone:
    /// received data is acknowledged once `ack_every` packets are unacknowledged, or
    /// [`ACK_SPACING_FACTOR`] times the recent spacing between data packets (at least
    /// [`MIN_ADAPTIVE_ACK_DELAY`], at most `delayed_ack`) after the first of them arrived, so a
    /// burst is acknowledged as soon as it ends rather than every `ack_every` packets or after
    /// the full delay. A short packet (the tail of a write) whose ACK would wait
    /// [`QUICK_ACK_DELAY`] or more is acknowledged at once. Default off; the managed runtime
    /// turns it on with a larger `ack_every`.
    pub adaptive_ack: bool,
    /// LEDBAT++ behaviour (draft-irtf-iccrg-ledbat-plus-plus-01): a slower slow start ending at
    /// 3/4 of the target, and a periodic slowdown (two packets for two round trips, about 10 %
    /// of the time) that lets every LEDBAT connection sharing a bottleneck, to any peer, see
    /// its true base delay, so latecomers do not starve earlier connections. The draft
    /// recommends a 60 ms `target_delay` with it. Default off: connections to the same peer
    /// already share their delay base (see [`Config::share_path_state`]).
    pub ledbat_plus_plus: bool,
    /// A new connection to an address another live connection of the endpoint uses starts
    /// from that one's delay base and RTT and takes half its window (RFC 9040). Default on.
    pub share_path_state: bool,
    /// Coalesce small writes while data is in flight (Nagle, RFC 896), as libutp does. Default on.
    pub nagle: bool,
    /// Send a keepalive after this long without sending anything. Default 29 s, as libutp.
    pub keepalive: Option<Duration>,
    /// Fail an established connection with `TimedOut` after receiving nothing from the peer for
    /// this long. Both sides send keepalives every 29 s when idle, so silence this long means
    /// the peer is gone, even on a connection that only receives (libutp never notices that).
    /// Default 120 s (four keepalive intervals); `None` waits forever, as libutp.
    pub idle_timeout: Option<Duration>,
    /// How long a closed connection stays to re-acknowledge a retransmitted FIN, and how long a
    /// FIN we sent may wait for its ACK before the connection is dropped. Default 3 s.
    pub linger: Duration,
    /// How long an accepted connection waits for the peer to acknowledge our SYN-ACK before it
    /// is reported [`crate::proto::Event::Confirmed`] anyway. Our initiators acknowledge the
    /// SYN-ACK at once, so they are confirmed after one round trip; libutp's and libtorrent's
    /// send nothing until they have data, so a listener waits this long for them when the
    /// application speaks first. Under a SYN flood a spoofed connection is evicted long before
    /// (256 half-open slots last 5 ms at 50 000 SYNs per second). Default 250 ms, our own
    /// choice: a quarter of the initial RTO, unnoticeable next to a connection's lifetime.
    pub confirm_timeout: Duration,
    /// Maximum number of connections an endpoint holds (libutp silently refuses SYNs beyond 3000).
    /// Default 3000.
    pub max_connections: usize,
    /// Most connections an endpoint holds with one peer IP address, all ports together (a
    /// port costs an attacker nothing to vary, an address does); IPv6 peers count by their
    /// /64 prefix, which one host or home network holds whole (RFC 6177). SYNs beyond it are dropped
    /// silently and counted in [`crate::proto::EndpointStats::refused_per_peer`]. Default 64,
    /// our own choice: a torrent client talks to a peer over one or two connections, so 64
    /// leaves room for a few dozen clients behind one NAT (a campus, a carrier-grade NAT)
    /// while one host can hold at most 64 / 3000 of the default `max_connections`. Loopback
    /// peers are exempt: they are local processes (tests, proxies), not spoofable from afar.
    pub max_connections_per_ip: usize,
    /// Most half-open connections: accepted from a SYN, nothing heard from the peer since but
    /// SYN retransmits. When a SYN arrives with this many held, the oldest half-open one is
    /// evicted (it fails with [`crate::proto::ConnectionError::Evicted`], counted in
    /// [`crate::proto::EndpointStats::half_open_evicted`]) so that a new SYN always gets a
    /// chance, while established connections are never touched (a SYN flood costs at most
    /// this many connections' memory and cannot starve legitimate peers). Default 4096, our
    /// own choice: a genuine handshake completes when our SYN-ACK is acknowledged (one round
    /// trip; our initiators acknowledge it at once), so the slots must outlast a round trip
    /// under the flood: at 50 000 SYNs per second 4096 slots last 82 ms (256 lasted 5 ms, and
    /// most genuine handshakes on a loaded 2-core machine were evicted: tests/load_syn_flood.rs).
    /// A half-open connection holds about 2.6 KiB (tests/idle_memory.rs), so a flood pins
    /// about 11 MiB. A larger value acts as `max_connections`.
    pub max_half_open: usize,
    /// Retransmission timeouts in a row while the peer keeps answering with a closed receive
    /// window (window probes), after which the connection fails with `TimedOut`: a peer that
    /// never reads would otherwise hold the connection and its send buffer forever (RFC 9293
    /// section 3.8.6.1 lets TCP probe indefinitely; it names that a resource risk). Default
    /// 12, our own choice: with the default RTO floor and ceiling the probes back off from
    /// 250 ms to 60 s and the 12th fails about 5 minutes after the window closed, far beyond
    /// a reader that pauses. `None` probes forever, as libutp.
    pub max_window_probes: Option<u32>,
    /// RESET packets for unknown connections: tokens in the bucket. Default 100, our own
    /// choice (libutp answers every such packet): a burst of stray packets after a restart is
    /// answered, a flood is not reflected at more than `reset_rate` per second.
    pub reset_burst: u32,
    /// RESET packets for unknown connections: tokens restored per second. Default 100, our
    /// own choice, as `reset_burst`; beyond it they are counted in
    /// [`crate::proto::EndpointStats::resets_suppressed`].
    pub reset_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target_delay: Duration::from_millis(100),
            send_buffer: 1024 * 1024,
            recv_buffer: 1024 * 1024,
            max_send_buffer: DEFAULT_MAX_BUFFER,
            max_recv_buffer: DEFAULT_MAX_BUFFER,
            max_packet_size_v4: 1472,
            max_packet_size_v6: 1452,
            pmtu_discovery: true,
            pmtu_raise_interval: Duration::from_secs(600),
            min_rto: Duration::from_millis(250),
            max_rto: Duration::from_secs(60),
            initial_rto: Duration::from_secs(1),
            max_syn_retransmits: 4,
            max_retransmits: 6,
            delayed_ack: Duration::from_millis(10),
            ack_every: 2,
            adaptive_ack: false,
            ledbat_plus_plus: false,
            share_path_state: true,
            nagle: true,
            keepalive: Some(Duration::from_secs(29)),
            idle_timeout: Some(Duration::from_secs(120)),
            linger: Duration::from_secs(3),
            confirm_timeout: Duration::from_millis(250),
            max_connections: 3000,
            max_connections_per_ip: 64,
            max_half_open: 4096,
            max_window_probes: Some(12),
            reset_burst: 100,
            reset_rate: 100,
        }
    }
}

/// Per-connection overrides of [`Config`] (libutp's per-socket `UTP_SNDBUF`, `UTP_RCVBUF`,
/// `UTP_TARGET_DELAY`, and the MTU its `UTP_GET_UDP_MTU` callback reports). `None` keeps the
/// endpoint's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// Overrides [`Config::send_buffer`].
    pub send_buffer: Option<usize>,
    /// Overrides [`Config::recv_buffer`].
    pub recv_buffer: Option<usize>,
    /// Overrides [`Config::target_delay`].
    pub target_delay: Option<Duration>,
    /// Overrides the largest datagram size for this peer's address family (the ceiling of the
    /// path-MTU search; libutp's `UTP_GET_UDP_MTU` answer).
    pub max_packet_size: Option<usize>,
}

impl ConnectionOptions {
    /// `config` with these overrides applied, or an error naming the first unusable value. A
    /// buffer size given here is fixed (its cap is set to the same value), as an explicit
    /// `SO_RCVBUF` turns off Linux's autotuning.
    pub fn apply(&self, config: &Config) -> Result<Config, ConfigError> {
        let mut c = config.clone();
        if let Some(v) = self.send_buffer {
            c.send_buffer = v;
            c.max_send_buffer = v;
        }
        if let Some(v) = self.recv_buffer {
            c.recv_buffer = v;
            c.max_recv_buffer = v;
        }
        if let Some(v) = self.target_delay {
            c.target_delay = v;
        }
        if let Some(v) = self.max_packet_size {
            c.max_packet_size_v4 = v;
            c.max_packet_size_v6 = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// A configuration value the engine cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid uTP configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Smallest datagram we will build: the 20-byte header plus a useful payload. libutp's MTU floor
/// is 576 bytes; below 150 the SACK and payload arithmetic stops making sense.
pub const MIN_PACKET_SIZE: usize = 150;
/// Largest datagram we will build: a UDP payload over IPv4 is at most 65 507 bytes.
pub const MAX_PACKET_SIZE: usize = 65_507;

impl Config {
    /// The largest the send buffer (and the congestion window) may grow to.
    pub fn send_buffer_cap(&self) -> usize {
        self.send_buffer.max(self.max_send_buffer)
    }

    /// The largest the receive buffer may grow to.
    pub fn recv_buffer_cap(&self) -> usize {
        self.recv_buffer.max(self.max_recv_buffer)
    }

    /// Checks that every value is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.target_delay.is_zero() {
            return Err(ConfigError("target_delay must be positive"));
        }
        if self.send_buffer == 0 || self.recv_buffer == 0 {
            return Err(ConfigError("buffer sizes must be positive"));
        }
        for size in [self.max_packet_size_v4, self.max_packet_size_v6] {
            if !(MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&size) {
                return Err(ConfigError("max packet size out of range 150..=65507"));
            }
        }
        if self.min_rto.is_zero() || self.min_rto > self.max_rto {
            return Err(ConfigError("need 0 < min_rto <= max_rto"));
        }
        if self.initial_rto < self.min_rto || self.initial_rto > self.max_rto {
            return Err(ConfigError(
                "initial_rto must lie within [min_rto, max_rto]",
            ));
        }
        if self.pmtu_raise_interval.is_zero() {
            return Err(ConfigError("pmtu_raise_interval must be positive"));
        }
        if self.max_retransmits == 0 || self.ack_every == 0 {
            return Err(ConfigError(
                "max_retransmits and ack_every must be positive",
            ));
        }
        if let (Some(idle), Some(keepalive)) = (self.idle_timeout, self.keepalive) {
            if idle <= keepalive {
                return Err(ConfigError(
                    "idle_timeout must exceed the keepalive interval",
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError("max_connections must be positive"));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError("max_connections_per_ip must be positive"));
        }
        if self.max_half_open == 0 {
            return Err(ConfigError("max_half_open must be positive"));
        }
        if self.max_window_probes == Some(0) {
            return Err(ConfigError("max_window_probes must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_rejected() {
        assert_eq!(Config::default().validate(), Ok(()));
        let bad = [
            Config {
                send_buffer: 0,
                ..Config::default()
            },
            Config {
                max_packet_size_v4: 40,
                ..Config::default()
            },
            Config {
                min_rto: Duration::ZERO,
                ..Config::default()
            },
            Config {
                initial_rto: Duration::from_millis(1),
                ..Config::default()
            },
            Config {
                target_delay: Duration::ZERO,
                ..Config::default()
            },
            Config {
                max_connections_per_ip: 0,
                ..Config::default()
            },
            Config {
                max_half_open: 0,
                ..Config::default()
            },
            Config {
                max_window_probes: Some(0),
                ..Config::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?} accepted");
        }
    }
}
