"""libutp's callback API from Python: :class:`Context` drives the engine over the caller's socket.

The application owns the UDP socket and the loop, as a C application of libutp does: it feeds
every received datagram to :meth:`Context.process_udp`, calls :meth:`Context.issue_deferred_acks`
after draining the socket and :meth:`Context.check_timeouts` regularly, and sends what the
``sendto`` callback hands it. Callbacks run on the calling thread, inside the call that caused
them.

**Errors in callbacks.** An exception raised by a callback never reaches C: the callback returns
a safe default to the library, and the exception is re-raised by the :class:`Context` or
:class:`~rutp.CSocket` method during which the callback ran, once that method's C call has
returned (further exceptions from the same call go to ``sys.unraisablehook``).

**Lifetime.** :meth:`Context.close` (or leaving a ``with`` block) calls ``utp_destroy``, which
fires ``UTP_STATE_DESTROYING`` for each live socket. A context that is garbage-collected without
being closed is destroyed by ``__del__`` without calling any Python callback (after the call in
progress on one of its sockets, if any); contexts still open at interpreter exit are destroyed by
an ``atexit`` hook. The ctypes callback objects stay
alive until ``utp_destroy`` has returned. Methods of a context are serialised by a lock.
"""

from __future__ import annotations

import atexit
import ctypes
import weakref
from typing import Any, Callable, Optional

from rutp import _ffi
from rutp._buffers import c_buffer
from rutp._dispatch import Address, ContextState, RawHandler
from rutp._ffi import Callback, ErrorCode, Option, State, UdpFlag, lib
from rutp.csocket import CSocket, _int

__all__ = ["Context", "CSocket", "Callback", "ErrorCode", "Option", "State", "UdpFlag"]

_open_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()


class Context:
    """A ``utp_context`` made by ``utp_init(2)``, with Python callables as callbacks."""

    def __init__(self) -> None:
        ptr = lib.utp_init(2)
        if not ptr:
            raise MemoryError("utp_init failed")
        self._state = ContextState(ptr)
        # Always installed: DESTROYING ends the Python socket's use of the handle.
        slot = Callback.UTP_ON_STATE_CHANGE
        lib.utp_set_callback(ptr, slot, self._state.trampoline(slot))
        _open_contexts.add(self)

    # ---- lifetime ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the C context was destroyed."""
        return self._state.ptr is None

    def close(self) -> None:
        """``utp_destroy``: DESTROYING for every live socket, then the context is freed.

        Idempotent. Raises ``RuntimeError`` when called from one of this context's callbacks.
        """
        state = self._state
        with state.lock:
            if state.ptr is None:
                return
            if state.depth:
                raise RuntimeError("a Context cannot be closed from inside its own callbacks")
            _open_contexts.discard(self)
            state.depth += 1
            try:
                state.destroy()
            finally:
                state.depth -= 1
            state.raise_pending()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None:
            state.destroy_when_idle()  # no application code during garbage collection

    def __repr__(self) -> str:
        return f"<rutp.Context {'closed' if self.closed else 'open'}>"

    # ---- the run loop --------------------------------------------------------------------------

    def process_udp(self, data: Any, addr: Address) -> bool:
        """``utp_process_udp``: one datagram received from ``addr``; False if it is not uTP."""
        buf, length = c_buffer(data)
        c_addr, c_len = self._state.sockaddr(addr)
        with self._state.call() as ptr:
            return lib.utp_process_udp(ptr, buf, length, c_addr, c_len) == 1

    def process_icmp_error(self, data: Any, addr: Address) -> bool:
        """``utp_process_icmp_error``: ``data`` is our packet quoted by an ICMP error from ``addr``."""
        buf, length = c_buffer(data)
        c_addr, c_len = self._state.sockaddr(addr)
        with self._state.call() as ptr:
            return lib.utp_process_icmp_error(ptr, buf, length, c_addr, c_len) == 1

    def process_icmp_fragmentation(self, data: Any, addr: Address, next_hop_mtu: int) -> bool:
        """``utp_process_icmp_fragmentation``: the path to ``addr`` takes ``next_hop_mtu`` bytes."""
        mtu = _int(next_hop_mtu, "next_hop_mtu", 0, 0xFFFF)
        buf, length = c_buffer(data)
        c_addr, c_len = self._state.sockaddr(addr)
        with self._state.call() as ptr:
            return lib.utp_process_icmp_fragmentation(ptr, buf, length, c_addr, c_len, mtu) == 1

    def check_timeouts(self) -> None:
        """``utp_check_timeouts``: runs the timers that are due."""
        with self._state.call() as ptr:
            lib.utp_check_timeouts(ptr)

    def issue_deferred_acks(self) -> None:
        """``utp_issue_deferred_acks``: acknowledges received data now (after draining the socket)."""
        with self._state.call() as ptr:
            lib.utp_issue_deferred_acks(ptr)

    def connect(self, addr: Address) -> CSocket:
        """``utp_create_socket`` + ``utp_connect``; the SYN goes out (``sendto``) during the call.

        Completion comes as ``on_connect`` (or ``UTP_STATE_CONNECT``). When a callback raises
        during this call, the new socket is closed and the exception raised.
        """
        c_addr, c_len = self._state.sockaddr(addr)
        state = self._state
        with state.call() as ptr:
            errors_before = len(state.errors)
            sock = state.socket_for(lib.utp_create_socket(ptr))
            assert sock is not None  # NULL only for a NULL context
            if lib.utp_connect(sock._ptr, c_addr, c_len) != 0:
                sock._connected = False
                sock.close()
                raise ValueError(f"utp_connect refused the address {addr!r}")
            if len(state.errors) > errors_before:
                sock.close()
        return sock

    def set_option(self, option: Option, value: int) -> None:
        """``utp_context_set_option`` (log flags, ``UTP_SNDBUF``, ``UTP_RCVBUF``, ``UTP_TARGET_DELAY``)."""
        with self._state.call() as ptr:
            rc = lib.utp_context_set_option(ptr, _int(option, "option"), _int(value, "value"))
        if rc != 0:
            raise ValueError(f"utp_context_set_option refused option {option!r} = {value!r}")

    def get_option(self, option: Option) -> int:
        """``utp_context_get_option``."""
        with self._state.call() as ptr:
            value = lib.utp_context_get_option(ptr, _int(option, "option"))
        if value < 0:
            raise ValueError(f"unknown context option {option!r}")
        return int(value)

    def stats(self) -> _ffi.utp_context_stats:
        """A copy of the datagram counts by size (``utp_get_context_stats``)."""
        with self._state.call() as ptr:
            return _ffi.utp_context_stats.from_buffer_copy(lib.utp_get_context_stats(ptr).contents)

    # ---- callbacks: the raw slot, then one method per slot ----------------------------------

    def set_callback(self, slot: Callback, fn: Optional[RawHandler]) -> None:
        """Installs ``fn(args: utp_callback_arguments) -> int | None`` in ``slot`` (None clears).

        ``args`` is valid only during the call. The named methods below wrap this one.
        """
        index = _int(slot, "callback slot")
        if not 0 <= index < len(Callback):
            raise ValueError(f"callback slot must be 0..{len(Callback) - 1}, not {index}")
        if fn is not None and not callable(fn):
            raise TypeError(f"a callback must be callable or None, not {type(fn).__name__}")
        self._state.install(index, fn)

    def _set(self, slot: Callback, fn: Optional[Callable[..., Any]],
             adapt: Callable[[Callable[..., Any]], RawHandler]) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"a callback must be callable or None, not {type(fn).__name__}")
        self._state.install(slot, None if fn is None else adapt(fn))

    def on_firewall(self, fn: Optional[Callable[[Address], bool]]) -> None:
        """``fn(addr) -> bool``: True rejects the incoming connection (only with ``on_accept``)."""
        st = self._state
        self._set(Callback.UTP_ON_FIREWALL, fn, lambda f: lambda a: bool(f(st.address_of(a))))

    def on_accept(self, fn: Optional[Callable[[CSocket, Address], None]]) -> None:
        """``fn(sock, addr)``: a new incoming connection. Without it, SYNs are ignored."""
        st = self._state
        self._set(Callback.UTP_ON_ACCEPT, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), st.address_of(a))))

    def on_connect(self, fn: Optional[Callable[[CSocket], None]]) -> None:
        """``fn(sock)``: an outgoing connection completed (replaces ``UTP_STATE_CONNECT``)."""
        st = self._state
        self._set(Callback.UTP_ON_CONNECT, fn, lambda f: lambda a: _none(f(st.socket_for(a.socket))))

    def on_error(self, fn: Optional[Callable[[CSocket, ErrorCode], None]]) -> None:
        """``fn(sock, code)``: the connection failed (refused, reset, timed out)."""
        st = self._state
        self._set(Callback.UTP_ON_ERROR, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), ErrorCode(a.error_code))))

    def on_read(self, fn: Optional[Callable[[CSocket, bytes], None]]) -> None:
        """``fn(sock, data)``: in-order payload (a copy). Without it, received data is dropped."""
        st = self._state
        self._set(Callback.UTP_ON_READ, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), ctypes.string_at(a.buf, a.len))))

    def on_state_change(self, fn: Optional[Callable[[CSocket, State], None]]) -> None:
        """``fn(sock, state)``: CONNECT, WRITABLE, EOF, DESTROYING (the socket's last callback)."""
        st = self._state
        self._set(Callback.UTP_ON_STATE_CHANGE, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), State(a.state))))

    def on_overhead_statistics(
        self, fn: Optional[Callable[[Optional[CSocket], bool, int, int], None]]
    ) -> None:
        """``fn(sock, sent, length, kind)``: overhead bytes of one datagram sent or received."""
        st = self._state
        self._set(Callback.UTP_ON_OVERHEAD_STATISTICS, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), bool(a.send), a.len, a.type)))

    def on_delay_sample(self, fn: Optional[Callable[[CSocket, int], None]]) -> None:
        """``fn(sock, ms)``: our queuing-delay estimate after an ACK."""
        st = self._state
        self._set(Callback.UTP_ON_DELAY_SAMPLE, fn,
                  lambda f: lambda a: _none(f(st.socket_for(a.socket), a.sample_ms)))

    def on_log(self, fn: Optional[Callable[[Optional[CSocket], str], None]]) -> None:
        """``fn(sock or None, line)``: a log line (enable levels with ``UTP_LOG_*`` options)."""
        st = self._state
        self._set(Callback.UTP_LOG, fn, lambda f: lambda a: _none(
            f(st.socket_for(a.socket), ctypes.string_at(a.buf).decode("utf-8", "replace"))))

    def on_sendto(self, fn: Optional[Callable[[bytes, Address, int], None]]) -> None:
        """``fn(data, addr, flags)``: send this datagram (``flags`` may hold ``UTP_UDP_DONTFRAG``)."""
        st = self._state
        self._set(Callback.UTP_SENDTO, fn, lambda f: lambda a: _none(
            f(ctypes.string_at(a.buf, a.len), st.address_of(a), a.flags)))

    sendto = on_sendto

    def get_read_buffer_size(self, fn: Optional[Callable[[CSocket], int]]) -> None:
        """``fn(sock) -> int``: bytes received but not yet consumed (shrinks the window)."""
        st = self._state
        self._set(Callback.UTP_GET_READ_BUFFER_SIZE, fn, lambda f: lambda a: f(st.socket_for(a.socket)))

    def get_udp_mtu(self, fn: Optional[Callable[[Optional[CSocket], Optional[Address]], int]]) -> None:
        """``fn(sock, addr) -> int``: the UDP payload size to use towards ``addr``."""
        st = self._state
        self._set(Callback.UTP_GET_UDP_MTU, fn,
                  lambda f: lambda a: f(st.socket_for(a.socket), st.address_of(a)))

    def get_udp_overhead(self, fn: Optional[Callable[[Optional[CSocket], Optional[Address]], int]]) -> None:
        """``fn(sock, addr) -> int``: IP and UDP header bytes per datagram to ``addr``."""
        st = self._state
        self._set(Callback.UTP_GET_UDP_OVERHEAD, fn,
                  lambda f: lambda a: f(st.socket_for(a.socket), st.address_of(a)))

    def get_milliseconds(self, fn: Optional[Callable[[], int]]) -> None:
        """``fn() -> int``: a monotonic clock in ms."""
        self._set(Callback.UTP_GET_MILLISECONDS, fn, lambda f: lambda a: f())

    def get_microseconds(self, fn: Optional[Callable[[], int]]) -> None:
        """``fn() -> int``: a monotonic clock in µs (preferred over milliseconds)."""
        self._set(Callback.UTP_GET_MICROSECONDS, fn, lambda f: lambda a: f())

    def get_random(self, fn: Optional[Callable[[], int]]) -> None:
        """``fn() -> int``: random numbers for connection ids and sequence numbers."""
        self._set(Callback.UTP_GET_RANDOM, fn, lambda f: lambda a: f())


def _none(result: object) -> None:
    """Callbacks whose return value C ignores: drop it."""
    return None


@atexit.register
def _destroy_open_contexts() -> None:
    for ctx in list(_open_contexts):
        ctx._state.destroy_when_idle()
