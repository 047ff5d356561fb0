//! Hostile peers against the endpoint: per-address and half-open limits (SYN floods), forged
//! RESETs, optimistic and divided ACKs, and peers that never open their window. Each test
//! fails without the defence it names.

use super::test_support::{a, b, drain, exchange, syn};
use super::*;
use crate::proto::packet::{encode, sack_set_bit, Extensions, Header, PacketType};
use crate::proto::time::WireTime;
use crate::proto::ConnectionError;

/// A spoofed source: address `i` of 10.9.0.0/16, port from `i` too.
fn spoofed(i: u32) -> SocketAddr {
    SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 1024 + (i % 50_000) as u16))
}

fn config() -> Config {
    Config {
        pmtu_discovery: false,
        ..Config::default()
    }
}

fn datagram(h: &Header, ext: &Extensions<'_>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let n = encode(h, ext, payload, &mut out).expect("encode");
    out.truncate(n);
    out
}

/// A connection from A to B over which A has sent data (B's side stopped being half-open when
/// A acknowledged its SYN-ACK).
fn established(config: Config) -> (Endpoint, Endpoint, ConnectionHandle, ConnectionHandle) {
    let mut ea = Endpoint::new(config.clone(), 1).expect("endpoint");
    let mut eb = Endpoint::new(config, 2).expect("endpoint");
    let now = Instant::from_micros(1_000_000);
    let ha = ea.connect(now, b()).expect("connect");
    let hb = exchange(&mut ea, &mut eb, now)[0];
    assert!(!eb.is_half_open(hb), "A acknowledged the SYN-ACK at once");
    ea.write(ha, b"hello").expect("write");
    exchange(&mut ea, &mut eb, now);
    assert!(!eb.is_half_open(hb));
    while ea.poll_event().is_some() {}
    while eb.poll_event().is_some() {}
    (ea, eb, ha, hb)
}

#[test]
fn syns_beyond_the_per_address_limit_are_dropped_whatever_their_port() {
    let mut e = Endpoint::new(
        Config {
            max_connections_per_ip: 3,
            ..config()
        },
        1,
    )
    .expect("endpoint");
    let now = Instant::from_micros(1_000);
    let ip = [10, 7, 7, 7];
    for port in 0..3u16 {
        let from = SocketAddr::from((ip, 5000 + port));
        match e.handle_datagram(now, from, &syn(100 + port, 1)) {
            DatagramEvent::Incoming(i) => {
                e.accept(now, i).expect("accept");
            }
            other => panic!("SYN {port} not offered: {other:?}"),
        }
    }
    let fourth = SocketAddr::from((ip, 6000));
    assert_eq!(
        e.handle_datagram(now, fourth, &syn(200, 1)),
        DatagramEvent::Handled
    );
    assert_eq!(e.stats().refused_per_peer, 1);
    assert_eq!(e.connection_count(), 3);
    // Another address is not affected.
    let other = SocketAddr::from(([10, 7, 7, 8], 5000));
    assert!(matches!(
        e.handle_datagram(now, other, &syn(300, 1)),
        DatagramEvent::Incoming(_)
    ));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "10,000 SYNs: too slow under Miri; no unsafe code on this path"
)]
fn a_syn_flood_evicts_only_half_open_connections_oldest_first() {
    let limit = 8;
    let (mut ea, mut eb, ha, hb) = established(Config {
        max_half_open: limit,
        ..config()
    });
    let mut now = Instant::from_micros(2_000_000);
    let mut flood = Vec::new();
    let mut errors = Vec::new();
    for i in 0..10_000u32 {
        now += Duration::from_micros(10);
        if let DatagramEvent::Incoming(inc) = eb.handle_datagram(now, spoofed(i), &syn(i as u16, 7))
        {
            flood.push(eb.accept(now, inc).expect("a new SYN always gets a chance"));
        }
        drain(&mut eb, now);
        assert!(eb.half_open_count() <= limit);
        // The application closes what failed, as it is told to.
        while let Some((h, ev)) = eb.poll_event() {
            if let Event::Error(e) = ev {
                errors.push((h, e));
                eb.close(now, h).expect("close");
            }
        }
        drain(&mut eb, now);
        assert!(eb.connection_count() <= 1 + limit + 1);
    }
    assert_eq!(flood.len(), 10_000);
    assert_eq!(eb.stats().half_open_evicted, 10_000 - limit as u64);
    // The application learned of each eviction, oldest first, with its own error.
    assert_eq!(errors.len(), 10_000 - limit);
    assert_eq!(errors[0], (flood[0], ConnectionError::Evicted));
    assert!(errors
        .iter()
        .all(|&(h, e)| h != hb && e == ConnectionError::Evicted));
    assert_eq!(eb.connection_count(), 1 + limit);
    // The established connection still works.
    assert_eq!(eb.state(hb), Ok(crate::proto::State::Connected));
    ea.write(ha, b" world").expect("write");
    exchange(&mut ea, &mut eb, now);
    let mut buf = [0u8; 32];
    assert_eq!(eb.read(hb, &mut buf), Ok(11));
    assert_eq!(&buf[..11], b"hello world");
}

#[test]
fn a_full_endpoint_still_admits_a_syn_by_evicting_a_half_open_one() {
    let (_, mut eb, _, hb) = established(Config {
        max_connections: 4,
        ..config()
    });
    let now = Instant::from_micros(2_000_000);
    for i in 0..3 {
        if let DatagramEvent::Incoming(inc) = eb.handle_datagram(now, spoofed(i), &syn(9, 1)) {
            eb.accept(now, inc).expect("accept");
        }
    }
    assert_eq!(eb.connection_count(), 4);
    let DatagramEvent::Incoming(inc) = eb.handle_datagram(now, spoofed(99), &syn(9, 1)) else {
        panic!("a full endpoint with half-open connections must still offer the SYN");
    };
    eb.accept(now, inc).expect("room made by eviction");
    assert_eq!(eb.stats().half_open_evicted, 1);
    assert_eq!(eb.state(hb), Ok(crate::proto::State::Connected));
}

/// The connection's (send id, next sequence number, oldest unacknowledged one).
fn ids(e: &Endpoint, h: ConnectionHandle) -> (u16, SeqNr, SeqNr) {
    let c = &e.connections[&h];
    (
        c.send_id(),
        c.send_queue().next_seq(),
        c.send_queue().base(),
    )
}

fn reset(connection_id: u16, ack_nr: SeqNr) -> Vec<u8> {
    datagram(
        &Header {
            packet_type: PacketType::Reset,
            connection_id,
            timestamp: WireTime(5),
            timestamp_diff: 0,
            window: 0,
            seq_nr: SeqNr(4242),
            ack_nr,
        },
        &Extensions::default(),
        &[],
    )
}

#[test]
fn a_reset_acknowledging_a_sequence_number_never_sent_is_ignored() {
    let (mut ea, _, ha, _) = established(config());
    let now = Instant::from_micros(3_000_000);
    let (send_id, next, base) = ids(&ea, ha);
    for forged in [next.add(1), next.add(1000), base.sub(65), base.sub(20_000)] {
        ea.handle_datagram(now, b(), &reset(send_id, forged));
        assert_eq!(
            ea.state(ha),
            Ok(crate::proto::State::Connected),
            "{forged:?}"
        );
    }
    assert_eq!(ea.stats().resets_ignored, 4);
    assert_eq!(ea.connection_stats(ha).map(|s| s.resets_ignored), Ok(4));
    // What libutp sends for our next ST_STATE (ack_nr = its seq_nr = our next number) counts.
    ea.handle_datagram(now, b(), &reset(send_id, next));
    assert_eq!(
        ea.poll_event(),
        Some((ha, Event::Error(ConnectionError::Reset)))
    );
}

#[test]
fn a_reset_for_a_recently_acknowledged_packet_is_believed() {
    let (mut ea, _, ha, _) = established(config());
    let now = Instant::from_micros(3_000_000);
    let (send_id, _, base) = ids(&ea, ha);
    ea.handle_datagram(now, b(), &reset(send_id, base.sub(3)));
    assert_eq!(
        ea.poll_event(),
        Some((ha, Event::Error(ConnectionError::Reset)))
    );
}

#[test]
fn a_reset_answering_our_syn_refuses_the_connection() {
    let mut ea = Endpoint::new(config(), 1).expect("endpoint");
    let now = Instant::from_micros(1_000);
    let ha = ea.connect(now, b()).expect("connect");
    let syn = drain(&mut ea, now).remove(0);
    let h = Header::decode(&syn).expect("SYN");
    // A forged one first: ignored.
    ea.handle_datagram(now, b(), &reset(h.connection_id, h.seq_nr.add(500)));
    assert_eq!(ea.poll_event(), None);
    ea.handle_datagram(now, b(), &reset(h.connection_id, h.seq_nr));
    assert_eq!(
        ea.poll_event(),
        Some((ha, Event::Error(ConnectionError::Refused)))
    );
}

/// An ST_STATE from B to A acknowledging `ack_nr`, with an optional selective ACK.
fn ack(recv_id: u16, ack_nr: SeqNr, timestamp: u32, sack: Option<&[u8]>) -> Vec<u8> {
    datagram(
        &Header {
            packet_type: PacketType::State,
            connection_id: recv_id,
            timestamp: WireTime(timestamp),
            timestamp_diff: 1000,
            window: 1 << 20,
            seq_nr: SeqNr(1),
            ack_nr,
        },
        &Extensions {
            selective_ack: sack,
            close_reason: None,
        },
        &[],
    )
}

/// A after sending `n` full packets to B that B never sees: A's handle, B's receive id for
/// them (what A's packets carry), and A's first data sequence number.
fn sending(n: usize) -> (Endpoint, ConnectionHandle, u16, SeqNr, Instant) {
    let (mut ea, _, ha, _) = established(config());
    let now = Instant::from_micros(3_000_000);
    let (_, next, _) = ids(&ea, ha);
    let recv_id = ea.connections[&ha].recv_id();
    let data = vec![7u8; n * 1400];
    let mut written = 0;
    while written < data.len() {
        written += ea.write(ha, &data[written..]).expect("write");
    }
    let sent = drain(&mut ea, now);
    assert!(sent.len() >= 2, "sent {}", sent.len());
    (ea, ha, recv_id, next, now)
}

#[test]
fn a_selective_ack_of_a_packet_never_sent_drops_the_whole_ack() {
    let (mut ea, ha, id, first, now) = sending(8);
    let next = ids(&ea, ha).1;
    let in_flight = ea.connections[&ha].send_queue().in_flight();
    // Acknowledges the first packet and selectively one far beyond what was sent.
    let ahead = usize::from(next.distance_from(first)) + 10;
    let mut mask = [0u8; 8];
    sack_set_bit(&mut mask, 0);
    sack_set_bit(&mut mask, ahead - 2);
    ea.handle_datagram(now, b(), &ack(id, first, 10, Some(&mask)));
    assert_eq!(ea.stats().implausible_acks, 1);
    assert_eq!(
        ea.connections[&ha].send_queue().in_flight(),
        in_flight,
        "nothing acknowledged"
    );
    // A genuine one (nothing in order yet, the second packet held) is taken.
    let mut mask = [0u8; 4];
    sack_set_bit(&mut mask, 0);
    ea.handle_datagram(now, b(), &ack(id, first.prev(), 11, Some(&mask)));
    assert_eq!(ea.stats().implausible_acks, 1);
    assert!(ea.connections[&ha].send_queue().in_flight() < in_flight);
}

#[test]
fn a_cumulative_ack_of_a_packet_never_sent_is_dropped() {
    let (mut ea, ha, id, _, now) = sending(4);
    let next = ids(&ea, ha).1;
    let cwnd = ea.connection_stats(ha).expect("stats").cwnd;
    ea.handle_datagram(now, b(), &ack(id, next.add(5), 10, None));
    assert_eq!(ea.stats().implausible_acks, 1);
    assert_eq!(ea.connection_stats(ha).expect("stats").cwnd, cwnd);
    assert!(!ea.connections[&ha].send_queue().is_empty());
}

#[test]
fn repeated_and_divided_acks_grow_the_window_no_more_than_one_ack() {
    // One ACK covering the two packets in flight...
    let (mut one, h1, id1, first1, now) = sending(8);
    one.handle_datagram(now, b(), &ack(id1, first1.add(1), 10, None));
    let cwnd_one = one.connection_stats(h1).expect("stats").cwnd;
    // ...against two ACKs of one packet each, then the last repeated many times with
    // distinct timestamps (duplicates) and with selective ACKs that say nothing new.
    let (mut many, h2, id2, first2, now) = sending(8);
    for i in 0..2u16 {
        many.handle_datagram(now, b(), &ack(id2, first2.add(i), 10 + u32::from(i), None));
    }
    let after_two = many.connection_stats(h2).expect("stats").cwnd;
    let mut mask = [0u8; 4];
    sack_set_bit(&mut mask, 0);
    for t in 0..1000u32 {
        let sack = (t % 2 == 0).then_some(&mask[..]);
        many.handle_datagram(now, b(), &ack(id2, first2.add(1), 100 + t, sack));
    }
    let cwnd_many = many.connection_stats(h2).expect("stats").cwnd;
    let c = &many.connections[&h2];
    let packet = u64::from(c.stats().mtu);
    assert!(
        after_two <= cwnd_one + packet,
        "divided ACKs grew the window to {after_two}, one ACK to {cwnd_one}"
    );
    assert!(
        cwnd_many <= after_two + packet,
        "duplicates grew it to {cwnd_many}"
    );
    // Duplicate ACKs widen the window by at most what is in flight.
    assert!(c.undescribed() <= c.send_queue().in_flight());
}

#[test]
fn a_window_closed_forever_times_out_after_the_probe_limit() {
    let (at, error) = closed_window_forever(Some(5)).expect("a closed window must time out");
    assert_eq!(error, ConnectionError::TimedOut);
    // Five probes backing off from the 1 s initial RTO: within two minutes of closing.
    assert!(
        at < Instant::from_micros(3_000_000 + 120_000_000),
        "failed at {at:?}"
    );
    // Without the limit the connection stays (the peer answers every probe).
    assert_eq!(closed_window_forever(None), None);
}

/// A peer that answers every window probe with a zero window, for an hour: when and how the
/// connection failed, if it did.
fn closed_window_forever(limit: Option<u32>) -> Option<(Instant, ConnectionError)> {
    let (mut ea, _, ha, _) = established(Config {
        max_window_probes: limit,
        ..config()
    });
    let id = ea.connections[&ha].recv_id();
    let mut now = Instant::from_micros(3_000_000);
    // The peer closes its window, and answers every probe with a zero window.
    let closed = |ack_nr: SeqNr, t: u32| {
        datagram(
            &Header {
                packet_type: PacketType::State,
                connection_id: id,
                timestamp: WireTime(t),
                timestamp_diff: 1000,
                window: 0,
                seq_nr: SeqNr(1),
                ack_nr,
            },
            &Extensions::default(),
            &[],
        )
    };
    let last_acked = ea.connections[&ha].send_queue().base().prev();
    ea.handle_datagram(now, b(), &closed(last_acked, 1));
    ea.write(ha, &[1u8; 5000]).expect("write");
    drain(&mut ea, now);
    let mut failed_at = None;
    let mut probes = 0;
    for t in 0..10_000u32 {
        let Some(at) = ea.poll_timeout() else { break };
        if at > Instant::from_micros(3_600_000_000) {
            break;
        }
        now = at;
        ea.handle_timeout(now);
        if !drain(&mut ea, now).is_empty() {
            probes += 1;
            ea.handle_datagram(now, b(), &closed(last_acked, 2 + t));
        }
        if let Some((_, Event::Error(e))) =
            std::iter::from_fn(|| ea.poll_event()).find(|(_, ev)| matches!(ev, Event::Error(_)))
        {
            failed_at = Some((now, e));
            break;
        }
    }
    assert!(probes >= limit.unwrap_or(5), "only {probes} probes sent");
    failed_at
}

#[test]
fn any_reset_from_the_peer_ends_a_half_open_connection() {
    // The initiator aborts before our SYN-ACK reached it: its RESET cannot name our numbers.
    let mut ea = Endpoint::new(config(), 1).expect("endpoint");
    let mut eb = Endpoint::new(config(), 2).expect("endpoint");
    let now = Instant::from_micros(1_000);
    let ha = ea.connect(now, b()).expect("connect");
    let syn = drain(&mut ea, now).remove(0);
    let DatagramEvent::Incoming(i) = eb.handle_datagram(now, a(), &syn) else {
        panic!("SYN not offered");
    };
    let hb = eb.accept(now, i).expect("accept");
    drain(&mut eb, now); // the SYN-ACK is lost
    assert!(eb.is_half_open(hb));
    ea.abort(now, ha).expect("abort");
    for datagram in drain(&mut ea, now) {
        eb.handle_datagram(now, a(), &datagram);
    }
    let events: Vec<_> = std::iter::from_fn(|| eb.poll_event()).collect();
    assert!(
        events.contains(&(hb, Event::Error(ConnectionError::Reset))),
        "{events:?}"
    );
}

#[test]
fn a_peer_that_selectively_acknowledges_all_but_the_first_packet_forever_times_out() {
    let (mut ea, _, ha, _) = established(config());
    let id = ea.connections[&ha].recv_id();
    let first = ids(&ea, ha).1;
    let mut now = Instant::from_micros(3_000_000);
    ea.write(ha, &vec![3u8; 200_000]).expect("write");
    let start = now;
    let mut failed = None;
    let mut t = 100u32;
    for _ in 0..100_000 {
        let sent = drain(&mut ea, now);
        for _ in &sent {
            // Everything after the first packet arrived; the first never does.
            let next = ids(&ea, ha).1;
            let held = usize::from(next.distance_from(first))
                .saturating_sub(1)
                .min(2016);
            let mut mask = vec![0u8; held.div_ceil(32).max(1) * 4];
            for i in 0..held {
                sack_set_bit(&mut mask, i);
            }
            t += 1;
            ea.handle_datagram(now, b(), &ack(id, first.prev(), t, Some(&mask)));
        }
        let c = &ea.connections[&ha];
        assert!(c.send_queue().buffered_payload() <= config().send_buffer_cap());
        if let Some((_, Event::Error(e))) =
            std::iter::from_fn(|| ea.poll_event()).find(|(_, ev)| matches!(ev, Event::Error(_)))
        {
            failed = Some((now, e));
            break;
        }
        if sent.is_empty() {
            let Some(at) = ea.poll_timeout() else { break };
            now = at;
            ea.handle_timeout(now);
        }
    }
    let (at, error) = failed.expect("a peer that never acknowledges must time out");
    assert_eq!(error, ConnectionError::TimedOut);
    // max_retransmits (6) timeouts of the first packet, backing off from the initial RTO.
    let took = at.saturating_duration_since(start);
    assert!(took < Duration::from_secs(300), "took {took:?}");
}

#[test]
fn stray_packets_get_resets_at_the_configured_rate_and_no_faster() {
    let config = config();
    let (burst, rate) = (u64::from(config.reset_burst), u64::from(config.reset_rate));
    let mut e = Endpoint::new(config, 1).expect("endpoint");
    let mut buf = [0u8; 2048];
    let stray = |i: u16| {
        datagram(
            &Header {
                packet_type: PacketType::State,
                connection_id: i,
                timestamp: WireTime(1),
                timestamp_diff: 0,
                window: 0,
                seq_nr: SeqNr(i),
                ack_nr: SeqNr(0),
            },
            &Extensions::default(),
            &[],
        )
    };
    // A packet every 7 ms for 10 s: after the burst, RESETs follow the rate exactly.
    let mut now = Instant::from_micros(1_000_000);
    let mut sent = 0;
    for i in 0..10_000 / 7 {
        e.handle_datagram(now, a(), &stray(i as u16));
        while e.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        now += Duration::from_millis(7);
    }
    let expected = burst + rate * 10;
    assert!(
        sent + 2 >= expected && sent <= expected,
        "{sent} RESETs, expected about {expected}"
    );
    assert_eq!(e.stats().resets_sent, sent);
    assert_eq!(e.stats().resets_suppressed, (10_000 / 7) - sent);
}
