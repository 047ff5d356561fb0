"""``Socket`` and ``Stream``: uTP shaped like the ``socket`` module, on the managed runtime.

A :class:`Socket` is one managed context (``utp_managed_create``): a UDP socket owned by the
library, driven by its threads, that both connects and accepts. Each connection is a
:class:`Stream`. Blocking calls release the GIL and wait in slices of at most
:data:`rutp._calls.SLICE_MS` milliseconds, so several Python threads transfer at once, Ctrl-C
is noticed within a slice and ``close`` from another thread takes effect promptly.

Errors are built-in exceptions: ``ConnectionRefusedError`` (a RESET or ICMP port unreachable
answering the SYN, within milliseconds on loopback), ``ConnectionResetError`` (the peer reset,
or its host answered with ICMP port unreachable: a killed process), ``TimeoutError``
(``settimeout`` deadline, or the connection timed out), ``BrokenPipeError`` (send after
``shutdown(SHUT_WR)``), ``BlockingIOError`` (non-blocking and nothing to do), and
``OSError(EBADF)`` after ``close``. Bad arguments raise ``TypeError`` or ``ValueError``.
"""

from __future__ import annotations

import ctypes
import errno
import math
import socket as _socket
import time
import weakref
from typing import Any, Optional, Tuple

from . import _calls, _errors, _ffi, _streambuf
from ._lifetime import ContextHandle, StreamHandle
from ._streamio import makefile as _makefile
from .stats import StreamStats

__all__ = ["Socket", "Stream"]

Address = Tuple[str, int]


class Stream:
    """One uTP connection: a reliable, ordered byte stream, like a connected TCP socket.

    Made by :meth:`Socket.connect` and :meth:`Socket.accept`, never directly. Blocking by
    default; see :meth:`settimeout`.
    """

    def __init__(self, owner: "Socket", handle: StreamHandle, peer: Address) -> None:
        self._owner = owner  # keeps the context alive as long as the stream is
        self._handle = handle
        self._peer = peer
        self._timeout: Optional[float] = None
        self._finalizer = weakref.finalize(self, handle.close)

    def __repr__(self) -> str:
        state = "closed" if self._handle.closed else f"peer={self._peer!r}"
        return f"<rutp.Stream {state}>"

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the owning :class:`Socket` was closed)."""
        return self._handle.closed

    def settimeout(self, timeout: Optional[float]) -> None:
        """``None`` blocks; 0 never blocks (``BlockingIOError``); seconds raise TimeoutError."""
        self._timeout = _calls.validate_timeout(timeout)

    def gettimeout(self) -> Optional[float]:
        """The timeout set by :meth:`settimeout` (None: blocking)."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """``setblocking(False)`` is ``settimeout(0)``, ``setblocking(True)`` ``settimeout(None)``."""
        self.settimeout(None if flag else 0.0)

    def _call(self, function: Any, address: int, length: int, ms: int) -> int:
        with self._handle.context.enter(self._handle):
            return int(function(self._handle.pointer, address, length, ms))

    def _send(self, address: int, length: int, timeout: Optional[float]) -> int:
        write = _ffi.lib.utp_managed_write
        rc = _calls.sliced(timeout, lambda ms: self._call(write, address, length, ms))
        if rc < 0:
            raise _errors.error(rc)
        return rc

    def send(self, data: Any, flags: int = 0) -> int:
        """Queues as much of ``data`` as fits; the number of bytes taken (at least 1).

        Blocks (within the timeout) until there is room. Queued bytes are delivered even if the
        stream is closed right after (:meth:`finish` waits until they are).
        """
        if flags != 0:
            raise ValueError("flags are not supported")
        address, length, keep = _streambuf.readable(data)
        if self._handle.closed:
            raise _errors.closed()
        if length == 0:
            return 0
        try:
            return self._send(address, length, self._timeout)
        finally:
            del keep

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Queues every byte of ``data``; the timeout applies to the whole call."""
        if flags != 0:
            raise ValueError("flags are not supported")
        address, length, keep = _streambuf.readable(data)
        if self._handle.closed:
            raise _errors.closed()
        deadline = None if not self._timeout else time.monotonic() + self._timeout
        done = 0
        try:
            while done < length:
                timeout = self._timeout
                if deadline is not None:
                    timeout = max(0.0, deadline - time.monotonic())
                    if timeout == 0:
                        raise _errors.timed_out()
                done += self._send(address + done, length - done, timeout)
        finally:
            del keep

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Reads up to ``nbytes`` (0: the buffer's size) into ``buffer``; 0 at end of stream."""
        if flags != 0:
            raise ValueError("flags are not supported")
        address, length, keep = _streambuf.writable(buffer, nbytes)
        if self._handle.closed:
            raise _errors.closed()
        if length == 0:
            return 0
        read = _ffi.lib.utp_managed_read
        try:
            rc = _calls.sliced(self._timeout, lambda ms: self._call(read, address, length, ms))
        finally:
            del keep
        if rc < 0:
            raise _errors.error(rc)
        return rc

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` at the end of the stream (the peer's FIN)."""
        if isinstance(bufsize, bool) or not isinstance(bufsize, int):
            raise TypeError(f"bufsize must be an int, not {type(bufsize).__name__}")
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._handle.closed:
            raise _errors.closed()
        if bufsize == 0:
            return b""
        buffer = ctypes.create_string_buffer(bufsize)
        n = self.recv_into(buffer, bufsize, flags)
        return ctypes.string_at(buffer, n)

    def makefile(
        self,
        mode: str = "r",
        buffering: Optional[int] = None,
        *,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        newline: Optional[str] = None,
    ) -> Any:
        """A file object reading and/or writing this stream, as ``socket.makefile`` gives.

        Closing the file does not close the stream.
        """
        if self._handle.closed:
            raise _errors.closed()
        return _makefile(self, mode, buffering, encoding, errors, newline)

    def shutdown(self, how: int) -> None:
        """``socket.SHUT_WR`` sends our FIN after the queued data (the peer reads EOF);
        ``SHUT_RD`` stops delivering data; ``SHUT_RDWR`` both."""
        if isinstance(how, bool) or not isinstance(how, int):
            raise TypeError(f"how must be an int, not {type(how).__name__}")
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how}")
        with self._handle.context.enter(self._handle):
            _ffi.lib.utp_shutdown(self._handle.pointer, how)

    def finish(self) -> None:
        """Sends our FIN after the queued data (as ``shutdown(SHUT_WR)``) and waits until the
        peer has acknowledged every byte and the FIN, within the stream's timeout. Once it
        returns the data is at the peer even if the program exits at once; closing the
        :class:`Socket` or exiting earlier gives data in flight only a short grace. Reading
        goes on. Raises the connection's error if it fails meanwhile."""
        if self._handle.closed:
            raise _errors.closed()
        self.shutdown(_socket.SHUT_WR)
        flush = _ffi.lib.utp_managed_flush

        def attempt(ms: int) -> int:
            with self._handle.context.enter(self._handle):
                return int(flush(self._handle.pointer, ms))

        rc = _calls.sliced(self._timeout, attempt)
        if rc < 0:
            raise _errors.error(rc)

    def close(self) -> None:
        """Closes gracefully: queued data and our FIN still go out while the :class:`Socket`
        lives (:meth:`finish` waits for them). Idempotent."""
        self._finalizer()

    def getpeername(self) -> Address:
        """The peer's ``(host, port)``."""
        if self._handle.closed:
            raise _errors.closed()
        return self._peer

    def getsockname(self) -> Address:
        """The local ``(host, port)``: the owning :class:`Socket`'s address."""
        if self._handle.closed:
            raise _errors.closed()
        return self._owner.getsockname()

    def progress(self) -> Tuple[int, int]:
        """``(written, acked)``: the bytes this stream took from ``send``/``sendall`` and the
        prefix of them the peer acknowledged (``utp_managed_progress``). Still readable after the
        connection failed (a reset, a timeout), until the stream is closed: ``written - acked``
        bytes may not have arrived.
        """
        if self._handle.closed:
            raise _errors.closed()
        written, acked = ctypes.c_uint64(), ctypes.c_uint64()
        with self._handle.context.enter(self._handle):
            rc = _ffi.lib.utp_managed_progress(
                self._handle.pointer, ctypes.byref(written), ctypes.byref(acked)
            )
        if rc < 0:
            raise _errors.error(rc)
        return written.value, acked.value

    def stats(self) -> StreamStats:
        """A copy of the connection's counters."""
        with self._handle.context.enter(self._handle):
            pointer = _ffi.lib.utp_get_stats(self._handle.pointer)
            if _calls.is_null(pointer):
                raise _errors.error(-errno.ENOTCONN)
            c = ctypes.cast(pointer, ctypes.POINTER(_ffi.utp_socket_stats)).contents
            return StreamStats.from_c(c)


class Socket:
    """A uTP endpoint: one UDP socket owned by the library, connecting and accepting.

    ``Socket(bind=("127.0.0.1", 0))`` binds (port 0: the system picks one; IPv6 addresses
    work too). Incoming connections queue (up to 1024) until :meth:`accept` takes them; only
    those the peer confirmed are handed out (a SYN flood's requests fail unseen).
    :meth:`close` closes every stream gracefully and waits up to 3 s for their FINs.
    """

    def __init__(self, bind: Address = ("127.0.0.1", 0)) -> None:
        create = _ffi.lib.utp_managed_create
        sa, length = _calls.address_arg(create, 0, bind)
        ctypes.set_errno(0)
        pointer = create(_calls.pointer_to(create, 0, sa), length)
        if _calls.is_null(pointer):
            code = ctypes.get_errno() or errno.EINVAL
            raise _errors.error(code, f"cannot bind {bind!r}")
        self._handle = ContextHandle(pointer)
        self._finalizer = weakref.finalize(self, self._handle.close)

    def __repr__(self) -> str:
        if self._handle.closed:
            return "<rutp.Socket closed>"
        return f"<rutp.Socket {self.getsockname()!r}>"

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def getsockname(self) -> Address:
        """The bound ``(host, port)``, with the port the system chose for 0."""
        local = _ffi.lib.utp_managed_local_address
        with self._handle.enter():
            return _calls.read_address(local, self._handle.pointer)

    def connect(self, address: Address, timeout: Optional[float] = None) -> Stream:
        """Connects to ``(host, port)`` and returns the :class:`Stream` once the handshake is
        done.

        ``timeout`` None waits as long as the engine retries the SYN (31 s; a closed port on
        a reachable host answers within milliseconds: ``ConnectionRefusedError``); seconds
        bound the wait (``TimeoutError``); 0 returns at once with the handshake in progress
        (sends wait for it; a failure surfaces on the next call). The wait is one library
        call, so Ctrl-C is noticed when it returns.
        """
        timeout = _calls.validate_timeout(timeout)
        connect = _ffi.lib.utp_managed_connect
        sa, length = _calls.address_arg(connect, 1, address)
        ms = -1 if timeout is None else (0 if timeout == 0 else max(1, math.ceil(timeout * 1000)))
        out = _calls.out_param(connect, 4)
        with self._handle.enter():
            rc = connect(
                self._handle.pointer, _calls.pointer_to(connect, 1, sa), length, ms,
                ctypes.byref(out),
            )
            if rc not in (0, -errno.EINPROGRESS) or _calls.is_null(out):
                raise _errors.error(rc if rc < 0 else -errno.ENOTCONN, "connect")
            stream = self._handle.adopt(_pointer_value(out))
            peer = _peer_of(stream, _calls.validate_address(address))
        return Stream(self, stream, peer)

    def accept(self, timeout: Optional[float] = None) -> Tuple[Stream, Address]:
        """The next incoming connection and its peer's ``(host, port)``.

        ``timeout`` None waits without limit, 0 raises ``BlockingIOError`` when none is
        queued, seconds raise ``TimeoutError``.
        """
        timeout = _calls.validate_timeout(timeout)
        accept = _ffi.lib.utp_managed_accept
        out = _calls.out_param(accept, 2)

        def attempt(ms: int) -> int:
            with self._handle.enter():
                return int(accept(self._handle.pointer, ms, ctypes.byref(out)))

        rc = _calls.sliced(timeout, attempt)
        if rc < 0:
            raise _errors.error(rc, "accept")
        with self._handle.enter():
            stream = self._handle.adopt(_pointer_value(out))
            peer = _peer_of(stream, ("", 0))
        return Stream(self, stream, peer), peer

    def close(self) -> None:
        """Closes every stream gracefully and frees the socket; idempotent. Streams still held
        raise ``OSError(EBADF)`` afterwards."""
        self._finalizer()


def _peer_of(stream: StreamHandle, fallback: Address) -> Address:
    """The peer's numeric ``(host, port)`` (``fallback`` if the library has none)."""
    try:
        return _calls.read_address(_ffi.lib.utp_getpeername, stream.pointer)
    except (OSError, ValueError):
        return fallback


def _pointer_value(out: Any) -> Any:
    """The pointer stored in an out-parameter, as the library's functions take it back."""
    if isinstance(out, ctypes.c_void_p):
        return out.value
    return out
