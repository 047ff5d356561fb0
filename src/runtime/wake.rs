//! Waking a driver thread that sleeps in `poll(2)` on its UDP socket: an `eventfd` that
//! application threads signal after handing the engine work.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// An eventfd-based wake-up signal.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new, unsignalled waker.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no memory arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Signals the waker (cheap; repeated signals coalesce).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd; failure (counter full) is
        // harmless because the waker is then already signalled.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Clears the signal.
    pub fn reset(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd; EAGAIN (not signalled) is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Which of the two descriptors became readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// The socket has datagrams (or a queued error).
    pub socket: bool,
    /// The waker was signalled.
    pub woken: bool,
}

/// Sleeps until `socket` is readable, `waker` is signalled, or `timeout` passes (`None`: no
/// limit). Interrupted sleeps return as timed out.
pub fn wait(socket: RawFd, waker: &Waker, timeout: Option<Duration>) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: socket,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        },
        libc::pollfd {
            fd: waker.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = timeout.map_or(-1, |t| {
        // Round up so that a deadline is never missed by sleeping short.
        i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: `fds` is a live array of two pollfd structs for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(Ready::default())
        } else {
            Err(e)
        };
    }
    Ok(Ready {
        socket: fds[0].revents != 0,
        woken: fds[1].revents != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_interrupts_a_wait_and_reset_clears_it() {
        let w = Waker::new().unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = wait(sock.as_raw_fd(), &w, Some(Duration::from_millis(1))).unwrap();
        assert_eq!(r, Ready::default());
        w.wake();
        w.wake();
        let r = wait(sock.as_raw_fd(), &w, Some(Duration::from_secs(5))).unwrap();
        assert!(r.woken && !r.socket);
        w.reset();
        let r = wait(sock.as_raw_fd(), &w, Some(Duration::from_millis(1))).unwrap();
        assert!(!r.woken);
    }
}
