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
    use super::*;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Runs `body` on a thread moved into a new network namespace whose loopback is up with MTU
    /// `mtu`; skips it (saying so) without the privileges (root or CAP_SYS_ADMIN).
    fn in_private_netns(mtu: libc::c_int, body: impl FnOnce() + Send + 'static) {
        let ran = thread::spawn(move || {
            // SAFETY: unshare(CLONE_NEWNET) moves only the calling thread into a new network
            // namespace; this thread makes every socket the body uses.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                eprintln!(
                    "skipped: no private network namespace ({})",
                    io::Error::last_os_error()
                );
                return;
            }
            // A fresh namespace has `lo` down; any IPv4 socket serves for the ioctls.
            let control = std::net::UdpSocket::bind("0.0.0.0:0").expect("control socket");
            // SAFETY: an `ifreq` is integers, arrays and a union of such: all-zero is valid.
            let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
            ifr.ifr_name[0] = b'l' as libc::c_char;
            ifr.ifr_name[1] = b'o' as libc::c_char;
            let ioctl = |request: libc::c_ulong, ifr: &mut libc::ifreq| {
                // SAFETY: these interface requests read and write one live, exclusively
                // borrowed `ifreq`.
                let rc = unsafe {
                    libc::ioctl(control.as_raw_fd(), request as _, ifr as *mut libc::ifreq)
                };
                assert_eq!(rc, 0, "ioctl {request:#x}: {}", io::Error::last_os_error());
            };
            ioctl(libc::SIOCGIFFLAGS, &mut ifr);
            // SAFETY: SIOCGIFFLAGS filled the union's flags member.
            unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
            ioctl(libc::SIOCSIFFLAGS, &mut ifr);
            ifr.ifr_ifru.ifru_mtu = mtu;
            ioctl(libc::SIOCSIFMTU, &mut ifr);
            body();
        })
        .join();
        ran.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

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
