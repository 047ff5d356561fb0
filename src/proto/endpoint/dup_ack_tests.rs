//! Duplicate ACKs from a peer that has never sent a selective ACK (RFC 5681 section 3.2): three
//! ACKs of nothing new with the advertised window unchanged resend the first unacknowledged
//! packet; ACKs that open the window are the peer's application reading (window updates), and
//! resend nothing. Before the distinction, every window update counted, and a bulk transfer on
//! a lossless loopback resent a packet still in flight after each third read.

use super::test_support::{a, b, drain, ms};
use super::*;
use crate::proto::packet::{Packet, PacketType};

/// A connected to B, with B's last ST_STATE to A (it acknowledges A's SYN) and A's handle.
fn connected() -> (Endpoint, ConnectionHandle, Vec<u8>) {
    let mut ea = Endpoint::new(Config::default(), 1).expect("endpoint");
    let mut eb = Endpoint::new(Config::default(), 2).expect("endpoint");
    let ha = ea.connect(ms(0), b()).expect("connect");
    let mut last_state = None;
    let mut buf = vec![0u8; 2048];
    for _ in 0..10 {
        while let Some(t) = ea.poll_transmit(ms(0), &mut buf) {
            if let DatagramEvent::Incoming(i) = eb.handle_datagram(ms(0), a(), &buf[..t.len]) {
                eb.accept(ms(0), i).expect("accept");
            }
        }
        while let Some(t) = eb.poll_transmit(ms(0), &mut buf) {
            let d = &buf[..t.len];
            if Packet::decode(d).is_ok_and(|p| p.header.packet_type == PacketType::State) {
                last_state = Some(d.to_vec());
            }
            ea.handle_datagram(ms(0), b(), d);
        }
    }
    (ea, ha, last_state.expect("B acknowledged the SYN"))
}

/// `state` with another timestamp (so that it is not a network copy) and window.
fn variant(state: &[u8], timestamp: u32, window: u32) -> Vec<u8> {
    // BEP 29 header: timestamp at bytes 4..8, window at 12..16, big-endian.
    let mut d = state.to_vec();
    d[4..8].copy_from_slice(&timestamp.to_be_bytes());
    d[12..16].copy_from_slice(&window.to_be_bytes());
    d
}

fn data_seqs(datagrams: &[Vec<u8>]) -> Vec<SeqNr> {
    datagrams
        .iter()
        .filter_map(|d| Packet::decode(d).ok())
        .filter(|p| p.header.packet_type == PacketType::Data)
        .map(|p| p.header.seq_nr)
        .collect()
}

#[test]
fn window_updates_are_not_duplicate_acks_but_three_unchanged_acks_are() {
    let (mut ea, ha, state) = connected();
    let window = u32::from_be_bytes(state[12..16].try_into().expect("4 bytes"));
    assert_eq!(ea.write(ha, &[7u8; 20_000]), Ok(20_000));
    let flight = data_seqs(&drain(&mut ea, ms(1)));
    assert!(!flight.is_empty(), "nothing in flight");
    let first = flight[0];
    // B reads three times: each ACK acknowledges nothing new and opens the window further.
    let mut resent = Vec::new();
    for i in 1..=3u32 {
        ea.handle_datagram(ms(2), b(), &variant(&state, 100 + i, window + 1000 * i));
        resent.extend(data_seqs(&drain(&mut ea, ms(2))));
    }
    let stats = ea.connection_stats(ha).expect("stats");
    assert_eq!(stats.fast_retransmits, 0, "{stats:?}");
    assert!(
        !resent.contains(&first),
        "packet {first:?} resent: {resent:?}"
    );
    // Three ACKs of nothing new with the window unchanged: the first packet was lost.
    for i in 4..=6u32 {
        ea.handle_datagram(ms(3), b(), &variant(&state, 100 + i, window + 3000));
        resent.extend(data_seqs(&drain(&mut ea, ms(3))));
    }
    let stats = ea.connection_stats(ha).expect("stats");
    assert_eq!(stats.fast_retransmits, 1, "{stats:?}");
    assert!(
        resent.contains(&first),
        "packet {first:?} not resent: {resent:?}"
    );
}
