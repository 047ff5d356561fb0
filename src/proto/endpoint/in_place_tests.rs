//! [`Endpoint::handle_datagram_in_place`]: payloads handed to the caller straight from the
//! datagram arrive in stream order with whatever the connection buffered, and are counted.

use super::test_support::{a, b, drain, exchange, ms};
use super::*;
use crate::proto::packet::{Packet, PacketType};

/// A connected to B (B's handle returned), with `data` written on A.
fn pair(data: &[u8]) -> (Endpoint, Endpoint, ConnectionHandle) {
    let mut ea = Endpoint::new(Config::default(), 1).expect("endpoint");
    let mut eb = Endpoint::new(Config::default(), 2).expect("endpoint");
    let ha = ea.connect(ms(0), b()).expect("connect");
    let hb = exchange(&mut ea, &mut eb, ms(0))[0];
    assert_eq!(ea.write(ha, data), Ok(data.len()));
    (ea, eb, hb)
}

/// A data packet with a payload.
fn is_data(d: &[u8]) -> bool {
    Packet::decode(d)
        .is_ok_and(|p| p.header.packet_type == PacketType::Data && !p.payload.is_empty())
}

/// Runs rounds of A's data to B (through `receive`, with the flight of each round reordered
/// by `shuffle`) and B's answers back to A until `want` bytes reached B's application; returns
/// them and the bytes that came in place.
fn transfer(
    ea: &mut Endpoint,
    eb: &mut Endpoint,
    hb: ConnectionHandle,
    want: usize,
    allow: bool,
    shuffle: impl Fn(&mut Vec<Vec<u8>>),
) -> (Vec<u8>, usize) {
    let (mut stream, mut in_place) = (Vec::new(), 0);
    for round in 1..200 {
        let mut flight = drain(ea, ms(round));
        shuffle(&mut flight);
        let (s, n) = receive(eb, hb, &flight, allow, ms(round));
        stream.extend(s);
        in_place += n;
        if stream.len() >= want {
            return (stream, in_place);
        }
        for d in drain(eb, ms(round)) {
            ea.handle_datagram(ms(round), b(), &d);
        }
    }
    panic!("only {} of {want} bytes arrived", stream.len());
}

/// Feeds `datagrams` to B, delivering in place where `allow` says so; returns the stream B's
/// application sees (in-place payloads and reads, in order) and the bytes that came in place.
fn receive(
    eb: &mut Endpoint,
    hb: ConnectionHandle,
    datagrams: &[Vec<u8>],
    allow: bool,
    now: Instant,
) -> (Vec<u8>, usize) {
    let mut stream = Vec::new();
    let mut in_place_bytes = 0;
    let mut buf = vec![0u8; 4096];
    for d in datagrams {
        let mut asked = None;
        let (event, in_place) = eb.handle_datagram_in_place(now, a(), d, |h| {
            asked = Some(h);
            allow
        });
        assert_eq!(event, DatagramEvent::Handled);
        if is_data(d) {
            assert_eq!(
                asked,
                Some(hb),
                "asked about the connection the datagram reached"
            );
        }
        if let Some(p) = in_place {
            assert_eq!(p.connection, hb);
            assert!(p.len > 0 && p.offset + p.len == d.len());
            stream.extend_from_slice(&d[p.offset..]);
            in_place_bytes += p.len;
        }
        // As the C layer does: what the in-place payload made readable comes after it.
        while let Ok(n) = eb.read(hb, &mut buf) {
            if n == 0 {
                break;
            }
            stream.extend_from_slice(&buf[..n]);
        }
    }
    (stream, in_place_bytes)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn in_order_payloads_all_come_in_place() {
    let sent = data(200_000);
    let (mut ea, mut eb, hb) = pair(&sent);
    let (stream, in_place) = transfer(&mut ea, &mut eb, hb, sent.len(), true, |_| {});
    assert_eq!(stream, sent);
    assert_eq!(in_place, sent.len(), "every payload came in place");
    let stats = eb.connection_stats(hb).expect("stats");
    assert_eq!(stats.bytes_received, sent.len() as u64);
}

#[test]
fn reordered_flights_keep_stream_order() {
    let sent = data(200_000);
    let (mut ea, mut eb, hb) = pair(&sent);
    // Each flight's first packet arrives last: the others wait in the reorder buffer, then
    // the first comes in place and the rest is read after it.
    let (stream, in_place) = transfer(&mut ea, &mut eb, hb, sent.len(), true, |flight| {
        if flight.len() > 2 {
            let first = flight.remove(0);
            flight.push(first);
        }
    });
    assert_eq!(stream, sent);
    assert!(
        in_place > 0 && in_place < sent.len(),
        "{in_place} of {}",
        sent.len()
    );
    let stats = eb.connection_stats(hb).expect("stats");
    assert_eq!(stats.bytes_received, sent.len() as u64);
}

#[test]
fn refused_payloads_are_buffered() {
    let sent = data(200_000);
    let (mut ea, mut eb, hb) = pair(&sent);
    let (stream, in_place) = transfer(&mut ea, &mut eb, hb, sent.len(), false, |_| {});
    assert_eq!(in_place, 0);
    assert_eq!(stream, sent);
}
