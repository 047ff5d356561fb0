"""The Python package against the reference libutp: bulk both ways and RESET both ways.

The peer is ``examples/c/utp_netcat.c`` linked to the reference libutp 2.5.3 (built by
``scripts/interop-libutp.sh``, which runs this file and passes the programs in the environment:
``RUTP_NC_LIBUTP`` the reference netcat, ``RUTP_UDP_RELAY`` our relay). Everything stays on
127.0.0.1. Our side is written as a Python user would write it: ``rutp.Socket``/``Stream``.

- bulk: ``BULK_MIB`` (default 100) MiB of random data each way, byte-exact (SHA-256), and an
  orderly close seen by both: the netcat exits 0 only after its peer's FIN and its own data,
  and our side reads EOF (the peer's FIN) and ``finish`` returns (our data and FIN
  acknowledged).
- reset: the receiver dies (SIGKILL) mid-transfer and a new one starts on the same port; the
  new library answers the sender's packets for a connection it does not know with ST_RESET. Our
  Python sender must raise ``ConnectionResetError``; the reference sender, talking to a Python
  receiver in a child process that is killed and restarted, must report ``UTP_ECONNRESET``. The
  sender goes through an unimpaired relay so that no ICMP "port unreachable" (sent while nothing
  is bound) can end its connection first.

Each case prints one table line and appends it to ``$RUTP_INTEROP_DIR/libutp-python.txt``.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, List, Optional, Tuple

import pytest

import rutp

MiB = 1 << 20
BULK = int(os.environ.get("BULK_MIB", "100")) * MiB
PEER = "libutp 2.5.3 (utp_netcat.c)"
SOCKBUF = 4 << 20
DEADLINE = 90.0  # seconds for any one transfer; 100 MiB takes about one on loopback
OUT_DIR = Path(os.environ.get("RUTP_INTEROP_DIR", Path(__file__).resolve().parents[2] / "target" / "interop"))
LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")


def program(variable: str) -> str:
    path = os.environ.get(variable)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{variable} must name an executable (scripts/interop-libutp.sh sets it); got {path!r}",
                    pytrace=False)
    return path


def record(scenario: str, direction: str, passed: bool, nbytes: int, seconds: Optional[float]) -> None:
    rate = f"{nbytes / MiB / seconds:.1f}" if passed and seconds else "-"
    line = " | ".join(["interop", PEER, scenario, direction, "PASS" if passed else "FAIL", str(nbytes), rate])
    print("\n" + line)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "libutp-python.txt", "a") as out:
        out.write(line + "\n")


def port_from(log: Path, process: subprocess.Popen, timeout: float = 5.0) -> int:
    """The port a program announced with "listening on 127.0.0.1:PORT" in ``log``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = LISTENING.search(log.read_bytes()) if log.exists() else None
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.01)
    pytest.fail(f"no 'listening on' line in {log}: {log.read_bytes()[-500:]!r}", pytrace=False)


class Processes:
    """Child processes that are always killed and reaped."""

    def __init__(self) -> None:
        self.children: List[subprocess.Popen] = []
        self.files: List[IO[bytes]] = []

    def start(self, argv: List[str], stdin: Optional[Path], stdout: Optional[Path], log: Path) -> subprocess.Popen:
        inp = open(stdin, "rb") if stdin else subprocess.DEVNULL
        out = open(stdout, "wb") if stdout else subprocess.DEVNULL
        err = open(log, "wb")
        self.files += [f for f in (inp, out, err) if hasattr(f, "close")]  # type: ignore[misc]
        child = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
        for f in self.files:
            f.close()


@pytest.fixture
def procs():  # type: ignore[no-untyped-def]
    p = Processes()
    yield p
    p.close()


def netcat_listen(procs: Processes, tmp: Path, name: str, port: int = 0) -> Tuple[subprocess.Popen, int, Path, Path]:
    out, log = tmp / f"{name}.out", tmp / f"{name}.log"
    child = procs.start([program("RUTP_NC_LIBUTP"), "-l", "-N", "-t", str(int(DEADLINE)), "-b", str(SOCKBUF),
                         "-s", "127.0.0.1", "-p", str(port)], None, out, log)
    return child, port_from(log, child), out, log


def relay_to(procs: Processes, tmp: Path, port: int) -> int:
    log = tmp / f"relay-{port}.log"
    child = procs.start([program("RUTP_UDP_RELAY"), "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{port}"],
                        None, None, log)
    return port_from(log, child)


def random_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path``; their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_python_sends_bulk_to_libutp(procs: Processes, tmp_path: Path) -> None:
    scenario, direction = f"bulk {BULK // MiB} MiB, Python package", "rutp->libutp"
    data = tmp_path / "in.bin"
    want = random_file(data, BULK)
    child, port, out, log = netcat_listen(procs, tmp_path, "receiver")
    passed, seconds = False, None
    try:
        with rutp.Socket(("127.0.0.1", 0)) as ours:
            stream = ours.connect(("127.0.0.1", port), timeout=10)
            stream.settimeout(DEADLINE)
            started = time.monotonic()
            with open(data, "rb") as f:
                for chunk in iter(lambda: f.read(MiB), b""):
                    stream.sendall(chunk)
            stream.finish()  # our FIN, and every byte acknowledged
            seconds = time.monotonic() - started
            assert stream.recv(1) == b"", "the reference's FIN (it sends nothing)"
            stream.close()
        assert child.wait(timeout=DEADLINE) == 0, log.read_text()[-2000:]
        assert sha256_file(out) == want, f"{out.stat().st_size} bytes, SHA-256 differs"
        passed = True
    finally:
        record(scenario, direction, passed, out.stat().st_size if out.exists() else 0, seconds)


def test_libutp_sends_bulk_to_python(procs: Processes, tmp_path: Path) -> None:
    scenario, direction = f"bulk {BULK // MiB} MiB, Python package", "libutp->rutp"
    data = tmp_path / "in.bin"
    want = random_file(data, BULK)
    passed, seconds, got = False, None, 0
    try:
        with rutp.Socket(("127.0.0.1", 0)) as ours:
            port = ours.getsockname()[1]
            log = tmp_path / "sender.log"
            child = procs.start([program("RUTP_NC_LIBUTP"), "-t", str(int(DEADLINE)), "-b", str(SOCKBUF),
                                 "127.0.0.1", str(port)], data, None, log)
            stream, _ = ours.accept(timeout=10)
            stream.settimeout(DEADLINE)
            started = time.monotonic()
            digest = hashlib.sha256()
            while True:
                chunk = stream.recv(MiB)
                if not chunk:
                    break
                digest.update(chunk)
                got += len(chunk)
            seconds = time.monotonic() - started
            stream.finish()  # our FIN: the reference sender exits 0 only after it
            assert child.wait(timeout=DEADLINE) == 0, log.read_text()[-2000:]
            assert got == BULK and digest.hexdigest() == want
        passed = True
    finally:
        record(scenario, direction, passed, got, seconds)


def test_python_sender_reports_the_reset_of_a_restarted_libutp(procs: Processes, tmp_path: Path) -> None:
    scenario, direction = "RESET after receiver restart, Python package sender", "rutp->libutp"
    passed, delivered = False, 0
    try:
        child, port, out, _ = netcat_listen(procs, tmp_path, "receiver1")
        relayed = relay_to(procs, tmp_path, port)
        with rutp.Socket(("127.0.0.1", 0)) as ours:
            stream = ours.connect(("127.0.0.1", relayed), timeout=10)
            stream.settimeout(30)
            chunk = bytes(MiB)
            while out.stat().st_size < 8 * MiB:
                stream.sendall(chunk)
            child.send_signal(signal.SIGKILL)
            child.wait()
            delivered = out.stat().st_size
            killed = time.monotonic()
            again, port2, out2, _ = netcat_listen(procs, tmp_path, "receiver2", port)
            assert port2 == port
            with pytest.raises(ConnectionResetError):
                while time.monotonic() - killed < 30:
                    stream.sendall(chunk)
            print(f"\nConnectionResetError {time.monotonic() - killed:.2f} s after the kill")
        assert again.poll() is None, "the restarted receiver accepted something and finished"
        assert out2.stat().st_size == 0, "the restarted receiver got data"
        passed = True
    finally:
        record(scenario, direction, passed, delivered, None)


RECEIVER = """
import sys, rutp
sock = rutp.Socket(("127.0.0.1", int(sys.argv[1])))
print("listening on 127.0.0.1:%d" % sock.getsockname()[1], file=sys.stderr, flush=True)
stream, _ = sock.accept()
got = 0
while True:
    data = stream.recv(1 << 20)
    if not data:
        break
    got += len(data)
    print("got", got, file=sys.stderr, flush=True)
"""


def test_libutp_sender_reports_the_reset_of_a_restarted_python_receiver(procs: Processes, tmp_path: Path) -> None:
    scenario, direction = "RESET after receiver restart, Python package receiver", "libutp->rutp"
    passed, delivered = False, 0
    script = tmp_path / "receiver.py"
    script.write_text(RECEIVER)
    try:
        log1 = tmp_path / "receiver1.log"
        first = procs.start([sys.executable, str(script), "0"], None, None, log1)
        port = port_from(log1, first, timeout=20)
        relayed = relay_to(procs, tmp_path, port)
        endless = tmp_path / "zeros"
        os.mkfifo(endless)
        sender_log = tmp_path / "sender.log"
        feeder = threading.Thread(target=lambda: feed_zeros(endless), daemon=True)
        feeder.start()
        sender = procs.start([program("RUTP_NC_LIBUTP"), "-t", "60", "-b", str(SOCKBUF), "127.0.0.1",
                              str(relayed)], endless, None, sender_log)
        end = time.monotonic() + DEADLINE
        while received(log1) < 8 * MiB:
            assert time.monotonic() < end and first.poll() is None, log1.read_text()[-1000:]
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        delivered = received(log1)
        log2 = tmp_path / "receiver2.log"
        second = procs.start([sys.executable, str(script), str(port)], None, None, log2)
        assert port_from(log2, second, timeout=20) == port
        code = sender.wait(timeout=60)
        text = sender_log.read_text()
        assert code not in (0, 124), text[-2000:]
        assert "ECONNRESET" in text, text[-2000:]
        assert received(log2) == 0 and second.poll() is None, "the restarted receiver accepted data"
        passed = True
    finally:
        record(scenario, direction, passed, delivered, None)


def received(log: Path) -> int:
    counts = re.findall(rb"got (\d+)", log.read_bytes()) if log.exists() else []
    return int(counts[-1]) if counts else 0


def feed_zeros(fifo: Path) -> None:
    """Endless input for the reference sender, until it stops reading."""
    try:
        with open(fifo, "wb") as f:
            block = bytes(MiB)
            while True:
                f.write(block)
    except (BrokenPipeError, OSError):
        pass
