"""``Stream.makefile``: a raw ``io`` adapter over a stream, wrapped as ``socket.makefile`` does."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from .streams import Stream

__all__ = ["StreamIO", "makefile"]


class StreamIO(io.RawIOBase):
    """Raw, unbuffered I/O over a :class:`~rutp.streams.Stream`.

    Closing it does not close the stream (``socket.makefile`` files keep the socket open too
    until the socket itself is closed).
    """

    def __init__(self, stream: "Stream", mode: str) -> None:
        super().__init__()
        self._stream = stream
        self._reading = "r" in mode
        self._writing = "w" in mode

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        return self._reading

    def writable(self) -> bool:
        """Whether the file was opened for writing."""
        return self._writing

    def readinto(self, b: Any) -> Optional[int]:
        """Reads into ``b``; 0 at the end of the stream, None when non-blocking and empty."""
        self._checkClosed()
        if not self._reading:
            raise io.UnsupportedOperation("not readable")
        try:
            return self._stream.recv_into(b)
        except BlockingIOError:
            return None

    def write(self, b: Any) -> Optional[int]:
        """Sends some of ``b``; the bytes taken, None when non-blocking and full."""
        self._checkClosed()
        if not self._writing:
            raise io.UnsupportedOperation("not writable")
        try:
            return self._stream.send(b)
        except BlockingIOError:
            return None


def makefile(
    stream: "Stream",
    mode: str = "r",
    buffering: Optional[int] = None,
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    newline: Optional[str] = None,
) -> Union[StreamIO, io.BufferedIOBase, io.TextIOBase]:
    """A file object over ``stream``, with ``socket.socket.makefile``'s arguments."""
    if not isinstance(mode, str):
        raise TypeError("mode must be a str")
    if not set(mode) <= {"r", "w", "b"} or len(set(mode)) != len(mode):
        raise ValueError(f"invalid mode {mode!r} (only 'r', 'w', 'b')")
    reading, writing, binary = "r" in mode, "w" in mode, "b" in mode
    if not reading and not writing:
        raise ValueError("mode must include 'r' or 'w'")
    raw = StreamIO(stream, ("r" if reading else "") + ("w" if writing else ""))
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buffer: io.BufferedIOBase
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buffer = io.BufferedReader(raw, buffering)
    else:
        buffer = io.BufferedWriter(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding, errors, newline)  # type: ignore[type-var]
    text.mode = mode  # type: ignore[misc]
    return text
