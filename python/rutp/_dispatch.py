"""The boundary between libutp's callbacks and Python: one C trampoline per callback slot.

Invariants:

- No Python exception ever crosses into C. An exception raised by a callback (``BaseException``
  included, so Ctrl-C is not lost) is stored in :attr:`ContextState.errors` and re-raised by the
  outermost :class:`~rutp.Context`/:class:`~rutp.CSocket` call in progress (callbacks of an
  unmanaged context only run inside such calls); the slot then returns a safe fallback to C
  (the library's default MTU, overhead, clock or random value; "reject" for the firewall; 0
  otherwise).
- The ``utp_callback_t`` objects live in the state as long as the C context exists: they are
  dropped only after ``utp_destroy`` returns, so C never calls a freed trampoline.
- The state never references its :class:`~rutp.Context`, so a context with callbacks that refer
  to it is still collectable (its ``__del__`` destroys the C context).
"""

from __future__ import annotations

import ctypes
import errno
import random
import sys
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Tuple

from rutp import _ffi
from rutp._ffi import Callback, State, lib, utp_callback_arguments, utp_callback_t

if TYPE_CHECKING:
    from rutp.csocket import CSocket

#: A slot's handler: gets the raw arguments, returns the value for C (None means 0).
RawHandler = Callable[[utp_callback_arguments], Optional[int]]
Address = Tuple[str, int]

_UINT64_MAX = (1 << 64) - 1
_ADDRESS_CACHE_SIZE = 256


def _family(args: utp_callback_arguments) -> Optional[int]:
    if not args.address or args.address_len < 2:
        return None
    return int(args.address.contents.sa_family)


def fallback(slot: int, args: utp_callback_arguments) -> int:
    """What a slot returns to C when its Python handler failed: the library's own default."""
    ipv4 = _family(args) != 10  # AF_INET6 on Linux
    if slot == Callback.UTP_ON_FIREWALL:
        return 1  # reject: a firewall that failed admits nobody
    if slot == Callback.UTP_GET_UDP_MTU:
        return 1402 if ipv4 else 1232  # libutp's defaults (libutp-api.md 3.3)
    if slot == Callback.UTP_GET_UDP_OVERHEAD:
        return 28 if ipv4 else 76
    if slot == Callback.UTP_GET_MILLISECONDS:
        return time.monotonic_ns() // 1_000_000
    if slot == Callback.UTP_GET_MICROSECONDS:
        return time.monotonic_ns() // 1_000
    if slot == Callback.UTP_GET_RANDOM:
        return random.getrandbits(32)
    return 0


def to_c_result(value: object) -> int:
    """A handler's return value as the ``uint64`` C expects (None is 0, bools are 0/1)."""
    if value is None:
        return 0
    if not isinstance(value, int):
        raise TypeError(f"a callback must return an int or None, not {type(value).__name__}")
    if not 0 <= value <= _UINT64_MAX:
        raise ValueError(f"a callback must return a value in 0..2**64-1, not {value}")
    return int(value)


class ContextState:
    """Everything about one C context that outlives nothing but the C context itself."""

    __slots__ = ("ptr", "handlers", "trampolines", "errors", "sockets", "deliver", "depth",
                 "lock", "addresses", "peer_names", "destroy_pending", "__weakref__")

    def __init__(self, ptr: _ffi.utp_context_p) -> None:
        self.ptr: Optional[_ffi.utp_context_p] = ptr
        self.handlers: Dict[int, RawHandler] = {}
        self.trampolines: Dict[int, object] = {}
        self.errors: List[BaseException] = []
        self.sockets: Dict[int, "CSocket"] = {}
        self.deliver = True  # False once the garbage collector destroys the context
        self.destroy_pending = False  # the context was collected during a call: destroy after it
        self.depth = 0  # nesting of calls into C in progress
        self.lock = threading.RLock()
        self.addresses: Dict[Address, Tuple[_ffi.sockaddr, int]] = {}
        self.peer_names: Dict[bytes, Address] = {}

    # ---- calls into C ----------------------------------------------------------------------

    def live_ptr(self) -> _ffi.utp_context_p:
        """The C context, or ``OSError(EBADF)`` once it was destroyed."""
        if self.ptr is None:
            raise OSError(errno.EBADF, "the rutp context is closed")
        return self.ptr

    @contextmanager
    def call(self) -> Iterator[_ffi.utp_context_p]:
        """Serialises a call into C and re-raises callback errors when the outermost one ends."""
        try:
            with self.lock:
                ptr = self.live_ptr()
                self.depth += 1
                try:
                    yield ptr
                finally:
                    self.depth -= 1
                if self.depth == 0:
                    self.raise_pending()
        finally:
            if self.destroy_pending:
                self._destroy_if_pending()

    def destroy_when_idle(self) -> None:
        """The garbage-collector path: ``utp_destroy`` without Python callbacks, at once if no
        call is in progress, else when the call in progress ends (never inside a C call: a
        socket's call may still be running while its unreachable context is collected)."""
        self.deliver = False
        self.destroy_pending = True
        self._destroy_if_pending()

    def _destroy_if_pending(self) -> None:
        # Non-blocking: a thread in a call holds the lock and destroys when it leaves the call.
        if self.ptr is None or not self.lock.acquire(blocking=False):
            return
        try:
            if self.destroy_pending and self.depth == 0 and self.ptr is not None:
                self.destroy()
                self.errors.clear()
        finally:
            self.lock.release()

    def raise_pending(self) -> None:
        """Raises the first stored callback error; later ones go to ``sys.unraisablehook``."""
        if not self.errors:
            return
        first, *others = self.errors
        self.errors.clear()
        for exc in others:
            _report_unraisable(exc, "rutp: a further exception in a callback")
        raise first

    # ---- addresses ---------------------------------------------------------------------------

    def sockaddr(self, addr: object) -> Tuple[_ffi.sockaddr, int]:
        """The C address of a ``(host, port)`` tuple, cached (datagrams repeat few peers)."""
        if not isinstance(addr, tuple) or not 2 <= len(addr) <= 4:
            raise TypeError(f"address must be a (host, port) tuple, not {addr!r}")
        key = (addr[0], addr[1])
        cached = self.addresses.get(key)  # type: ignore[arg-type]
        if cached is None:
            cached = _ffi.sockaddr_from(addr[0], addr[1])
            if len(self.addresses) >= _ADDRESS_CACHE_SIZE:
                self.addresses.clear()
            self.addresses[key] = cached  # type: ignore[index]
        return cached

    def address_of(self, args: utp_callback_arguments) -> Optional[Address]:
        """``(host, port)`` of the callback's address member, or None when it has none."""
        if not args.address:
            return None
        raw = ctypes.string_at(args.address, min(int(args.address_len), 128))
        name = self.peer_names.get(raw)
        if name is None:
            name = _ffi.sockaddr_to(raw, len(raw))
            if len(self.peer_names) >= _ADDRESS_CACHE_SIZE:
                self.peer_names.clear()
            self.peer_names[raw] = name
        return name

    # ---- callbacks -----------------------------------------------------------------------------

    def install(self, slot: int, handler: Optional[RawHandler]) -> None:
        """Sets (or with None clears) the Python handler of ``slot`` and the C callback."""
        with self.call() as ptr:
            if handler is None:
                self.handlers.pop(slot, None)
                if slot != Callback.UTP_ON_STATE_CHANGE:  # kept: it tracks socket lifetimes
                    lib.utp_set_callback(ptr, slot, utp_callback_t())  # NULL
                return
            self.handlers[slot] = handler
            lib.utp_set_callback(ptr, slot, self.trampoline(slot))

    def trampoline(self, slot: int) -> object:
        """The C function pointer for ``slot`` (one per slot, created once)."""
        existing = self.trampolines.get(slot)
        if existing is None:
            existing = utp_callback_t(self._make_trampoline(slot))
            self.trampolines[slot] = existing
        return existing

    def _make_trampoline(self, slot: int) -> Callable[..., int]:
        is_state_change = slot == Callback.UTP_ON_STATE_CHANGE

        def trampoline(args_p: "ctypes._Pointer[utp_callback_arguments]") -> int:
            args = args_p.contents
            try:
                handler = self.handlers.get(slot)
                if handler is None or not self.deliver:
                    return fallback(slot, args)  # e.g. the clock while the GC destroys
                return to_c_result(handler(args))
            except BaseException as exc:  # noqa: BLE001 (nothing may unwind into C)
                self.errors.append(exc)
                return fallback(slot, args)
            finally:
                if is_state_change and args.state == State.UTP_STATE_DESTROYING:
                    self.forget_socket(args.socket)

        return trampoline

    # ---- sockets -------------------------------------------------------------------------------

    def forget_socket(self, ptr: Optional[_ffi.utp_socket_p]) -> None:
        """The C socket is gone: its Python object stops using the handle."""
        if ptr:
            sock = self.sockets.pop(int(ptr.value or 0), None)
            if sock is not None:
                sock._mark_destroyed()

    def socket_for(self, ptr: Optional[_ffi.utp_socket_p]) -> Optional["CSocket"]:
        """The one Python object of the C socket ``ptr`` (created on first sight)."""
        if not ptr:
            return None
        key = int(ptr.value or 0)
        sock = self.sockets.get(key)
        if sock is None:
            from rutp.csocket import CSocket  # a cycle at import time otherwise

            sock = CSocket._wrap(self, _ffi.utp_socket_p(key))
            self.sockets[key] = sock
        return sock

    def destroy(self) -> None:
        """``utp_destroy`` once; then every socket is dead and the trampolines may go.

        ``ptr`` is cleared first: a callback fired inside ``utp_destroy`` (DESTROYING) that
        calls back into the context gets ``OSError(EBADF)`` instead of touching a dying context.
        """
        ptr, self.ptr = self.ptr, None
        if ptr is None:
            return
        try:
            lib.utp_destroy(ptr)
        finally:
            for sock in list(self.sockets.values()):
                sock._mark_destroyed()
            self.sockets.clear()
            self.handlers.clear()
            self.trampolines.clear()


def _report_unraisable(exc: BaseException, message: str) -> None:
    sys.unraisablehook(
        SimpleNamespace(  # type: ignore[arg-type]
            exc_type=type(exc),
            exc_value=exc,
            exc_traceback=exc.__traceback__,
            err_msg=message,
            object=None,
        )
    )
