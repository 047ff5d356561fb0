"""Who may touch a managed context or one of its sockets, and when it is freed.

The managed C API frees a context in ``utp_managed_destroy`` and a socket some time after
``utp_close``; a pointer used after that is undefined behaviour, and destroying a context while
another thread is inside a call on it is forbidden by ``utp_managed.h``. Python code, however,
may close a ``Socket`` from one thread while another is blocked in ``recv``, or drop the last
reference in the middle of a transfer. The handles here make that safe:

* every call into the library runs inside :meth:`ContextHandle.enter`, which counts it as in
  flight and refuses (``OSError(EBADF)``) once the context or stream is closed;
* closing marks the handle closed first, waits until the calls in flight return (blocking calls
  are made in short slices, so that is soon), and only then calls ``utp_close`` or
  ``utp_managed_destroy``;
* destroying a context marks all its streams closed, so their later ``close`` (or their
  finaliser at garbage collection) never touches a freed socket.

Invariant: a raw pointer is passed to the library only between a successful ``enter`` and the
matching exit, and each pointer is released exactly once.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import Iterator, Optional

from . import _errors
from . import _ffi

__all__ = ["ContextHandle", "StreamHandle"]


class StreamHandle:
    """One ``utp_socket *`` of a managed context, with its in-flight count."""

    __slots__ = ("context", "pointer", "closed", "inflight", "__weakref__")

    def __init__(self, context: "ContextHandle", pointer: int) -> None:
        self.context = context
        self.pointer = pointer
        self.closed = False
        self.inflight = 0

    def close(self) -> None:
        """Closes the uTP socket gracefully (queued data is still delivered); idempotent."""
        ctx = self.context
        with ctx.cond:
            if self.closed:
                return
            self.closed = True
            ctx.cond.wait_for(lambda: self.inflight == 0)
            if ctx.closed:
                return  # utp_managed_destroy closed and freed it already.
            ctx.streams.discard(self)
            ctx.inflight += 1
        try:
            _ffi.lib.utp_close(self.pointer)
        finally:
            ctx.leave(None)


class ContextHandle:
    """One managed ``utp_context *``: its lock, in-flight count and live streams."""

    __slots__ = ("pointer", "closed", "inflight", "cond", "streams", "__weakref__")

    def __init__(self, pointer: int) -> None:
        self.pointer = pointer
        self.closed = False
        self.inflight = 0
        # Reentrant: a finaliser run by the garbage collector inside a locked section may close
        # another stream of this context on the same thread.
        self.cond = threading.Condition(threading.RLock())
        self.streams: "weakref.WeakSet[StreamHandle]" = weakref.WeakSet()

    def adopt(self, pointer: int) -> StreamHandle:
        """Wraps a socket the library just handed out (from connect or accept)."""
        handle = StreamHandle(self, pointer)
        with self.cond:
            self.streams.add(handle)
        return handle

    @contextmanager
    def enter(self, stream: Optional[StreamHandle] = None) -> Iterator[None]:
        """Counts one library call as in flight; ``OSError(EBADF)`` if closed."""
        with self.cond:
            if self.closed or (stream is not None and stream.closed):
                raise _errors.closed()
            self.inflight += 1
            if stream is not None:
                stream.inflight += 1
        try:
            yield
        finally:
            self.leave(stream)

    def leave(self, stream: Optional[StreamHandle]) -> None:
        """Ends one call counted by :meth:`enter` (or by ``StreamHandle.close``)."""
        with self.cond:
            self.inflight -= 1
            if stream is not None:
                stream.inflight -= 1
            self.cond.notify_all()

    def close(self) -> None:
        """Destroys the context once no call is in flight; idempotent.

        ``utp_managed_destroy`` closes every connection and waits up to 3 s for their FINs to
        be acknowledged (the GIL is released meanwhile).
        """
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.wait_for(lambda: self.inflight == 0)
            for stream in list(self.streams):
                stream.closed = True
            self.streams.clear()
        _ffi.lib.utp_managed_destroy(self.pointer)
