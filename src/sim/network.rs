//! The network between the nodes: every direction's link, the hooks, and the datagrams in
//! flight. It moves datagrams through a link's impairment chain; handing them to nodes is the
//! simulator's job.
//!
//! A datagram's chain runs at the moment it is sent, the arrival time accumulating stage by
//! stage, except that a stage needing the real arrival time (a bottleneck queue) parks it in the
//! event heap until the clock gets there. Arrivals at a queue are therefore processed in time
//! order even when jitter upstream reorders them.

use super::flights::{Flights, Next};
use super::hook::{Hook, HookInfo, Hooks};
use super::link::config::LinkConfig;
use super::link::stats::LinkStats;
use super::link::{Link, Outcome};
use crate::proto::time::Instant;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Links, hooks and flights of one simulation.
pub(super) struct Network {
    seed: u64,
    default: LinkConfig,
    pub(super) links: Vec<Link>,
    by_pair: HashMap<(SocketAddr, SocketAddr), usize>,
    hooks: Hooks,
    pub(super) flights: Flights,
}

impl Network {
    pub(super) fn new(seed: u64) -> Self {
        Network {
            seed,
            default: LinkConfig::new(),
            links: Vec::new(),
            by_pair: HashMap::new(),
            hooks: Hooks::default(),
            flights: Flights::default(),
        }
    }

    /// Configures the `from` → `to` direction; it no longer follows the default.
    pub(super) fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: &LinkConfig) {
        match self.by_pair.get(&(from, to)) {
            Some(&index) => {
                let link = &mut self.links[index];
                link.explicit = true;
                link.configure(self.seed, config);
            }
            None => self.create(from, to, config, true),
        }
    }

    /// Sets the configuration of every direction not configured by [`Network::set_link`].
    pub(super) fn set_default_link(&mut self, config: LinkConfig) {
        for link in self.links.iter_mut().filter(|l| !l.explicit) {
            link.configure(self.seed, &config);
        }
        self.default = config;
    }

    pub(super) fn add_hook(&mut self, hook: Hook) {
        self.hooks.add(hook);
    }

    /// The link index for `from` → `to`, created from the default when new. `cache` is the
    /// sender's memory of its last destination, which spares the map lookup in the common case.
    pub(super) fn route(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        cache: &mut Option<(SocketAddr, usize)>,
    ) -> usize {
        if let Some((dest, index)) = *cache {
            if dest == to {
                return index;
            }
        }
        let index = match self.by_pair.get(&(from, to)) {
            Some(&index) => index,
            None => {
                let default = core::mem::take(&mut self.default);
                self.create(from, to, &default, false);
                self.default = default;
                self.links.len() - 1
            }
        };
        *cache = Some((to, index));
        index
    }

    fn create(&mut self, from: SocketAddr, to: SocketAddr, config: &LinkConfig, explicit: bool) {
        self.by_pair.insert((from, to), self.links.len());
        self.links
            .push(Link::new(self.seed, from, to, config, explicit));
    }

    /// Sends `data` on link `index` at `now`: hooks, then the impairment chain.
    pub(super) fn send(&mut self, now: Instant, index: usize, data: &[u8]) {
        let link = &mut self.links[index];
        link.stats.sent += 1;
        let position = link.next_index;
        link.next_index += 1;
        let mut at = now;
        if !self.hooks.is_empty() {
            let info = HookInfo {
                from: link.from,
                to: link.to,
                index: position,
                data,
                now,
            };
            match self.hooks.judge(&info) {
                Some(hold) => at += hold,
                None => {
                    link.stats.dropped_hook += 1;
                    return;
                }
            }
        }
        let buf = self.flights.buffer(data);
        self.advance(now, index, 0, at, buf);
    }

    /// Runs stages `stage..` of link `index` on a datagram reaching `stage` at `at`.
    pub(super) fn advance(
        &mut self,
        now: Instant,
        index: usize,
        mut stage: usize,
        mut at: Instant,
        mut buf: Vec<u8>,
    ) {
        loop {
            let link = &mut self.links[index];
            if stage >= link.len() {
                self.flights.push(at, index, Next::Deliver, buf);
                return;
            }
            match link.apply(stage, now, &mut at, &mut buf) {
                Outcome::Pass => {}
                Outcome::Drop => {
                    self.flights.recycle(buf);
                    return;
                }
                Outcome::Wait => {
                    self.flights.push(at, index, Next::Stage(stage), buf);
                    return;
                }
                Outcome::Duplicate(hold) => {
                    let copy = self.flights.buffer(&buf);
                    self.advance(now, index, stage + 1, at + hold, copy);
                }
            }
            stage += 1;
        }
    }

    /// Counters of `from` → `to`; zero when that direction never existed.
    pub(super) fn stats(&self, from: SocketAddr, to: SocketAddr) -> LinkStats {
        self.by_pair
            .get(&(from, to))
            .map(|&i| self.links[i].stats)
            .unwrap_or_default()
    }
}
