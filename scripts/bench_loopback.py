#!/usr/bin/env python3
"""Loopback throughput benchmark of one uTP connection; driven by scripts/bench-loopback.sh.

Every run moves SIZE bytes from a connecting sender to a listening receiver over 127.0.0.1.
This program feeds the sender's stdin with a deterministic pseudo-random byte stream and checks
every byte the receiver writes to its stdout against the same stream as it arrives (nothing is
stored), so a run only counts when the receiver delivered exactly the bytes sent, in order.

Per run it records:
  * MiB/s: SIZE over the time from starting the sender (the listener is already up) to the last
    byte coming out of the receiver. Connection setup is included, the close is not (libutp
    closes on a 500 ms tick; see shared/peers.md).
  * CPU seconds per GiB of each side: user + system time of the process, from wait4(2).
  * RcvbufErrors: the change in the host-wide UDP counter of /proc/net/snmp over the run.
  * close: seconds until both processes had exited.

--sockbuf 0 leaves every socket at the operating system's default size (nothing set). With
--ref-seconds S the reference case (ref-c) is stopped after S seconds instead of --timeout; a
run stopped there still counts, its MiB/s being the bytes the receiver delivered (verified up
to the last whole MiB) over S seconds, and it is marked "capped". --min-ratio R prints a
PASS/FAIL line per case of ours: median MiB/s over the reference's median >= R, and exits
non-zero on a FAIL; --min-ratio 0 prints the ratios without a verdict.

The stream: a 2 MiB block of SHAKE-256 output; the 1 MiB block number i of the stream is the
window of it starting at (i * 7919) mod 1 MiB, so blocks differ from each other (the rotation
repeats only after 2^20 blocks, 1 TiB) and checking costs one memcmp per MiB.

Python 3.11 standard library only. Run only on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

MIB = 1 << 20
GIB = 1 << 30
BLOCK = MIB
STRIDE = 7919  # odd, so block offsets cycle through all of [0, BLOCK)
PIPE_SIZE = MIB
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def pattern_base() -> bytes:
    return hashlib.shake_256(b"rutp bench-loopback stream v1").digest(2 * BLOCK)


BASE = pattern_base()


def block_window(i: int) -> int:
    return (i * STRIDE) % BLOCK


def set_pipe_size(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # keep the default 64 KiB


def rcvbuf_errors() -> int:
    """Host-wide UDP RcvbufErrors from /proc/net/snmp."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("RcvbufErrors")])


class Feeder(threading.Thread):
    """Writes `size` bytes of the stream into `fd`, then closes it."""

    def __init__(self, fd: int, size: int):
        super().__init__(daemon=True)
        self.fd, self.size = fd, size
        self.written = 0
        self.error: str | None = None

    def run(self) -> None:
        base = memoryview(BASE)
        i = 0
        try:
            while self.written < self.size:
                n = min(BLOCK, self.size - self.written)
                off = block_window(i)
                chunk = base[off : off + n]
                while chunk:
                    w = os.write(self.fd, chunk)
                    chunk = chunk[w:]
                    self.written += w
                i += 1
        except OSError as e:
            self.error = f"feeding the sender: {e}"
        finally:
            os.close(self.fd)


class Checker(threading.Thread):
    """Reads `fd` to its end, checking it against the stream; notes when the last byte came."""

    def __init__(self, fd: int, size: int):
        super().__init__(daemon=True)
        self.fd, self.size = fd, size
        self.received = 0
        self.first_at: float | None = None
        self.done_at: float | None = None
        self.error: str | None = None

    def run(self) -> None:
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        filled = 0
        i = 0
        try:
            with open(self.fd, "rb", buffering=0, closefd=True) as f:
                while True:
                    want = min(BLOCK, self.size - i * BLOCK) if i * BLOCK < self.size else BLOCK
                    n = f.readinto(view[filled:want])
                    if not n:
                        break
                    if self.first_at is None:
                        self.first_at = time.monotonic()
                    filled += n
                    self.received += n
                    if self.received > self.size:
                        self.fail(f"received more than the {self.size} bytes sent")
                        return self.drain(f)
                    if filled == want:
                        if not BASE.startswith(view[:filled], block_window(i)):
                            self.fail(f"wrong bytes in MiB block {i} (offset {i * BLOCK})")
                            return self.drain(f)
                        i += 1
                        filled = 0
                        if self.received == self.size:
                            self.done_at = time.monotonic()
            if self.received < self.size:
                self.fail(f"stream ended after {self.received} of {self.size} bytes")
        except OSError as e:
            self.fail(f"reading the receiver: {e}")

    def fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg

    def drain(self, f) -> None:
        # Keep reading so the receiver never blocks on a full pipe.
        while f.read(BLOCK):
            pass


@dataclass
class Peer:
    """How to start one implementation as a listening receiver and a connecting sender."""

    name: str
    label: str
    listener: list[str]
    connector: list[str]  # the port is appended
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    case: str
    run: int
    ok: bool
    why: str = ""
    mib_s: float = 0.0
    send_cpu_gib: float = 0.0
    recv_cpu_gib: float = 0.0
    drops: int = 0
    close_s: float = 0.0
    extra: dict = field(default_factory=dict)


def cpu_of(rusage) -> float:
    return rusage.ru_utime + rusage.ru_stime


def reap(procs: list[subprocess.Popen], deadline: float) -> tuple[dict, bool]:
    """Waits for every process with wait4; kills them all at `deadline`. Returns
    ({pid: (exit code, rusage)}, timed_out)."""
    done: dict[int, tuple[int, object]] = {}
    timed_out = False
    while len(done) < len(procs):
        for p in procs:
            if p.pid in done:
                continue
            pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                done[p.pid] = (p.returncode, rusage)
        if len(done) < len(procs):
            if time.monotonic() > deadline and not timed_out:
                timed_out = True
                for p in procs:
                    if p.pid not in done:
                        p.kill()
            time.sleep(0.01)
    return done, timed_out


def read_log(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_for_port(proc: subprocess.Popen, log: str, timeout: float = 10) -> str | None:
    """The port that `proc` reports in its log (`listening on 127.0.0.1:PORT`), polled until
    it appears, `proc` exits or `timeout` seconds pass (then None)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up and proc.poll() is None:
        m = LISTEN_RE.search(read_log(log))
        if m:
            return m.group(1)
        time.sleep(0.01)
    return None


def transfer(peer: Peer, run: int, size: int, timeout: float, workdir: str,
             capped: bool = False) -> Result:
    """One run. With `capped`, being stopped at `timeout` is not a failure: the rate is then
    the bytes delivered by then over `timeout`."""
    env = dict(os.environ, **peer.env)
    llog = os.path.join(workdir, f"{peer.name}-{run}-listener.log")
    clog = os.path.join(workdir, f"{peer.name}-{run}-connector.log")
    drops0 = rcvbuf_errors()
    with open(llog, "w") as lerr:
        listener = subprocess.Popen(
            peer.listener, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=lerr, env=env
        )
    set_pipe_size(listener.stdout.fileno())
    checker = Checker(os.dup(listener.stdout.fileno()), size)
    listener.stdout.close()
    checker.start()

    port = wait_for_port(listener, llog)
    if port is None:
        listener.kill()
        listener.wait()
        checker.join()
        return Result(peer.label, run, False, f"listener did not report its port ({llog})")

    started = time.monotonic()
    with open(clog, "w") as cerr:
        connector = subprocess.Popen(
            peer.connector + [port], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=cerr, env=env,
        )
    set_pipe_size(connector.stdin.fileno())
    feeder = Feeder(os.dup(connector.stdin.fileno()), size)
    connector.stdin.close()
    feeder.start()

    done, timed_out = reap([listener, connector], started + timeout)
    ended = time.monotonic()
    feeder.join()
    checker.join()
    drops = rcvbuf_errors() - drops0

    why = []
    lcode, lru = done[listener.pid]
    ccode, cru = done[connector.pid]
    cut = timed_out and capped and checker.done_at is None
    if cut:
        # Killed at the cap: only a wrong byte (not the short stream) is a failure.
        if checker.error and not checker.error.startswith("stream ended after"):
            why.append(checker.error)
    else:
        if timed_out:
            why.append(f"timed out after {timeout:.0f} s (killed)")
        if lcode != 0:
            why.append(f"receiver exit {lcode}")
        if ccode != 0:
            why.append(f"sender exit {ccode}")
        if checker.error:
            why.append(checker.error)
        if feeder.error:
            why.append(feeder.error)
    res = Result(peer.label, run, not why, "; ".join(why))
    gib = (checker.received if cut else size) / GIB or 1 / GIB
    res.send_cpu_gib = cpu_of(cru) / gib
    res.recv_cpu_gib = cpu_of(lru) / gib
    res.drops = drops
    res.close_s = ended - started
    if checker.done_at is not None:
        res.mib_s = size / MIB / (checker.done_at - started)
    elif cut:
        res.mib_s = checker.received / MIB / timeout
        res.extra = {"capped": checker.received}
    if not res.ok:
        res.why += f" (logs: {llog}, {clog})"
    return res


def udp_ceiling(blast: str, run: int, seconds: int, sockbuf: int, dgram: int) -> Result:
    drops0 = rcvbuf_errors()
    rcv = subprocess.Popen(
        [blast, "recv", "-b", str(sockbuf)], stdout=subprocess.PIPE, text=True
    )
    line = rcv.stdout.readline()
    m = re.match(r"port (\d+)", line)
    if not m:
        rcv.kill()
        rcv.wait()
        return Result("raw UDP", run, False, f"udp_blast recv said {line!r}")
    snd = subprocess.Popen(
        [blast, "send", m.group(1), "-s", str(dgram), "-t", str(seconds), "-b", str(sockbuf)],
        stdout=subprocess.PIPE, text=True,
    )
    # Both print one short line, far below the pipe's capacity, before they exit.
    done, timed_out = reap([rcv, snd], time.monotonic() + seconds + 30)
    rout, sout = rcv.stdout.read(), snd.stdout.read()
    drops = rcvbuf_errors() - drops0
    rm = re.search(r"received (\d+) datagrams, (\d+) bytes in ([0-9.]+) s", rout)
    sm = re.search(r"sent (\d+) datagrams", sout)
    if timed_out or not rm or not sm or done[rcv.pid][0] or done[snd.pid][0]:
        return Result("raw UDP", run, False, f"udp_blast failed: {rout!r} {sout!r}")
    dgrams, nbytes, secs = int(rm.group(1)), int(rm.group(2)), float(rm.group(3))
    sent = int(sm.group(1))
    res = Result("raw UDP", run, dgrams > 0 and secs > 0)
    gib = max(nbytes, 1) / GIB
    res.mib_s = nbytes / MIB / secs if secs > 0 else 0.0
    res.send_cpu_gib = cpu_of(done[snd.pid][1]) / gib
    res.recv_cpu_gib = cpu_of(done[rcv.pid][1]) / gib
    res.drops = drops
    res.extra = {"kpps": dgrams / secs / 1000 if secs > 0 else 0.0,
                 "loss_pct": 100.0 * (sent - dgrams) / sent if sent else 0.0}
    return res


def fmt_stat(values: list[float], prec: int) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{prec}f}"
    return f"{med:.{prec}f} [{min(values):.{prec}f}-{max(values):.{prec}f}]"


def describe(r: Result) -> str:
    if not r.ok:
        return f"FAILED: {r.why}"
    s = (f"{r.mib_s:8.1f} MiB/s   CPU s/GiB sender {r.send_cpu_gib:5.2f} receiver "
         f"{r.recv_cpu_gib:5.2f}   RcvbufErrors +{r.drops}")
    if "kpps" in r.extra:
        s += f"   {r.extra['kpps']:.0f} kpps, {r.extra['loss_pct']:.2f}% lost"
    elif "capped" in r.extra:
        s += f"   capped: stopped with {r.extra['capped'] / MIB:.1f} MiB delivered"
    else:
        s += f"   both exited after {r.close_s:.2f} s"
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sockbuf", type=int, default=4 << 20)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run")
    ap.add_argument("--ref-seconds", type=float,
                    help="stop the ref-c case after this many seconds; its rate is then the "
                    "bytes delivered over this time")
    ap.add_argument("--min-ratio", type=float,
                    help="PASS/FAIL: each of ours at least this many times the reference")
    ap.add_argument("--cases", default="utpcat,ours-c,ref-c,udp",
                    help="comma-separated subset of utpcat, ours-c, ref-c, udp")
    ap.add_argument("--udp-seconds", type=int, default=3)
    ap.add_argument("--udp-size", type=int, default=1402)
    ap.add_argument("--json", help="also write every run's figures to this file")
    ap.add_argument("--utpcat", required=True)
    ap.add_argument("--netcat-ours", required=True)
    ap.add_argument("--lib-ours", required=True)
    ap.add_argument("--netcat-ref", required=True)
    ap.add_argument("--lib-ref", required=True)
    ap.add_argument("--udp-blast", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if a.size_mib < 1 or a.runs < 1 or a.sockbuf < 0:
        ap.error("--size-mib and --runs must be positive, --sockbuf not negative")
    if a.ref_seconds is not None and a.ref_seconds <= 0:
        ap.error("--ref-seconds must be positive")
    if a.min_ratio is not None and a.min_ratio < 0:
        ap.error("--min-ratio must not be negative")
    size = a.size_mib * MIB
    buf = str(a.sockbuf)
    tmo = str(int(max(a.timeout, a.ref_seconds or 0)) + 5)
    os.makedirs(a.workdir, exist_ok=True)

    def netcat(name: str, label: str, exe: str, lib: str) -> Peer:
        return Peer(name, label,
                    [exe, "-l", "-N", "-s", "127.0.0.1", "-p", "0", "-b", buf, "-t", tmo],
                    [exe, "-b", buf, "-t", tmo, "127.0.0.1"],
                    {"LD_LIBRARY_PATH": lib})

    peers = {
        "utpcat": Peer("utpcat", "utpcat (managed runtime)",
                       [a.utpcat, "-d", "-l", "-s", "127.0.0.1", "-p", "0", "--sockbuf", buf],
                       [a.utpcat, "-B", "65536", "--sockbuf", buf, "127.0.0.1"]),
        "ours-c": netcat("ours-c", "utp_netcat + our libutp.so", a.netcat_ours, a.lib_ours),
        "ref-c": netcat("ref-c", "utp_netcat + reference libutp", a.netcat_ref, a.lib_ref),
    }
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    for c in cases:
        if c not in peers and c != "udp":
            ap.error(f"unknown case {c}")

    bufs = f"{a.sockbuf} bytes" if a.sockbuf else "the OS defaults (not set)"
    print(f"bench-loopback: {a.size_mib} MiB per run, {a.runs} run(s), socket buffers {bufs}"
          f"{f', reference capped at {a.ref_seconds:g} s' if a.ref_seconds else ''}"
          f", one connection over 127.0.0.1, {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, list[Result]] = {}
    # Interleave the cases run by run, so slow drifts in machine load hit them alike.
    for run in range(1, a.runs + 1):
        for c in cases:
            if c == "udp":
                r = udp_ceiling(a.udp_blast, run, a.udp_seconds, a.sockbuf, a.udp_size)
                label = f"raw UDP {a.udp_size} B"
            else:
                capped = c == "ref-c" and a.ref_seconds is not None
                tmo_s = a.ref_seconds if capped else a.timeout
                r = transfer(peers[c], run, size, tmo_s, a.workdir, capped)
                label = peers[c].label
            results.setdefault(c, []).append(r)
            print(f"  run {run}/{a.runs}  {label:<32} {describe(r)}", flush=True)

    print()
    print("summary: median [min-max] over the successful runs")
    print(f"  {'case':<32} {'MiB/s':<24} {'sender CPU s/GiB':<20} {'receiver CPU s/GiB':<20} "
          "RcvbufErrors per run")
    med: dict[str, tuple[float, float, float]] = {}
    for c in cases:
        ok = [r for r in results[c] if r.ok]
        label = f"raw UDP {a.udp_size} B" if c == "udp" else peers[c].label
        failed = len(results[c]) - len(ok)
        print(f"  {label:<32} {fmt_stat([r.mib_s for r in ok], 1):<24} "
              f"{fmt_stat([r.send_cpu_gib for r in ok], 2):<20} "
              f"{fmt_stat([r.recv_cpu_gib for r in ok], 2):<20} "
              f"{','.join(str(r.drops) for r in results[c])}"
              f"{f'   ({failed} failed)' if failed else ''}")
        if ok:
            med[c] = (statistics.median(r.mib_s for r in ok),
                      statistics.median(r.send_cpu_gib for r in ok),
                      statistics.median(r.recv_cpu_gib for r in ok))
    if "ref-c" in med:
        ref = med["ref-c"]
        print()
        print("ours / reference (medians; throughput above 1 and CPU below 1 favour ours)")
        for c in ("utpcat", "ours-c"):
            if c in med:
                m = med[c]
                print(f"  {peers[c].label:<32} MiB/s x{m[0] / ref[0]:.2f}   sender CPU "
                      f"x{m[1] / ref[1]:.2f}   receiver CPU x{m[2] / ref[2]:.2f}")
    verdict_ok = True
    if a.min_ratio == 0:
        print()
        print("(the ratio is printed, not judged: --min-ratio 0)")
    elif a.min_ratio is not None:
        print()
        refs = [r.mib_s for r in results.get("ref-c", []) if r.ok]
        for c in ("utpcat", "ours-c"):
            if c not in cases:
                continue
            ours = [r.mib_s for r in results[c] if r.ok]
            if not refs or not ours or min(refs) <= 0:
                print(f"FAIL {peers[c].label}: no successful runs to compare")
                verdict_ok = False
                continue
            ratio = statistics.median(ours) / statistics.median(refs)
            worst = min(ours) / max(refs)
            ok = ratio >= a.min_ratio
            verdict_ok &= ok
            print(f"{'PASS' if ok else 'FAIL'} {peers[c].label}: median x{ratio:.1f} the "
                  f"reference (worst run against best reference run x{worst:.1f}), "
                  f"target >= x{a.min_ratio:g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({c: [r.__dict__ for r in rs] for c, rs in results.items()}, f, indent=1)
    return 0 if verdict_ok and all(r.ok for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
