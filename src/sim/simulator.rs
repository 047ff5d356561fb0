//! The event loop: virtual time, the nodes, and the order in which things happen (documented on
//! [`Sim`]).

use super::flights::Next;
use super::hook::{HookInfo, Verdict};
use super::link::config::LinkConfig;
use super::link::stats::LinkStats;
use super::network::Network;
use super::node::Node;
use super::seed::SeedReporter;
use crate::proto::time::Instant;
use core::time::Duration;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Size of the buffer handed to [`Node::poll_transmit`]: the largest UDP payload, rounded up.
pub const MAX_DATAGRAM: usize = 65_536;

/// How many times a node may be given `handle_timeout` at one instant before the simulator
/// declares a livelock (a deadline that never moves past the current time) and panics.
pub const LIVELOCK_LIMIT: u32 = 100_000;

/// A node with its address and what the simulator remembers about it.
struct Slot<N> {
    addr: SocketAddr,
    node: N,
    /// The node's last `poll_timeout`.
    deadline: Option<Instant>,
    /// Touched from outside since its last flush.
    dirty: bool,
    /// Last destination and its link index.
    route: Option<(SocketAddr, usize)>,
    /// The instant of its last timeout and how many it got at that instant.
    spin: (Instant, u32),
}

/// A deterministic simulation of nodes exchanging datagrams over impaired links.
///
/// Every random choice derives from the seed given to [`Sim::new`], so a run replays exactly.
/// When a `Sim` is dropped during a panic it prints `RUTP_SIM_SEED=<seed>` to stderr.
///
/// # Order of events
/// Time only moves forward, to the earliest pending event. At one instant:
/// 1. nodes touched through [`Sim::node_mut`] (or just added) are flushed first, in index order;
/// 2. then datagram events (deliveries, and datagrams reaching a bottleneck queue), in the order
///    they were scheduled (a global sequence number);
/// 3. then node deadlines, earliest first, equal ones lowest node index first. A deadline already
///    in the past fires at the current time.
///
/// Each [`Sim::step`] handles exactly one event. After every input to a node the simulator drains
/// its `poll_transmit` into the network (each datagram enters its link at once, in the order
/// polled) and then reads its `poll_timeout`, which it keeps until the node's next input.
pub struct Sim<N> {
    reporter: SeedReporter,
    now: Instant,
    slots: Vec<Slot<N>>,
    by_addr: HashMap<SocketAddr, usize>,
    network: Network,
    scratch: Box<[u8]>,
    any_dirty: bool,
}

impl<N: Node> Sim<N> {
    /// An empty simulation at time zero, whose randomness all derives from `seed`. Links are
    /// pass-through until configured.
    pub fn new(seed: u64) -> Self {
        Sim {
            reporter: SeedReporter::new(seed),
            now: Instant::ZERO,
            slots: Vec::new(),
            by_addr: HashMap::new(),
            network: Network::new(seed),
            scratch: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            any_dirty: false,
        }
    }

    /// The seed this simulation runs from.
    pub fn seed(&self) -> u64 {
        self.reporter.seed()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds `node` at `addr` and returns its index. Its transmits and deadline are read before
    /// the next event.
    ///
    /// # Panics
    /// When another node already has `addr`.
    pub fn add_node(&mut self, addr: SocketAddr, node: N) -> usize {
        let index = self.slots.len();
        if self.by_addr.insert(addr, index).is_some() {
            panic!("sim: two nodes at {addr}");
        }
        self.slots.push(Slot {
            addr,
            node,
            deadline: None,
            dirty: true,
            route: None,
            spin: (Instant::ZERO, 0),
        });
        self.any_dirty = true;
        index
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    /// The address of node `index`.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.slots[index].addr
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> &N {
        &self.slots[index].node
    }

    /// Node `index`, for changing it from outside. The simulator drains its transmits and
    /// rereads its deadline before the next event; use [`Sim::with_node`] to do so at once.
    pub fn node_mut(&mut self, index: usize) -> &mut N {
        self.slots[index].dirty = true;
        self.any_dirty = true;
        &mut self.slots[index].node
    }

    /// Runs `f` on node `index` at the current time, then drains its transmits into the network
    /// and rereads its deadline. Returns what `f` returns.
    pub fn with_node<R>(&mut self, index: usize, f: impl FnOnce(&mut N, Instant) -> R) -> R {
        let result = f(&mut self.slots[index].node, self.now);
        self.flush(index);
        result
    }

    /// Configures the `from` → `to` direction (the other direction is separate). Datagrams already
    /// past a stage are not affected; one waiting at a bottleneck resumes in the new chain at the
    /// same position.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        self.network.set_link(from, to, &config);
    }

    /// Configures every direction not configured with [`Sim::set_link`], present and future.
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.network.set_default_link(config);
    }

    /// Adds a hook that sees every datagram as it is sent, before its link's impairments; see
    /// [`Verdict`]. Hooks run in the order added.
    pub fn add_hook(&mut self, hook: impl FnMut(&HookInfo<'_>) -> Verdict + 'static) {
        self.network.add_hook(Box::new(hook));
    }

    /// Counters of the `from` → `to` direction (all zero if it never carried or was configured).
    pub fn link_stats(&self, from: SocketAddr, to: SocketAddr) -> LinkStats {
        self.network.stats(from, to)
    }

    /// Counters summed over every direction.
    pub fn total_stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for link in &self.network.links {
            total += link.stats;
        }
        total
    }

    /// Datagrams in flight (copies included).
    pub fn in_flight(&self) -> usize {
        self.network.flights.len()
    }

    /// Datagram buffers allocated so far. Buffers are pooled, so this stops growing once the pool
    /// covers the most datagrams ever in flight at once.
    pub fn buffers_allocated(&self) -> usize {
        self.network.flights.buffers_created()
    }

    /// When the next event is due, if any: the earliest datagram event or node deadline (a
    /// deadline in the past counts as now). Nodes touched from outside are flushed first.
    pub fn next_event(&mut self) -> Option<Instant> {
        self.flush_dirty();
        let flight = self.network.flights.next_time();
        let timer = self.earliest_deadline().map(|(_, at)| at);
        match (flight, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next event and handles it: one delivery, one datagram reaching a queue,
    /// or one node's timeout. Returns `false` when nothing is pending.
    pub fn step(&mut self) -> bool {
        self.flush_dirty();
        let flight = self.network.flights.next_time();
        let timer = self.earliest_deadline();
        match (flight, timer) {
            (None, None) => false,
            (Some(f), Some((index, t))) if t < f => {
                self.fire_timeout(index, t);
                true
            }
            (Some(_), _) => {
                self.next_flight();
                true
            }
            (None, Some((index, t))) => {
                self.fire_timeout(index, t);
                true
            }
        }
    }

    /// Steps until `done` returns true (checked before the first step and after every step) or
    /// no event is due by `deadline`. Returns whether `done` became true. When it did not, the
    /// clock ends at `deadline` (if that is later than now).
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&mut Sim<N>) -> bool,
    ) -> bool {
        if done(self) {
            return true;
        }
        while self.next_event().is_some_and(|at| at <= deadline) {
            self.step();
            if done(self) {
                return true;
            }
        }
        self.now = self.now.max(deadline);
        false
    }

    /// Runs every event due within `duration` from now; the clock ends `duration` later.
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = self.now + duration;
        self.run_until(deadline, |_| false);
    }

    /// The node deadline that fires next, and when (never earlier than now).
    fn earliest_deadline(&self) -> Option<(usize, Instant)> {
        let mut best: Option<(usize, Instant)> = None;
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(at) = slot.deadline {
                if best.is_none_or(|(_, b)| at < b) {
                    best = Some((index, at));
                }
            }
        }
        best.map(|(index, at)| (index, at.max(self.now)))
    }

    fn fire_timeout(&mut self, index: usize, at: Instant) {
        self.now = at;
        let slot = &mut self.slots[index];
        if slot.spin.0 == at {
            slot.spin.1 += 1;
            if slot.spin.1 > LIVELOCK_LIMIT {
                panic!(
                    "sim livelock: node {index} at {} asked for handle_timeout more than {LIVELOCK_LIMIT} times at {at:?} \
                     without time advancing (replay with RUTP_SIM_SEED={})",
                    slot.addr,
                    self.reporter.seed()
                );
            }
        } else {
            slot.spin = (at, 1);
        }
        slot.node.handle_timeout(at);
        self.flush(index);
    }

    fn next_flight(&mut self) {
        let Some(flight) = self.network.flights.pop() else {
            return;
        };
        self.now = flight.at;
        match flight.next {
            Next::Stage(stage) => {
                self.network
                    .advance(self.now, flight.link, stage, flight.at, flight.data)
            }
            Next::Deliver => self.deliver(flight.link, flight.data),
        }
    }

    fn deliver(&mut self, link_index: usize, data: Vec<u8>) {
        let link = &mut self.network.links[link_index];
        let target = match link.to_node {
            Some(node) => Some(node),
            None => {
                link.to_node = self.by_addr.get(&link.to).copied();
                link.to_node
            }
        };
        let Some(node) = target else {
            link.stats.unroutable += 1;
            self.network.flights.recycle(data);
            return;
        };
        link.stats.delivered += 1;
        link.stats.delivered_bytes += data.len() as u64;
        let from = link.from;
        self.slots[node].node.handle_datagram(self.now, from, &data);
        self.network.flights.recycle(data);
        self.flush(node);
    }

    /// Drains node `index`'s transmits into the network, then rereads its deadline.
    fn flush(&mut self, index: usize) {
        let now = self.now;
        let slot = &mut self.slots[index];
        while let Some(transmit) = slot.node.poll_transmit(now, &mut self.scratch) {
            let Some(data) = self.scratch.get(..transmit.len) else {
                panic!("sim: node {index} reported a {}-byte transmit from a {MAX_DATAGRAM}-byte buffer", transmit.len);
            };
            let link = self
                .network
                .route(slot.addr, transmit.destination, &mut slot.route);
            self.network.send(now, link, data);
        }
        slot.deadline = slot.node.poll_timeout();
        slot.dirty = false;
    }

    fn flush_dirty(&mut self) {
        if !self.any_dirty {
            return;
        }
        self.any_dirty = false;
        for index in 0..self.slots.len() {
            if self.slots[index].dirty {
                self.flush(index);
            }
        }
    }
}
