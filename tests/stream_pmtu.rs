//! Path-MTU discovery on real sockets: over loopback (MTU 65 536) the search climbs to the
//! configured ceiling; in a private network namespace whose loopback MTU is 1400, the probe
//! above it fails locally with `EMSGSIZE`, the driver reports it to the engine as
//! "fragmentation needed", and the search settles on exactly 1400 - 28 bytes.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

mod common;
use common::{localhost, pattern};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use utp::proto::{Config, ConnectionStats};
use utp::stream::{SocketOptions, UtpSocket};

/// Sends `len` bytes from a client to a server over 127.0.0.1 with `config` on both sides;
/// returns the client's stats taken after everything was written and acknowledged, and
/// whether the server received the stream byte-exact.
fn transfer(config: Config, len: usize) -> (ConnectionStats, bool) {
    let options = || SocketOptions {
        config: config.clone(),
        ..SocketOptions::default()
    };
    let server = UtpSocket::bind_with(localhost(), options()).unwrap();
    let client = UtpSocket::bind_with(localhost(), options()).unwrap();
    let to = server.local_addr().unwrap();
    let reader = thread::spawn(move || {
        let (stream, _) = server.accept().unwrap();
        let mut got = Vec::new();
        (&stream).read_to_end(&mut got).unwrap();
        got
    });
    let data = pattern(5, len);
    let stream = client.connect(to).unwrap();
    (&stream).write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let got = reader.join().unwrap();
    let stats = stream.stats().unwrap();
    (stats, got == data)
}

#[test]
fn loopback_search_climbs_to_the_configured_ceiling() {
    // 16 KiB: far below loopback's 65 536, and a few of them fit the socket buffers easily.
    let ceiling = 16 * 1024;
    let config = Config {
        max_packet_size_v4: ceiling,
        ..SocketOptions::default().config
    };
    let (stats, intact) = transfer(config, 8 << 20);
    assert!(intact, "byte-exact");
    assert!(stats.pmtu_probes >= 1, "{stats:?}");
    assert_eq!(stats.mtu as usize, ceiling, "{stats:?}");
    assert!(!stats.pmtu_searching, "{stats:?}");
}

#[cfg(target_os = "linux")]
mod linux {
    use super::common::netns::in_private_netns;
    use super::*;

    #[test]
    fn emsgsize_on_a_probe_lowers_the_search_to_the_interface_mtu() {
        in_private_netns(1400, || {
            // Default ceiling 1472: the first probe exceeds the interface and fails locally.
            let (stats, intact) = transfer(SocketOptions::default().config, 4 << 20);
            assert!(intact, "byte-exact");
            assert!(stats.pmtu_probes_lost >= 1, "{stats:?}");
            assert_eq!(stats.mtu, 1400 - 28, "{stats:?}");
            assert_eq!(stats.timeouts, 0, "{stats:?}");
        });
    }
}
