"""Turning Python bytes-like objects into something a ``const void *`` parameter takes."""

from __future__ import annotations

import ctypes
from typing import Tuple, Union

Buffer = Union[bytes, bytearray, memoryview]


def c_buffer(data: object) -> Tuple[object, int]:
    """``(pointer argument, length)`` for ``data``, without copying when it can be avoided.

    Accepts any object with the buffer protocol (bytes, bytearray, memoryview, array...);
    ``str`` and other types raise ``TypeError``.
    """
    if isinstance(data, bytes):
        return data, len(data)
    if isinstance(data, str) or data is None:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__}")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__}") from None
    if view.readonly or not view.c_contiguous or view.nbytes == 0:
        raw = view.tobytes()
        return raw, len(raw)
    return (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes
