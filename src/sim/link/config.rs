//! How one direction of a link treats datagrams: a chain of [`Impairment`]s applied in order.
//!
//! Every impairment sees the datagram as the previous ones left it, at the time they left it:
//! `delay` then `bottleneck` models a queue after the propagation delay, `bottleneck` then `delay`
//! one before it. An empty chain is a pass-through link: delivery at the instant of sending.

use core::time::Duration;

/// The most bits one corruption may flip (see [`Impairment::Corrupt`]).
pub const MAX_CORRUPT_BITS: u32 = 32;

/// Gilbert–Elliott burst loss: a two-state Markov chain stepped once per datagram, which loses
/// datagrams only in its bad state. The chain starts good.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability, per datagram, of moving from the good to the bad state.
    pub good_to_bad: f64,
    /// Probability, per datagram, of moving from the bad back to the good state. Mean burst
    /// length is about `1 / bad_to_good` datagrams.
    pub bad_to_good: f64,
    /// Probability of losing a datagram while bad.
    pub loss_in_bad: f64,
}

/// One step of a link's treatment of a datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Impairment {
    /// Adds a fixed delay.
    Delay(Duration),
    /// Adds a uniform random delay in `[0, max]`; datagrams overtake one another.
    Jitter(Duration),
    /// Loses each datagram independently with this probability.
    Loss(f64),
    /// Loses datagrams in bursts.
    BurstLoss(GilbertElliott),
    /// With `probability`, sends a copy along too. The copy is held a further uniform `[0, jitter]`
    /// and then goes through the remaining impairments on its own, drawing its own randomness.
    Duplicate {
        /// Chance that a datagram is duplicated.
        probability: f64,
        /// Upper bound of the copy's extra delay.
        jitter: Duration,
    },
    /// With `probability`, flips between 1 and `max_bits` distinct random bits anywhere in the
    /// datagram (an empty datagram is left alone).
    Corrupt {
        /// Chance that a datagram is corrupted.
        probability: f64,
        /// Most bits flipped in one datagram, from 1 to [`MAX_CORRUPT_BITS`].
        max_bits: u32,
    },
    /// A rate-limited FIFO with tail drop. A datagram entering at `t` waits for the bytes ahead of
    /// it, then takes `len / rate` to serialise, and leaves when its last byte is out. It is
    /// dropped when the bytes not yet serialised, its own included, would exceed `queue`; so
    /// `queue` must hold at least one datagram.
    Bottleneck {
        /// Serialisation rate in bytes per second.
        rate: u64,
        /// Capacity in bytes.
        queue: u64,
    },
    /// Drops datagrams longer than this many bytes, whatever their don't-fragment bit.
    Mtu(usize),
}

impl Impairment {
    /// Checks parameters; the message names the first bad one.
    fn validate(&self) -> Result<(), &'static str> {
        let probability = |p: f64| (0.0..=1.0).contains(&p);
        let ok = match *self {
            Impairment::Delay(_) | Impairment::Jitter(_) | Impairment::Mtu(_) => true,
            Impairment::Loss(p) => probability(p),
            Impairment::BurstLoss(g) => {
                probability(g.good_to_bad)
                    && probability(g.bad_to_good)
                    && probability(g.loss_in_bad)
            }
            Impairment::Duplicate { probability: p, .. } => probability(p),
            Impairment::Corrupt {
                probability: p,
                max_bits,
            } => {
                if !(1..=MAX_CORRUPT_BITS).contains(&max_bits) {
                    return Err("corruption max_bits must be within 1..=MAX_CORRUPT_BITS");
                }
                probability(p)
            }
            Impairment::Bottleneck { rate, .. } => {
                if rate == 0 {
                    return Err("bottleneck rate must be positive");
                }
                true
            }
        };
        if ok {
            Ok(())
        } else {
            Err("probabilities must be within [0, 1]")
        }
    }
}

/// The impairments of one direction of a link, in the order they apply. The default is a
/// pass-through link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkConfig {
    stages: Vec<Impairment>,
}

impl LinkConfig {
    /// A pass-through link: no delay, nothing lost.
    pub fn new() -> Self {
        LinkConfig::default()
    }

    /// Appends `impairment` to the chain.
    ///
    /// # Panics
    /// On a probability outside `[0, 1]` (or NaN), a zero bottleneck rate, or a corruption
    /// `max_bits` outside `1..=MAX_CORRUPT_BITS`.
    pub fn then(mut self, impairment: Impairment) -> Self {
        if let Err(problem) = impairment.validate() {
            panic!("invalid {impairment:?}: {problem}");
        }
        self.stages.push(impairment);
        self
    }

    /// Appends a fixed delay.
    pub fn delay(self, delay: Duration) -> Self {
        self.then(Impairment::Delay(delay))
    }

    /// Appends a uniform random delay in `[0, max]`.
    pub fn jitter(self, max: Duration) -> Self {
        self.then(Impairment::Jitter(max))
    }

    /// Appends independent random loss.
    pub fn loss(self, probability: f64) -> Self {
        self.then(Impairment::Loss(probability))
    }

    /// Appends Gilbert–Elliott burst loss.
    pub fn burst_loss(self, good_to_bad: f64, bad_to_good: f64, loss_in_bad: f64) -> Self {
        self.then(Impairment::BurstLoss(GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_in_bad,
        }))
    }

    /// Appends duplication; each copy is held a further uniform `[0, jitter]`.
    pub fn duplicate(self, probability: f64, jitter: Duration) -> Self {
        self.then(Impairment::Duplicate {
            probability,
            jitter,
        })
    }

    /// Appends corruption of 1 to `max_bits` bits.
    pub fn corrupt(self, probability: f64, max_bits: u32) -> Self {
        self.then(Impairment::Corrupt {
            probability,
            max_bits,
        })
    }

    /// Appends a bottleneck of `rate` bytes per second with a `queue`-byte tail-drop buffer.
    pub fn bottleneck(self, rate: u64, queue: u64) -> Self {
        self.then(Impairment::Bottleneck { rate, queue })
    }

    /// Appends an MTU limit: datagrams longer than `mtu` bytes are dropped.
    pub fn mtu(self, mtu: usize) -> Self {
        self.then(Impairment::Mtu(mtu))
    }

    /// The chain, in order of application.
    pub fn stages(&self) -> &[Impairment] {
        &self.stages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_the_order() {
        let config = LinkConfig::new()
            .delay(Duration::from_millis(5))
            .loss(0.1)
            .mtu(1400);
        assert_eq!(
            config.stages(),
            [
                Impairment::Delay(Duration::from_millis(5)),
                Impairment::Loss(0.1),
                Impairment::Mtu(1400)
            ]
        );
    }

    #[test]
    #[should_panic(expected = "probabilities")]
    fn probability_above_one_is_refused() {
        let _ = LinkConfig::new().loss(1.5);
    }

    #[test]
    #[should_panic(expected = "probabilities")]
    fn nan_probability_is_refused() {
        let _ = LinkConfig::new().burst_loss(0.1, f64::NAN, 1.0);
    }

    #[test]
    #[should_panic(expected = "rate")]
    fn zero_rate_is_refused() {
        let _ = LinkConfig::new().bottleneck(0, 10_000);
    }

    #[test]
    #[should_panic(expected = "max_bits")]
    fn corrupting_zero_bits_is_refused() {
        let _ = LinkConfig::new().corrupt(0.5, 0);
    }
}
