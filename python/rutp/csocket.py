"""A uTP socket of a callback-API :class:`~rutp.Context` (a ``utp_socket *``).

A :class:`CSocket` is valid until its ``UTP_STATE_DESTROYING`` callback (or the destruction of
its context); afterwards every method raises ``OSError(EBADF)`` instead of touching the freed
handle. There is one object per C socket, so sockets can be dictionary keys. A socket refers to
its context weakly: keep the :class:`~rutp.Context` alive for as long as its connections run.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import weakref
from typing import TYPE_CHECKING, Any, Iterable, Optional, Tuple

from rutp import _ffi
from rutp._abi import UTP_IOV_MAX
from rutp._buffers import c_buffer
from rutp._ffi import Option, lib, utp_socket_p

if TYPE_CHECKING:
    from rutp._dispatch import ContextState


class CSocket:
    """One uTP connection of a :class:`~rutp.Context`; made by ``connect`` or ``on_accept``."""

    __slots__ = ("_state_ref", "_ptr", "_connected", "_closed", "data", "__weakref__")
    _state_ref: "weakref.ReferenceType[ContextState]"
    _ptr: Optional[utp_socket_p]
    _connected: bool  # False: never connected, so close() frees it at once
    _closed: bool
    data: Any  #: free for the application (libutp's socket userdata)

    def __init__(self) -> None:
        raise TypeError("CSocket objects come from Context.connect() or the on_accept callback")

    @classmethod
    def _wrap(cls, state: "ContextState", ptr: utp_socket_p, connected: bool = True) -> "CSocket":
        sock = object.__new__(cls)
        sock._state_ref = weakref.ref(state)
        sock._ptr = ptr
        sock._connected = connected
        sock._closed = False
        sock.data = None
        return sock

    def _mark_destroyed(self) -> None:
        self._ptr = None

    @property
    def _state(self) -> "ContextState":
        state = self._state_ref()
        if state is None:
            raise OSError(errno.EBADF, "the uTP socket's context was garbage-collected")
        return state

    def _live(self) -> utp_socket_p:
        if self._ptr is None:
            raise OSError(errno.EBADF, "the uTP socket was destroyed")
        return self._ptr

    def __repr__(self) -> str:
        where = "destroyed" if self._ptr is None else f"0x{self._ptr.value or 0:x}"
        return f"<rutp.CSocket {where}{' closed' if self._closed else ''}>"

    @property
    def destroyed(self) -> bool:
        """True once ``UTP_STATE_DESTROYING`` came (or the context was destroyed)."""
        return self._ptr is None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (callbacks may fire until it is destroyed)."""
        return self._closed

    def write(self, data: Any) -> int:
        """``utp_write``: queues what fits of ``data`` (bytes-like) and returns that count.

        0 means the send window is full (``UTP_STATE_WRITABLE`` follows) or the socket cannot
        send (not connected yet, after ``SHUT_WR`` or close).
        """
        buf, length = c_buffer(data)
        with self._state.call():
            written = lib.utp_write(self._live(), buf, length)
        if written < 0:
            raise OSError(errno.EINVAL, "utp_write refused the call")
        return int(written)

    def writev(self, buffers: Iterable[Any]) -> int:
        """``utp_writev``: queues what fits of several bytes-like buffers, in order."""
        keep = [c_buffer(b) for b in buffers]
        if not 1 <= len(keep) <= UTP_IOV_MAX:
            raise ValueError(f"writev takes 1 to {UTP_IOV_MAX} buffers, not {len(keep)}")
        iov = (_ffi.utp_iovec * len(keep))()
        for entry, (buf, length) in zip(iov, keep):
            entry.iov_base = ctypes.cast(buf, ctypes.c_void_p)  # type: ignore[arg-type]
            entry.iov_len = length
        with self._state.call():
            written = lib.utp_writev(self._live(), iov, len(keep))
        if written < 0:
            raise OSError(errno.EINVAL, "utp_writev refused the call")
        return int(written)

    def read_drained(self) -> None:
        """``utp_read_drained``: the application consumed data it reported as buffered."""
        with self._state.call():
            lib.utp_read_drained(self._live())

    def shutdown(self, how: int) -> None:
        """``utp_shutdown`` with ``socket.SHUT_RD``, ``SHUT_WR`` (sends our FIN) or ``SHUT_RDWR``."""
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        with self._state.call():
            lib.utp_shutdown(self._live(), how)

    def close(self) -> None:
        """``utp_close``: graceful close; callbacks may still fire until DESTROYING. Idempotent."""
        if self._closed or self._ptr is None:
            return
        self._closed = True
        with self._state.call():
            lib.utp_close(self._ptr)
            if not self._connected:  # freed at once, without callbacks
                self._state.forget_socket(self._ptr)

    def getpeername(self) -> Tuple[str, int]:
        """``(host, port)`` of the peer."""
        addr = _ffi.sockaddr()
        length = _ffi.socklen_t(ctypes.sizeof(addr))
        with self._state.call():
            rc = lib.utp_getpeername(self._live(), addr, ctypes.byref(length))
        if rc != 0:
            raise OSError(errno.ENOTCONN, "the uTP socket has no peer")
        return _ffi.sockaddr_to(addr, length.value)

    def get_delays(self) -> Tuple[int, int, int]:
        """``(ours_us, theirs_us, age_ms)``: queuing delays both ways, time since last heard."""
        values = [ctypes.c_uint32() for _ in range(3)]
        with self._state.call():
            rc = lib.utp_get_delays(self._live(), *(ctypes.byref(v) for v in values))
        if rc != 0:
            raise OSError(errno.ENOTCONN, "the uTP socket was never connected")
        return values[0].value, values[1].value, values[2].value

    def stats(self) -> _ffi.utp_socket_stats:
        """A copy of the socket's counters (``utp_get_stats``)."""
        with self._state.call():
            ptr = lib.utp_get_stats(self._live())
            if not ptr:
                raise OSError(errno.ENOTCONN, "the uTP socket was never connected")
            return _ffi.utp_socket_stats.from_buffer_copy(ptr.contents)

    def setsockopt(self, option: Option, value: int) -> None:
        """``utp_setsockopt``: ``UTP_SNDBUF``, ``UTP_RCVBUF`` (at least 1), ``UTP_TARGET_DELAY``."""
        with self._state.call():
            rc = lib.utp_setsockopt(self._live(), _int(option, "option"), _int(value, "value"))
        if rc != 0:
            raise ValueError(f"utp_setsockopt refused option {option!r} = {value!r}")

    def getsockopt(self, option: Option) -> int:
        """``utp_getsockopt``."""
        with self._state.call():
            value = lib.utp_getsockopt(self._live(), _int(option, "option"))
        if value < 0:
            raise ValueError(f"unknown socket option {option!r}")
        return int(value)


def _int(value: Any, what: str, low: int = -(1 << 31), high: Optional[int] = (1 << 31) - 1) -> int:
    """``value`` checked as a C ``int`` (TypeError for non-ints, ValueError out of range)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{what} {value} is out of range")
    return int(value)
