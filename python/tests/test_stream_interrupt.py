"""Ctrl-C (SIGINT) interrupts a blocked recv or accept in the main thread within a slice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from streamkit import env_with_library

CHILD = r"""
import rutp, signal, sys
# A shell may start background jobs with SIGINT ignored; Python then installs no handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket() as client:
    a = client.connect(server.getsockname(), timeout=5)
    b, _ = server.accept(timeout=5)
    print("blocked", flush=True)
    try:
        {call}
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(0)
sys.exit(1)
"""


@pytest.mark.parametrize("call", ["b.recv(10)", "server.accept()"])
def test_sigint_interrupts_a_blocking_call(call: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.replace("{call}", call)],
        env=env_with_library(), stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "blocked"
        time.sleep(0.3)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=10)
        # One 200 ms slice, then the sockets close; with room for a slow machine.
        assert time.monotonic() - sent < 2.0
        assert out.strip() == "interrupted" and child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_an_interrupt_during_the_bookkeeping_does_not_block_close(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worst moment for Ctrl-C: after the C call returned, before the call is recorded as
    # finished. Simulated by a leave() that raises before doing its work, once.
    import threading

    from rutp._lifetime import ContextHandle
    from streamkit import pair

    real_leave = ContextHandle.leave
    fired = []

    def interrupted_leave(self: ContextHandle) -> None:
        if not fired:
            fired.append(True)
            raise KeyboardInterrupt
        real_leave(self)

    with pair() as (client, server):
        client.sendall(b"x")
        monkeypatch.setattr(ContextHandle, "leave", interrupted_leave)
        with pytest.raises(KeyboardInterrupt):
            server.recv(1)
        monkeypatch.setattr(ContextHandle, "leave", real_leave)
        closer = threading.Thread(target=server.close)  # another thread: a stale record blocks it
        started = time.monotonic()
        closer.start()
        closer.join(5)
        assert not closer.is_alive(), "close blocked by a stale in-flight record"
        assert time.monotonic() - started < 2
        assert fired
