//! Extensions other implementations send us: selective ACKs of other lengths than libutp's 4
//! bytes (libtorrent sends the bytes it needs: 1 to 3 early in a loss episode, more for a long
//! reorder window) and libtorrent's close reason. The
//! packets are real ones re-encoded with the extension a peer would have put there.

use super::test_support::{a, b, drain};
use super::*;
use crate::proto::packet::{
    encode, sack_set_bit, Extensions, PacketType, EXT_NONE, EXT_SELECTIVE_ACK, HEADER_LEN,
};

fn connected_pair() -> (Endpoint, Endpoint, ConnectionHandle, ConnectionHandle) {
    let config = Config {
        pmtu_discovery: false,
        ..Config::default()
    };
    let mut ea = Endpoint::new(config.clone(), 1).expect("endpoint");
    let mut eb = Endpoint::new(config, 2).expect("endpoint");
    let now = Instant::from_micros(1_000_000);
    let ha = ea.connect(now, b()).expect("connect");
    let mut buf = vec![0u8; 2048];
    let syn = ea.poll_transmit(now, &mut buf).expect("SYN");
    let DatagramEvent::Incoming(i) = eb.handle_datagram(now, a(), &buf[..syn.len]) else {
        panic!("SYN not taken as a new connection");
    };
    let hb = eb.accept(now, i).expect("accept");
    let reply = eb.poll_transmit(now, &mut buf).expect("SYN-ACK");
    ea.handle_datagram(now, b(), &buf[..reply.len]);
    assert_eq!(ea.poll_event(), Some((ha, Event::Connected)));
    assert_eq!(eb.poll_event(), Some((hb, Event::Connected)));
    (ea, eb, ha, hb)
}

/// `datagram` with its extensions replaced by `ext` (header and payload kept).
fn with_extensions(datagram: &[u8], ext: &Extensions<'_>) -> Vec<u8> {
    let p = Packet::decode(datagram).expect("decodes");
    let mut out = vec![0u8; 2048];
    let n = encode(&p.header, ext, p.payload, &mut out).expect("encode");
    out.truncate(n);
    out
}

/// Moves 256 KiB from A to B, 10 ms per round trip, so that A's window has grown past its
/// first flight of two packets. Returns the time after it.
fn warm_up(
    ea: &mut Endpoint,
    eb: &mut Endpoint,
    ha: ConnectionHandle,
    hb: ConnectionHandle,
) -> Instant {
    let mut t = Instant::from_micros(2_000_000);
    let total = 256 * 1024;
    let (mut written, mut read) = (0, 0);
    let chunk = vec![1u8; 16 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..10_000 {
        if read == total {
            return t;
        }
        if written < total {
            written += ea
                .write(ha, &chunk[..(total - written).min(chunk.len())])
                .unwrap_or(0);
        }
        for d in drain(ea, t) {
            eb.handle_datagram(t, a(), &d);
        }
        while let Ok(n @ 1..) = eb.read(hb, &mut buf) {
            read += n;
        }
        eb.flush_acks();
        for d in drain(eb, t) {
            ea.handle_datagram(t, b(), &d);
        }
        t += Duration::from_millis(10);
        ea.handle_timeout(t);
        eb.handle_timeout(t);
    }
    panic!("warm-up transfer did not finish: {read} of {total} bytes");
}

/// `datagram` with its extensions replaced by a selective ACK of `mask`, spliced in byte by
/// byte (our encoder sends only multiples of 4 bytes).
fn with_raw_selective_ack(datagram: &[u8], mask: &[u8]) -> Vec<u8> {
    let mut out = with_extensions(datagram, &Extensions::default());
    out[1] = EXT_SELECTIVE_ACK;
    let len = u8::try_from(mask.len()).expect("short mask");
    let ext: Vec<u8> = [EXT_NONE, len].iter().chain(mask).copied().collect();
    out.splice(HEADER_LEN..HEADER_LEN, ext);
    out
}

#[test]
fn an_eight_byte_selective_ack_is_honoured() {
    selective_ack_of_length_is_honoured(8);
}

#[test]
fn a_one_byte_selective_ack_as_libtorrent_sends_is_honoured() {
    selective_ack_of_length_is_honoured(1);
}

/// B's acknowledgement of everything but the first packet of a flight, re-encoded with a mask
/// of `len` bytes (as many bits set as fit), makes A resend exactly the first packet.
fn selective_ack_of_length_is_honoured(len: usize) {
    let (mut ea, mut eb, ha, hb) = connected_pair();
    let t = warm_up(&mut ea, &mut eb, ha, hb);
    while ea.poll_event().is_some() {}
    let data: Vec<u8> = (0..12_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(ea.write(ha, &data), Ok(data.len()));
    // The pacer lets the flight out over a few milliseconds.
    let mut sent = Vec::new();
    let mut t = t;
    for _ in 0..20 {
        sent.extend(drain(&mut ea, t));
        t += Duration::from_millis(1);
        ea.handle_timeout(t);
    }
    assert!(
        sent.len() >= 5,
        "only {} packets in the first flight",
        sent.len()
    );
    let first = Packet::decode(&sent[0]).expect("decodes").header.seq_nr;
    // The first packet is lost; B gets the rest and answers.
    for d in &sent[1..] {
        eb.handle_datagram(t, a(), d);
    }
    eb.flush_acks();
    let answers = drain(&mut eb, t);
    let state = answers
        .iter()
        .rev()
        .find(|d| Packet::decode(d).is_ok_and(|p| p.header.packet_type == PacketType::State))
        .expect("B acknowledged");
    let theirs = Packet::decode(state).expect("decodes");
    assert_eq!(
        theirs.header.ack_nr,
        first.add(u16::MAX),
        "nothing acknowledged in order"
    );
    // The same selective ACK in `len` bytes: bit i is packet ack_nr + 2 + i.
    let mut mask = vec![0u8; len];
    for i in 0..(sent.len() - 1).min(8 * len) {
        sack_set_bit(&mut mask, i);
    }
    let long = with_raw_selective_ack(state, &mask);
    let before = ea.connection_stats(ha).expect("stats");
    ea.handle_datagram(t, b(), &long);
    let resent = drain(&mut ea, t);
    let after = ea.connection_stats(ha).expect("stats");
    assert_eq!(
        after.fast_retransmits,
        before.fast_retransmits + 1,
        "{after:?}"
    );
    let seqs: Vec<_> = resent
        .iter()
        .filter_map(|d| Packet::decode(d).ok())
        .filter(|p| p.header.packet_type == PacketType::Data)
        .map(|p| p.header.seq_nr)
        .collect();
    assert_eq!(seqs, vec![first], "only the hole is resent");
    for d in &resent {
        eb.handle_datagram(t, a(), d);
    }
    // The rest (a short tail Nagle held back) follows the next acknowledgements.
    for _ in 0..50 {
        eb.flush_acks();
        for d in drain(&mut eb, t) {
            ea.handle_datagram(t, b(), &d);
        }
        for d in drain(&mut ea, t) {
            eb.handle_datagram(t, a(), &d);
        }
        t += Duration::from_millis(10);
        ea.handle_timeout(t);
        eb.handle_timeout(t);
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(n @ 1..) = eb.read(hb, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got == data,
        "B has {} of {} bytes, or not in order",
        got.len(),
        data.len()
    );
}

#[test]
fn a_fin_with_a_close_reason_ends_the_stream_and_the_reason_is_kept() {
    let (mut ea, mut eb, ha, hb) = connected_pair();
    let t = Instant::from_micros(2_000_000);
    assert_eq!(ea.write(ha, b"last"), Ok(4));
    ea.shutdown(ha).expect("shutdown");
    let sent = drain(&mut ea, t);
    for d in &sent {
        let p = Packet::decode(d).expect("decodes");
        if p.header.packet_type == PacketType::Fin {
            // libtorrent's close reason 7 on the FIN.
            let fin = with_extensions(
                d,
                &Extensions {
                    selective_ack: None,
                    close_reason: Some(7),
                },
            );
            eb.handle_datagram(t, a(), &fin);
        } else {
            eb.handle_datagram(t, a(), d);
        }
    }
    let mut got = [0u8; 16];
    assert_eq!(eb.read(hb, &mut got), Ok(4));
    assert_eq!(eb.read(hb, &mut got), Ok(0), "EOF after the data");
    let stats = eb.connection_stats(hb).expect("stats");
    assert_eq!(stats.peer_close_reason, Some(7));
    assert_eq!(
        ea.connection_stats(ha).expect("stats").peer_close_reason,
        None
    );
}
