//! The runtime's thread pool: a fixed set of worker threads, each driving any number of
//! managed sockets (Rust [`crate::stream::UtpSocket`]s and managed C contexts).
//!
//! A worker sleeps in `ppoll(2)` on its own waker and the descriptors of the sockets it drives,
//! until one is readable or the earliest of their deadlines passes. Each socket keeps its own
//! timers in the engine's deadline heap and reports only its next deadline, so an idle worker
//! costs nothing per connection. After a datagram that came soon after the worker began to
//! wait, it polls without sleeping for up to [`SPIN`] before it sleeps again (an exchange of
//! small messages answers within that time, and waking a sleeping thread was most of its round
//! trip); sparser traffic, and an idle socket, never make it spin. A socket is assigned to the
//! least-loaded worker when it is registered and stays there.
//!
//! Threads are started when a [`Runtime`] is created and joined when its last handle is
//! dropped. Sockets hold a handle, so the process-wide default runtime ([`Runtime::shared`])
//! lives exactly as long as some socket uses it: a program with no managed sockets has no
//! runtime threads.

use super::clock;
use super::wake::{readable, wait, Waker};
use crossbeam_channel::{Receiver, Sender};
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a worker asks of a socket it drives.
pub trait Driven: Send + Sync {
    /// The descriptor that becomes readable when there is work (the UDP socket).
    fn fd(&self) -> RawFd;

    /// Does the work that is due: received datagrams when `readable`, expired timers, queued
    /// sends. Called when the descriptor is readable, when the deadline returned last time has
    /// passed, and whenever the worker is woken. `error`: poll reported `POLLERR`, so the
    /// socket's error queue holds something (ICMP errors, `IP_RECVERR`) and must be drained, or
    /// poll keeps reporting it; without it the drain's system call is saved.
    fn drive(&self, readable: bool, error: bool) -> Next;
}

/// A driven socket's answer: when it wants to be driven next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At this monotonic time ([`clock::monotonic_micros`]) at the latest, or only on
    /// readability or a wake-up (`None`).
    Wait(Option<u64>),
    /// Done: the worker forgets the socket.
    Finished,
}

/// How application threads wake the worker that drives their socket. The worker records the
/// deadline it will next look at the socket ([`WakeGate::arm`]); after feeding the engine, an
/// application thread signals the worker only when the engine's next deadline moved earlier
/// ([`WakeGate::wake_if_sooner`]). Anything due at once the application thread sends itself, so
/// most operations (a write on a busy connection, a read) cost no system call and no context
/// switch.
pub struct WakeGate {
    waker: Arc<Waker>,
    /// The armed deadline in monotonic µs; `u64::MAX`: none. 0 until the worker's first drive
    /// (which happens at once after registration), so nobody wakes it before.
    armed: AtomicU64,
}

impl WakeGate {
    fn new(waker: Arc<Waker>) -> Self {
        WakeGate {
            waker,
            armed: AtomicU64::new(0),
        }
    }

    /// By the worker, at the end of a drive: the next deadline it will look at (`None`: only on
    /// readability or a wake-up).
    pub fn arm(&self, due: Option<u64>) {
        self.armed.store(due.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// By an application thread: signals the worker if `due` (the engine's next deadline,
    /// monotonic µs) comes before the armed one.
    pub fn wake_if_sooner(&self, due: Option<u64>) {
        let due = due.unwrap_or(u64::MAX);
        if due < self.armed.load(Ordering::Relaxed) {
            self.armed.store(due, Ordering::Relaxed);
            self.waker.wake();
        }
    }

    /// Signals the worker whatever its deadline (a state change it must notice, like closing).
    pub fn wake(&self) {
        self.waker.wake();
    }
}

/// Most worker threads a runtime may have.
pub const MAX_THREADS: usize = 256;

/// Threads of the next default runtime; 0 means "sized to the machine".
static DEFAULT_THREADS: AtomicUsize = AtomicUsize::new(0);
/// The default runtime, while some socket holds it.
static SHARED: Mutex<Weak<Inner>> = Mutex::new(Weak::new());
/// Distinguishes runtimes, so a worker can tell whether it belongs to the one being dropped.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The runtime whose worker this thread is (0: none).
    static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

struct Worker {
    tx: Sender<Arc<dyn Driven>>,
    waker: Arc<Waker>,
    load: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

struct Inner {
    id: u64,
    workers: Mutex<Vec<Worker>>,
    stop: Arc<AtomicBool>,
}

/// A pool of worker threads driving managed sockets. Cheap to clone (a shared handle); the
/// threads are joined when the last handle goes.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// A runtime with `threads` workers (1 to [`MAX_THREADS`]).
    pub fn new(threads: usize) -> io::Result<Runtime> {
        if threads == 0 || threads > MAX_THREADS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("runtime threads must be 1 to {MAX_THREADS}, not {threads}"),
            ));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(threads);
        let spawned = (0..threads).try_for_each(|i| {
            let (tx, rx) = crossbeam_channel::unbounded();
            let waker = Arc::new(Waker::new()?);
            let load = Arc::new(AtomicUsize::new(0));
            let (w, s, l) = (waker.clone(), stop.clone(), load.clone());
            let thread = std::thread::Builder::new()
                .name(format!("utp-worker-{i}"))
                .spawn(move || {
                    WORKER_OF.with(|c| c.set(id));
                    run(&rx, &w, &s, &l);
                })?;
            workers.push(Worker {
                tx,
                waker,
                load,
                thread: Some(thread),
            });
            Ok::<(), io::Error>(())
        });
        // On failure the workers already started are stopped and joined by Inner's drop.
        let inner = Arc::new(Inner {
            id,
            workers: Mutex::new(workers),
            stop,
        });
        spawned?;
        Ok(Runtime { inner })
    }

    /// The process-wide default runtime, created on first use with
    /// [`Runtime::default_threads`] workers and shut down when no socket uses it any more.
    pub fn shared() -> io::Result<Runtime> {
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = slot.upgrade() {
            return Ok(Runtime { inner });
        }
        let rt = Runtime::new(Runtime::default_threads())?;
        *slot = Arc::downgrade(&rt.inner);
        Ok(rt)
    }

    /// Worker threads of the default runtime: the value of [`Runtime::set_default_threads`],
    /// else the `RUTP_THREADS` environment variable, else the machine's available parallelism.
    pub fn default_threads() -> usize {
        let set = DEFAULT_THREADS.load(Ordering::Relaxed);
        if set > 0 {
            return set;
        }
        let from_env = std::env::var("RUTP_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| (1..=MAX_THREADS).contains(&n));
        from_env.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS)
        })
    }

    /// Sets the worker count of default runtimes created from now on (a running one keeps its
    /// size); 0 restores the automatic size.
    pub fn set_default_threads(threads: usize) -> io::Result<()> {
        if threads > MAX_THREADS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("runtime threads must be at most {MAX_THREADS}"),
            ));
        }
        DEFAULT_THREADS.store(threads, Ordering::Relaxed);
        Ok(())
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.inner.workers.lock().map_or(0, |w| w.len())
    }

    /// Builds a driven socket around a [`WakeGate`] of the least-loaded worker (the socket
    /// signals it when work from application threads comes due sooner) and hands it to that
    /// worker.
    pub fn register<T: Driven + 'static>(
        &self,
        build: impl FnOnce(WakeGate) -> io::Result<Arc<T>>,
    ) -> io::Result<Arc<T>> {
        let workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        let worker = workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
            .ok_or_else(|| io::Error::other("runtime has no workers"))?;
        let driven = build(WakeGate::new(worker.waker.clone()))?;
        worker.load.fetch_add(1, Ordering::Relaxed);
        let as_dyn: Arc<dyn Driven> = driven.clone();
        if worker.tx.send(as_dyn).is_err() {
            worker.load.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::other("runtime worker has stopped"));
        }
        worker.waker.wake();
        Ok(driven)
    }

    /// Whether the calling thread is one of this runtime's workers (blocking on the runtime
    /// from there would deadlock).
    pub fn is_worker_thread(&self) -> bool {
        WORKER_OF.with(|c| c.get()) == self.inner.id
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for w in workers.iter() {
            w.waker.wake();
        }
        let on_worker = WORKER_OF.with(|c| c.get()) == self.id;
        for w in workers.iter_mut() {
            if let Some(t) = w.thread.take() {
                if on_worker {
                    // A worker cannot join itself (the last socket was dropped from code the
                    // worker runs): the threads exit on their own once idle.
                    continue;
                }
                let _ = t.join();
            }
        }
    }
}

/// One socket a worker drives.
struct Entry {
    driven: Arc<dyn Driven>,
    /// Next deadline in monotonic µs; `Some(0)` drives it at once.
    due: Option<u64>,
}

/// How long a worker polls its sockets without sleeping, giving the core up between polls
/// (`sched_yield`), before it blocks in `poll(2)` again, when the previous datagram came this
/// soon after it began waiting. Waking a thread blocked in `poll(2)` was most of a 64-byte
/// round trip through the runtime on a 2-vCPU virtual machine (issue 9: `pingpong` median
/// 31-34 µs, 13-14 µs with this; a woken idle vCPU is slow to get going). 50 µs covers such a
/// loopback round trip through two processes with room to spare and bounds what a spin that
/// finds nothing costs; traffic sparser than that (keepalives, idle connections) never spins,
/// because the gap before its next datagram is longer. Spinning without yielding was worse
/// than not spinning (median 89-133 µs): with two cores, the spinning worker held the core
/// the thread it waited for needed. Our own choice, measured.
pub const SPIN: Duration = Duration::from_micros(50);

/// A worker's loop: exits once the runtime is stopped and it has nothing left to drive.
fn run(rx: &Receiver<Arc<dyn Driven>>, waker: &Waker, stop: &AtomicBool, load: &AtomicUsize) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    // The last wait ended with a datagram within SPIN of its start: poll briefly before the
    // next sleep.
    let mut spin = false;
    loop {
        while let Ok(driven) = rx.try_recv() {
            entries.push(Entry {
                driven,
                due: Some(0),
            });
        }
        if entries.is_empty() && stop.load(Ordering::Acquire) {
            return;
        }
        let due = entries.iter().filter_map(|e| e.due).min();
        fds.clear();
        fds.push(readable(waker.as_raw_fd()));
        fds.extend(entries.iter().map(|e| readable(e.driven.fd())));
        let idle_since = clock::monotonic_micros();
        if !(spin && poll_briefly(&mut fds, idle_since, due)) {
            let now = clock::monotonic_micros();
            let timeout = due.map(|d| Duration::from_micros(d.saturating_sub(now)));
            if let Err(e) = wait(&mut fds, timeout) {
                log::error!("runtime worker: poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        let woken = fds[0].revents != 0;
        if woken {
            waker.reset();
        }
        let now = clock::monotonic_micros();
        let traffic = fds[1..].iter().any(|f| f.revents != 0);
        spin = traffic && now.saturating_sub(idle_since) <= SPIN.as_micros() as u64;
        let mut index = 0;
        entries.retain_mut(|e| {
            index += 1;
            let ready = fds[index].revents != 0;
            let error = fds[index].revents & libc::POLLERR != 0;
            if !(woken || ready || e.due.is_some_and(|d| d <= now)) {
                return true;
            }
            match e.driven.drive(ready, error) {
                Next::Wait(due) => {
                    e.due = due;
                    true
                }
                Next::Finished => {
                    load.fetch_sub(1, Ordering::Relaxed);
                    false
                }
            }
        });
    }
}

/// Polls `fds` without sleeping until one is ready (true), [`SPIN`] after `start` has passed, or
/// the deadline `due` (false), yielding the core between polls: on a machine with few cores the
/// thread that will send the awaited datagram, or handle the last one, may need it.
fn poll_briefly(fds: &mut [libc::pollfd], start: u64, due: Option<u64>) -> bool {
    let end = due.unwrap_or(u64::MAX).min(start + SPIN.as_micros() as u64);
    loop {
        if wait(fds, Some(Duration::ZERO)).is_ok_and(|n| n > 0) {
            return true;
        }
        if clock::monotonic_micros() >= end {
            return false;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Counts its drives and finishes after `rounds` of them.
    struct Counter {
        socket: std::net::UdpSocket,
        drives: AtomicU32,
        rounds: u32,
    }

    impl Driven for Counter {
        fn fd(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn drive(&self, _readable: bool, _error: bool) -> Next {
            let n = self.drives.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.rounds {
                Next::Finished
            } else {
                Next::Wait(Some(clock::monotonic_micros() + 1_000))
            }
        }
    }

    fn counter(rounds: u32) -> Counter {
        Counter {
            socket: std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            drives: AtomicU32::new(0),
            rounds,
        }
    }

    #[test]
    fn sockets_spread_over_workers_and_deadlines_drive_them() {
        let rt = Runtime::new(2).unwrap();
        assert_eq!(rt.threads(), 2);
        let a = rt.register(|_| Ok(Arc::new(counter(5)))).unwrap();
        let b = rt.register(|_| Ok(Arc::new(counter(5)))).unwrap();
        {
            let workers = rt.inner.workers.lock().unwrap();
            let loads: Vec<usize> = workers
                .iter()
                .map(|w| w.load.load(Ordering::Relaxed))
                .collect();
            assert!(loads.iter().all(|&l| l <= 1), "loads {loads:?}");
        }
        for _ in 0..2000 {
            if a.drives.load(Ordering::SeqCst) >= 5 && b.drives.load(Ordering::SeqCst) >= 5 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(a.drives.load(Ordering::SeqCst), 5);
        assert_eq!(b.drives.load(Ordering::SeqCst), 5);
        // Finished sockets are forgotten: the loads return to zero.
        for _ in 0..2000 {
            let idle = rt
                .inner
                .workers
                .lock()
                .unwrap()
                .iter()
                .all(|w| w.load.load(Ordering::Relaxed) == 0);
            if idle {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("worker loads did not return to zero");
    }

    /// Counts the datagrams it receives and its drives; wants a drive every `tick` µs, or only
    /// when a datagram arrives (`None`); finishes at the first drive after `done` is set (the
    /// runtime's drop wakes its workers, and joins them once they have nothing to drive).
    struct Sink {
        socket: std::net::UdpSocket,
        received: AtomicU32,
        drives: AtomicU32,
        tick: Option<u64>,
        done: AtomicBool,
    }

    impl Driven for Sink {
        fn fd(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn drive(&self, _readable: bool, _error: bool) -> Next {
            if self.done.load(Ordering::SeqCst) {
                return Next::Finished;
            }
            self.drives.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 64];
            while self.socket.recv(&mut buf).is_ok() {
                self.received.fetch_add(1, Ordering::SeqCst);
            }
            Next::Wait(self.tick.map(|t| clock::monotonic_micros() + t))
        }
    }

    fn sink(rt: &Runtime, tick: Option<u64>) -> Arc<Sink> {
        rt.register(|_| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
            socket.set_nonblocking(true)?;
            Ok(Arc::new(Sink {
                socket,
                received: AtomicU32::new(0),
                drives: AtomicU32::new(0),
                tick,
                done: AtomicBool::new(false),
            }))
        })
        .unwrap()
    }

    /// Checks `done` again and again, giving up the core in between, for up to 10 s; whether
    /// it came true. (Checking without sleeping keeps the gaps between the test's datagrams
    /// the ones it chose.)
    fn eventually(done: impl Fn() -> bool) -> bool {
        let give_up = clock::monotonic_micros() + 10_000_000;
        while clock::monotonic_micros() < give_up {
            if done() {
                return true;
            }
            std::thread::yield_now();
        }
        done()
    }

    #[test]
    fn datagrams_wake_the_worker_whether_it_spins_or_sleeps() {
        let rt = Runtime::new(1).unwrap();
        // No deadline: only the datagram's arrival drives the socket, so a lost wake-up would
        // leave it unhandled.
        let sink = sink(&rt, None);
        let to = sink.socket.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Gaps shorter than the spin (the worker polls on), longer (it blocks in between), and
        // none at all.
        let gaps = [Duration::ZERO, SPIN / 4, SPIN * 3, Duration::from_millis(3)];
        let mut sent = 0;
        for round in 0..50u8 {
            for gap in gaps {
                std::thread::sleep(gap);
                sender.send_to(&[round], to).unwrap();
                sent += 1;
                let handled = eventually(|| sink.received.load(Ordering::SeqCst) == sent);
                assert!(handled, "datagram {sent} not handled (gap {gap:?})");
            }
        }
        sink.done.store(true, Ordering::SeqCst);
    }

    #[test]
    fn deadlines_drive_a_socket_during_and_after_traffic() {
        let rt = Runtime::new(1).unwrap();
        let sink = sink(&rt, Some(200));
        let to = sink.socket.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..200u32 {
            sender.send_to(&[i as u8], to).unwrap();
            std::thread::sleep(SPIN / 5);
        }
        assert!(eventually(|| sink.received.load(Ordering::SeqCst) == 200));
        // Without traffic, only the deadline drives it.
        let drives = sink.drives.load(Ordering::SeqCst);
        assert!(eventually(
            || sink.drives.load(Ordering::SeqCst) >= drives + 5
        ));
        sink.done.store(true, Ordering::SeqCst);
    }

    #[test]
    fn thread_counts_are_checked() {
        assert!(Runtime::new(0).is_err());
        assert!(Runtime::new(MAX_THREADS + 1).is_err());
        assert!(Runtime::set_default_threads(MAX_THREADS + 1).is_err());
    }

    #[test]
    fn the_shared_runtime_is_reused_while_held() {
        let a = Runtime::shared().unwrap();
        let b = Runtime::shared().unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(!a.is_worker_thread());
    }
}
