//! Path-MTU discovery as the endpoint's user sees it: what probes look like on the wire, what an
//! acknowledged, a lost and an ICMP-refused probe do (the search itself is tested in
//! `proto::mtu`, whole transfers in the simulator scenarios).

use super::test_support::{a, b, ms};
use super::*;
use crate::proto::mtu::BASE;
use crate::proto::packet::{Packet, PacketType};

/// Every datagram `e` has to send now, with its don't-fragment flag.
fn drain(e: &mut Endpoint, now: Instant) -> Vec<(Vec<u8>, bool)> {
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    while let Some(t) = e.poll_transmit(now, &mut buf) {
        out.push((buf[..t.len].to_vec(), t.dont_fragment));
    }
    out
}

/// Two endpoints with default settings (discovery on), connected at time 0.
fn pair() -> (Endpoint, Endpoint, ConnectionHandle) {
    pair_with(Config::default())
}

/// Two endpoints with `config`, connected at time 0.
fn pair_with(config: Config) -> (Endpoint, Endpoint, ConnectionHandle) {
    let mut ea = Endpoint::new(config.clone(), 1).expect("endpoint");
    let mut eb = Endpoint::new(config, 2).expect("endpoint");
    let ha = ea.connect(ms(0), b()).expect("connect");
    for (syn, _) in drain(&mut ea, ms(0)) {
        if let DatagramEvent::Incoming(i) = eb.handle_datagram(ms(0), a(), &syn) {
            eb.accept(ms(0), i).expect("accept");
        }
    }
    for (d, _) in drain(&mut eb, ms(10)) {
        ea.handle_datagram(ms(10), b(), &d);
    }
    assert_eq!(ea.state(ha), Ok(crate::proto::State::Connected));
    (ea, eb, ha)
}

/// Delivers `datagrams` from A to B at `now`, then B's answers back to A at `now`.
fn deliver(ea: &mut Endpoint, eb: &mut Endpoint, now: Instant, datagrams: &[(Vec<u8>, bool)]) {
    for (d, _) in datagrams {
        eb.handle_datagram(now, a(), d);
    }
    eb.flush_acks();
    for (d, _) in drain(eb, now) {
        ea.handle_datagram(now, b(), &d);
    }
}

#[test]
fn a_probe_is_a_padded_empty_df_data_packet_whose_ack_raises_the_size() {
    let (mut ea, mut eb, ha) = pair();
    ea.write(ha, &[7; 64 * 1024]).expect("write");
    let sent = drain(&mut ea, ms(10));
    let probes: Vec<_> = sent.iter().filter(|(_, df)| *df).collect();
    assert_eq!(probes.len(), 1, "one probe at a time");
    let (probe, _) = probes[0];
    assert_eq!(probe.len(), 1472, "the ceiling is probed first");
    let p = Packet::decode(probe).expect("decodes");
    assert_eq!(p.header.packet_type, PacketType::Data);
    assert!(p.payload.is_empty(), "probes carry no stream data");
    assert!(
        sent.iter()
            .filter(|(_, df)| !df)
            .all(|(d, _)| d.len() <= BASE),
        "data goes at the base size until a probe succeeds"
    );
    deliver(&mut ea, &mut eb, ms(30), &sent);
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!((s.mtu, s.pmtu_probes, s.pmtu_searching), (1472, 1, false));
    let more = drain(&mut ea, ms(30));
    assert!(
        more.iter().any(|(d, df)| !df && d.len() == 1472),
        "full-size data"
    );
    assert!(more.iter().all(|(_, df)| !df), "converged: no more probes");
}

#[test]
fn a_lost_probe_is_no_congestion_and_is_resent_small() {
    let (mut ea, mut eb, ha) = pair();
    ea.write(ha, &[7; 256 * 1024]).expect("write");
    let sent = drain(&mut ea, ms(10));
    let kept: Vec<_> = sent.iter().filter(|(_, df)| !df).cloned().collect();
    assert!(kept.len() < sent.len(), "a probe went out");
    deliver(&mut ea, &mut eb, ms(30), &kept);
    let cwnd_before = ea.connection_stats(ha).expect("stats").cwnd;
    // Later data is acknowledged; the probe is judged lost once a round trip has passed.
    let mut t = 30;
    let mut resent_small = false;
    let mut next_probe = None;
    while t < 400 && next_probe.is_none() {
        t += 5;
        ea.handle_timeout(ms(t));
        let out = drain(&mut ea, ms(t));
        resent_small |= out.iter().any(|(d, df)| {
            !df && Packet::decode(d).is_ok_and(|p| {
                p.header.packet_type == PacketType::Data && p.payload.is_empty() && d.len() < 100
            })
        });
        next_probe = out.iter().find(|(_, df)| *df).map(|(d, _)| d.len());
        deliver(&mut ea, &mut eb, ms(t), &out);
    }
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!(s.pmtu_probes_lost, 1);
    assert!(
        resent_small,
        "the probe's sequence number is resent as a small packet"
    );
    assert_eq!(
        next_probe,
        Some((BASE + 1472) / 2),
        "binary search below the failure"
    );
    assert!(
        s.cwnd >= cwnd_before,
        "window not cut: {} < {cwnd_before}",
        s.cwnd
    );
    assert_eq!(s.timeouts, 0);
    assert_eq!(
        s.mtu as usize,
        (BASE + 1472) / 2,
        "the second probe got through"
    );
}

#[test]
fn icmp_fragmentation_needed_for_a_probe_fails_it_and_the_reported_size_is_probed() {
    let (mut ea, mut eb, ha) = pair();
    ea.write(ha, &[7; 64 * 1024]).expect("write");
    let sent = drain(&mut ea, ms(10));
    let (probe, _) = sent.iter().find(|(_, df)| *df).expect("probe").clone();
    // A router quotes only the start of the datagram, cutting the padding.
    assert!(ea.handle_icmp_fragmentation(b(), &probe[..28], 1400 - 28));
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!(s.pmtu_probes_lost, 1);
    let kept: Vec<_> = sent.iter().filter(|(_, df)| !df).cloned().collect();
    deliver(&mut ea, &mut eb, ms(30), &kept);
    let out = drain(&mut ea, ms(30));
    let next = out.iter().find(|(_, df)| *df).map(|(d, _)| d.len());
    assert_eq!(next, Some(1400 - 28), "the reported size is probed next");
    // A report larger than the packet size never raises it.
    assert!(ea.handle_icmp_fragmentation(b(), &probe[..20], 9000));
    assert_eq!(ea.connection_stats(ha).expect("stats").mtu as usize, BASE);
}

#[test]
fn without_discovery_packets_are_the_maximum_size_and_nothing_is_df() {
    let config = Config {
        pmtu_discovery: false,
        max_packet_size_v4: 1402,
        ..Config::default()
    };
    let (mut ea, _eb, ha) = pair_with(config);
    ea.write(ha, &[7; 64 * 1024]).expect("write");
    let sent = drain(&mut ea, ms(10));
    assert!(sent.iter().all(|(_, df)| !df));
    assert!(sent.iter().any(|(d, _)| d.len() == 1402));
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!((s.mtu, s.pmtu_searching), (1402, false));
}

#[test]
fn a_probe_is_not_lost_while_a_slow_acking_peer_has_not_answered_within_the_rto() {
    // Transmission 3.00 acknowledged after 120 ms and more on a path with a 0.2 ms round trip:
    // a probe deadline of two round trips declared every probe lost, and the search never
    // left the base size. A small write (a BitTorrent request) makes the probe a tail probe.
    let (mut ea, mut eb, ha) = pair();
    ea.write(ha, &[7; 100]).expect("write");
    let sent = drain(&mut ea, ms(10));
    assert!(sent.iter().any(|(_, df)| *df), "a probe went out");
    let mut resent = Vec::new();
    for t in (15..=160).step_by(5) {
        ea.handle_timeout(ms(t));
        resent.extend(drain(&mut ea, ms(t)));
    }
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!(
        s.pmtu_probes_lost, 0,
        "the probe was given up within 150 ms"
    );
    assert!(resent.is_empty(), "{} datagrams resent", resent.len());
    // The peer's late ACK covers the probe: the size rises.
    deliver(&mut ea, &mut eb, ms(160), &sent);
    let s = ea.connection_stats(ha).expect("stats");
    assert_eq!(s.pmtu_probes_lost, 0);
    assert_eq!(s.mtu, 1472, "the probed size is in use");
}
