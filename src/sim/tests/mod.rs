//! Tests of the simulator as a whole, driving toy nodes.

mod toys;

mod delivery;
mod hooks;
mod host;
mod impairments;
mod pooling;
mod queueing;
mod replay;
mod timers;
