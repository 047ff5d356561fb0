"""Ten Python threads transfer at once: the GIL is released during blocking calls."""

from __future__ import annotations

import time

import rutp
from streamkit import MiB, Pump, digest, pattern, read_all, send_then_eof

STREAMS = 10
SIZE = 4 * MiB


def test_ten_threads_move_4_mib_each_byte_exact() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        outgoing = [client.connect(server.getsockname(), timeout=10) for _ in range(STREAMS)]
        incoming = [server.accept(timeout=10)[0] for _ in range(STREAMS)]
        datas = [pattern(SIZE, 100 + i) for i in range(STREAMS)]
        started = time.monotonic()
        senders = [Pump(send_then_eof, s, d) for s, d in zip(outgoing, datas)]
        # All streams share one client socket (one peer address): match them by content.
        readers = [Pump(read_all, s) for s in incoming]
        for t in senders + readers:
            t.start()
        received = sorted(digest(t.join_result(60)) for t in readers)  # type: ignore[arg-type]
        for t in senders:
            t.join_result(60)
        elapsed = time.monotonic() - started
        assert received == sorted(digest(d) for d in datas)
        # Ten threads blocked at once did not serialise behind the GIL: far below 10 x 60 s.
        assert elapsed < 30, elapsed
        for s in outgoing + incoming:
            s.close()
        print(f"{STREAMS} x {SIZE // MiB} MiB in {elapsed:.2f} s")


def _spin(seconds: float) -> int:
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        count += 1
    return count


def test_threads_blocked_in_recv_leave_the_interpreter_to_others() -> None:
    # If a blocking call held the GIL, ten threads blocked in recv would starve this one.
    baseline = _spin(0.3)
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        outgoing = [client.connect(server.getsockname(), timeout=10) for _ in range(STREAMS)]
        incoming = [server.accept(timeout=10)[0] for _ in range(STREAMS)]
        readers = [Pump(lambda s=s: s.recv(10)) for s in incoming]
        for t in readers:
            t.start()
        time.sleep(0.05)
        assert all(t.is_alive() for t in readers)  # all blocked: nothing was sent
        during = _spin(0.3)
        for s in outgoing:
            s.sendall(b"wake")
        assert [t.join_result(10) for t in readers] == [b"wake"] * STREAMS
    assert during > baseline * 0.5, (during, baseline)
