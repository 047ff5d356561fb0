"""A one-thread executor whose thread is a daemon, for the asyncio layer's blocking calls.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit; a thread
blocked in an unbounded ``Stream.recv`` or ``Socket.accept`` (a writer or server the program
never closed) would then hang the exit. A daemon thread does not: at exit the sockets'
finalisers close them, and the blocked call returns within a slice.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from typing import Any, Callable, Optional, Tuple

__all__ = ["DaemonExecutor"]

_Job = Optional[Tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple, dict]]


class DaemonExecutor(concurrent.futures.Executor):
    """Runs submitted calls one at a time, in order, on one daemon thread."""

    def __init__(self, name: str) -> None:
        self._jobs: "queue.SimpleQueue[_Job]" = queue.SimpleQueue()
        self._shutdown = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> "concurrent.futures.Future[Any]":
        """Queues ``fn(*args, **kwargs)``; ``RuntimeError`` after :meth:`shutdown`."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
            self._jobs.put((future, fn, args, kwargs))
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuses new calls; the thread ends after the queued ones (``wait``: joins it)."""
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                self._jobs.put(None)
        if wait:
            self._thread.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:  # handed to the awaiting coroutine
                future.set_exception(e)
            else:
                future.set_result(result)
