//! A uTP endpoint and a NewReno end behind one address: one link, datagrams routed by their
//! first byte.

use crate::proto::{Config, Endpoint};
use crate::sim::app::{EndpointNode, Plan};
use crate::sim::host::Host;
use crate::sim::newreno::{RenoNode, RenoReceiver, RenoSender};
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;
use std::net::SocketAddr;

fn a() -> SocketAddr {
    "10.0.0.1:6881".parse().unwrap()
}

fn b() -> SocketAddr {
    "10.0.0.2:6881".parse().unwrap()
}

#[test]
fn both_flows_share_the_address_pair_and_each_gets_only_its_own_datagrams() {
    const BYTES: u64 = 300_000;
    let mut sim: Sim<Host> = Sim::new(41);
    let endpoint = |salt| EndpointNode::new(Endpoint::new(Config::default(), salt).unwrap());
    let mut host_a = Host::utp(endpoint(1));
    host_a.reno = Some(RenoNode::Sender(
        RenoSender::new(b(), 1402).limited_to(BYTES),
    ));
    let mut host_b = Host::utp(endpoint(2));
    host_b.endpoint_mut().accept_plan = Some(Plan::transfer(0, 2, BYTES, 1));
    host_b.reno = Some(RenoNode::Receiver(RenoReceiver::new()));
    let ia = sim.add_node(a(), host_a);
    let ib = sim.add_node(b(), host_b);
    sim.set_default_link(LinkConfig::new().delay(Duration::from_millis(5)));
    sim.with_node(ia, |h, now| {
        h.endpoint_mut()
            .connect(now, b(), Plan::transfer(BYTES, 1, 0, 2))
    });
    sim.run_for(Duration::from_secs(5));
    let (_, utp) = sim.node(ib).endpoint().single();
    assert!(
        utp.received_all(),
        "uTP delivered intact: {} bytes",
        utp.received
    );
    assert!(utp.errors.is_empty());
    assert_eq!(sim.node(ib).newreno().receiver().delivered(), BYTES);
    assert!(sim.node(ia).newreno().sender().is_done());
    // One link per direction carried both flows.
    let stats = sim.link_stats(a(), b());
    let reno_segments = sim.node(ib).newreno().receiver().segments();
    assert!(stats.delivered > reno_segments, "uTP's datagrams too");
}
