//! The C types and constants of libutp's `utp.h` and `utp_types.h`, with the same layout.
//!
//! Values and layouts are libutp's (API notes sections 1.2 to 1.4); compile-time assertions
//! below pin the sizes and offsets for LP64 and ILP32.
#![allow(non_camel_case_types)]

use core::ffi::{c_int, c_void};
use core::mem::{offset_of, size_of};

/// `UTP_UDP_DONTFRAG`: flag passed to `UTP_SENDTO` for path-MTU probes.
pub const UTP_UDP_DONTFRAG: c_int = 2;
/// `UTP_IOV_MAX`: iovecs taken by one `utp_writev`.
pub const UTP_IOV_MAX: usize = 1024;

/// `UTP_STATE_CONNECT`: an outgoing connection completed.
pub const UTP_STATE_CONNECT: c_int = 1;
/// `UTP_STATE_WRITABLE`: writing can continue.
pub const UTP_STATE_WRITABLE: c_int = 2;
/// `UTP_STATE_EOF`: the peer finished sending.
pub const UTP_STATE_EOF: c_int = 3;
/// `UTP_STATE_DESTROYING`: the socket is being freed; the last callback it gets.
pub const UTP_STATE_DESTROYING: c_int = 4;

/// `UTP_ECONNREFUSED`.
pub const UTP_ECONNREFUSED: c_int = 0;
/// `UTP_ECONNRESET`.
pub const UTP_ECONNRESET: c_int = 1;
/// `UTP_ETIMEDOUT`.
pub const UTP_ETIMEDOUT: c_int = 2;

/// Callback slots and option names, one enum in libutp.
pub mod callback {
    use core::ffi::c_int;
    /// Incoming SYN: non-zero return rejects it.
    pub const UTP_ON_FIREWALL: c_int = 0;
    /// A connection was accepted.
    pub const UTP_ON_ACCEPT: c_int = 1;
    /// An outgoing connection completed.
    pub const UTP_ON_CONNECT: c_int = 2;
    /// A connection failed.
    pub const UTP_ON_ERROR: c_int = 3;
    /// Data arrived.
    pub const UTP_ON_READ: c_int = 4;
    /// Bytes sent or received, for accounting.
    pub const UTP_ON_OVERHEAD_STATISTICS: c_int = 5;
    /// A state change.
    pub const UTP_ON_STATE_CHANGE: c_int = 6;
    /// Asks how much received data the application still holds.
    pub const UTP_GET_READ_BUFFER_SIZE: c_int = 7;
    /// A queuing-delay sample.
    pub const UTP_ON_DELAY_SAMPLE: c_int = 8;
    /// Asks for the MTU towards an address.
    pub const UTP_GET_UDP_MTU: c_int = 9;
    /// Asks for the IP/UDP overhead towards an address.
    pub const UTP_GET_UDP_OVERHEAD: c_int = 10;
    /// Asks for the time in milliseconds.
    pub const UTP_GET_MILLISECONDS: c_int = 11;
    /// Asks for the time in microseconds.
    pub const UTP_GET_MICROSECONDS: c_int = 12;
    /// Asks for a random number.
    pub const UTP_GET_RANDOM: c_int = 13;
    /// A log line.
    pub const UTP_LOG: c_int = 14;
    /// A datagram to send.
    pub const UTP_SENDTO: c_int = 15;
    /// Option: normal-level logging.
    pub const UTP_LOG_NORMAL: c_int = 16;
    /// Option: MTU-discovery logging.
    pub const UTP_LOG_MTU: c_int = 17;
    /// Option: debug logging.
    pub const UTP_LOG_DEBUG: c_int = 18;
    /// Option: send buffer bytes.
    pub const UTP_SNDBUF: c_int = 19;
    /// Option: receive buffer bytes.
    pub const UTP_RCVBUF: c_int = 20;
    /// Option: LEDBAT target delay in microseconds.
    pub const UTP_TARGET_DELAY: c_int = 21;
    /// Number of slots in the callback table.
    pub const UTP_ARRAY_SIZE: c_int = 22;
}

/// Opaque context handle, `utp_context` in C.
pub use super::context::UtpContext as utp_context;
/// Opaque socket handle, `utp_socket` in C.
pub use super::socket::UtpSocket as utp_socket;

/// First anonymous union of `utp_callback_arguments`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union CallbackArgsU1 {
    /// `address` (FIREWALL, ACCEPT, GET_UDP_MTU, GET_UDP_OVERHEAD, SENDTO).
    pub address: *const libc::sockaddr,
    /// `send` (ON_OVERHEAD_STATISTICS).
    pub send: c_int,
    /// `sample_ms` (ON_DELAY_SAMPLE).
    pub sample_ms: c_int,
    /// `error_code` (ON_ERROR).
    pub error_code: c_int,
    /// `state` (ON_STATE_CHANGE).
    pub state: c_int,
}

/// Second anonymous union of `utp_callback_arguments`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union CallbackArgsU2 {
    /// `address_len`.
    pub address_len: libc::socklen_t,
    /// `type` (ON_OVERHEAD_STATISTICS).
    pub type_: c_int,
}

/// `utp_callback_arguments`: what every callback receives. Only the fields documented for a
/// callback are meaningful.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct utp_callback_arguments {
    /// The context.
    pub context: *mut utp_context,
    /// The socket, or NULL.
    pub socket: *mut utp_socket,
    /// Length of `buf`.
    pub len: usize,
    /// Flags (`UTP_UDP_DONTFRAG` for SENDTO).
    pub flags: u32,
    /// Which callback this is.
    pub callback_type: c_int,
    /// Data (READ, SENDTO, LOG).
    pub buf: *const u8,
    /// `address` / `send` / `sample_ms` / `error_code` / `state`.
    pub u1: CallbackArgsU1,
    /// `address_len` / `type`.
    pub u2: CallbackArgsU2,
}

/// `utp_callback_t`: every callback's signature.
pub type utp_callback_t =
    unsafe extern "C" fn(*mut utp_callback_arguments) -> core::ffi::c_ulonglong;

/// `utp_context_stats`: datagrams by size bucket (libutp's limits: 23, 373, 723, 1400 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct utp_context_stats {
    /// Received, by bucket.
    pub _nraw_recv: [u32; 5],
    /// Sent, by bucket.
    pub _nraw_send: [u32; 5],
}

/// `utp_socket_stats`: per-socket counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct utp_socket_stats {
    /// Payload bytes received.
    pub nbytes_recv: u64,
    /// Payload bytes sent.
    pub nbytes_xmit: u64,
    /// Retransmissions.
    pub rexmit: u32,
    /// Fast retransmissions.
    pub fastrexmit: u32,
    /// Datagrams sent.
    pub nxmit: u32,
    /// Datagrams received.
    pub nrecv: u32,
    /// Duplicate data packets received.
    pub nduprecv: u32,
    /// Current datagram size.
    pub mtu_guess: u32,
}

/// `struct utp_iovec`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct utp_iovec {
    /// Start of the buffer.
    pub iov_base: *mut c_void,
    /// Its length.
    pub iov_len: usize,
}

const PTR: usize = size_of::<*const u8>();

// Layouts from the API notes, section 1.3 and 1.4 (LP64 measured, ILP32 computed).
const _: () = {
    assert!(size_of::<utp_callback_arguments>() == if PTR == 8 { 56 } else { 32 });
    assert!(offset_of!(utp_callback_arguments, socket) == PTR);
    assert!(offset_of!(utp_callback_arguments, len) == 2 * PTR);
    assert!(offset_of!(utp_callback_arguments, flags) == 3 * PTR);
    assert!(offset_of!(utp_callback_arguments, callback_type) == 3 * PTR + 4);
    assert!(offset_of!(utp_callback_arguments, buf) == 3 * PTR + 8);
    assert!(offset_of!(utp_callback_arguments, u1) == if PTR == 8 { 40 } else { 24 });
    assert!(offset_of!(utp_callback_arguments, u2) == if PTR == 8 { 48 } else { 28 });
    assert!(size_of::<utp_context_stats>() == 40);
    assert!(size_of::<utp_socket_stats>() == 40);
    assert!(offset_of!(utp_socket_stats, rexmit) == 16);
    assert!(offset_of!(utp_socket_stats, mtu_guess) == 36);
    assert!(size_of::<utp_iovec>() == 2 * PTR);
};
