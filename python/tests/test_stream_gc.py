"""Garbage collection of sockets and streams with transfers in progress does not crash."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamkit import env_with_library

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("scenario", ["collect", "exit"])
def test_collection_and_exit_with_transfers_in_progress(scenario: str) -> None:
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "gc_child.py"), scenario],
        env=env_with_library(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stdout.startswith("ok"), done.stdout
    assert "Fatal Python error" not in done.stderr, done.stderr
