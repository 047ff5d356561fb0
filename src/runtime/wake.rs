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

/// Sleeps until one of `fds` is ready, or `timeout` passes (`None`: no limit), with
/// microsecond resolution (`ppoll`). Returns how many descriptors are ready; an interrupted
/// sleep counts as a timeout (0). The `revents` of each entry say which.
pub fn wait(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd structs and `ts_ptr` is
    // NULL or points at a live timespec, both for the duration of the call; no signal mask.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            core::ptr::null(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(n as usize)
}

/// A `pollfd` waiting for `fd` to become readable (or report an error).
pub fn readable(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_interrupts_a_wait_and_reset_clears_it() {
        let w = Waker::new().unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut fds = [readable(sock.as_raw_fd()), readable(w.as_raw_fd())];
        assert_eq!(wait(&mut fds, Some(Duration::from_micros(300))).unwrap(), 0);
        w.wake();
        w.wake();
        let mut fds = [readable(sock.as_raw_fd()), readable(w.as_raw_fd())];
        assert_eq!(wait(&mut fds, Some(Duration::from_secs(5))).unwrap(), 1);
        assert!(fds[1].revents != 0 && fds[0].revents == 0);
        w.reset();
        let mut fds = [readable(sock.as_raw_fd()), readable(w.as_raw_fd())];
        assert_eq!(wait(&mut fds, Some(Duration::from_millis(1))).unwrap(), 0);
        assert_eq!(fds[1].revents, 0);
    }
}
