//! Scenario plumbing: two endpoints `A` (client) and `B` (server) in a simulator, a run loop
//! that ends when both sides are closed, and the summary line.

use std::net::SocketAddr;
use std::time::Duration;
use utp::proto::{Config, ConnectionHandle, ConnectionStats, Endpoint, Instant};
use utp::sim::app::{AppConn, EndpointNode, Plan};
use utp::sim::{seed_from_env, LinkConfig, Sim};

pub const MIB: u64 = 1024 * 1024;

pub fn addr_a() -> SocketAddr {
    "10.0.0.1:6881".parse().unwrap()
}

pub fn addr_b() -> SocketAddr {
    "10.0.0.2:6881".parse().unwrap()
}

/// Pattern seeds of what A and B send.
pub const SEED_A: u64 = 11;
pub const SEED_B: u64 = 22;

/// A two-party scenario.
pub struct Pair {
    pub sim: Sim<EndpointNode>,
    pub a: usize,
    pub b: usize,
    pub name: &'static str,
}

impl Pair {
    /// Endpoints with `config`, links as given (A→B, B→A), B accepting with `server_plan`.
    pub fn new(
        name: &'static str,
        default_seed: u64,
        config: Config,
        ab: LinkConfig,
        ba: LinkConfig,
    ) -> Pair {
        let seed = seed_from_env(default_seed);
        let mut sim = Sim::new(seed);
        let a = sim.add_node(
            addr_a(),
            EndpointNode::new(Endpoint::new(config.clone(), seed ^ 0xA).unwrap()),
        );
        let b = sim.add_node(
            addr_b(),
            EndpointNode::new(Endpoint::new(config, seed ^ 0xB).unwrap()),
        );
        sim.set_link(addr_a(), addr_b(), ab);
        sim.set_link(addr_b(), addr_a(), ba);
        Pair { sim, a, b, name }
    }

    /// Same link both ways.
    pub fn symmetric(name: &'static str, default_seed: u64, link: LinkConfig) -> Pair {
        Pair::new(name, default_seed, Config::default(), link.clone(), link)
    }

    /// B accepts with a plan that sends `b_sends` and expects `a_sends`; A connects and sends
    /// `a_sends` expecting `b_sends`. Returns A's handle.
    pub fn start_transfer(&mut self, a_sends: u64, b_sends: u64) -> ConnectionHandle {
        self.sim.node_mut(self.b).accept_plan =
            Some(Plan::transfer(b_sends, SEED_B, a_sends, SEED_A));
        let to = addr_b();
        self.sim.with_node(self.a, |n, now| {
            n.connect(now, to, Plan::transfer(a_sends, SEED_A, b_sends, SEED_B))
        })
    }

    pub fn a(&self) -> &EndpointNode {
        self.sim.node(self.a)
    }

    pub fn b(&self) -> &EndpointNode {
        self.sim.node(self.b)
    }

    /// Runs until some connection of B has received more than `bytes` (within 30 s of virtual
    /// time), for scenarios that interfere mid-transfer.
    pub fn run_until_b_received(&mut self, bytes: u64) {
        let b = self.b;
        let deadline = self.sim.now() + Duration::from_secs(30);
        let reached = self.sim.run_until(deadline, |sim| {
            sim.node(b).conns.values().any(|c| c.received > bytes)
        });
        assert!(reached, "{}: B never received {bytes} bytes", self.name);
    }

    /// Runs until every connection on both sides is closed, or `limit` of virtual time.
    pub fn run_until_closed(&mut self, limit: Duration) -> bool {
        let deadline = self.sim.now() + limit;
        let (a, b) = (self.a, self.b);
        self.sim.run_until(deadline, move |sim| {
            let all_closed = |n: &EndpointNode| {
                !n.conns.is_empty() && n.conns.values().all(|c| c.closed_at.is_some())
            };
            all_closed(sim.node(a)) && all_closed(sim.node(b))
        })
    }

    /// Asserts a clean two-way transfer: everything delivered byte-exact, EOF and a clean close
    /// on both sides, no error, no event after Closed. Prints the summary line.
    pub fn assert_clean_transfer(&self, a_sends: u64, b_sends: u64) -> Summary {
        let (_, ca) = self.a().single();
        let (_, cb) = self.b().single();
        for (side, c, expect) in [("A", ca, b_sends), ("B", cb, a_sends)] {
            assert!(
                c.errors.is_empty(),
                "{}: side {side} got errors {:?}",
                self.name,
                c.errors
            );
            assert_eq!(
                c.mismatch_at, None,
                "{}: side {side} received corrupted data",
                self.name
            );
            assert_eq!(
                c.received, expect,
                "{}: side {side} received {} of {expect} bytes",
                self.name, c.received
            );
            assert!(c.received_all(), "{}: side {side} never saw EOF", self.name);
            assert!(
                c.closed_at.is_some(),
                "{}: side {side} never closed",
                self.name
            );
            assert_eq!(
                c.events_after_close, 0,
                "{}: side {side} got events after Closed",
                self.name
            );
            assert!(
                c.stats.fast_retransmits <= c.stats.retransmits,
                "{}: side {side} counts more fast retransmits than retransmits",
                self.name
            );
        }
        let s = self.summary();
        s.print();
        s
    }

    pub fn summary(&self) -> Summary {
        let (_, ca) = self.a().single();
        let (_, cb) = self.b().single();
        let end = [ca.closed_at, cb.closed_at, ca.eof_at, cb.eof_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.sim.now());
        let start = ca
            .connected_at
            .unwrap_or(Instant::ZERO)
            .min(cb.connected_at.unwrap_or(Instant::ZERO));
        Summary {
            name: self.name,
            bytes: ca.received + cb.received,
            elapsed: end.saturating_duration_since(start),
            stats: [ca.stats, cb.stats],
        }
    }
}

/// One scenario's outcome.
pub struct Summary {
    pub name: &'static str,
    pub bytes: u64,
    pub elapsed: Duration,
    pub stats: [ConnectionStats; 2],
}

impl Summary {
    pub fn goodput_mib_s(&self) -> f64 {
        self.bytes as f64 / MIB as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn retransmits(&self) -> u64 {
        self.stats.iter().map(|s| s.retransmits).sum()
    }

    pub fn timeouts(&self) -> u64 {
        self.stats.iter().map(|s| s.timeouts).sum()
    }

    pub fn print(&self) {
        println!(
            "scenario {:<40} bytes {:>10}  virtual {:>9.3} s  goodput {:>8.2} MiB/s  retransmits {:>5} (fast {:>5})  timeouts {:>3}",
            self.name,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.goodput_mib_s(),
            self.retransmits(),
            self.stats.iter().map(|s| s.fast_retransmits).sum::<u64>(),
            self.timeouts(),
        );
    }
}

/// A link with a one-way delay of `ms` milliseconds.
pub fn delay_ms(ms: u64) -> LinkConfig {
    LinkConfig::new().delay(Duration::from_millis(ms))
}

/// The connection record of side `node` (exactly one connection).
pub fn only(node: &EndpointNode) -> &AppConn {
    node.single().1
}
