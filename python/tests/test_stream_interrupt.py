"""Ctrl-C (SIGINT) interrupts a blocked recv or accept in the main thread within a slice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from streamkit import env_with_library

CHILD = r"""
import rutp, sys
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
        assert child.stdout.readline().strip() == "interrupted"
        assert time.monotonic() - sent < 1.0  # one 200 ms slice, with room for a slow machine
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
