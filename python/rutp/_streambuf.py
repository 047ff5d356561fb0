"""Addresses of Python buffers for the C calls, without copying when the buffer allows it.

``bytes`` and writable buffers (``bytearray``, ``memoryview`` of one, ``array``, ``mmap``) are
passed in place; read-only buffers of other types are copied once. The returned object keeps
whatever owns the memory alive (and, for ``from_buffer``, stops a ``bytearray`` from being
resized) until it is dropped.
"""

from __future__ import annotations

import ctypes
from typing import Any, Tuple

__all__ = ["readable", "writable"]


def _view(data: Any) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not {type(data).__name__!r}"
        ) from None
    return view


def readable(data: Any) -> Tuple[int, int, Any]:
    """``(address, length, keepalive)`` of a bytes-like object's bytes."""
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0, len(data), data
    view = _view(data)
    if not view.c_contiguous:
        copy = view.tobytes()
        return readable(copy)
    view = view.cast("B")
    if view.readonly:
        return readable(view.tobytes())
    if view.nbytes == 0:
        return 0, 0, view
    array = (ctypes.c_char * view.nbytes).from_buffer(view)
    return ctypes.addressof(array), view.nbytes, array


def writable(buffer: Any, nbytes: int) -> Tuple[int, int, Any]:
    """``(address, length, keepalive)`` of at most ``nbytes`` (0: all) of a writable buffer."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"nbytes must be an int, not {type(nbytes).__name__}")
    view = _view(buffer)
    if view.readonly:
        raise TypeError("recv_into needs a writable buffer (bytearray, memoryview, array)")
    if not view.c_contiguous:
        raise TypeError("recv_into needs a contiguous buffer")
    view = view.cast("B")
    if nbytes < 0:
        raise ValueError("negative buffersize in recv_into")
    if nbytes > view.nbytes:
        raise ValueError("buffer too small for requested bytes")
    length = nbytes or view.nbytes
    if length == 0:
        return 0, 0, view
    array = (ctypes.c_char * length).from_buffer(view)
    return ctypes.addressof(array), length, array
