//! What the endpoint's unit tests share: two peer addresses, a clock, moving datagrams between
//! two engines, and a forged SYN.

use super::*;
use crate::proto::packet::{encode, Extensions, Header, PacketType};
use crate::proto::time::WireTime;

/// The connecting side's address.
pub(super) fn a() -> SocketAddr {
    "10.0.0.1:1000".parse().expect("address")
}

/// The accepting side's address.
pub(super) fn b() -> SocketAddr {
    "10.0.0.2:2000".parse().expect("address")
}

/// `t` milliseconds after the tests' time zero (1 s).
pub(super) fn ms(t: u64) -> Instant {
    Instant::from_micros(1_000_000 + t * 1000)
}

/// Moves every pending datagram between two endpoints until both are quiet; `eb` accepts
/// every connection request (returned).
pub(super) fn exchange(
    ea: &mut Endpoint,
    eb: &mut Endpoint,
    now: Instant,
) -> Vec<ConnectionHandle> {
    let mut accepted = Vec::new();
    let mut buf = vec![0u8; 2048];
    for _ in 0..1000 {
        let mut moved = false;
        while let Some(t) = ea.poll_transmit(now, &mut buf) {
            moved = true;
            if let DatagramEvent::Incoming(i) = eb.handle_datagram(now, a(), &buf[..t.len]) {
                accepted.push(eb.accept(now, i).expect("accept"));
            }
        }
        while let Some(t) = eb.poll_transmit(now, &mut buf) {
            moved = true;
            ea.handle_datagram(now, b(), &buf[..t.len]);
        }
        if !moved {
            return accepted;
        }
    }
    panic!("endpoints never went quiet");
}

/// Every datagram `e` wants to send now.
pub(super) fn drain(e: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Some(t) = e.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

/// A SYN as a host that sends nothing else (a flood, or libutp's initiator before it has data)
/// forges it.
pub(super) fn syn(connection_id: u16, seq: u16) -> Vec<u8> {
    let header = Header {
        packet_type: PacketType::Syn,
        connection_id,
        timestamp: WireTime(1),
        timestamp_diff: 0,
        window: 1 << 20,
        seq_nr: SeqNr(seq),
        ack_nr: SeqNr(0),
    };
    let mut out = vec![0u8; 64];
    let n = encode(&header, &Extensions::default(), &[], &mut out).expect("encode");
    out.truncate(n);
    out
}
