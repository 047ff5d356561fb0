//! A deterministic network simulator with virtual time, for tests and benchmarks.
//!
//! [`Sim`] drives any number of sans-IO [`Node`]s (the engine's endpoint, wrapped by the tests,
//! or toy nodes) over simulated one-way links. Nothing reads a clock or draws entropy: time is a
//! virtual [`Instant`](crate::proto::time::Instant) that jumps from event to event, and every
//! random choice comes from one `u64` seed, so a run replays exactly from its seed.
//!
//! * [`Sim`]: the event loop. Feeds datagrams and timeouts to nodes and drains their transmits.
//! * [`LinkConfig`]: a chain of [`Impairment`]s (delay, jitter, loss, burst loss, duplication,
//!   corruption, a rate-limited bottleneck queue, an MTU limit) applied in order to every datagram
//!   of one direction. [`LinkStats`] counts what each direction did.
//! * Hooks ([`Sim::add_hook`], [`HookInfo`], [`Verdict`]): scripted drops and holds, run before a
//!   link's impairments.
//! * [`newreno`]: a TCP NewReno bulk flow modelled as nodes, the competitor of uTP's targets;
//!   [`host::Host`] puts it beside a uTP endpoint at one address, so both share one link.
//! * [`SimRng`]: the seeded generator; [`seed_from_env`] and [`SeedReporter`] make a failing run
//!   replayable with `RUTP_SIM_SEED`.
//!
//! Steady state allocates nothing per datagram: datagram buffers come from a pool and the event
//! heap keeps its capacity.

pub mod app;
mod flights;
mod hook;
pub mod host;
mod link;
mod network;
pub mod newreno;
mod node;
mod rng;
mod seed;
mod simulator;

#[cfg(test)]
mod tests;

pub use hook::{HookInfo, Verdict};
pub use link::config::{GilbertElliott, Impairment, LinkConfig, MAX_CORRUPT_BITS};
pub use link::stats::LinkStats;
pub use node::Node;
pub use rng::SimRng;
pub use seed::{parse_seed, seed_from_env, SeedReporter, SEED_ENV};
pub use simulator::{Sim, LIVELOCK_LIMIT, MAX_DATAGRAM};
