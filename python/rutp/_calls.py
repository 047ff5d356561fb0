"""Ctypes plumbing shared by the Pythonic layer: pointers to Python buffers, address
arguments, out-parameters, and blocking calls cut into short slices.

Blocking managed calls (``utp_managed_read``/``_write``/``_accept``) take a ``timeout_ms``.
The Pythonic layer never passes an unbounded one: it calls with at most :data:`SLICE_MS` and
loops, so ``KeyboardInterrupt`` is raised within a slice, ``settimeout`` deadlines are kept to
the millisecond, and ``close`` from another thread takes effect between slices. The GIL is
released inside every call (``ctypes.CDLL``), so other Python threads run meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import math
import time
from typing import Any, Callable, Optional, Tuple

from . import _errors
from . import _ffi

__all__ = [
    "SLICE_MS",
    "address_arg",
    "is_null",
    "out_param",
    "read_address",
    "sliced",
    "validate_address",
    "validate_timeout",
]

#: Longest single wait inside the library, in milliseconds.
SLICE_MS = 200

#: Room for any socket address (``sizeof(struct sockaddr_storage)``).
_ADDRESS_ROOM = 128


def is_null(pointer: Any) -> bool:
    """Whether a pointer returned by ctypes (an int, None or a ctypes pointer) is NULL."""
    if pointer is None:
        return True
    if isinstance(pointer, int):
        return pointer == 0
    if isinstance(pointer, ctypes.c_void_p):
        return not pointer.value
    return not bool(pointer)


def argtype(function: Any, index: int) -> Any:
    """The declared ctypes type of argument ``index`` of ``function``."""
    return function.argtypes[index]


def cast_arg(function: Any, index: int, obj: Any) -> Any:
    """``obj`` (a ctypes object or an address) as argument ``index`` of ``function``."""
    return ctypes.cast(obj, argtype(function, index))


def out_param(function: Any, index: int) -> Any:
    """A fresh variable of the pointed-to type of argument ``index`` (for ``byref``)."""
    return argtype(function, index)._type_()


def validate_address(address: Any) -> Tuple[str, int]:
    """``(host, port)`` checked: ``TypeError`` for a wrong type, ``ValueError`` for a bad port."""
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError(f"address must be a (host, port) tuple, not {address!r}")
    host, port = address[0], address[1]
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, not {port}")
    if "\0" in host:
        raise ValueError("host contains a NUL character")
    return host, port


def address_arg(function: Any, index: int, address: Any) -> Tuple[Any, int]:
    """A ``struct sockaddr *`` argument and its length for ``(host, port)``.

    The host is an IPv4 or IPv6 literal or a name (``rutp._ffi.sockaddr_from`` resolves it);
    ``ValueError`` when it cannot be used.
    """
    host, port = validate_address(address)
    try:
        sa, length = _ffi.sockaddr_from(host, port)
    except (OSError, TypeError, ValueError) as e:
        raise ValueError(f"cannot use address {host!r}: {e}") from None
    return sa, length


def pointer_to(function: Any, index: int, sa: Any) -> Any:
    """``sa`` (a ctypes structure) as pointer argument ``index`` of ``function``."""
    return cast_arg(function, index, ctypes.pointer(sa))


def read_address(function: Any, target: Any, at: int = 1) -> Tuple[str, int]:
    """Calls ``function(target, addr, &addrlen)`` and decodes the address; OSError on failure."""
    room = ctypes.create_string_buffer(_ADDRESS_ROOM)
    length = out_param(function, at + 1)
    length.value = _ADDRESS_ROOM
    rc = function(target, cast_arg(function, at, room), ctypes.byref(length))
    if rc != 0:
        raise _errors.error(rc if rc < 0 else -errno.ENOTCONN)
    return _ffi.sockaddr_to(room, length.value)


def validate_timeout(timeout: Optional[float]) -> Optional[float]:
    """``None`` or a non-negative finite number of seconds."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError("timeout must be None or >= 0")
    return float(timeout)


def sliced(timeout: Optional[float], attempt: Callable[[int], int]) -> int:
    """Runs ``attempt(timeout_ms)`` until it returns anything but ``-EAGAIN``.

    ``timeout`` ``None`` waits without limit (in slices), 0 makes one non-blocking attempt
    (``BlockingIOError`` if it could do nothing), a positive value raises ``TimeoutError`` once
    it has passed. Other negative returns are left to the caller.
    """
    if timeout == 0:
        rc = attempt(0)
        if rc == -errno.EAGAIN:
            raise _errors.would_block()
        return rc
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is None:
            ms = SLICE_MS
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _errors.timed_out()
            ms = max(1, min(SLICE_MS, math.ceil(left * 1000)))
        rc = attempt(ms)
        if rc != -errno.EAGAIN:
            return rc
