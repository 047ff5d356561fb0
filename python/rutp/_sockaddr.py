"""IPv4 and IPv6 socket addresses as C ``struct sockaddr_in``/``sockaddr_in6`` (Linux layout).

The structs are laid out by hand: ``sa_family_t`` is a 16-bit host-order integer, ports are in
network byte order, ``sockaddr_in`` is 16 bytes and ``sockaddr_in6`` 28. :class:`sockaddr` is a
union of both (plus room for a ``sockaddr_storage``) and is what every ``const struct sockaddr *``
parameter of the library takes.
"""

from __future__ import annotations

import ctypes
import socket
import sys
from ctypes import c_uint8, c_uint16, c_uint32
from typing import Any, Tuple

__all__ = ["sockaddr", "sockaddr_in", "sockaddr_in6", "sockaddr_from", "sockaddr_to"]

_SOCKADDR_STORAGE_SIZE = 128


class sockaddr_in(ctypes.Structure):
    """``struct sockaddr_in``: family, port (network order), address, 8 bytes of zero."""

    _fields_ = [
        ("sin_family", c_uint16),
        ("sin_port", c_uint8 * 2),
        ("sin_addr", c_uint8 * 4),
        ("sin_zero", c_uint8 * 8),
    ]


class sockaddr_in6(ctypes.Structure):
    """``struct sockaddr_in6``: family, port (network order), flow info, address, scope id."""

    _fields_ = [
        ("sin6_family", c_uint16),
        ("sin6_port", c_uint8 * 2),
        ("sin6_flowinfo", c_uint32),
        ("sin6_addr", c_uint8 * 16),
        ("sin6_scope_id", c_uint32),
    ]


class sockaddr(ctypes.Union):
    """``struct sockaddr``, big enough for any address: read ``sa_family`` to pick a member."""

    _fields_ = [
        ("sa_family", c_uint16),
        ("in4", sockaddr_in),
        ("in6", sockaddr_in6),
        ("storage", c_uint8 * _SOCKADDR_STORAGE_SIZE),
    ]


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port must be 0-65535, not {port}")
    return port


def _resolve(host: str, port: int) -> Tuple[int, str, int, int]:
    """(family, numeric address, flow info, scope id) of ``host``: literals first, then DNS."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family, host, 0, 0
        except OSError:
            pass
    try:
        infos = socket.getaddrinfo(host or None, port, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as err:
        raise ValueError(f"cannot resolve host {host!r}: {err}") from err
    for family, _, _, _, addr in infos:
        if family == socket.AF_INET:
            return int(family), str(addr[0]), 0, 0
        if family == socket.AF_INET6 and len(addr) == 4:
            return int(family), str(addr[0]).split("%", 1)[0], int(addr[2]), int(addr[3])
    raise ValueError(f"host {host!r} has no IPv4 or IPv6 address")


def sockaddr_from(host: str, port: int) -> Tuple[sockaddr, int]:
    """The C address of ``(host, port)`` and its length (16 for IPv4, 28 for IPv6).

    ``host`` is an IPv4 or IPv6 literal (an IPv6 scope as ``%name`` is resolved), a name
    (resolved with ``getaddrinfo``, first IPv4 or IPv6 answer), or ``""`` for the IPv4 wildcard.
    Raises ``TypeError`` for a non-``str`` host or non-``int`` port, ``ValueError`` for a port
    out of range or a host that does not resolve.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    port = _check_port(port)
    if "\0" in host:
        raise ValueError("host contains a NUL character")
    family, numeric, flowinfo, scope_id = _resolve(host or "0.0.0.0", port)
    addr = sockaddr()
    port_bytes = port.to_bytes(2, "big")
    if family == socket.AF_INET:
        addr.in4.sin_family = socket.AF_INET
        addr.in4.sin_port[:] = port_bytes
        addr.in4.sin_addr[:] = socket.inet_pton(socket.AF_INET, numeric)
        return addr, ctypes.sizeof(sockaddr_in)
    addr.in6.sin6_family = socket.AF_INET6
    addr.in6.sin6_port[:] = port_bytes
    addr.in6.sin6_flowinfo = flowinfo
    addr.in6.sin6_addr[:] = socket.inet_pton(socket.AF_INET6, numeric)
    addr.in6.sin6_scope_id = scope_id
    return addr, ctypes.sizeof(sockaddr_in6)


def _raw_bytes(ptr: Any, length: int) -> bytes:
    if isinstance(ptr, (sockaddr, sockaddr_in, sockaddr_in6)):
        if length > ctypes.sizeof(ptr):
            raise ValueError(f"length {length} exceeds the {type(ptr).__name__} struct")
        return ctypes.string_at(ctypes.addressof(ptr), length)
    if isinstance(ptr, (bytes, bytearray, memoryview)):
        return bytes(ptr)[:length]
    if not ptr:
        raise ValueError("NULL address")
    return ctypes.string_at(ptr, length)


def sockaddr_to(ptr: Any, length: int) -> Tuple[str, int]:
    """``(host, port)`` of the C address at ``ptr`` (``length`` bytes, as the library gave it).

    ``ptr`` may be a ctypes pointer, an integer address, a :class:`sockaddr` (or
    ``sockaddr_in``/``sockaddr_in6``) instance, or the raw bytes. Only ``length`` bytes are read.
    Raises ``ValueError`` for a NULL pointer, a length too short for the family, or a family
    other than IPv4/IPv6.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise TypeError(f"length must be a non-negative int, not {length!r}")
    if length > _SOCKADDR_STORAGE_SIZE:
        raise ValueError(f"address length {length} exceeds a sockaddr_storage")
    raw = _raw_bytes(ptr, length)
    if len(raw) < 2:
        raise ValueError(f"address of {len(raw)} bytes has no family")
    family = int.from_bytes(raw[:2], sys.byteorder)
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), int.from_bytes(raw[2:4], "big")
    raise ValueError(f"unsupported address (family {family}, {len(raw)} bytes)")

