//! A spoofed SYN flood against a server with an established transfer under way: the transfer
//! finishes byte-exact, what the server holds stays bounded by the half-open and per-address
//! limits, and a legitimate newcomer's connection succeeds during the flood.

use crate::harness::*;
use std::net::SocketAddr;
use std::time::Duration;
use utp::proto::{Config, Endpoint};
use utp::sim::app::{EndpointNode, Plan};

/// A SYN as a flooding host would forge it.
fn syn(connection_id: u16) -> Vec<u8> {
    crate::forge::syn(connection_id, connection_id ^ 0x5A5A)
}

/// Spoofed source `i`: one of 65 536 addresses in 172.16.0.0/16, a port from `i` too.
fn spoofed(i: u32) -> SocketAddr {
    let i = i.wrapping_mul(2_654_435_761);
    SocketAddr::from((
        [172, 16, (i >> 24) as u8, (i >> 16) as u8],
        1024 + (i & 0x7FFF) as u16,
    ))
}

/// One flooding host varying only its port.
fn one_host(i: u32) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 1024 + (i % 60_000) as u16))
}

#[test]
fn a_spoofed_syn_flood_leaves_established_and_new_connections_working() {
    const BYTES: u64 = 4 * MIB;
    const NEWCOMER_BYTES: u64 = 256 * 1024;
    /// SYNs per millisecond of virtual time: 3 from spoofed addresses, 2 from one host (which
    /// would hold 2/5 of the half-open connections, over 100, without the per-address limit).
    const SPOOFED_PER_MS: u32 = 3;
    const ONE_HOST_PER_MS: u32 = 2;
    const FLOOD_MS: u32 = 10_000;
    let config = Config::default();
    let half_open_limit = config.max_half_open;
    let per_ip_limit = config.max_connections_per_ip;
    let mut pair = Pair::new("SYN flood", 80, config.clone(), delay_ms(10), delay_ms(10));
    let a_handle = pair.start_transfer(BYTES, 0);
    pair.run_until_b_received(128 * 1024);
    let newcomer: SocketAddr = "10.0.0.3:6881".parse().unwrap();
    let c = pair.sim.add_node(
        newcomer,
        EndpointNode::new(Endpoint::new(config, 0xC).unwrap()),
    );
    let (b, to_b) = (pair.b, addr_b());
    pair.sim.set_link(newcomer, to_b, delay_ms(10));
    pair.sim.set_link(to_b, newcomer, delay_ms(10));
    let mut most_held = 0;
    let mut newcomer_handle = None;
    let mut sent = 0u32;
    for ms in 0..FLOOD_MS {
        pair.sim.with_node(b, |node, now| {
            for k in 0..SPOOFED_PER_MS {
                let i = ms * SPOOFED_PER_MS + k;
                utp::sim::Node::handle_datagram(node, now, spoofed(i), &syn(i as u16));
            }
            for k in 0..ONE_HOST_PER_MS {
                let i = ms * ONE_HOST_PER_MS + k;
                utp::sim::Node::handle_datagram(node, now, one_host(i), &syn(i as u16));
            }
        });
        sent += SPOOFED_PER_MS + ONE_HOST_PER_MS;
        if ms == FLOOD_MS / 2 {
            // A legitimate peer connects in the middle of the flood.
            newcomer_handle = Some(pair.sim.with_node(c, |node, now| {
                node.connect(now, to_b, Plan::transfer(NEWCOMER_BYTES, SEED_A, 0, SEED_B))
            }));
        }
        pair.sim.run_for(Duration::from_millis(1));
        let endpoint = &pair.b().endpoint;
        assert!(endpoint.half_open_count() <= half_open_limit);
        most_held = most_held.max(endpoint.connection_count());
    }
    // Everything still running finishes.
    let a = pair.a;
    let deadline = pair.sim.now() + Duration::from_secs(60);
    let done = pair.sim.run_until(deadline, |sim| {
        sim.node(a).conn(a_handle).closed_at.is_some()
            && sim.node(c).conns.values().all(|x| x.closed_at.is_some())
    });
    assert!(done, "the transfers did not finish after the flood");

    // The established transfer: byte-exact, no error.
    let ca = pair.a().conn(a_handle);
    assert!(ca.errors.is_empty(), "A got errors {:?}", ca.errors);
    let from_a = pair
        .b()
        .conns
        .values()
        .find(|x| x.received == BYTES)
        .expect("B received A's bytes in full");
    assert_eq!(from_a.mismatch_at, None);
    assert!(from_a.errors.is_empty());
    // The newcomer connected and delivered, byte-exact.
    let cc = pair
        .sim
        .node(c)
        .conn(newcomer_handle.expect("newcomer started"));
    assert!(cc.connected_at.is_some(), "the newcomer never connected");
    assert!(
        cc.errors.is_empty(),
        "the newcomer got errors {:?}",
        cc.errors
    );
    assert_eq!(cc.sent, NEWCOMER_BYTES);
    let from_c = pair
        .b()
        .conns
        .values()
        .find(|x| x.received == NEWCOMER_BYTES)
        .expect("B received the newcomer's bytes in full");
    assert_eq!(from_c.mismatch_at, None);
    // What the server held stayed bounded: the half-open ones, the one flooding host's share,
    // and the two genuine connections.
    let stats = pair.b().endpoint.stats();
    assert!(
        most_held <= half_open_limit + per_ip_limit + 2,
        "held {most_held} connections during the flood"
    );
    assert!(stats.half_open_evicted > u64::from(sent) / 2);
    assert!(stats.refused_per_peer > 0);
    println!(
        "scenario {:<40} SYNs {sent}  most held {most_held}  evicted {}  refused per address {}  virtual {:.3} s",
        "SYN flood",
        stats.half_open_evicted,
        stats.refused_per_peer,
        pair.sim.now().as_micros() as f64 / 1e6
    );
}
