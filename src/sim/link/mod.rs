//! One direction of a simulated link: its configuration, the state of each impairment, its own
//! random streams, and its counters.
//!
//! A link exists for every (from, to) pair that has been configured or has carried a datagram;
//! unconfigured pairs follow the simulation's default configuration. Each stage draws from a
//! stream derived from the seed, both addresses, the stage's position and the configuration
//! generation, so reconfiguring one direction leaves every other direction's draws unchanged.

pub(super) mod bottleneck;
pub(super) mod config;
pub(super) mod stats;

use crate::proto::time::Instant;
use crate::sim::rng::{addr_labels, SimRng};
use bottleneck::Bottleneck;
use config::{Impairment, LinkConfig, MAX_CORRUPT_BITS};
use core::time::Duration;
use stats::LinkStats;
use std::net::SocketAddr;

/// What a stage decided about a datagram.
pub(super) enum Outcome {
    /// Go on to the next stage (the arrival time may have moved).
    Pass,
    /// The datagram is gone; the stage has counted why.
    Drop,
    /// The stage needs the clock to reach the arrival time first: resume it then.
    Wait,
    /// Go on, and also send a copy from the next stage, held this much longer.
    Duplicate(Duration),
}

/// One impairment with its state and randomness.
struct Stage {
    impairment: Impairment,
    rng: SimRng,
    /// Gilbert–Elliott: currently in the bad state.
    bad: bool,
    queue: Bottleneck,
}

/// One direction of a link.
pub(super) struct Link {
    pub(super) from: SocketAddr,
    pub(super) to: SocketAddr,
    /// The destination node, once one exists at `to`.
    pub(super) to_node: Option<usize>,
    /// Configured by `set_link` rather than following the default.
    pub(super) explicit: bool,
    /// How many configurations this direction has had; part of its stream labels.
    generation: u64,
    stages: Vec<Stage>,
    /// Datagrams sent so far: the next one's hook index.
    pub(super) next_index: u64,
    pub(super) stats: LinkStats,
}

impl Link {
    pub(super) fn new(
        seed: u64,
        from: SocketAddr,
        to: SocketAddr,
        config: &LinkConfig,
        explicit: bool,
    ) -> Self {
        let mut link = Link {
            from,
            to,
            to_node: None,
            explicit,
            generation: 0,
            stages: Vec::new(),
            next_index: 0,
            stats: LinkStats::default(),
        };
        link.configure(seed, config);
        link
    }

    /// Replaces the chain with `config`, with fresh state and streams.
    pub(super) fn configure(&mut self, seed: u64, config: &LinkConfig) {
        let [f0, f1, f2] = addr_labels(&self.from);
        let [t0, t1, t2] = addr_labels(&self.to);
        let generation = self.generation;
        self.generation += 1;
        self.stages = config
            .stages()
            .iter()
            .enumerate()
            .map(|(position, &impairment)| Stage {
                impairment,
                rng: SimRng::derive(seed, &[f0, f1, f2, t0, t1, t2, position as u64, generation]),
                bad: false,
                queue: Bottleneck::default(),
            })
            .collect();
    }

    /// Number of stages.
    pub(super) fn len(&self) -> usize {
        self.stages.len()
    }

    /// Applies stage `index` to a datagram that reaches it at `*at`, the clock being at `now`.
    pub(super) fn apply(
        &mut self,
        index: usize,
        now: Instant,
        at: &mut Instant,
        data: &mut [u8],
    ) -> Outcome {
        let stats = &mut self.stats;
        let stage = &mut self.stages[index];
        let rng = &mut stage.rng;
        match stage.impairment {
            Impairment::Delay(delay) => *at += delay,
            Impairment::Jitter(max) => *at += rng.gen_duration(max),
            Impairment::Loss(p) => {
                if rng.gen_bool(p) {
                    stats.lost_random += 1;
                    return Outcome::Drop;
                }
            }
            Impairment::BurstLoss(chain) => {
                let flip = if stage.bad {
                    chain.bad_to_good
                } else {
                    chain.good_to_bad
                };
                if rng.gen_bool(flip) {
                    stage.bad = !stage.bad;
                }
                if stage.bad && rng.gen_bool(chain.loss_in_bad) {
                    stats.lost_burst += 1;
                    return Outcome::Drop;
                }
            }
            Impairment::Duplicate {
                probability,
                jitter,
            } => {
                if rng.gen_bool(probability) {
                    stats.duplicated += 1;
                    return Outcome::Duplicate(rng.gen_duration(jitter));
                }
            }
            Impairment::Corrupt {
                probability,
                max_bits,
            } => {
                if !data.is_empty() && rng.gen_bool(probability) {
                    flip_bits(rng, data, max_bits);
                    stats.corrupted += 1;
                }
            }
            Impairment::Bottleneck { rate, queue } => {
                if *at > now {
                    return Outcome::Wait;
                }
                match stage.queue.offer(*at, data.len(), rate, queue) {
                    Some(done) => *at = done,
                    None => {
                        stats.dropped_queue += 1;
                        return Outcome::Drop;
                    }
                }
            }
            Impairment::Mtu(mtu) => {
                if data.len() > mtu {
                    stats.dropped_mtu += 1;
                    return Outcome::Drop;
                }
            }
        }
        Outcome::Pass
    }
}

/// Flips between 1 and `max_bits` distinct bits of a non-empty `data`.
fn flip_bits(rng: &mut SimRng, data: &mut [u8], max_bits: u32) {
    let bits = data.len() as u64 * 8;
    let count = rng.gen_range(1..=u64::from(max_bits)).min(bits) as usize;
    let mut flipped = [0u64; MAX_CORRUPT_BITS as usize];
    for n in 0..count {
        let bit = loop {
            let candidate = rng.gen_range(0..bits);
            if !flipped[..n].contains(&candidate) {
                break candidate;
            }
        };
        flipped[n] = bit;
        data[(bit / 8) as usize] ^= 1 << (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_flips_distinct_bits_within_the_bound() {
        let mut rng = SimRng::new(3);
        for len in [1usize, 2, 40] {
            for _ in 0..1000 {
                let mut data = vec![0u8; len];
                flip_bits(&mut rng, &mut data, 5);
                let ones: u32 = data.iter().map(|b| b.count_ones()).sum();
                assert!((1..=5).contains(&ones), "len {len}: {ones} bits");
            }
        }
    }
}
