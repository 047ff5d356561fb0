//! Routing the crate's `log` records to libutp's `UTP_LOG` callback.
//!
//! The engine logs through the `log` crate. While a C API call is running on a thread, records
//! produced on that thread are queued, and the dispatch loop hands them to the context's
//! `UTP_LOG` callback (with no borrow held) if the matching option is on: `UTP_LOG_NORMAL` for
//! errors, warnings and information, `UTP_LOG_DEBUG` for debug and trace records, and
//! `UTP_LOG_MTU` for records of the path-MTU code (targets containing `mtu`). The forwarder is
//! installed as the process's logger by `utp_init` unless the application installed another.

use super::context::UtpContext;
use core::cell::{Cell, RefCell};
use std::ffi::CString;

thread_local! {
    /// The context whose API call is running on this thread, or NULL.
    static CURRENT: Cell<*mut UtpContext> = const { Cell::new(core::ptr::null_mut()) };
    /// Records waiting for the dispatch loop: (level index, text).
    static PENDING: RefCell<Vec<(usize, CString)>> = const { RefCell::new(Vec::new()) };
}

/// Records kept per call at most; beyond this they are dropped.
const MAX_PENDING: usize = 1024;

/// Index into `UtpContext::log_levels` for a record.
fn level_index(record: &log::Record<'_>) -> usize {
    if record.target().contains("mtu") {
        1
    } else if record.level() <= log::Level::Info {
        0
    } else {
        2
    }
}

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        !CURRENT.with(Cell::get).is_null()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = format!("{}: {}", record.target(), record.args()).replace('\0', " ");
        let Ok(line) = CString::new(text) else { return };
        PENDING.with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                if p.len() < MAX_PENDING {
                    p.push((level_index(record), line));
                }
            }
        });
    }

    fn flush(&self) {}
}

static FORWARDER: Forwarder = Forwarder;

/// Installs the forwarder as the process's logger, unless one is installed already.
pub fn install() {
    if log::set_logger(&FORWARDER).is_ok() {
        log::set_max_level(log::LevelFilter::Off);
    }
}

/// A context switched a log option on: let records through.
pub fn enable() {
    log::set_max_level(log::LevelFilter::Trace);
}

/// Whether records can reach the forwarder at all. Until a context switches a log option on,
/// the filter stays off and nothing is ever queued, so the thread-local bookkeeping below is
/// skipped: in a shared library every thread-local access is a call (`__tls_get_addr`), and
/// these ran several times per datagram. The filter only ever goes from off to on.
fn forwarding() -> bool {
    log::max_level() != log::LevelFilter::Off
}

/// Marks `ctx` as the context whose call runs on this thread (NULL when the call ends).
pub fn set_current(ctx: *mut UtpContext) {
    if forwarding() {
        CURRENT.with(|c| c.set(ctx));
    }
}

/// Takes the queued records.
pub fn take_pending() -> Vec<(usize, CString)> {
    if !forwarding() {
        return Vec::new();
    }
    PENDING.with(|p| {
        p.try_borrow_mut()
            .map(|mut p| core::mem::take(&mut *p))
            .unwrap_or_default()
    })
}
