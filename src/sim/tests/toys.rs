//! Toy nodes for the simulator's tests: a periodic sender, a recorder, an echo, a mailbox that
//! tests fill from outside, a one-shot alarm and a node stuck in the past.

use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use crate::sim::{LinkConfig, Node, Sim};
use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;

pub(super) const A: SocketAddr = addr(1, 1000);
pub(super) const B: SocketAddr = addr(2, 2000);
pub(super) const C: SocketAddr = addr(3, 3000);
pub(super) const D: SocketAddr = addr(4, 4000);

/// 10.0.0.`host`:`port`.
pub(super) const fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(10, 0, 0, host),
        port,
    ))
}

/// Microseconds as an instant.
pub(super) fn at(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

/// Something a toy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    Datagram { from: SocketAddr, data: Vec<u8> },
    Timeout,
}

/// Sends numbered datagrams: `burst` of them every `interval`, `count` in all, from time zero.
/// Datagram `n` is `size` bytes: `n` as a big-endian u32, then the byte `n as u8` repeated.
#[derive(Debug, Clone)]
pub(super) struct Schedule {
    pub(super) to: SocketAddr,
    pub(super) count: u32,
    pub(super) size: usize,
    pub(super) interval: Duration,
    pub(super) burst: u32,
}

/// The datagram numbered `n` of `size` bytes (at least 4).
pub(super) fn numbered(n: u32, size: usize) -> Vec<u8> {
    let mut data = vec![n as u8; size];
    data[..4].copy_from_slice(&n.to_be_bytes());
    data
}

/// The number of a datagram built by [`numbered`].
pub(super) fn number(data: &[u8]) -> u32 {
    u32::from_be_bytes([data[0], data[1], data[2], data[3]])
}

#[derive(Debug, Default)]
pub(super) struct Toy {
    /// Everything seen, in order, with its time.
    pub(super) seen: Vec<(Instant, Seen)>,
    /// Datagrams waiting to be polled out.
    pub(super) outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    schedule: Option<Schedule>,
    next_send: Instant,
    scheduled: u32,
    /// Send every received datagram back.
    echo: bool,
    /// A one-shot deadline.
    pub(super) alarm: Option<Instant>,
    /// Always reports a deadline at time zero: a livelock.
    stuck: bool,
}

impl Toy {
    pub(super) fn sink() -> Self {
        Toy::default()
    }

    pub(super) fn sender(schedule: Schedule) -> Self {
        Toy {
            schedule: Some(schedule),
            ..Toy::default()
        }
    }

    pub(super) fn echo() -> Self {
        Toy {
            echo: true,
            ..Toy::default()
        }
    }

    pub(super) fn alarm(at: Instant) -> Self {
        Toy {
            alarm: Some(at),
            ..Toy::default()
        }
    }

    pub(super) fn stuck() -> Self {
        Toy {
            stuck: true,
            ..Toy::default()
        }
    }

    /// Datagrams received, with arrival time and sender.
    pub(super) fn received(&self) -> impl Iterator<Item = (Instant, SocketAddr, &[u8])> + '_ {
        self.seen.iter().filter_map(|(t, s)| match s {
            Seen::Datagram { from, data } => Some((*t, *from, data.as_slice())),
            Seen::Timeout => None,
        })
    }

    /// Numbers of the datagrams received, in arrival order.
    pub(super) fn numbers(&self) -> Vec<u32> {
        self.received().map(|(_, _, d)| number(d)).collect()
    }

    /// When each timeout was handled.
    pub(super) fn timeouts(&self) -> Vec<Instant> {
        self.seen
            .iter()
            .filter(|(_, s)| *s == Seen::Timeout)
            .map(|(t, _)| *t)
            .collect()
    }
}

impl Node for Toy {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.seen.push((
            now,
            Seen::Datagram {
                from,
                data: data.to_vec(),
            },
        ));
        if self.echo {
            self.outbox.push_back((from, data.to_vec()));
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.seen.push((now, Seen::Timeout));
        if self.alarm.is_some_and(|t| t <= now) {
            self.alarm = None;
        }
        let Some(s) = &self.schedule else { return };
        while self.scheduled < s.count && self.next_send <= now {
            for _ in 0..s.burst.min(s.count - self.scheduled) {
                self.outbox
                    .push_back((s.to, numbered(self.scheduled, s.size)));
                self.scheduled += 1;
            }
            self.next_send += s.interval;
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (destination, data) = self.outbox.pop_front()?;
        buf[..data.len()].copy_from_slice(&data);
        Some(Transmit {
            destination,
            len: data.len(),
            dont_fragment: false,
            connection: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        if self.stuck {
            return Some(Instant::ZERO);
        }
        let send = self
            .schedule
            .as_ref()
            .filter(|s| self.scheduled < s.count)
            .map(|_| self.next_send);
        match (send, self.alarm) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A simulation of a sender at [`A`] following `schedule` (towards [`B`] normally) and a sink at
/// [`B`], with `a_to_b` on the A → B direction.
pub(super) fn one_way(seed: u64, schedule: Schedule, a_to_b: LinkConfig) -> Sim<Toy> {
    let mut sim = Sim::new(seed);
    sim.add_node(A, Toy::sender(schedule));
    sim.add_node(B, Toy::sink());
    sim.set_link(A, B, a_to_b);
    sim
}

/// `count` datagrams of `size` bytes, one every `interval`, from A to B.
pub(super) fn steady(count: u32, size: usize, interval: Duration) -> Schedule {
    Schedule {
        to: B,
        count,
        size,
        interval,
        burst: 1,
    }
}

/// Runs until nothing is pending.
pub(super) fn run_out(sim: &mut Sim<Toy>) {
    while sim.step() {}
}
