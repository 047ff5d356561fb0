//! A private network namespace for real-socket tests that must not touch the host's loopback
//! (a different MTU, a shaped link).

use std::io;
use std::os::fd::AsRawFd;

/// Runs `body` on a thread moved into a new network namespace whose loopback is up with MTU
/// `mtu`; skips it (saying so) without the privileges (root or CAP_SYS_ADMIN).
pub fn in_private_netns(mtu: libc::c_int, body: impl FnOnce() + Send + 'static) {
    let ran = std::thread::spawn(move || {
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
            let rc =
                unsafe { libc::ioctl(control.as_raw_fd(), request as _, ifr as *mut libc::ifreq) };
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
