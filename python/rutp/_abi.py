"""The types and constants of ``utp.h``/``utp_managed.h`` as ctypes declarations.

Layouts follow the C headers exactly (libutp's ABI: ``utp_callback_arguments`` is 56 bytes on
LP64 with its two anonymous unions at offsets 40 and 48; both statistics structs are 40 bytes).
``tests/test_layout.py`` compares every size and offset with what the C compiler says, and
``tests/test_header_sync.py`` compares names and field order with the headers.
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, POINTER, c_int, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p
from enum import IntEnum

from rutp._sockaddr import sockaddr

__all__ = [
    "socklen_t",
    "utp_context_p",
    "utp_socket_p",
    "utp_callback_arguments",
    "utp_callback_t",
    "utp_context_stats",
    "utp_socket_stats",
    "utp_iovec",
    "utp_managed_udp_handler",
    "UdpFlag",
    "State",
    "ErrorCode",
    "Callback",
    "Option",
    "UTP_ARRAY_SIZE",
    "UTP_IOV_MAX",
    "CONSTANTS",
]

#: ``socklen_t``: a 32-bit unsigned integer on Linux.
socklen_t = ctypes.c_uint32


class utp_context_p(c_void_p):
    """``utp_context *``: an opaque handle (``struct struct_utp_context`` is never defined)."""


class utp_socket_p(c_void_p):
    """``utp_socket *``: an opaque handle (``struct UTPSocket`` is never defined)."""


class _AddressOrValue(ctypes.Union):
    """The first anonymous union: which member is set depends on the callback."""

    _fields_ = [
        ("address", POINTER(sockaddr)),
        ("send", c_int),
        ("sample_ms", c_int),
        ("error_code", c_int),
        ("state", c_int),
    ]


class _AddressLenOrType(ctypes.Union):
    """The second anonymous union: ``address_len`` with an address, ``type`` for overhead."""

    _fields_ = [("address_len", socklen_t), ("type", c_int)]


class utp_callback_arguments(ctypes.Structure):
    """What every callback receives; only the members documented for a callback are set.

    ``buf`` is a ``c_void_p`` (reads give an int or None): copy it with
    ``ctypes.string_at(args.buf, args.len)``; it is valid only during the callback.
    """

    _anonymous_ = ("_u1", "_u2")
    _fields_ = [
        ("context", utp_context_p),
        ("socket", utp_socket_p),
        ("len", c_size_t),
        ("flags", c_uint32),
        ("callback_type", c_int),
        ("buf", c_void_p),
        ("_u1", _AddressOrValue),
        ("_u2", _AddressLenOrType),
    ]


#: ``uint64 utp_callback_t(utp_callback_arguments *)``, as a C function pointer type.
utp_callback_t = CFUNCTYPE(c_uint64, POINTER(utp_callback_arguments))


class utp_context_stats(ctypes.Structure):
    """Datagram counts by length: up to 23, 373, 723 and 1400 bytes, and longer."""

    _fields_ = [("_nraw_recv", c_uint32 * 5), ("_nraw_send", c_uint32 * 5)]


class utp_socket_stats(ctypes.Structure):
    """Per-socket counters (``utp_get_stats``)."""

    _fields_ = [
        ("nbytes_recv", c_uint64),
        ("nbytes_xmit", c_uint64),
        ("rexmit", c_uint32),
        ("fastrexmit", c_uint32),
        ("nxmit", c_uint32),
        ("nrecv", c_uint32),
        ("nduprecv", c_uint32),
        ("mtu_guess", c_uint32),
    ]


class utp_iovec(ctypes.Structure):
    """One buffer of ``utp_writev``."""

    _fields_ = [("iov_base", c_void_p), ("iov_len", c_size_t)]


#: ``void (*)(void *user, const uint8_t *buf, size_t len, const struct sockaddr *from,
#: socklen_t fromlen)``: receives the non-uTP datagrams of a managed context.
utp_managed_udp_handler = CFUNCTYPE(
    None, c_void_p, POINTER(c_uint8), c_size_t, POINTER(sockaddr), socklen_t
)


class UdpFlag(IntEnum):
    """``flags`` of ``UTP_SENDTO``."""

    UTP_UDP_DONTFRAG = 2  # set the IP "don't fragment" bit: a path-MTU probe


class State(IntEnum):
    """``state`` of ``UTP_ON_STATE_CHANGE``."""

    UTP_STATE_CONNECT = 1
    UTP_STATE_WRITABLE = 2
    UTP_STATE_EOF = 3
    UTP_STATE_DESTROYING = 4


class ErrorCode(IntEnum):
    """``error_code`` of ``UTP_ON_ERROR``."""

    UTP_ECONNREFUSED = 0
    UTP_ECONNRESET = 1
    UTP_ETIMEDOUT = 2


class Callback(IntEnum):
    """Callback slots of ``utp_set_callback`` (0 to 15)."""

    UTP_ON_FIREWALL = 0
    UTP_ON_ACCEPT = 1
    UTP_ON_CONNECT = 2
    UTP_ON_ERROR = 3
    UTP_ON_READ = 4
    UTP_ON_OVERHEAD_STATISTICS = 5
    UTP_ON_STATE_CHANGE = 6
    UTP_GET_READ_BUFFER_SIZE = 7
    UTP_ON_DELAY_SAMPLE = 8
    UTP_GET_UDP_MTU = 9
    UTP_GET_UDP_OVERHEAD = 10
    UTP_GET_MILLISECONDS = 11
    UTP_GET_MICROSECONDS = 12
    UTP_GET_RANDOM = 13
    UTP_LOG = 14
    UTP_SENDTO = 15


class Option(IntEnum):
    """Options of ``utp_context_set_option``/``utp_setsockopt`` (same C enum, 16 to 21)."""

    UTP_LOG_NORMAL = 16
    UTP_LOG_MTU = 17
    UTP_LOG_DEBUG = 18
    UTP_SNDBUF = 19
    UTP_RCVBUF = 20
    UTP_TARGET_DELAY = 21


#: One past the last callback slot or option (the size of libutp's callback table).
UTP_ARRAY_SIZE = 22
#: ``utp_writev`` uses at most this many buffers.
UTP_IOV_MAX = 1024

#: Every constant of the headers by its C name.
CONSTANTS = {
    **{m.name: int(m) for e in (UdpFlag, State, ErrorCode, Callback, Option) for m in e},
    "UTP_ARRAY_SIZE": UTP_ARRAY_SIZE,
    "UTP_IOV_MAX": UTP_IOV_MAX,
}
