//! Simulator scenarios: two or more engine endpoints over impaired virtual links, each scenario
//! asserting byte-exact delivery, clean close on both sides, or the expected error.
//!
//! Every run prints one summary line (bytes, virtual time, goodput, retransmits, timeouts);
//! `cargo test --features sim --test scenarios -- --nocapture` shows them. A failing run prints
//! its seed; `RUTP_SIM_SEED=<seed>` replays it.

mod duo;
#[path = "../common/forge.rs"]
mod forge;
mod harness;
mod queue_probe;

mod acks;
mod autosize;
mod competing;
mod flood;
mod handshake;
mod interactive;
mod overflow;
mod pmtu;
mod scale;
mod spurious;
mod targets;
mod teardown;
mod transfer;
