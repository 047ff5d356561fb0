"""Turning the managed API's negated errno returns into built-in exceptions.

``OSError(errno, message)`` picks the matching subclass by itself: ``ECONNREFUSED`` gives
``ConnectionRefusedError``, ``ECONNRESET`` ``ConnectionResetError``, ``ETIMEDOUT``
``TimeoutError``, ``EAGAIN`` ``BlockingIOError``, ``EPIPE`` ``BrokenPipeError``; every other
code stays a plain ``OSError`` carrying its ``errno``.
"""

from __future__ import annotations

import errno
import os

__all__ = ["closed", "error", "timed_out", "would_block"]


def error(code: int, what: str = "") -> OSError:
    """The exception for ``code``, a negated errno value (a positive one is accepted too)."""
    number = abs(code)
    message = os.strerror(number)
    if what:
        message = f"{what}: {message}"
    return OSError(number, message)


def closed() -> OSError:
    """An operation on a closed stream or socket, as the ``socket`` module reports it."""
    return OSError(errno.EBADF, "Bad file descriptor: the stream or socket is closed")


def timed_out() -> TimeoutError:
    """``settimeout``'s deadline passed, like ``socket.timeout`` ("timed out")."""
    return TimeoutError(errno.ETIMEDOUT, "timed out")


def would_block() -> BlockingIOError:
    """A non-blocking call (timeout 0) that could do nothing."""
    return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
