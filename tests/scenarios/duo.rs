//! Plumbing for scenarios where uTP meets the NewReno model: two hosts `A` (senders) and `B`
//! (receivers), each carrying a uTP endpoint, a NewReno end, or both behind one address, so that
//! every flow from A to B crosses the same link and its one bottleneck queue; a mirror of that
//! queue for the queueing delay; and per-100 ms sampling of what each flow delivered.

use crate::harness::{addr_a, addr_b, SEED_A, SEED_B};
use crate::queue_probe::QueueProbe;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::{Config, ConnectionStats, Endpoint, Instant};
use utp::sim::app::{EndpointNode, Plan};
use utp::sim::host::Host;
use utp::sim::newreno::{RenoNode, RenoReceiver, RenoSender};
use utp::sim::{seed_from_env, LinkConfig, Sim};

/// 100 Mbit/s in bytes per second.
pub const RATE_100M: u64 = 12_500_000;
/// More than any run here sends: the uTP transfer never ends on its own.
pub const ENDLESS: u64 = 1 << 40;
/// uTP's default datagram size (`Config::max_packet_size_v4`), used for NewReno's too.
pub const DATAGRAM: usize = 1402;

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// The path from A to B and back.
#[derive(Debug, Clone, Copy)]
pub struct Path {
    /// Bottleneck rate on A→B, bytes per second.
    pub rate: u64,
    /// Depth of the bottleneck's queue, as the time it takes to drain at `rate`.
    pub queue_time: Duration,
    /// Random loss on A→B after the bottleneck (0 for none).
    pub loss: f64,
    /// Propagation delay each way.
    pub one_way: Duration,
}

impl Path {
    /// Queue capacity in bytes.
    pub fn queue(&self) -> u64 {
        (self.rate as f64 * self.queue_time.as_secs_f64()) as u64
    }

    /// A→B: the bottleneck, then the loss, then propagation. The bottleneck comes first so that
    /// a hook, which sees datagrams as they are sent, can mirror its queue.
    pub fn data_link(&self) -> LinkConfig {
        let link = LinkConfig::new().bottleneck(self.rate, self.queue());
        let link = if self.loss > 0.0 {
            link.loss(self.loss)
        } else {
            link
        };
        link.delay(self.one_way)
    }

    /// B→A: propagation only.
    pub fn ack_link(&self) -> LinkConfig {
        LinkConfig::new().delay(self.one_way)
    }
}

/// Which flows a run carries.
#[derive(Debug, Clone, Copy)]
pub struct Flows {
    /// A uTP transfer from A to B, started at time zero with the default `Config`.
    pub utp: bool,
    /// A NewReno flow from A to B over `[start, stop)` (`stop` `None`: to the end of the run).
    pub reno: Option<(Instant, Option<Instant>)>,
    /// Whether the NewReno flow uses SACK (RFC 2018 blocks, RFC 6675 recovery).
    pub sack: bool,
}

/// Two hosts and their shared path.
pub struct Duo {
    pub sim: Sim<Host>,
    pub a: usize,
    pub b: usize,
    pub probe: Rc<RefCell<QueueProbe>>,
}

impl Duo {
    /// Hosts with `flows` over `path`; the uTP transfer, if any, is started.
    pub fn new(default_seed: u64, flows: Flows, path: Path) -> Duo {
        let seed = seed_from_env(default_seed);
        let mut sim = Sim::new(seed);
        let endpoint = |salt: u64| {
            let mut n = EndpointNode::new(Endpoint::new(Config::default(), seed ^ salt).unwrap());
            n.keep_log = false;
            n
        };
        let mut host_a = Host {
            utp: None,
            reno: None,
        };
        let mut host_b = Host {
            utp: None,
            reno: None,
        };
        if flows.utp {
            host_a.utp = Some(endpoint(0xA));
            let mut server = endpoint(0xB);
            server.accept_plan = Some(Plan::transfer(0, SEED_B, ENDLESS, SEED_A));
            host_b.utp = Some(server);
        }
        if let Some((start, stop)) = flows.reno {
            let mut sender = RenoSender::new(addr_b(), DATAGRAM).starting_at(start);
            if let Some(stop) = stop {
                sender = sender.stopping_at(stop);
            }
            let mut receiver = RenoReceiver::new();
            if flows.sack {
                sender = sender.with_sack();
                receiver = receiver.with_sack();
            }
            host_a.reno = Some(RenoNode::Sender(sender));
            host_b.reno = Some(RenoNode::Receiver(receiver));
        }
        let a = sim.add_node(addr_a(), host_a);
        let b = sim.add_node(addr_b(), host_b);
        sim.set_link(addr_a(), addr_b(), path.data_link());
        sim.set_link(addr_b(), addr_a(), path.ack_link());
        let probe = QueueProbe::install(&mut sim, path.rate, path.queue());
        if flows.utp {
            let to = addr_b();
            sim.with_node(a, |h, now| {
                h.endpoint_mut()
                    .connect(now, to, Plan::transfer(ENDLESS, SEED_A, 0, SEED_B))
            });
        }
        Duo { sim, a, b, probe }
    }

    /// Payload bytes B's uTP application has read (0 before the connection exists).
    pub fn utp_received(&self) -> u64 {
        let host = self.sim.node(self.b);
        host.utp
            .as_ref()
            .map_or(0, |n| n.conns.values().map(|c| c.received).sum())
    }

    /// Payload bytes NewReno delivered in order at B.
    pub fn reno_delivered(&self) -> u64 {
        self.sim
            .node(self.b)
            .reno
            .as_ref()
            .map_or(0, |r| r.receiver().delivered())
    }

    /// The uTP sender's counters, read from the engine now.
    pub fn utp_stats(&self) -> Option<ConnectionStats> {
        let n = self.sim.node(self.a).utp.as_ref()?;
        let (&h, _) = n.conns.iter().next()?;
        n.endpoint.connection_stats(h).ok()
    }

    /// Bytes each flow delivers over `duration` from now.
    pub fn run_measuring(&mut self, duration: Duration) -> (u64, u64) {
        let (u0, r0) = (self.utp_received(), self.reno_delivered());
        self.sim.run_for(duration);
        (self.utp_received() - u0, self.reno_delivered() - r0)
    }
}
