"""``python -m rutp`` moves a file byte-exact and reports its statistics."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from streamkit import MiB, env_with_library, free_udp_port, pattern


def test_python_m_rutp_moves_a_file_and_prints_stats(tmp_path: Path) -> None:
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(pattern(16 * MiB, 21))
    port = free_udp_port()
    env = env_with_library()
    listener = subprocess.Popen(
        [sys.executable, "-m", "rutp", "-l", str(port), "-s", "127.0.0.1", "-o", str(target),
         "--stats"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(0.5)  # let it bind; a SYN before that is refused and the sender exits 1
        sender = subprocess.run(
            [sys.executable, "-m", "rutp", "127.0.0.1", str(port), "-i", str(source), "--stats"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        out, err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert sender.returncode == 0, sender.stderr
    assert listener.returncode == 0, err
    assert target.read_bytes() == source.read_bytes()
    for report in (sender.stderr, err):
        m = re.search(r"bytes (\d+) seconds ([\d.]+) MiB/s ([\d.]+)", report)
        assert m and int(m.group(1)) == 16 * MiB, report
        assert "stats bytes_received" in report and "retransmits" in report


def test_stdin_to_stdout_and_a_refused_connect_exits_1() -> None:
    port = free_udp_port()
    env = env_with_library()
    listener = subprocess.Popen(
        [sys.executable, "-m", "rutp", "-l", str(port), "-s", "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)
        sender = subprocess.run(
            [sys.executable, "-m", "rutp", "127.0.0.1", str(port)],
            input=b"through stdin\n", env=env, capture_output=True, timeout=30,
        )
        out, _ = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert sender.returncode == 0 and out == b"through stdin\n"
    refused = subprocess.run(
        [sys.executable, "-m", "rutp", "127.0.0.1", str(free_udp_port())],
        input="x", env=env, capture_output=True, text=True, timeout=30,
    )
    assert refused.returncode == 1 and "refused" in refused.stderr.lower(), refused.stderr


def test_usage_errors_exit_2() -> None:
    env = env_with_library()
    for argv in ([], ["-l", "1", "127.0.0.1", "2"], ["127.0.0.1"]):
        done = subprocess.run([sys.executable, "-m", "rutp", *argv], env=env,
                              capture_output=True, timeout=30)
        assert done.returncode == 2, argv
