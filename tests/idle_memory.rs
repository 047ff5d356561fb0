//! Memory an idle connection holds: N connections between two engines in memory, each having
//! carried a short message both ways, then left idle past their delayed ACKs and a keepalive.
//! The heap each side holds per connection (counted by a global allocator of this test binary
//! alone) is printed and must stay under 4 KiB (issue 8's target; README: resource bounds).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;
use utp::proto::connection::Connection;
use utp::proto::{Config, ConnectionHandle, DatagramEvent, Endpoint, Instant};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator with the same arguments; only a
// counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const CONNECTIONS: usize = 1000;
/// Issue 8's target for the heap an idle connection holds on each side.
const TARGET: usize = 4096;

fn a() -> SocketAddr {
    "10.0.0.1:6881".parse().unwrap()
}

fn b() -> SocketAddr {
    "10.0.0.2:6881".parse().unwrap()
}

/// Moves datagrams both ways until both endpoints are quiet; `eb` accepts every SYN.
fn exchange(
    ea: &mut Endpoint,
    eb: &mut Endpoint,
    now: Instant,
    buf: &mut [u8],
    accepted: &mut Vec<ConnectionHandle>,
) {
    loop {
        let mut moved = false;
        while let Some(t) = ea.poll_transmit(now, buf) {
            moved = true;
            if let DatagramEvent::Incoming(i) = eb.handle_datagram(now, a(), &buf[..t.len]) {
                accepted.push(eb.accept(now, i).expect("accept"));
            }
        }
        while let Some(t) = eb.poll_transmit(now, buf) {
            moved = true;
            ea.handle_datagram(now, b(), &buf[..t.len]);
        }
        while ea.poll_event().is_some() {}
        while eb.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

/// Runs both endpoints' timers up to `until`, exchanging what they send.
fn run_until(
    ea: &mut Endpoint,
    eb: &mut Endpoint,
    until: Instant,
    buf: &mut [u8],
    accepted: &mut Vec<ConnectionHandle>,
) {
    loop {
        let next = [ea.poll_timeout(), eb.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(now) = next.filter(|&t| t <= until) else {
            return;
        };
        ea.handle_timeout(now);
        eb.handle_timeout(now);
        exchange(ea, eb, now, buf, accepted);
    }
}

#[test]
fn an_idle_connection_holds_under_4_kib_on_each_side() {
    // One client host opening every connection at once: the per-address and half-open limits
    // are lifted (they are defences against hostile peers, tested elsewhere).
    let config = Config {
        max_connections_per_ip: CONNECTIONS,
        max_half_open: CONNECTIONS,
        ..Config::default()
    };
    let mut buf = vec![0u8; 65_536];
    let mut accepted = Vec::new();
    let mut ea = Endpoint::new(config.clone(), 1).expect("endpoint");
    let mut eb = Endpoint::new(config, 2).expect("endpoint");
    accepted.reserve(CONNECTIONS);
    let mut handles = Vec::with_capacity(CONNECTIONS);
    let mut read = vec![0u8; 1024];
    let before = live();

    let mut now = Instant::from_micros(1_000_000);
    for _ in 0..CONNECTIONS {
        handles.push(ea.connect(now, b()).expect("connect"));
    }
    exchange(&mut ea, &mut eb, now, &mut buf, &mut accepted);
    assert_eq!(accepted.len(), CONNECTIONS);
    // A short message each way, read by the application.
    for (&ha, &hb) in handles.iter().zip(&accepted) {
        ea.write(ha, b"hello from a").expect("write");
        eb.write(hb, b"hello from b").expect("write");
    }
    now += Duration::from_millis(1);
    exchange(&mut ea, &mut eb, now, &mut buf, &mut accepted);
    for (&ha, &hb) in handles.iter().zip(&accepted) {
        assert_eq!(ea.read(ha, &mut read), Ok(12));
        assert_eq!(eb.read(hb, &mut read), Ok(12));
    }
    // Idle past the delayed ACKs, a path-MTU probe's timers and one keepalive.
    run_until(
        &mut ea,
        &mut eb,
        now + Duration::from_secs(40),
        &mut buf,
        &mut accepted,
    );
    assert_eq!(ea.active_connection_count(), CONNECTIONS);
    assert_eq!(eb.active_connection_count(), CONNECTIONS);

    let both = live() - before;
    drop(eb);
    let side_a = live() - before;
    let side_b = both - side_a;
    let per_a = side_a as usize / CONNECTIONS;
    let per_b = side_b as usize / CONNECTIONS;
    println!(
        "idle memory: {per_a} B per connection on the connecting side, {per_b} B on the \
         accepting side (heap, {CONNECTIONS} connections, endpoint tables included); \
         size_of::<Connection>() = {} B",
        std::mem::size_of::<Connection>()
    );
    assert!(
        per_a < TARGET,
        "connecting side holds {per_a} B per idle connection"
    );
    assert!(
        per_b < TARGET,
        "accepting side holds {per_b} B per idle connection"
    );
}
