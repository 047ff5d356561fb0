//! Helpers shared by the real-socket tests. Each test binary uses some of them.
#![allow(dead_code)]

pub mod forge;
#[cfg(target_os = "linux")]
pub mod netns;

use std::net::SocketAddr;

/// An address to bind on loopback with a port the system picks.
pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Deterministic test data: byte i of stream `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Managed-socket options whose connections hold at most `bytes` of received data, fixed (no
/// autotuning): a reader that does not read holds the sender back after that much.
pub fn fixed_receive_buffer(bytes: usize) -> utp::stream::SocketOptions {
    let defaults = utp::stream::SocketOptions::default();
    utp::stream::SocketOptions {
        config: utp::proto::Config {
            recv_buffer: bytes,
            max_recv_buffer: bytes,
            ..defaults.config.clone()
        },
        ..defaults
    }
}
