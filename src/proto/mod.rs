//! The sans-IO uTP engine (BEP 29 with RFC 6817 LEDBAT).
//!
//! Nothing in here touches a socket, reads a clock, spawns a thread or draws entropy of its own:
//! time (`now`) and a random seed are inputs, and everything the engine wants done is polled out.
//! The entry point is [`Endpoint`]; see its documentation for the drive loop contract.
#![forbid(unsafe_code)]

pub mod config;
pub mod congestion;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod mtu;
pub mod packet;
pub mod reliability;
pub mod rng;
pub mod seq;
pub mod stats;
pub mod time;

pub use config::Config;
pub use config::ConnectionOptions;
pub use connection::State;
pub(crate) use endpoint::HandleMap;
pub use endpoint::{
    ConnectionHandle, DatagramEvent, Delays, Endpoint, Event, InPlace, Incoming, Transmit,
};
pub use error::{ConnectError, ConnectionError, StreamError};
pub use seq::SeqNr;
pub use stats::{ConnectionStats, EndpointStats};
pub use time::Instant;
