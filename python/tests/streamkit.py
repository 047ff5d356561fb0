"""Helpers for the Socket/Stream tests: connected pairs, deterministic data, pumping threads."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import rutp

MiB = 1 << 20


def pattern(size: int, seed: int) -> bytes:
    """``size`` pseudo-random bytes, the same for the same seed."""
    return random.Random(seed).randbytes(size)


def digest(data: bytes) -> str:
    """SHA-256 of ``data`` (for messages that stay short when they differ)."""
    return hashlib.sha256(data).hexdigest()


@contextmanager
def pair(timeout: float = 10.0) -> Iterator[Tuple[rutp.Stream, rutp.Stream]]:
    """A connected (client, server) stream pair on two loopback Sockets, closed afterwards."""
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        a = client.connect(server.getsockname(), timeout=timeout)
        b, _ = server.accept(timeout=timeout)
        with a, b:
            yield a, b


def read_all(stream: rutp.Stream, chunk: int = MiB) -> bytes:
    """Everything until EOF."""
    out = bytearray()
    while True:
        data = stream.recv(chunk)
        if not data:
            return bytes(out)
        out += data


class Pump(threading.Thread):
    """Runs ``target`` in a thread and keeps its result or exception for ``join_result``."""

    def __init__(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self._call = (target, args)
        self.result: object = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        target, args = self._call
        try:
            self.result = target(*args)
        except BaseException as e:  # reported by join_result
            self.error = e

    def join_result(self, timeout: float) -> object:
        """The result; raises the thread's exception, or AssertionError if it is still running."""
        self.join(timeout)
        assert not self.is_alive(), f"thread still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def send_then_eof(stream: rutp.Stream, data: bytes) -> None:
    """``sendall`` then ``shutdown(SHUT_WR)``."""
    stream.sendall(data)
    stream.shutdown(socket.SHUT_WR)


def free_udp_port() -> int:
    """A loopback UDP port that nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def env_with_library() -> dict:
    """The environment for a child Python: this interpreter's import path and library."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(rutp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def chunks_of(data: bytes, size: int) -> List[bytes]:
    """``data`` cut into pieces of ``size`` bytes."""
    return [data[i : i + size] for i in range(0, len(data), size)]
