//! The path-MTU black-hole fallback against a network that was only slow: the re-cut of the
//! outstanding data under the same sequence numbers waits until no earlier copy can arrive, and
//! a late large packet calls it off, so no byte is ever delivered twice.

use super::test_support::{a, b, ms};
use super::*;
use crate::proto::connection::MIN_DATAGRAM_LIFETIME;
use crate::proto::packet::{Packet, PacketType};

/// Largest datagram the path carries once the black hole opens.
const HOLE: usize = 1300;

/// Byte `i` of the stream A writes.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 9)) as u8
}

struct Net {
    ea: Endpoint,
    eb: Endpoint,
    ha: ConnectionHandle,
    hb: Option<ConnectionHandle>,
    now: u64,
    /// Large datagrams from A the hole swallowed, first copies only (seq -> datagram).
    held: Vec<(u16, Vec<u8>)>,
    /// When A last sent a data packet larger than the hole.
    last_large: Option<u64>,
    /// When A first sent data no larger than the hole after the fallback.
    first_small_after: Option<u64>,
    read: Vec<u8>,
    hole_open: bool,
    /// The late large datagrams are delivered just before the first small data packet after
    /// the fallback, if that comes first.
    release_held: bool,
}

impl Net {
    fn new() -> Net {
        let mut ea = Endpoint::new(Config::default(), 1).expect("endpoint");
        let eb = Endpoint::new(Config::default(), 2).expect("endpoint");
        let ha = ea.connect(ms(0), b()).expect("connect");
        Net {
            ea,
            eb,
            ha,
            hb: None,
            now: 0,
            held: Vec::new(),
            last_large: None,
            first_small_after: None,
            read: Vec::new(),
            hole_open: false,
            release_held: false,
        }
    }

    fn deliver_to_b(&mut self, d: &[u8]) {
        if let DatagramEvent::Incoming(i) = self.eb.handle_datagram(ms(self.now), a(), d) {
            self.hb = Some(self.eb.accept(ms(self.now), i).expect("accept"));
        }
    }

    /// One millisecond of the world: timers, A's datagrams through the path, B's answers back,
    /// B reads.
    fn step(&mut self) {
        self.now += 1;
        let now = ms(self.now);
        self.ea.handle_timeout(now);
        self.eb.handle_timeout(now);
        let mut buf = vec![0u8; 65_536];
        while let Some(t) = self.ea.poll_transmit(now, &mut buf) {
            let d = buf[..t.len].to_vec();
            let p = Packet::decode(&d).expect("ours decode");
            let data = p.header.packet_type == PacketType::Data && !p.payload.is_empty();
            if self.hole_open && d.len() > HOLE {
                if data {
                    self.last_large = Some(self.now);
                    let seq = p.header.seq_nr.0;
                    if !self.held.iter().any(|(s, _)| *s == seq) {
                        self.held.push((seq, d));
                    }
                }
                continue;
            }
            if data && self.hole_open && self.blackholes() == 1 {
                self.first_small_after.get_or_insert(self.now);
                if self.release_held {
                    self.deliver_held();
                }
            }
            self.deliver_to_b(&d);
        }
        self.eb.flush_acks();
        while let Some(t) = self.eb.poll_transmit(now, &mut buf) {
            self.ea.handle_datagram(now, b(), &buf[..t.len]);
        }
        if let Some(hb) = self.hb {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = self.eb.read(hb, &mut chunk) {
                self.read.extend_from_slice(&chunk[..n]);
            }
        }
    }

    /// The large datagrams the hole held arrive, late.
    fn deliver_held(&mut self) {
        self.release_held = false;
        for (_, d) in core::mem::take(&mut self.held) {
            self.deliver_to_b(&d);
        }
    }

    fn blackholes(&self) -> u64 {
        self.ea
            .connection_stats(self.ha)
            .expect("stats")
            .pmtu_black_holes
    }

    fn mtu(&self) -> u64 {
        u64::from(self.ea.connection_stats(self.ha).expect("stats").mtu)
    }

    /// Connects, converges to full-size packets, then opens the hole with `len` bytes written
    /// and steps until the fallback is confirmed.
    fn until_black_hole(&mut self, len: usize) -> Vec<u8> {
        let stream: Vec<u8> = (0..len).map(stream_byte).collect();
        while self.ea.state(self.ha) != Ok(crate::proto::State::Connected) {
            self.step();
        }
        let warmup = 64 * 1024;
        self.ea.write(self.ha, &stream[..warmup]).expect("write");
        while self.read.len() < warmup {
            self.step();
            assert!(self.now < 5_000, "warm-up transfer");
        }
        assert_eq!(self.mtu(), 1472, "converged to full size first");
        self.hole_open = true;
        let n = self.ea.write(self.ha, &stream[warmup..]).expect("write");
        assert_eq!(n, len - warmup);
        while self.blackholes() == 0 {
            self.step();
            assert!(self.now < 20_000, "the black hole was never confirmed");
        }
        stream
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "thousands of simulated milliseconds of a transfer: too slow under Miri; no unsafe code on this path"
)]
fn the_recut_waits_until_no_large_copy_can_arrive() {
    let mut net = Net::new();
    let stream = net.until_black_hole(64 * 1024 + 30 * 1400);
    let confirmed = net.now;
    while net.read.len() < stream.len() {
        net.step();
        assert!(net.now < confirmed + 20_000, "the transfer stalled");
    }
    assert_eq!(net.read, stream, "byte-exact");
    let last_large = net
        .last_large
        .expect("large packets were sent into the hole");
    let first_small = net
        .first_small_after
        .expect("small packets after the fallback");
    let lifetime = MIN_DATAGRAM_LIFETIME.as_millis() as u64;
    assert!(
        first_small >= last_large + lifetime,
        "re-cut data went out at {first_small} ms, {} ms after the last large copy (lifetime {lifetime} ms)",
        first_small - last_large
    );
    assert!(net.mtu() <= HOLE as u64);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "thousands of simulated milliseconds of a transfer: too slow under Miri; no unsafe code on this path"
)]
fn a_late_large_packet_calls_the_recut_off_and_no_byte_is_repeated() {
    let mut net = Net::new();
    let stream = net.until_black_hole(64 * 1024 + 30 * 1400);
    // The hole was only a slow stretch of network: the first copies arrive half a second after
    // the fallback was confirmed (well within a datagram's lifetime), or just before the first
    // re-cut packet if that goes earlier (then it would repeat their tail bytes).
    assert!(!net.held.is_empty());
    net.release_held = true;
    for _ in 0..500 {
        net.step();
    }
    net.deliver_held();
    net.hole_open = false;
    let confirmed = net.now;
    while net.read.len() < stream.len() {
        net.step();
        assert!(net.now < confirmed + 20_000, "the transfer stalled");
    }
    for _ in 0..3_000 {
        net.step();
    }
    assert_eq!(net.read, stream, "byte-exact, nothing repeated");
}
