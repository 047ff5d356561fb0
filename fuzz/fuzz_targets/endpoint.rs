//! Two endpoints under virtual time, driven by the fuzzer's bytes as a script: A connects to B
//! and writes a known byte stream, and each step of the script either lets the network carry a
//! datagram (deliver, drop, duplicate, reorder, or corrupt one byte of B's datagrams to A),
//! injects arbitrary bytes as a datagram (into A as if from B, into B from a third host),
//! advances the clock, or has an application read, write, shut down or close. After every
//! step: no panic, the bytes B has read on A's connection are a prefix of what A wrote, and
//! each endpoint holds a bounded number of connections and queued datagrams.
//!
//! The network holds a datagram at most `MIN_DATAGRAM_LIFETIME` (2 s); older ones are dropped
//! when their turn comes. The engine assumes no datagram outlives that (its black-hole
//! fallback re-cuts data only after every copy is that old), as real networks do not hold
//! datagrams for minutes.
//!
//! B's datagrams to the third host (answers to injected SYNs) are dropped: they are not on
//! A's path, and their acknowledgement numbers say nothing about A's stream.
//!
//! For inputs of odd length, B's application takes payloads in place
//! (`Endpoint::handle_datagram_in_place`, as the C API does for `UTP_ON_READ`) while its side
//! of A's connection is open: those bytes are checked like the ones it reads.
//!
//! A's datagrams to B are never corrupted and nothing is injected into B as if from A: uTP has
//! no integrity check of its own (UDP's checksum is the network's), so a forged datagram on
//! A's connection would change B's bytes legitimately. For the same reason a corrupted or
//! injected datagram to A that acknowledges more than B ever did (an ack_nr beyond every one
//! B sent) makes A forget data B never got: from then on B's stream can legitimately miss
//! those bytes (A's black-hole ping, like TCP's keepalive, is sent at a sequence number A
//! believes acknowledged, and B takes it for the missing packet), so the prefix check stops
//! there; the other invariants hold throughout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::Duration;
use utp::proto::connection::MIN_DATAGRAM_LIFETIME;
use utp::proto::packet::Packet;
use utp::proto::SeqNr;
use utp::proto::{Config, ConnectionHandle, DatagramEvent, Endpoint, Instant};

/// Datagrams in flight per direction; more are dropped, as a full queue would.
const MAX_QUEUED: usize = 256;
/// Connections an endpoint may hold here: ours plus those that corrupted SYNs open.
const MAX_CONNECTIONS: usize = 64;

/// Byte `i` of the stream A writes.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// The fuzzer's bytes, read front to back; zeros once they run out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

struct World {
    a: Endpoint,
    b: Endpoint,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    now: Instant,
    a_conn: Option<ConnectionHandle>,
    /// B's side of A's connection (accepted from A's SYN before the script starts).
    b_conn: Option<ConnectionHandle>,
    c_addr: SocketAddr,
    /// Datagrams in flight, with the time they were sent.
    to_b: Vec<(Instant, Vec<u8>)>,
    to_a: Vec<(Instant, Vec<u8>)>,
    written: usize,
    read: usize,
    /// The largest ack_nr among B's own datagrams to A.
    b_acked: Option<SeqNr>,
    /// A accepted-looking datagram acknowledged beyond `b_acked` (see the module docs).
    forged_ack: bool,
    /// B takes payloads of A's connection in place (odd-length inputs).
    in_place: bool,
    /// B's application closed its side of A's connection.
    b_closed: bool,
}

impl World {
    fn pump(&mut self) {
        let mut buf = vec![0u8; 65_536];
        while let Some(t) = self.a.poll_transmit(self.now, &mut buf) {
            if self.to_b.len() < MAX_QUEUED {
                self.to_b.push((self.now, buf[..t.len].to_vec()));
            }
        }
        while let Some(t) = self.b.poll_transmit(self.now, &mut buf) {
            if t.destination != self.a_addr {
                // To the third host (connections its injected SYNs opened): not A's business,
                // and its acknowledgement numbers say nothing about A's stream.
                continue;
            }
            if let Ok(p) = Packet::decode(&buf[..t.len]) {
                let ack = p.header.ack_nr;
                if self.b_acked.is_none_or(|max| ack.follows(max)) {
                    self.b_acked = Some(ack);
                }
            }
            if self.to_a.len() < MAX_QUEUED {
                self.to_a.push((self.now, buf[..t.len].to_vec()));
            }
        }
        while self.a.poll_event().is_some() {}
        while self.b.poll_event().is_some() {}
    }

    /// Hands `datagram` to B as if from `from`; a new connection is accepted (and returned).
    fn into_b(&mut self, from: SocketAddr, datagram: &[u8]) -> Option<ConnectionHandle> {
        let ours = self.b_conn.filter(|_| self.in_place && !self.b_closed);
        let (event, in_place) =
            self.b
                .handle_datagram_in_place(self.now, from, datagram, |h| Some(h) == ours);
        if let Some(p) = in_place {
            assert_eq!(Some(p.connection), ours, "in place only where allowed");
            assert!(p.len > 0 && p.offset + p.len == datagram.len());
            self.delivered(&datagram[p.offset..]);
        }
        match event {
            DatagramEvent::Incoming(i) => self.b.accept(self.now, i).ok(),
            _ => None,
        }
    }

    /// Bytes B's application got on A's connection: always the next ones of A's stream.
    fn delivered(&mut self, bytes: &[u8]) {
        for (k, &byte) in bytes.iter().enumerate() {
            let at = self.read + k;
            if !self.forged_ack {
                assert_eq!(byte, stream_byte(at), "byte {at} of the stream");
            }
        }
        self.read += bytes.len();
        assert!(
            self.read <= self.written,
            "read {} of {} written",
            self.read,
            self.written
        );
    }

    /// Takes the oldest datagram of a queue, unless it outlived the network's lifetime (then
    /// it is dropped and `None` returned).
    fn take(now: Instant, queue: &mut Vec<(Instant, Vec<u8>)>) -> Option<Vec<u8>> {
        if queue.is_empty() {
            return None;
        }
        let (sent, d) = queue.remove(0);
        (now.saturating_duration_since(sent) <= MIN_DATAGRAM_LIFETIME).then_some(d)
    }

    /// Hands a datagram B never sent to A, noting whether it acknowledges beyond B.
    fn forged_into_a(&mut self, datagram: &[u8]) {
        if let Ok(p) = Packet::decode(datagram) {
            if self.b_acked.is_none_or(|max| p.header.ack_nr.follows(max)) {
                self.forged_ack = true;
            }
        }
        self.into_a(datagram);
    }

    fn into_a(&mut self, datagram: &[u8]) {
        let _ = self.a.handle_datagram(self.now, self.b_addr, datagram);
    }

    /// B reads what it can on A's connection: always a prefix of A's stream.
    fn read_b(&mut self) {
        let Some(h) = self.b_conn else {
            return;
        };
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = self.b.read(h, &mut buf) {
            self.delivered(&buf[..n]);
        }
    }

    fn check(&self) {
        assert!(self.a.connection_count() <= MAX_CONNECTIONS);
        assert!(self.b.connection_count() <= MAX_CONNECTIONS);
        assert!(self.to_a.len() <= MAX_QUEUED && self.to_b.len() <= MAX_QUEUED);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script(data);
    let config = Config {
        max_connections: MAX_CONNECTIONS,
        ..Config::default()
    };
    let (Ok(a), Ok(b)) = (Endpoint::new(config.clone(), 1), Endpoint::new(config, 2)) else {
        panic!("endpoints with the default configuration");
    };
    let mut w = World {
        a,
        b,
        a_addr: "10.0.0.1:1000".parse().unwrap(),
        b_addr: "10.0.0.2:2000".parse().unwrap(),
        now: Instant::from_micros(1_000_000),
        a_conn: None,
        b_conn: None,
        c_addr: "10.0.0.3:3000".parse().unwrap(),
        to_b: Vec::new(),
        to_a: Vec::new(),
        written: 0,
        read: 0,
        b_acked: None,
        forged_ack: false,
        in_place: data.len() % 2 == 1,
        b_closed: false,
    };
    w.a_conn = w.a.connect(w.now, w.b_addr).ok();
    w.pump();
    if !w.to_b.is_empty() {
        let (_, syn) = w.to_b.remove(0);
        w.b_conn = w.into_b(w.a_addr, &syn);
    }
    let mut steps = 0;
    while !script.done() && steps < 4096 {
        steps += 1;
        match script.byte() % 16 {
            0 => {
                if let Some(h) = w.a_conn {
                    let n = usize::from(script.byte()) * 64;
                    let chunk: Vec<u8> = (w.written..w.written + n).map(stream_byte).collect();
                    if let Ok(k) = w.a.write(h, &chunk) {
                        w.written += k;
                    }
                }
            }
            1 => w.pump(),
            2 => {
                if let Some(d) = World::take(w.now, &mut w.to_b) {
                    let from = w.a_addr;
                    // A SYN retransmitted after B forgot the first one opens A's connection.
                    if let Some(h) = w.into_b(from, &d) {
                        w.b_conn.get_or_insert(h);
                    }
                }
            }
            3 => {
                if let Some(d) = World::take(w.now, &mut w.to_a) {
                    w.into_a(&d);
                }
            }
            4 => {
                if !w.to_b.is_empty() {
                    w.to_b.remove(0);
                }
            }
            5 => {
                if !w.to_a.is_empty() {
                    w.to_a.remove(0);
                }
            }
            6 => {
                if let Some(d) = w.to_b.first().cloned() {
                    if w.to_b.len() < MAX_QUEUED {
                        w.to_b.push(d);
                    }
                }
            }
            7 => {
                if w.to_b.len() >= 2 {
                    w.to_b.swap(0, 1);
                }
                if w.to_a.len() >= 2 {
                    w.to_a.swap(0, 1);
                }
            }
            8 => {
                // One corrupted byte: the datagram is judged by what it says now.
                let (at, bits) = (usize::from(script.byte()), script.byte() | 1);
                if let Some(mut d) = World::take(w.now, &mut w.to_a) {
                    let i = at % d.len().max(1);
                    if let Some(b) = d.get_mut(i) {
                        *b ^= bits;
                    }
                    w.forged_into_a(&d);
                }
            }
            9 => {
                let len = usize::from(script.byte());
                let d = script.bytes(len).to_vec();
                w.forged_into_a(&d);
            }
            10 => {
                let len = usize::from(script.byte());
                let d = script.bytes(len).to_vec();
                let from = w.c_addr;
                w.into_b(from, &d);
            }
            11 => {
                let ms = u64::from(script.byte()) * 8;
                w.now = w.now + Duration::from_millis(ms);
                w.a.handle_timeout(w.now);
                w.b.handle_timeout(w.now);
            }
            12 => w.read_b(),
            13 => {
                if let Some(h) = w.a_conn {
                    let _ = w.a.shutdown(h);
                }
            }
            14 => {
                if let Some(h) = w.a_conn.take() {
                    let _ = w.a.close(w.now, h);
                }
            }
            _ => {
                if let Some(h) = w.b_conn {
                    let _ = w.b.close(w.now, h);
                    w.b_closed = true;
                }
            }
        }
        w.check();
    }
});
