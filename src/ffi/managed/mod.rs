//! Managed contexts: a `utp_context` whose UDP socket, timers and threads belong to the
//! library (`include/utp_managed.h`).
//!
//! A managed context is an ordinary context (every `utp.h` function works on it) plus a UDP
//! socket driven by a worker of the runtime's thread pool ([`crate::runtime::pool`]): the
//! worker reads datagrams and ICMP errors, feeds them in as `utp_process_udp` and
//! `utp_process_icmp_*` would, and runs the timers at their deadlines. Datagrams go out through
//! the socket, not `UTP_SENDTO`.
//!
//! Threads: each managed context has a reentrant lock. Every exported function that names a
//! managed context or one of its sockets takes it for the duration of the call, and the worker
//! holds it while it runs callbacks, so callbacks of one context never run concurrently with
//! each other or with a call from another thread, and a callback may call any function on its
//! own context (the lock is reentrant). Functions on unmanaged contexts do not lock at all (a
//! process without managed contexts pays one atomic load per call).
//!
//! The lock is found through a process-wide registry keyed by context and socket addresses,
//! never through the context or socket itself, so that looking it up reads no memory another
//! thread may be writing (or may have freed).

pub mod api;
mod driver;
mod io;

use super::context::{UtpContext, CONTEXT_ALIVE};
use super::socket::UtpSocket;
use crate::runtime::clock;
use crate::runtime::pool::{Runtime, WakeGate};
pub use io::ManagedIo;
use parking_lot::{Condvar, Mutex, ReentrantMutex, RwLock};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Connections a managed context without `UTP_ON_ACCEPT` queues for `utp_managed_accept`
/// before further SYNs are ignored.
pub const MANAGED_BACKLOG: usize = 1024;

/// Number of live managed contexts: when 0, no call looks at the registry.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The managed contexts and their sockets.
static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| RwLock::new(Registry::default()));

#[derive(Default)]
struct Registry {
    /// Context address -> its managed state and the runtime that drives it.
    contexts: HashMap<usize, Registered>,
    /// Address of a socket of a managed context (until the socket is freed) -> its context's
    /// managed state.
    sockets: HashMap<usize, Arc<Managed>>,
}

thread_local! {
    /// Set while a worker drives a managed context: calls it makes need not wake the worker.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

struct Registered {
    managed: Arc<Managed>,
    /// Keeps the pool alive while the context exists; dropped by `utp_managed_destroy` on the
    /// application's thread, which joins the pool's threads when it was the last user.
    _runtime: Runtime,
}

/// A non-uTP datagram handler (`utp_managed_udp_handler` in C).
pub type UdpHandler = api::utp_managed_udp_handler;

/// The raw context pointer, shared between threads under [`Managed::lock`].
struct ContextPtr(*mut UtpContext);

// SAFETY: the pointer is only dereferenced with `Managed::lock` held (one thread at a time),
// and the context it points at is freed only after the worker has stopped using it.
unsafe impl Send for ContextPtr {}
// SAFETY: as above.
unsafe impl Sync for ContextPtr {}

/// Progress seen by threads blocked in the managed helpers.
#[derive(Default)]
struct Progress {
    /// Bumped after every call and every worker pass that may have changed state.
    generation: u64,
    /// The worker has finished with the context (it is being destroyed).
    stopped: bool,
}

/// The shared state of one managed context.
pub struct Managed {
    ctx: ContextPtr,
    /// Serialises everything that touches the context (see the module docs).
    pub lock: ReentrantMutex<()>,
    progress: Mutex<Progress>,
    changed: Condvar,
    /// The UDP socket.
    pub io: Arc<ManagedIo>,
    /// Wakes the worker driving this context.
    wake: WakeGate,
    /// `utp_managed_destroy` has begun: connections are closing.
    closing: AtomicBool,
    /// When closing began (monotonic µs; 0 before).
    closing_since: AtomicU64,
    /// Handler for datagrams that are not uTP, with its user pointer (as usize).
    handler: Mutex<(UdpHandler, usize)>,
}

impl Managed {
    /// The context.
    fn ctx(&self) -> *mut UtpContext {
        self.ctx.0
    }

    /// The current generation (see [`Progress`]).
    fn generation(&self) -> u64 {
        self.progress.lock().generation
    }

    /// Records that state may have changed and wakes blocked helpers.
    fn bump(&self) {
        self.progress.lock().generation += 1;
        self.changed.notify_all();
    }

    /// The context's next engine deadline in monotonic µs. Engine time is the context's clock
    /// (the application's clock callbacks, if any): the deadline is converted as a delay from
    /// the engine's last reading. Call with the lock held.
    fn engine_due(&self, now: u64) -> Option<u64> {
        let ctx = self.ctx();
        // SAFETY: the lock is held; the context is freed only by `utp_managed_destroy` after
        // its worker stopped, and the marker check refuses one being freed.
        unsafe {
            if (*ctx).magic != CONTEXT_ALIVE {
                return None;
            }
            let engine_now = (*ctx).last_now;
            (*ctx)
                .endpoint
                .poll_timeout()
                .map(|d| now + d.as_micros().saturating_sub(engine_now))
        }
    }

    /// After a call from an application thread that changed the context (`due`: its next
    /// deadline, from [`Managed::engine_due`] under the lock): wake blocked helpers, and the
    /// worker if that deadline comes before the one it armed.
    fn after_call(&self, due: Option<u64>) {
        self.bump();
        if !DRIVING.with(|d| d.get()) {
            self.wake.wake_if_sooner(due);
        }
    }

    /// Waits until the generation moves past `seen` or `deadline` (monotonic µs) passes;
    /// false on timeout.
    fn wait_change(&self, seen: u64, deadline: Option<u64>) -> bool {
        let mut p = self.progress.lock();
        while p.generation == seen && !p.stopped {
            match deadline {
                None => self.changed.wait(&mut p),
                Some(d) => {
                    let left = d.saturating_sub(clock::monotonic_micros());
                    if left == 0 {
                        return false;
                    }
                    self.changed.wait_for(&mut p, Duration::from_micros(left));
                }
            }
        }
        // Progress, unless the deadline passed meanwhile (then the caller gives up: progress
        // that keeps coming without an answer must not extend the timeout).
        deadline.is_none_or(|d| clock::monotonic_micros() < d)
    }

    /// Whether the worker has finished with the context.
    fn stopped(&self) -> bool {
        self.progress.lock().stopped
    }
}

/// The managed state of context `ctx`, if it is managed.
pub fn of_context(ctx: *mut UtpContext) -> Option<Arc<Managed>> {
    if LIVE.load(Ordering::Acquire) == 0 || ctx.is_null() {
        return None;
    }
    REGISTRY
        .read()
        .contexts
        .get(&(ctx as usize))
        .map(|r| r.managed.clone())
}

/// The managed state of the context socket `s` belongs to, if that context is managed.
pub fn of_socket(s: *mut UtpSocket) -> Option<Arc<Managed>> {
    if LIVE.load(Ordering::Acquire) == 0 || s.is_null() {
        return None;
    }
    REGISTRY.read().sockets.get(&(s as usize)).cloned()
}

/// Records that socket `s` (just allocated) belongs to context `ctx`, if that is managed.
pub fn adopt_socket(ctx: *mut UtpContext, s: *mut UtpSocket) {
    if let Some(m) = of_context(ctx) {
        REGISTRY.write().sockets.insert(s as usize, m);
    }
}

/// Forgets socket `s`, about to be freed.
pub fn forget_socket(s: *mut UtpSocket) {
    if LIVE.load(Ordering::Acquire) != 0 {
        REGISTRY.write().sockets.remove(&(s as usize));
    }
}

/// Runs `body` with the lock of `m` (if any) held, then wakes blocked helpers and the worker.
pub fn locked<T>(m: Option<Arc<Managed>>, body: impl FnOnce() -> T) -> T {
    match m {
        None => body(),
        Some(m) => {
            let (result, due) = {
                let _held = m.lock.lock();
                let result = body();
                // The worker's own calls (it re-reads the deadline when its drive ends) skip it.
                let driving = DRIVING.with(|d| d.get());
                (
                    result,
                    if driving {
                        None
                    } else {
                        m.engine_due(clock::monotonic_micros())
                    },
                )
            };
            m.after_call(due);
            result
        }
    }
}

/// A deadline `timeout_ms` from now in monotonic µs (`None` for a negative timeout: wait
/// forever).
fn deadline(timeout_ms: core::ffi::c_int) -> Option<u64> {
    u64::try_from(timeout_ms)
        .ok()
        .map(|ms| clock::monotonic_micros() + ms * 1000)
}
