"""``Stream.finish``: it returns once the peer acknowledged everything, so closing the Socket
(or exiting) right after it loses nothing, even when the reader is slower than the grace a
closing Socket gives data in flight; it honours the timeout and needs an open stream."""

from __future__ import annotations

import errno
import threading
import time

import pytest

import rutp
from streamkit import MiB, Pump, digest, pattern


def test_finish_then_close_at_once_delivers_everything_to_a_late_reader() -> None:
    # More than the reader's receive buffer (1 MiB), so the rest waits for its first read,
    # which comes later than the grace a closing Socket gives data in flight (3 s).
    data = pattern(MiB + MiB // 2, 41)
    started_reading = [0.0]
    with rutp.Socket(("127.0.0.1", 0)) as server:
        client = rutp.Socket(("127.0.0.1", 0))
        stream = client.connect(server.getsockname(), timeout=10)
        peer, _ = server.accept(timeout=10)

        def late_read() -> bytes:
            time.sleep(4.0)
            started_reading[0] = time.monotonic()
            got = bytearray()
            while True:
                chunk = peer.recv(MiB)
                if not chunk:
                    return bytes(got)
                got += chunk

        reader = Pump(late_read)
        reader.start()
        stream.sendall(data)
        stream.finish()
        finished = time.monotonic()
        client.close()  # as an exiting program would
        got = reader.join_result(60)
        peer.close()
    assert len(got) == len(data) and digest(got) == digest(data)
    assert started_reading[0] > 0 and finished >= started_reading[0], (
        "finish returned before the reader had read anything: part of the data cannot have "
        "been acknowledged"
    )


def test_finish_times_out_while_the_peer_does_not_read_then_succeeds() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        stream = client.connect(server.getsockname(), timeout=10)
        peer, _ = server.accept(timeout=10)
        # More than the peer's receive buffer takes: some stays unacknowledged while it does
        # not read.
        data = pattern(4 * MiB, 42)
        writer = Pump(stream.sendall, data)
        writer.start()
        time.sleep(0.5)
        got = bytearray()
        # Read only part of it, so the writer's sendall completes but data stays in flight.
        while len(got) < 2 * MiB:
            got += peer.recv(MiB)
        writer.join_result(30)
        stream.settimeout(0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            stream.finish()
        assert time.monotonic() - started >= 0.3
        stream.settimeout(0)
        with pytest.raises(BlockingIOError):
            stream.finish()
        stream.settimeout(None)
        done = threading.Event()

        def rest() -> None:
            while True:
                chunk = peer.recv(MiB)
                if not chunk:
                    break
                got.extend(chunk)
            done.set()

        tail = Pump(rest)
        tail.start()
        stream.finish()
        tail.join_result(30)
        assert done.is_set() and digest(bytes(got)) == digest(data)


def test_finish_on_a_closed_stream_raises_ebadf() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        stream = client.connect(server.getsockname(), timeout=10)
        server.accept(timeout=10)
        stream.close()
        with pytest.raises(OSError) as info:
            stream.finish()
        assert info.value.errno == errno.EBADF
