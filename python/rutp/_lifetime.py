"""Who may touch a managed context or one of its sockets, and when it is freed.

The managed C API frees a context in ``utp_managed_destroy`` and a socket some time after
``utp_close``; a pointer used after that is undefined behaviour, and destroying a context while
another thread is inside a call on it is forbidden by ``utp_managed.h``. Python code, however,
may close a ``Socket`` from one thread while another is blocked in ``recv``, or drop the last
reference in the middle of a transfer. The handles here make that safe:

* every call into the library runs inside :meth:`ContextHandle.enter`, which records it as in
  flight for the calling thread and refuses (``OSError(EBADF)``) once the context or stream is
  closed;
* closing marks the handle closed first, waits until the calls in flight on other threads
  return (blocking calls are made in short slices, so that is soon), and only then calls
  ``utp_close`` or ``utp_managed_destroy``.

``KeyboardInterrupt`` can strike between any two bytecodes, also in the bookkeeping after the C
call returned. The record is removed by an idempotent step retried until it completes (the
interrupt is raised afterwards), and calls are recorded per thread rather than counted: no
thread makes two calls at once, so a record that still went stale is overwritten by that
thread's next call and ignored when that thread closes the handle itself.
* destroying a context marks all its streams closed, so their later ``close`` (or their
  finaliser at garbage collection) never touches a freed socket.

Invariant: a raw pointer is passed to the library only between a successful ``enter`` and the
matching exit, and each pointer is released exactly once.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Optional

from . import _errors
from . import _ffi

__all__ = ["ContextHandle", "StreamHandle"]


def _surely(leave: Callable[[], None]) -> None:
    """Runs ``leave`` to completion even if ``KeyboardInterrupt`` strikes inside it (it is
    idempotent), then re-raises the interrupt."""
    interrupt: Optional[BaseException] = None
    for _ in range(100):
        try:
            leave()
            break
        except KeyboardInterrupt as e:
            interrupt = e
    if interrupt is not None:
        raise interrupt


class StreamHandle:
    """One ``utp_socket *`` of a managed context, with its in-flight count."""

    __slots__ = ("context", "pointer", "closed", "__weakref__")

    def __init__(self, context: "ContextHandle", pointer: int) -> None:
        self.context = context
        self.pointer = pointer
        self.closed = False

    def close(self) -> None:
        """Closes the uTP socket gracefully (queued data is still delivered); idempotent."""
        ctx = self.context
        with ctx.cond:
            if self.closed:
                return
            self.closed = True
            ctx.cond.wait_for(lambda: not ctx.busy(self))
            if ctx.closed:
                return  # utp_managed_destroy closed and freed it already.
            ctx.streams.discard(self)
            ctx.calls[threading.get_ident()] = None  # keeps the context alive meanwhile
        try:
            _ffi.lib.utp_close(self.pointer)
        finally:
            _surely(ctx.leave)


class ContextHandle:
    """One managed ``utp_context *``: its lock, calls in flight and live streams."""

    __slots__ = ("pointer", "closed", "calls", "cond", "streams", "__weakref__")

    def __init__(self, pointer: int) -> None:
        self.pointer = pointer
        self.closed = False
        # Thread id -> the stream its call in flight is on (None: the context itself).
        self.calls: Dict[int, Optional[StreamHandle]] = {}
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
        """Records a library call of this thread as in flight; ``OSError(EBADF)`` if closed."""
        with self.cond:
            if self.closed or (stream is not None and stream.closed):
                raise _errors.closed()
            self.calls[threading.get_ident()] = stream
        try:
            yield
        finally:
            _surely(self.leave)

    def leave(self) -> None:
        """Ends this thread's call recorded by :meth:`enter` (or by ``StreamHandle.close``)."""
        with self.cond:
            self.calls.pop(threading.get_ident(), None)
            self.cond.notify_all()

    def busy(self, stream: Optional[StreamHandle] = None) -> bool:
        """Whether another thread is in a call (on ``stream``, if given). Lock held."""
        me = threading.get_ident()
        return any(
            thread != me and (stream is None or on is stream)
            for thread, on in self.calls.items()
        )

    def close(self) -> None:
        """Destroys the context once no call is in flight; idempotent.

        ``utp_managed_destroy`` closes every connection and waits up to 3 s for their FINs to
        be acknowledged (the GIL is released meanwhile).
        """
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.wait_for(lambda: not self.busy())
            for stream in list(self.streams):
                stream.closed = True
            self.streams.clear()
        _ffi.lib.utp_managed_destroy(self.pointer)
