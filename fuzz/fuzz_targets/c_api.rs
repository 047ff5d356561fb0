//! The libutp C API (`utp.h`) driven by an arbitrary sequence of calls: two contexts A and B
//! wired by an in-memory `UTP_SENDTO` queue under a virtual clock, and a script that creates,
//! connects, writes, shuts down, closes and queries sockets, delivers, drops or answers
//! datagrams with ICMP errors, destroys and recreates contexts, and arms a call to be made from
//! inside the next callback of a given type. Handles are picked by the script: NULL, live
//! sockets of either context, and sockets after their `UTP_STATE_DESTROYING` (refused: they
//! stay in their context's graveyard while it lives, which this target never outgrows). A
//! pointer after `utp_destroy` of its context is undefined behaviour, as in libutp, and never
//! passed.
//!
//! Invariants: no panic anywhere in the library (a panic hook aborts, so panics the C boundary
//! would catch are found too); every byte a socket receives is the next byte of the pattern
//! every socket writes (so delivered data is a prefix of what was written on that connection);
//! calls on NULL or destroyed sockets return libutp's error values; a write takes at most what
//! it was given; callbacks name only sockets the application knows, never after DESTROYING.
//! Datagrams from a third host may be garbage; nothing is forged as coming from A or B (uTP
//! has no integrity check of its own). The network holds a datagram at most
//! `MIN_DATAGRAM_LIFETIME` (2 s), as the engine assumes (its path-MTU black-hole fallback
//! re-cuts data only once every earlier copy is that old); older ones are dropped when their
//! turn comes. (Before that fallback was fixed this target found it within seconds: the reader
//! saw bytes twice.)
#![no_main]

use core::ffi::c_void;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::VecDeque;
use utp::ffi::api_context::*;
use utp::ffi::api_socket::*;
use utp::ffi::types::callback::*;
use utp::ffi::types::{
    utp_callback_arguments, utp_context, utp_iovec, utp_socket, UTP_STATE_DESTROYING,
};
use utp::proto::connection::MIN_DATAGRAM_LIFETIME;

/// Sockets one run may create; far below the graveyard's 1024, so destroyed ones stay detected.
const MAX_SOCKETS: usize = 96;
/// Datagrams in flight; more are dropped, as a full queue would.
const MAX_QUEUED: usize = 512;
/// The datagram size `UTP_GET_UDP_MTU` answers: Ethernet's 1500-byte MTU less 28 bytes of IPv4
/// and UDP headers, the ceiling of path-MTU discovery.
const PACKET_SIZE: u64 = 1472;
/// Ports of A, B and the third host (which only ever sends garbage).
const PORTS: [u16; 3] = [10_001, 10_002, 10_003];

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

#[derive(Clone, Copy, PartialEq)]
enum Life {
    Created,
    Live,
    Dead,
}

struct Slot {
    ptr: *mut utp_socket,
    side: usize,
    life: Life,
    sent: u64,
    received: u64,
    /// A write on it is running (a write from inside its callbacks would not know where the
    /// pattern continues: it is skipped).
    writing: bool,
}

struct Datagram {
    from: usize,
    to: usize,
    bytes: Vec<u8>,
    /// The virtual time it was sent (µs).
    sent: u64,
}

#[derive(Default)]
struct World {
    ctx: [Option<*mut utp_context>; 2],
    slots: Vec<Slot>,
    created: usize,
    queue: VecDeque<Datagram>,
    now: u64,
    /// A call to make from inside the next callback of this type.
    armed: Option<i32>,
    script: Vec<u8>,
    pos: usize,
}

thread_local! {
    static WORLD: RefCell<World> = RefCell::new(World::default());
}

fn with<T>(f: impl FnOnce(&mut World) -> T) -> T {
    WORLD.with(|w| f(&mut w.borrow_mut()))
}

fn byte() -> u8 {
    with(|w| {
        let b = w.script.get(w.pos).copied().unwrap_or(0);
        w.pos += 1;
        b
    })
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all zeros is a valid value.
    let mut a: libc::sockaddr_in = unsafe { core::mem::zeroed() };
    a.sin_family = libc::AF_INET as libc::sa_family_t;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    a
}

fn side_of_port(port: u16) -> Option<usize> {
    PORTS.iter().position(|&p| p == port)
}

fn slot_of(s: *mut utp_socket) -> Option<usize> {
    with(|w| {
        w.slots
            .iter()
            .position(|x| x.ptr == s && x.life != Life::Dead)
    })
}

/// The side a callback's context is (its userdata holds the side + 1).
fn side_of(ctx: *mut utp_context) -> usize {
    // SAFETY: the context is live inside its own callbacks.
    let tag = unsafe { utp_context_get_userdata(ctx) } as usize;
    assert!(
        tag == 1 || tag == 2,
        "a callback for a context the application does not know"
    );
    tag - 1
}

/// Runs the armed call if this callback type is armed.
fn maybe_nested(kind: i32) {
    let go = with(|w| {
        if w.armed == Some(kind) {
            w.armed = None;
            true
        } else {
            false
        }
    });
    if go {
        step(true);
    }
}

extern "C" fn on_callback(a: *mut utp_callback_arguments) -> u64 {
    // SAFETY: the library passes a valid argument struct for the duration of the call.
    let a = unsafe { &*a };
    let side = side_of(a.context);
    if with(|w| w.ctx[side] != Some(a.context)) {
        // A context being destroyed (its sockets already left the table): its DESTROYING
        // callbacks and last datagrams are expected and ignored.
        return match a.callback_type {
            UTP_GET_MICROSECONDS => with(|w| w.now),
            _ => 0,
        };
    }
    match a.callback_type {
        UTP_SENDTO => {
            // SAFETY: SENDTO carries an address of address_len bytes and a buffer of len bytes.
            let (port, bytes) = unsafe {
                assert!(a.u2.address_len as usize >= core::mem::size_of::<libc::sockaddr_in>());
                let sin = &*(a.u1.address as *const libc::sockaddr_in);
                (
                    u16::from_be(sin.sin_port),
                    core::slice::from_raw_parts(a.buf, a.len).to_vec(),
                )
            };
            assert!(
                !bytes.is_empty() && bytes.len() <= 65_507,
                "SENDTO of {} bytes",
                bytes.len()
            );
            if let Some(to) = side_of_port(port).filter(|&t| t < 2) {
                with(|w| {
                    if w.queue.len() < MAX_QUEUED {
                        let sent = w.now;
                        w.queue.push_back(Datagram {
                            from: side,
                            to,
                            bytes,
                            sent,
                        });
                    }
                });
            }
            maybe_nested(UTP_SENDTO);
            0
        }
        UTP_GET_MICROSECONDS => with(|w| w.now),
        UTP_GET_RANDOM => with(|w| w.now.wrapping_mul(0x9E37_79B9) ^ w.pos as u64),
        UTP_ON_ACCEPT => {
            with(|w| {
                assert!(w
                    .slots
                    .iter()
                    .all(|x| x.ptr != a.socket || x.life == Life::Dead));
                w.slots.retain(|x| x.ptr != a.socket);
                if std::env::var_os("RUTP_FUZZ_TRACE").is_some() {
                    eprintln!("  accepted {:?} on side {side}", a.socket);
                }
                w.slots.push(Slot {
                    ptr: a.socket,
                    side,
                    life: Life::Live,
                    sent: 0,
                    received: 0,
                    writing: false,
                });
                w.created += 1;
            });
            maybe_nested(UTP_ON_ACCEPT);
            0
        }
        UTP_ON_READ => {
            let i = slot_of(a.socket).expect("ON_READ for an unknown or destroyed socket");
            // SAFETY: ON_READ carries len readable bytes.
            let data = unsafe { core::slice::from_raw_parts(a.buf, a.len) };
            if std::env::var_os("RUTP_FUZZ_TRACE").is_some() {
                eprintln!(
                    "  read {:?} at {} len {}",
                    a.socket,
                    with(|w| w.slots[i].received),
                    data.len()
                );
            }
            with(|w| {
                let s = &mut w.slots[i];
                for (k, &b) in data.iter().enumerate() {
                    assert_eq!(
                        b,
                        pattern(s.received + k as u64),
                        "byte {} of a stream",
                        s.received + k as u64
                    );
                }
                s.received += data.len() as u64;
            });
            maybe_nested(UTP_ON_READ);
            0
        }
        UTP_ON_STATE_CHANGE | UTP_ON_ERROR | UTP_ON_CONNECT => {
            assert!(
                slot_of(a.socket).is_some(),
                "an event for an unknown or destroyed socket"
            );
            maybe_nested(a.callback_type);
            // SAFETY: u1 holds the state for ON_STATE_CHANGE.
            if a.callback_type == UTP_ON_STATE_CHANGE
                && unsafe { a.u1.state } == UTP_STATE_DESTROYING
            {
                with(|w| {
                    if let Some(s) = w
                        .slots
                        .iter_mut()
                        .find(|x| x.ptr == a.socket && x.life != Life::Dead)
                    {
                        s.life = Life::Dead;
                    }
                });
            }
            0
        }
        UTP_GET_UDP_MTU => {
            maybe_nested(a.callback_type);
            PACKET_SIZE
        }
        UTP_GET_READ_BUFFER_SIZE | UTP_ON_FIREWALL => {
            maybe_nested(a.callback_type);
            0
        }
        _ => 0,
    }
}

fn make_context(side: usize) {
    let ctx = utp_init(2);
    assert!(!ctx.is_null());
    // SAFETY: a fresh live context; the callback is valid for the program's life.
    unsafe {
        utp_context_set_userdata(ctx, (side + 1) as *mut c_void);
        for kind in [
            UTP_SENDTO,
            UTP_GET_MICROSECONDS,
            UTP_GET_RANDOM,
            UTP_ON_ACCEPT,
            UTP_ON_READ,
            UTP_ON_STATE_CHANGE,
            UTP_ON_ERROR,
            UTP_GET_UDP_MTU,
            UTP_GET_READ_BUFFER_SIZE,
            UTP_ON_FIREWALL,
        ] {
            utp_set_callback(ctx, kind, Some(on_callback));
        }
    }
    with(|w| w.ctx[side] = Some(ctx));
}

/// Destroys a context (deferred by the library when called from its own callback): its
/// sockets leave the table at once, so no later step passes their pointers.
fn destroy_context(side: usize) {
    let Some(ctx) = with(|w| w.ctx[side].take()) else {
        return;
    };
    // SAFETY: a live context (it left the table, so it is destroyed once).
    unsafe { utp_destroy(ctx) };
    with(|w| {
        w.slots.retain(|s| s.side != side);
        w.queue.retain(|d| d.to != side);
    });
}

/// A socket handle chosen by the script: NULL, or any socket in the table (live or destroyed).
fn pick() -> (*mut utp_socket, Option<Life>) {
    let b = byte() as usize;
    with(|w| {
        if b == 0 || w.slots.is_empty() {
            (core::ptr::null_mut(), None)
        } else {
            let s = &w.slots[(b - 1) % w.slots.len()];
            (s.ptr, Some(s.life))
        }
    })
}

fn deliver_one(drop_it: bool) {
    let Some(d) = with(|w| w.queue.pop_front()) else {
        return;
    };
    let lifetime = MIN_DATAGRAM_LIFETIME.as_micros() as u64;
    if with(|w| w.now.saturating_sub(d.sent)) > lifetime {
        return; // outlived the network's lifetime: see the module docs
    }
    let Some(ctx) = with(|w| w.ctx[d.to]) else {
        return;
    };
    if drop_it {
        return;
    }
    let from = sockaddr(PORTS[d.from]);
    if std::env::var_os("RUTP_FUZZ_TRACE").is_some() && d.bytes.len() >= 20 {
        let b = &d.bytes;
        eprintln!(
            "  deliver {}->{} type {} conn {} seq {} ack {} len {}",
            d.from,
            d.to,
            b[0] >> 4,
            u16::from_be_bytes([b[2], b[3]]),
            u16::from_be_bytes([b[16], b[17]]),
            u16::from_be_bytes([b[18], b[19]]),
            b.len()
        );
    }
    // SAFETY: a live context; the buffer and address outlive the call.
    let r = unsafe {
        let r = utp_process_udp(
            ctx,
            d.bytes.as_ptr(),
            d.bytes.len(),
            (&from as *const libc::sockaddr_in).cast(),
            core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if with(|w| w.ctx[d.to] == Some(ctx)) {
            utp_issue_deferred_acks(ctx);
        }
        r
    };
    assert!(r == 0 || r == 1);
}

/// One step of the script; `nested` when made from inside a callback.
fn step(nested: bool) {
    let op = byte() % 16;
    let side = usize::from(byte() & 1);
    let ctx = with(|w| w.ctx[side]);
    if std::env::var_os("RUTP_FUZZ_TRACE").is_some() {
        let (pos, slots) = with(|w| (w.pos, w.slots.len()));
        eprintln!("step op {op} side {side} nested {nested} at {pos}, {slots} sockets");
    }
    match op {
        0 => deliver_one(false),
        1 => {
            for _ in 0..byte() % 32 {
                deliver_one(false);
            }
        }
        2 => deliver_one(true),
        3 => {
            let advance = u64::from(byte()) * 4_000;
            with(|w| w.now += advance);
            for k in 0..2 {
                // Looked up again each time: a callback of one may have destroyed the other.
                if let Some(c) = with(|w| w.ctx[k]) {
                    // SAFETY: a live context.
                    unsafe { utp_check_timeouts(c) };
                }
            }
        }
        4 => {
            if let (Some(c), true) = (ctx, with(|w| w.created < MAX_SOCKETS)) {
                // SAFETY: a live context.
                let s = unsafe { utp_create_socket(c) };
                assert!(!s.is_null());
                with(|w| {
                    w.slots.retain(|x| x.ptr != s);
                    w.slots.push(Slot {
                        ptr: s,
                        side,
                        life: Life::Created,
                        sent: 0,
                        received: 0,
                        writing: false,
                    });
                    w.created += 1;
                });
            }
        }
        5 => {
            let (s, life) = pick();
            let kind = byte();
            let to = sockaddr(PORTS[usize::from(kind % 3)]);
            let len = match kind >> 6 {
                0 => 7, // too short
                _ => core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            };
            // SAFETY: the handle is NULL or a socket of a live context; the address holds len bytes.
            let r = unsafe { utp_connect(s, (&to as *const libc::sockaddr_in).cast(), len) };
            if std::env::var_os("RUTP_FUZZ_TRACE").is_some() {
                eprintln!(
                    "  connect {s:?} to port {} len {len}: {r}",
                    PORTS[usize::from(kind % 3)]
                );
            }
            assert!(r == 0 || r == -1);
            if life.is_none() || life == Some(Life::Dead) || len == 7 {
                assert_eq!(
                    r, -1,
                    "utp_connect on a NULL or destroyed socket, or a short address"
                );
            }
            if r == 0 {
                if let Some(i) = slot_of(s) {
                    with(|w| w.slots[i].life = Life::Live);
                }
            }
        }
        6 | 7 => {
            let (s, life) = pick();
            let len = usize::from(byte()) * 16;
            let i = slot_of(s);
            if i.is_some_and(|i| with(|w| w.slots[i].writing)) {
                return;
            }
            let from = i.map_or(0, |i| with(|w| w.slots[i].sent));
            let data: Vec<u8> = (0..len as u64).map(|k| pattern(from + k)).collect();
            let split = len / 3;
            let mut iov = [
                utp_iovec {
                    iov_base: data.as_ptr() as *mut c_void,
                    iov_len: split,
                },
                utp_iovec {
                    iov_base: data[split..].as_ptr() as *mut c_void,
                    iov_len: len - split,
                },
            ];
            if let Some(i) = i {
                with(|w| w.slots[i].writing = true);
            }
            // SAFETY: the handle is NULL or a socket of a live context; the buffers hold their lengths.
            let r = unsafe {
                if op == 6 {
                    utp_write(s, data.as_ptr() as *mut c_void, len)
                } else {
                    utp_writev(s, iov.as_mut_ptr(), 2)
                }
            };
            if i.is_some() {
                // The slot may have gone meanwhile (its context destroyed from a callback).
                with(|w| {
                    if let Some(x) = w.slots.iter_mut().find(|x| x.ptr == s) {
                        x.writing = false;
                    }
                });
            }
            if std::env::var_os("RUTP_FUZZ_TRACE").is_some() {
                eprintln!("  write{} {s:?} from {from} len {len} took {r}", op - 6);
            }
            assert!(r >= -1 && r <= len as isize, "a write of {len} took {r}");
            if life.is_none() || life == Some(Life::Dead) {
                assert_eq!(r, -1, "a write on a NULL or destroyed socket");
            }
            if r > 0 {
                assert!(
                    i.is_some(),
                    "bytes taken by a socket the table does not know"
                );
                with(|w| {
                    if let Some(x) = w.slots.iter_mut().find(|x| x.ptr == s) {
                        x.sent += r as u64;
                    }
                });
            }
        }
        8 => {
            let (s, _) = pick();
            // SAFETY: NULL or a socket of a live context.
            unsafe { utp_shutdown(s, i32::from(byte() % 4)) };
        }
        9 => {
            let (s, _) = pick();
            // SAFETY: NULL or a socket of a live context.
            unsafe { utp_close(s) };
            // A socket never connected is freed at once (graveyard): it is dead now.
            if let Some(i) = slot_of(s) {
                // SAFETY: NULL or a socket of a live context.
                if unsafe { utp_get_context(s) }.is_null() {
                    with(|w| w.slots[i].life = Life::Dead);
                }
            }
        }
        10 => {
            let (s, _) = pick();
            // SAFETY: NULL or a socket of a live context.
            unsafe { utp_read_drained(s) };
        }
        11 => {
            let (s, life) = pick();
            // SAFETY: sockaddr_storage is plain old data; all zeros is a valid value.
            let mut ss: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
            let mut sl = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let (mut o, mut t, mut g) = (7u32, 7u32, 7u32);
            // SAFETY: NULL or a socket of a live context; the outputs are writable.
            unsafe {
                let c = utp_get_context(s);
                let opt = utp_getsockopt(s, UTP_SNDBUF);
                let set = utp_setsockopt(s, UTP_RCVBUF, i32::from(byte()) - 64);
                let peer =
                    utp_getpeername(s, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut sl);
                let delays = utp_get_delays(s, &mut o, &mut t, &mut g);
                let stats = utp_get_stats(s);
                let ud = utp_set_userdata(s, 5 as *mut c_void);
                if life.is_none() || life == Some(Life::Dead) {
                    assert!(c.is_null() && opt == -1 && set == -1 && peer == -1 && delays == -1);
                    assert!(stats.is_null() && ud.is_null());
                } else {
                    assert_eq!(c, ctx_of_side(s));
                    assert!(opt > 0 && ud == 5 as *mut c_void);
                }
                if delays != 0 {
                    assert!(
                        o == 0 && t == 0 && g == 0,
                        "failed utp_get_delays leaves outputs"
                    );
                }
            }
        }
        12 => {
            if let Some(c) = ctx {
                let garbage = [
                    byte(),
                    byte(),
                    byte(),
                    byte(),
                    0x01,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ];
                let third = sockaddr(PORTS[2]);
                let len = core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                // SAFETY: a live context; buffers and address hold their lengths.
                unsafe {
                    let _ = utp_process_udp(
                        c,
                        garbage.as_ptr(),
                        garbage.len(),
                        (&third as *const libc::sockaddr_in).cast(),
                        len,
                    );
                    // A callback of that call may have destroyed the context (it is gone now).
                    if with(|w| w.ctx[side] != Some(c)) {
                        return;
                    }
                    assert!(!utp_get_context_stats(c).is_null());
                    let v = i32::from(byte()) - 8;
                    assert_eq!(utp_context_set_option(c, UTP_SNDBUF, v) == 0, v >= 1);
                    assert!(utp_context_get_option(c, UTP_SNDBUF) >= 1);
                }
            }
        }
        13 => {
            // An ICMP error quoting a queued datagram, reported to its sender.
            let quoted = with(|w| w.queue.front().map(|d| (d.from, d.to, d.bytes.clone())));
            if let Some((from, to, bytes)) = quoted {
                if let Some(c) = with(|w| w.ctx[from]) {
                    let dest = sockaddr(PORTS[to]);
                    let len = core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    // SAFETY: a live context; buffers and address hold their lengths.
                    let r = unsafe {
                        if byte() & 1 == 0 {
                            utp_process_icmp_error(
                                c,
                                bytes.as_ptr(),
                                bytes.len(),
                                (&dest as *const libc::sockaddr_in).cast(),
                                len,
                            )
                        } else {
                            utp_process_icmp_fragmentation(
                                c,
                                bytes.as_ptr(),
                                bytes.len(),
                                (&dest as *const libc::sockaddr_in).cast(),
                                len,
                                u16::from(byte()) * 8,
                            )
                        }
                    };
                    assert!(r == 0 || r == 1);
                }
            }
        }
        14 => {
            if byte() & 3 == 0 {
                destroy_context(side);
            } else if ctx.is_none() && !nested {
                make_context(side);
            }
        }
        _ => {
            if !nested {
                const KINDS: [i32; 7] = [
                    UTP_SENDTO,
                    UTP_ON_ACCEPT,
                    UTP_ON_READ,
                    UTP_ON_STATE_CHANGE,
                    UTP_ON_ERROR,
                    UTP_GET_UDP_MTU,
                    UTP_GET_READ_BUFFER_SIZE,
                ];
                let kind = KINDS[usize::from(byte()) % KINDS.len()];
                with(|w| w.armed = Some(kind));
            }
        }
    }
}

/// The context of a live socket in the table.
fn ctx_of_side(s: *mut utp_socket) -> *mut utp_context {
    with(|w| {
        let side = w
            .slots
            .iter()
            .find(|x| x.ptr == s)
            .map(|x| x.side)
            .unwrap_or(9);
        w.ctx
            .get(side)
            .copied()
            .flatten()
            .unwrap_or(core::ptr::null_mut())
    })
}

fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // A panic the C boundary would turn into an error value is still a finding.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort();
        }));
    });
    with(|w| {
        *w = World::default();
        w.script = data.to_vec();
        w.now = 1_000_000;
    });
    make_context(0);
    make_context(1);
    let mut steps = 0;
    while with(|w| w.pos < w.script.len()) && steps < 2_000 {
        step(false);
        steps += 1;
    }
    destroy_context(0);
    destroy_context(1);
});
