//! The worker's side of a managed context: what it does each time it drives one.

use super::{Managed, DRIVING};
use crate::ffi::api_context::{
    utp_check_timeouts, utp_issue_deferred_acks, utp_process_icmp_error,
    utp_process_icmp_fragmentation, utp_process_udp,
};
use crate::ffi::sockaddr;
use crate::runtime::clock;
use crate::runtime::driver::{RECV_BATCH, SHUTDOWN_GRACE};
use crate::runtime::pool::{Driven, Next};
use crate::runtime::udp::{IcmpKind, Received, RecvBatch, HELD_RETRY};
use std::cell::RefCell;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;

thread_local! {
    /// The worker's receive buffers.
    static RX: RefCell<RecvBatch> = RefCell::new(RecvBatch::default());
}

/// Marks the current thread as driving for the life of the value.
struct Driving;

impl Driving {
    fn enter() -> Self {
        DRIVING.with(|d| d.set(true));
        Driving
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|d| d.set(false));
    }
}

impl Managed {
    /// Reads what the socket has and feeds it to the context.
    fn receive(&self) {
        let ctx = self.ctx();
        RX.with(|rx| {
            let mut rx = rx.borrow_mut();
            self.io
                .socket
                .receive_up_to(&mut rx, RECV_BATCH, |received| match received {
                    Received::Message(datagrams, from) => {
                        let addr = sockaddr::to_c(from);
                        for data in datagrams {
                            // SAFETY: the context is live (it is freed only after its worker
                            // stopped); `data` and `addr` are valid for the call.
                            let utp = unsafe {
                                utp_process_udp(
                                    ctx,
                                    data.as_ptr(),
                                    data.len(),
                                    addr.as_ptr(),
                                    addr.len(),
                                )
                            };
                            if utp == 0 {
                                self.not_utp(data, &addr);
                            }
                        }
                    }
                    Received::Error(e) => {
                        log::debug!("managed context: receive error: {e}");
                        self.drain_errors();
                    }
                });
        });
    }

    /// Feeds the socket's queued ICMP errors to the context.
    fn drain_errors(&self) {
        let ctx = self.ctx();
        let mut quoted = [0u8; 2048];
        while let Ok(Some(e)) = self.io.socket.recv_error(&mut quoted) {
            let refused = match e.kind {
                // A local EMSGSIZE quotes nothing: it is about the probe the socket refused.
                IcmpKind::FragmentationNeeded { .. } if e.len == 0 => {
                    self.io.refused_probe.lock().take()
                }
                _ => None,
            };
            let (destination, original) = match &refused {
                Some((to, header)) => (*to, &header[..]),
                None => (e.destination, &quoted[..e.len.min(quoted.len())]),
            };
            let addr = sockaddr::to_c(destination);
            // SAFETY: live context; `original` and `addr` are valid for the calls.
            unsafe {
                match e.kind {
                    IcmpKind::Unreachable => {
                        utp_process_icmp_error(
                            ctx,
                            original.as_ptr(),
                            original.len(),
                            addr.as_ptr(),
                            addr.len(),
                        );
                    }
                    IcmpKind::FragmentationNeeded { mtu } => {
                        utp_process_icmp_fragmentation(
                            ctx,
                            original.as_ptr(),
                            original.len(),
                            addr.as_ptr(),
                            addr.len(),
                            mtu,
                        );
                    }
                }
            }
        }
    }

    /// Hands a datagram that is not uTP to the application's handler, if it set one.
    fn not_utp(&self, data: &[u8], from: &sockaddr::CSockAddr) {
        let (handler, user) = *self.handler.lock();
        if let Some(f) = handler {
            // SAFETY: a handler the application registered, called with a valid buffer and
            // address that outlive the call, and the user pointer it gave.
            unsafe {
                f(
                    user as *mut _,
                    data.as_ptr(),
                    data.len(),
                    from.as_ptr(),
                    from.len(),
                )
            };
        }
    }

    /// While closing: whether every connection has finished or the grace period is over.
    fn close_finished(&self, now: u64) -> bool {
        // SAFETY: live context, lock held, no other borrow.
        let active = unsafe { (*self.ctx()).endpoint.active_connection_count() };
        let started =
            match self
                .closing_since
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => now,
                Err(t) => t,
            };
        active == 0 || now >= started + SHUTDOWN_GRACE.as_micros() as u64
    }
}

impl Driven for Managed {
    fn fd(&self) -> RawFd {
        self.io.socket.as_raw_fd()
    }

    fn drive(&self, readable: bool, error: bool) -> Next {
        let _driving = Driving::enter();
        let ctx = self.ctx();
        let due = {
            let _held = self.lock.lock();
            if readable {
                self.receive();
                if error {
                    self.drain_errors();
                }
                // SAFETY: live context, lock held.
                unsafe { utp_issue_deferred_acks(ctx) };
            }
            self.io.flush_held();
            // SAFETY: live context, lock held.
            unsafe { utp_check_timeouts(ctx) };
            let now = clock::monotonic_micros();
            if self.closing.load(Ordering::Acquire) && self.close_finished(now) {
                self.progress.lock().stopped = true;
                self.changed.notify_all();
                return Next::Finished;
            }
            let mut due = self.engine_due(now);
            if self.io.socket.has_held() {
                let retry = now + HELD_RETRY.as_micros() as u64;
                due = Some(due.map_or(retry, |d| d.min(retry)));
            }
            if self.closing.load(Ordering::Acquire) {
                let recheck = now + 100_000;
                due = Some(due.map_or(recheck, |d| d.min(recheck)));
            }
            self.wake.arm(due);
            due
        };
        self.bump();
        Next::Wait(due)
    }
}
