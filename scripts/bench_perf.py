#!/usr/bin/env python3
"""Issue 9's benchmark table on 127.0.0.1; driven by scripts/bench-perf.sh (which builds
everything and passes the paths).

Sections (each figure gets a target and PASS/FAIL where issue 9 sets one):

1. Throughput of one connection, SIZE bytes per run, the same socket buffers on every peer,
   median over --runs, the cases interleaved run by run:
     utpcat   ours, managed: utpcat -> utpcat
     ours-c   ours through the libutp C API: examples/c/utp_netcat.c on our libutp.so
     ref-c    the reference libutp through the same utp_netcat.c
     lt       libtorrent 2.1 seeder -> libtorrent downloader, uTP only (scripts/bench_lt_peer.py)
     udp      raw UDP, 1402-byte datagrams, one per sendto()/recv() (examples/c/udp_blast.c)
     udp-gso  raw UDP, 1402-byte segments, 46 per sendmsg() with UDP_SEGMENT, received with
              UDP_GRO and recvmmsg() (udp_blast -g 64 / recv -G)
   utpcat, ours-c and ref-c reuse scripts/bench_loopback.py (every byte checked as it arrives,
   MiB/s from starting the sender to the last byte out of the receiver, CPU from wait4);
   libtorrent checks every piece's SHA-1 and is timed over its data phase (first payload byte
   to complete, as shared/peers.md 2.3 does); the UDP cases send for --udp-seconds and count
   what arrived.
2. CPU seconds per GiB of each side (user + sys of each process; for libtorrent the process
   CPU over the transfer: the downloader over its data phase, the seeder from just before the
   connect to the end).
3. Latency: B-byte ping-pong round trips after a warm-up (examples/pingpong.rs over our
   managed streams; examples/c/utp_pingpong.c over the C API of our library and of the
   reference), min, median, p99 of each run; the table gives the median over --runs runs
   [min-max] of each.
4. Syscalls per datagram of a managed (utpcat) transfer, counted with perf's syscall
   tracepoints (or strace -f -c when perf cannot), divided by the packet counts that
   utpcat --stats prints.
5. Idle connections: examples/idle_cost (--idle quick: one 40 s window, which holds one
   keepalive round, and no baseline; --idle full: its defaults, two 60 s windows).
6. Many connections: examples/many_transfers (--many N[xM]: N concurrent connections of M MiB
   each to one server socket, every byte checked; default 1000x1; issue 9's row is 10000x1),
   with its baseline in the same process, the same N x M bytes over one connection: aggregate
   MiB/s and CPU s/GiB of both, their ratios, and memory per connection. Issue 9 sets no
   number for this row, so it has no PASS/FAIL.

Python 3.11 standard library; matplotlib only for --plot. Run only on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_loopback as bl  # noqa: E402  (our own scripts/bench_loopback.py)

MIB = bl.MIB
GIB = bl.GIB
RTT_RE = re.compile(r"rtt_us count (\d+) min ([0-9.]+) median ([0-9.]+) p99 ([0-9.]+) "
                    r"max ([0-9.]+)")
PACKETS_RE = re.compile(r"packets sent (\d+) received (\d+)")
SEND_CALLS = ("sendto", "sendmsg", "sendmmsg")
RECV_CALLS = ("recvfrom", "recvmsg", "recvmmsg")

# Issue 9's targets.
TARGET_MANAGED_X_REF = 3.0      # managed throughput >= 3x the reference's
TARGET_MANAGED_MIB_S = 1024.0   # ... and >= 1 GiB/s
TARGET_CAPI_X_REF = 1.3         # C API mode >= 1.3x the reference's
TARGET_CPU_FRACTION = 1 / 3     # managed CPU per GiB <= 1/3 of the reference's, each side
TARGET_SYSCALLS_PER_DGRAM = 1 / 16

LABELS = {
    "utpcat": "ours, managed (utpcat -> utpcat)",
    "ours-c": "ours, C API (utp_netcat + our libutp.so)",
    "ref-c": "reference libutp (utp_netcat)",
    "lt": "libtorrent (two sessions)",
    "udp": "raw UDP 1402 B, 1 per syscall",
    "udp-gso": "raw UDP 1402 B, GSO + GRO",
}
ALL_CASES = ("utpcat", "ours-c", "ref-c", "lt", "udp", "udp-gso")
PLOT_NAMES = {
    "utpcat": "ours\nmanaged",
    "ours-c": "ours\nC API",
    "ref-c": "reference\nlibutp",
    "lt": "libtorrent",
    "udp": "raw UDP\n1 per syscall",
    "udp-gso": "raw UDP\nGSO + GRO",
}


# ---------------------------------------------------------------------------------------------
# section 1 and 2: throughput and CPU


def udp_gso(blast: str, run: int, seconds: int, sockbuf: int) -> bl.Result:
    drops0 = bl.rcvbuf_errors()
    rcv = subprocess.Popen([blast, "recv", "-b", str(sockbuf), "-G"], stdout=subprocess.PIPE,
                           text=True)
    line = rcv.stdout.readline()
    m = re.match(r"port (\d+)", line)
    if not m:
        rcv.kill()
        rcv.wait()
        return bl.Result("udp-gso", run, False, f"udp_blast recv -G said {line!r}")
    snd = subprocess.Popen([blast, "send", m.group(1), "-s", "1402", "-g", "64", "-t",
                            str(seconds), "-b", str(sockbuf)], stdout=subprocess.PIPE, text=True)
    done, timed_out = bl.reap([rcv, snd], time.monotonic() + seconds + 30)
    rout, sout = rcv.stdout.read(), snd.stdout.read()
    drops = bl.rcvbuf_errors() - drops0
    rm = re.search(r"received (\d+) datagrams, (\d+) bytes in ([0-9.]+) s", rout)
    sm = re.search(r"sent (\d+) datagrams", sout)
    if timed_out or not rm or not sm or done[rcv.pid][0] or done[snd.pid][0]:
        return bl.Result("udp-gso", run, False, f"udp_blast -g/-G failed: {rout!r} {sout!r}")
    dgrams, nbytes, secs = int(rm.group(1)), int(rm.group(2)), float(rm.group(3))
    sent = int(sm.group(1))
    res = bl.Result("udp-gso", run, dgrams > 0 and secs > 0)
    gib = max(nbytes, 1) / GIB
    res.mib_s = nbytes / MIB / secs if secs > 0 else 0.0
    res.send_cpu_gib = bl.cpu_of(done[snd.pid][1]) / gib
    res.recv_cpu_gib = bl.cpu_of(done[rcv.pid][1]) / gib
    res.drops = drops
    res.extra = {"kpps": dgrams / secs / 1000 if secs > 0 else 0.0,
                 "loss_pct": 100.0 * (sent - dgrams) / sent if sent else 0.0}
    return res


class Libtorrent:
    """A seeder process and a downloader process per run (scripts/bench_lt_peer.py)."""

    def __init__(self, python: str, helper: str, workdir: str, size_mib: int, sockbuf: int,
                 timeout: float):
        self.python, self.helper = python, helper
        self.dir = os.path.join(workdir, "libtorrent")
        self.seed_dir = os.path.join(self.dir, f"seed-{size_mib}")
        self.size_mib, self.sockbuf, self.timeout = size_mib, sockbuf, timeout
        self.prepared = False
        self.version = "?"

    def prepare(self) -> str | None:
        out = subprocess.run([self.python, self.helper, "make", "--dir", self.seed_dir,
                              "--size-mib", str(self.size_mib)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return f"making the torrent failed: {out.stderr.strip()[-400:]}"
        self.torrent = json.loads(out.stdout.splitlines()[-1])["torrent"]
        self.prepared = True
        return None

    def run(self, run: int) -> bl.Result:
        if not self.prepared:
            err = self.prepare()
            if err:
                return bl.Result("lt", run, False, err)
        leech_dir = os.path.join(self.dir, "leech")
        shutil.rmtree(leech_dir, ignore_errors=True)
        os.makedirs(leech_dir)
        log = os.path.join(self.dir, f"run-{run}.log")
        drops0 = bl.rcvbuf_errors()
        with open(log, "w") as err:
            seeder = subprocess.Popen(
                [self.python, self.helper, "seed", "--dir", self.seed_dir, "--sockbuf",
                 str(self.sockbuf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, text=True, bufsize=1)
            try:
                hello = json.loads(seeder.stdout.readline())
                self.version = hello.get("version", "?")
                seeder.stdin.write("cpu\n")
                cpu0 = json.loads(seeder.stdout.readline())["cpu"]
                leech = subprocess.run(
                    [self.python, self.helper, "leech", "--dir", leech_dir, "--torrent",
                     self.torrent, "--seed-port", str(hello["port"]), "--sockbuf",
                     str(self.sockbuf), "--timeout", str(self.timeout)],
                    stdout=subprocess.PIPE, stderr=err, text=True, timeout=self.timeout + 60)
                seeder.stdin.write("cpu\n")
                cpu1 = json.loads(seeder.stdout.readline())["cpu"]
                seeder.stdin.close()
                tail = seeder.stdout.read()
                seeder.wait(timeout=30)
            except (ValueError, KeyError, OSError, subprocess.TimeoutExpired) as e:
                seeder.kill()
                seeder.wait()
                return bl.Result("lt", run, False, f"libtorrent run failed: {e} (log {log})")
        drops = bl.rcvbuf_errors() - drops0
        shutil.rmtree(leech_dir, ignore_errors=True)  # its copy was checked piece by piece
        try:
            info = json.loads(leech.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            info = {"error": f"no result from the downloader (exit {leech.returncode})"}
        why = []
        if "error" in info:
            why.append(info["error"])
        elif not info.get("utp") or info.get("num_tcp_peers"):
            why.append(f"not a uTP-only transfer: {info}")
        if leech.returncode:
            why.append(f"downloader exit {leech.returncode}")
        res = bl.Result("lt", run, not why, "; ".join(why) + (f" (log {log})" if why else ""))
        if not why:
            gib = info["size"] / GIB
            res.mib_s = info["size"] / MIB / info["data"]
            res.send_cpu_gib = (cpu1 - cpu0) / gib
            res.recv_cpu_gib = info["cpu_data"] / gib
            res.close_s = info["total"]
            res.extra = {"total_s": info["total"], "data_s": info["data"],
                         "seeder": tail.strip()[-300:]}
        res.drops = drops
        return res


def describe(c: str, r: bl.Result) -> str:
    s = bl.describe(r)
    if c == "lt" and r.ok:
        s = s.split("   both exited")[0]
        s += (f"   data phase {r.extra['data_s']:.2f} s of {r.extra['total_s']:.2f} s from "
              "connect_peer")
    return s


# ---------------------------------------------------------------------------------------------
# section 3: latency


def pingpong(name: str, server: list[str], client: list[str], env: dict, workdir: str,
             timeout: float) -> dict:
    log = os.path.join(workdir, f"pingpong-{name}-server.log")
    with open(log, "w") as err:
        srv = subprocess.Popen(server, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, env=dict(os.environ, **env))
    port = bl.wait_for_port(srv, log)
    if port is None:
        srv.kill()
        srv.wait()
        return {"ok": False, "why": f"server did not report its port ({log})"}
    try:
        out = subprocess.run([port if x == "{port}" else x for x in client],
                             capture_output=True, text=True, timeout=timeout,
                             env=dict(os.environ, **env))
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
        return {"ok": False, "why": f"client timed out after {timeout:.0f} s"}
    try:
        srv.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
    m = RTT_RE.search(out.stdout)
    if out.returncode or not m:
        return {"ok": False, "why": f"client exit {out.returncode}: {out.stderr.strip()[-300:]}"}
    n, lo, med, p99, hi = m.groups()
    return {"ok": True, "count": int(n), "min_us": float(lo), "median_us": float(med),
            "p99_us": float(p99), "max_us": float(hi)}


# ---------------------------------------------------------------------------------------------
# section 4: syscalls per datagram


def syscall_counter() -> str | None:
    """'perf' when perf can count syscall tracepoints here, else 'strace', else None.
    BENCH_PERF_SYSCALLS=strace picks strace even where perf works."""
    if os.environ.get("BENCH_PERF_SYSCALLS") == "strace":
        return "strace" if shutil.which("strace") else None
    events = ",".join(f"syscalls:sys_enter_{c}" for c in SEND_CALLS + RECV_CALLS)
    if shutil.which("perf"):
        try:
            r = subprocess.run(["perf", "stat", "-x,", "-e", events, "--", "true"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and "not supported" not in r.stderr and "<not" not in r.stderr:
                return "perf"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "strace" if shutil.which("strace") else None


def counting(tool: str, out: str) -> list[str]:
    if tool == "perf":
        events = ",".join(f"syscalls:sys_enter_{c}" for c in SEND_CALLS + RECV_CALLS)
        return ["perf", "stat", "-x,", "-o", out, "-e", events, "--"]
    return ["strace", "-f", "-c", "-o", out, "-e",
            "trace=" + ",".join(SEND_CALLS + RECV_CALLS)]


def read_counts(tool: str, path: str) -> dict[str, int]:
    counts = {c: 0 for c in SEND_CALLS + RECV_CALLS}
    text = bl.read_log(path)
    for line in text.splitlines():
        if tool == "perf":
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
                name = parts[2].removeprefix("syscalls:sys_enter_")
                if name in counts and parts[0].strip().isdigit():
                    counts[name] = int(parts[0])
        else:
            # strace -c: "% time seconds usecs/call calls [errors] syscall"
            f = line.split()
            if f and f[-1] in counts and len(f) >= 5 and f[3].isdigit():
                counts[f[-1]] = int(f[3])
    return counts


def syscalls(utpcat: str, size: int, sockbuf: int, workdir: str, timeout: float) -> dict:
    tool = syscall_counter()
    if tool is None:
        return {"ok": False, "why": "neither perf (syscall tracepoints) nor strace available"}
    rx_out = os.path.join(workdir, f"syscalls-receiver.{tool}")
    tx_out = os.path.join(workdir, f"syscalls-sender.{tool}")
    peer = bl.Peer("syscalls", "utpcat under " + tool,
                   counting(tool, rx_out) + [utpcat, "-d", "--stats", "-l", "-s", "127.0.0.1",
                                             "-p", "0", "--sockbuf", str(sockbuf)],
                   counting(tool, tx_out) + [utpcat, "--stats", "-B", "65536", "--sockbuf",
                                             str(sockbuf), "127.0.0.1"])
    r = bl.transfer(peer, 1, size, timeout, workdir)
    res = {"ok": r.ok, "why": r.why, "tool": tool, "mib_s": r.mib_s,
           "size_mib": size / MIB}
    if not r.ok:
        return res
    rx_log = bl.read_log(os.path.join(workdir, "syscalls-1-listener.log"))
    tx_log = bl.read_log(os.path.join(workdir, "syscalls-1-connector.log"))
    rxp, txp = PACKETS_RE.search(rx_log), PACKETS_RE.search(tx_log)
    if not rxp or not txp:
        res.update(ok=False, why="utpcat --stats printed no packet counts")
        return res
    rx, tx = read_counts(tool, rx_out), read_counts(tool, tx_out)
    tx_sent, tx_recvd = int(txp.group(1)), int(txp.group(2))
    rx_sent, rx_recvd = int(rxp.group(1)), int(rxp.group(2))
    res.update(
        sender_calls=tx, receiver_calls=rx,
        sender_packets_sent=tx_sent, sender_packets_received=tx_recvd,
        receiver_packets_sent=rx_sent, receiver_packets_received=rx_recvd,
        send_per_dgram=sum(tx[c] for c in SEND_CALLS) / max(tx_sent, 1),
        recv_per_dgram=sum(rx[c] for c in RECV_CALLS) / max(rx_recvd, 1),
        # the other direction (ACKs), for information
        ack_send_per_dgram=sum(rx[c] for c in SEND_CALLS) / max(rx_sent, 1),
        ack_recv_per_dgram=sum(tx[c] for c in RECV_CALLS) / max(tx_recvd, 1),
    )
    if sum(rx.values()) == 0 or sum(tx.values()) == 0:
        res.update(ok=False, why=f"{tool} counted no socket syscalls ({rx_out}, {tx_out})")
    return res


# ---------------------------------------------------------------------------------------------
# section 5: idle connections


def idle(exe: str, mode: str, workdir: str) -> dict:
    if mode == "skip":
        return {"ok": False, "skipped": True, "why": "not run (use --idle quick or --idle full)"}
    args = [exe, "--window", "40", "--baseline", "0"] if mode == "quick" else [exe]
    log = os.path.join(workdir, "idle_cost.log")
    t0 = time.monotonic()
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"ok": False, "why": "idle_cost ran longer than 600 s"}
    with open(log, "w") as f:
        f.write(out.stdout + out.stderr)
    text = out.stdout + out.stderr
    m = re.search(r"server socket's worker\s+CPU\s+([0-9.]+) s = ([0-9.]+)% of one core", text)
    sent = re.search(r"datagrams sent during the window: server (\d+), clients (\d+)", text)
    res = {"ok": out.returncode == 0 and m is not None, "args": args[1:],
           "seconds": time.monotonic() - t0, "log": log}
    if m:
        res["server_worker_s"] = float(m.group(1))
        res["server_worker_pct"] = float(m.group(2))
    if sent:
        res["datagrams_server"], res["datagrams_clients"] = int(sent.group(1)), int(sent.group(2))
    if out.returncode:
        res["why"] = f"idle_cost exit {out.returncode} ({log})"
    elif not m:
        res["why"] = f"no server worker figure found in its output ({log})"
    return res


# ---------------------------------------------------------------------------------------------
# section 6: many connections


def parse_many(spec: str) -> tuple[int, int] | None:
    """'skip' -> None; 'N' -> (N, 1); 'NxM' -> (N, M): N connections of M MiB each."""
    if spec == "skip":
        return None
    m = re.fullmatch(r"(\d+)(?:x(\d+))?", spec)
    if not m or int(m.group(1)) < 1 or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ValueError(f"--many {spec!r}: N, NxM (MiB each) or skip")
    return int(m.group(1)), int(m.group(2) or 1)


def many(exe: str, spec: tuple[int, int] | None, workdir: str) -> dict:
    if spec is None:
        return {"ok": False, "skipped": True, "why": "not run (--many skip)"}
    n, mib = spec
    args = [exe, "--connections", str(n), "--mib", str(mib), "--json"]
    log = os.path.join(workdir, "many_transfers.log")
    t0 = time.monotonic()
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"ok": False, "why": "many_transfers ran longer than 1800 s"}
    with open(log, "w") as f:
        f.write(out.stdout + out.stderr)
    res: dict = {"ok": False, "args": args[1:], "seconds": time.monotonic() - t0, "log": log}
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode or not lines:
        fail = [x for x in out.stdout.splitlines() if x.startswith("FAIL")]
        res["why"] = (f"many_transfers exit {out.returncode}: "
                      f"{(fail or [out.stderr.strip()[-300:]])[-1]} ({log})")
        return res
    res.update(json.loads(lines[-1]), ok=True)
    return res


# ---------------------------------------------------------------------------------------------
# the table


def med(rs: list[bl.Result], attr: str) -> float | None:
    vals = [getattr(r, attr) for r in rs if r.ok]
    return statistics.median(vals) if vals else None


def rng(rs: list[bl.Result], attr: str, prec: int) -> str:
    vals = [getattr(r, attr) for r in rs if r.ok]
    if not vals:
        return "failed"
    return bl.fmt_stat(vals, prec)


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sockbuf", type=int, default=4 << 20)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per transfer")
    ap.add_argument("--cases", default=",".join(ALL_CASES))
    ap.add_argument("--udp-seconds", type=int, default=3)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--ping-size", type=int, default=64)
    ap.add_argument("--syscall-mib", type=int, default=256)
    ap.add_argument("--idle", choices=["skip", "quick", "full"], default="quick")
    ap.add_argument("--many", default="1000x1", help="N[xMiB] or skip")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    for p in ("utpcat", "netcat-ours", "lib-ours", "netcat-ref", "lib-ref", "udp-blast",
              "pingpong", "pingpong-ours", "pingpong-ref", "lt-python", "lt-helper",
              "idle-cost", "many-transfers", "workdir"):
        ap.add_argument("--" + p, required=p not in ("lt-python", "idle-cost", "many-transfers"))
    a = ap.parse_args()
    try:
        many_spec = parse_many(a.many)
    except ValueError as e:
        ap.error(str(e))
    if a.size_mib < 1 or a.runs < 1 or a.sockbuf < 0 or a.pings < 1 or a.syscall_mib < 0:
        ap.error("--size-mib, --runs and --pings must be positive, the others not negative")
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    for c in cases:
        if c not in ALL_CASES:
            ap.error(f"unknown case {c} (of {', '.join(ALL_CASES)})")
    if "lt" in cases and not a.lt_python:
        ap.error("the lt case needs --lt-python")
    os.makedirs(a.workdir, exist_ok=True)
    size = a.size_mib * MIB
    buf = str(a.sockbuf)
    tmo = str(int(a.timeout) + 5)
    started = time.monotonic()

    def netcat(name: str, exe: str, lib: str) -> bl.Peer:
        return bl.Peer(name, LABELS[name],
                       [exe, "-l", "-N", "-s", "127.0.0.1", "-p", "0", "-b", buf, "-t", tmo],
                       [exe, "-b", buf, "-t", tmo, "127.0.0.1"], {"LD_LIBRARY_PATH": lib})

    peers = {
        "utpcat": bl.Peer("utpcat", LABELS["utpcat"],
                          [a.utpcat, "-d", "-l", "-s", "127.0.0.1", "-p", "0", "--sockbuf", buf],
                          [a.utpcat, "-B", "65536", "--sockbuf", buf, "127.0.0.1"]),
        "ours-c": netcat("ours-c", a.netcat_ours, a.lib_ours),
        "ref-c": netcat("ref-c", a.netcat_ref, a.lib_ref),
    }
    lt_runner = Libtorrent(a.lt_python, a.lt_helper, a.workdir, a.size_mib, a.sockbuf,
                           a.timeout) if "lt" in cases else None

    load = os.getloadavg()[0]
    print(f"bench-perf: {a.size_mib} MiB per transfer, {a.runs} run(s), socket buffers "
          f"{a.sockbuf or 'OS default'}, 127.0.0.1, {os.cpu_count()} CPU(s), "
          f"load average {load:.2f} before", flush=True)
    print("1-2. throughput and CPU per GiB (cases interleaved run by run)", flush=True)
    results: dict[str, list[bl.Result]] = {c: [] for c in cases}
    for run in range(1, a.runs + 1):
        for c in cases:
            if c == "udp":
                r = bl.udp_ceiling(a.udp_blast, run, a.udp_seconds, a.sockbuf, 1402)
            elif c == "udp-gso":
                r = udp_gso(a.udp_blast, run, a.udp_seconds, a.sockbuf)
            elif c == "lt":
                r = lt_runner.run(run)
            else:
                r = bl.transfer(peers[c], run, size, a.timeout, a.workdir)
            results[c].append(r)
            print(f"  run {run}/{a.runs}  {LABELS[c]:<42} {describe(c, r)}", flush=True)

    print(f"3. latency: ping-pong round trips, {a.runs} run(s) per case, interleaved",
          flush=True)
    ping_args = ["--count", str(a.pings), "--warmup", str(a.warmup), "--size", str(a.ping_size)]
    c_args = ["-n", str(a.pings), "-w", str(a.warmup), "-s", str(a.ping_size), "-b", buf]
    lat_cmds = {
        "managed": ([a.pingpong, "server"], [a.pingpong, "client", "{port}"] + ping_args, {}),
        "ours-c": ([a.pingpong_ours, "server", "-b", buf],
                   [a.pingpong_ours, "client", "{port}"] + c_args,
                   {"LD_LIBRARY_PATH": a.lib_ours}),
        "ref-c": ([a.pingpong_ref, "server", "-b", buf],
                  [a.pingpong_ref, "client", "{port}"] + c_args, {"LD_LIBRARY_PATH": a.lib_ref}),
    }
    lat_runs: dict[str, list[dict]] = {k: [] for k in lat_cmds}
    for run in range(1, a.runs + 1):
        for k, (srv, cli, env) in lat_cmds.items():
            v = pingpong(k, srv, cli, env, a.workdir, 300)
            lat_runs[k].append(v)
            shown = (f"min {v['min_us']:.1f} median {v['median_us']:.1f} p99 {v['p99_us']:.1f} "
                     f"max {v['max_us']:.1f} us" if v["ok"] else f"FAILED: {v['why']}")
            print(f"  run {run}/{a.runs}  {k:<8} {shown}", flush=True)
    lat = {}
    for k, vs in lat_runs.items():
        ok = [v for v in vs if v["ok"]]
        if not ok:
            lat[k] = {"ok": False, "why": vs[-1]["why"], "runs": vs}
            continue
        lat[k] = {"ok": len(ok) == len(vs), "why": "" if len(ok) == len(vs) else
                  f"{len(vs) - len(ok)} run(s) failed", "runs": vs,
                  "n": len(ok), "count": ok[0]["count"]}
        for f in ("min_us", "median_us", "p99_us", "max_us"):
            lat[k][f] = statistics.median(v[f] for v in ok)
            lat[k][f + "_all"] = [v[f] for v in ok]

    if a.syscall_mib:
        print(f"4. syscalls per datagram: utpcat -> utpcat, {a.syscall_mib} MiB", flush=True)
        sc = syscalls(a.utpcat, a.syscall_mib * MIB, a.sockbuf, a.workdir, a.timeout)
        print(f"  {sc}", flush=True)
    else:
        sc = {"ok": False, "skipped": True, "why": "not run (--syscall-mib 0)"}

    if a.idle != "skip" and a.idle_cost:
        print(f"5. idle connections: idle_cost ({a.idle})", flush=True)
    idl = idle(a.idle_cost, a.idle, a.workdir) if a.idle_cost else \
        {"ok": False, "why": "not built"}
    if a.idle != "skip":
        print(f"  {idl}", flush=True)

    if many_spec and a.many_transfers:
        print(f"6. many connections: many_transfers, {many_spec[0]} x {many_spec[1]} MiB and "
              "the same bytes over one connection", flush=True)
    mny = many(a.many_transfers, many_spec, a.workdir) if a.many_transfers or not many_spec \
        else {"ok": False, "why": "not built (no --many-transfers)"}
    if many_spec:
        print(f"  {mny}", flush=True)

    # ---- the table
    m = {c: {k: med(results[c], k) for k in ("mib_s", "send_cpu_gib", "recv_cpu_gib")}
         for c in cases}
    rows: list[dict] = []

    def row(section, what, value, target="", ok=None, note=""):
        rows.append({"section": section, "what": what, "value": value, "target": target,
                     "verdict": verdict(ok), "note": note})

    def ratio(x, y):
        return x / y if x is not None and y else None

    def fx(v, prec=2):
        return "-" if v is None else f"x{v:.{prec}f}"

    for c in cases:
        extra = ""
        drops = ",".join(str(r.drops) for r in results[c])
        if c.startswith("udp"):
            losses = [r.extra.get("loss_pct", 0) for r in results[c] if r.ok]
            extra = f"{a.udp_seconds} s blast; lost {bl.fmt_stat(losses, 1)} %"
        elif c == "lt":
            extra = f"libtorrent {lt_runner.version}; data phase; SHA-1 + disk in the CPU"
        failed = sum(not r.ok for r in results[c])
        note = f"RcvbufErrors {drops}" + (f"; {extra}" if extra else "") + \
            (f"; {failed} run(s) failed" if failed else "")
        target, ok = "", None
        if c == "utpcat":
            target = f">= {TARGET_MANAGED_MIB_S:.0f}"
            ok = m[c]["mib_s"] is not None and m[c]["mib_s"] >= TARGET_MANAGED_MIB_S
        row("1 throughput MiB/s", LABELS[c], rng(results[c], "mib_s", 1), target, ok, note)
    ref = m.get("ref-c")
    r_mr = ratio(m["utpcat"]["mib_s"], ref["mib_s"]) if "utpcat" in m and ref else None
    r_cr = ratio(m["ours-c"]["mib_s"], ref["mib_s"]) if "ours-c" in m and ref else None
    row("1 throughput ratio", "ours managed / reference", fx(r_mr),
        f">= x{TARGET_MANAGED_X_REF:g}", None if r_mr is None else r_mr >= TARGET_MANAGED_X_REF)
    row("1 throughput ratio", "ours C API / reference", fx(r_cr),
        f">= x{TARGET_CAPI_X_REF:g}", None if r_cr is None else r_cr >= TARGET_CAPI_X_REF)
    if "utpcat" in m:
        for c, what in (("udp", "ours managed / raw UDP"),
                        ("udp-gso", "ours managed / raw UDP with GSO"),
                        ("lt", "ours managed / libtorrent")):
            if c in m:
                row("1 throughput ratio", what, fx(ratio(m["utpcat"]["mib_s"], m[c]["mib_s"])))
    for c in cases:
        for side, attr in (("sender", "send_cpu_gib"), ("receiver", "recv_cpu_gib")):
            target, ok = "", None
            if c == "utpcat" and ref and ref[attr]:
                limit = ref[attr] * TARGET_CPU_FRACTION
                target = f"<= {limit:.2f} (1/3 of ref)"
                ok = m[c][attr] is not None and m[c][attr] <= limit
            row("2 CPU s/GiB", f"{LABELS[c]}, {side}", rng(results[c], attr, 2), target, ok)
        if c == "utpcat" and ref:
            for side, attr in (("sender", "send_cpu_gib"), ("receiver", "recv_cpu_gib")):
                row("2 CPU ratio", f"ours managed / reference, {side}",
                    fx(ratio(m[c][attr], ref[attr])), f"<= x{TARGET_CPU_FRACTION:.2f}",
                    None if ratio(m[c][attr], ref[attr]) is None else
                    ratio(m[c][attr], ref[attr]) <= TARGET_CPU_FRACTION)

    lat_names = {"managed": "ours, managed (examples/pingpong.rs)",
                 "ours-c": "ours, C API (utp_pingpong + our libutp.so)",
                 "ref-c": "reference libutp (utp_pingpong)"}
    for k, v in lat.items():
        if "median_us" in v:
            val = (f"median {bl.fmt_stat(v['median_us_all'], 1)}, "
                   f"p99 {bl.fmt_stat(v['p99_us_all'], 1)}")
            note = f"min {bl.fmt_stat(v['min_us_all'], 1)}" + (f"; {v['why']}" if v["why"] else "")
        else:
            val, note = f"failed: {v['why']}", ""
        row(f"3 latency us, {a.ping_size} B x {a.pings}", lat_names[k], val, note=note)
    if "median_us" in lat["managed"] and "median_us" in lat["ref-c"]:
        row("3 latency ratio", "ours managed / reference, median; p99",
            f"x{lat['managed']['median_us'] / lat['ref-c']['median_us']:.2f}; "
            f"x{lat['managed']['p99_us'] / lat['ref-c']['p99_us']:.2f}")
    if "median_us" in lat["ours-c"] and "median_us" in lat["ref-c"]:
        row("3 latency ratio", "ours C API / reference, median; p99",
            f"x{lat['ours-c']['median_us'] / lat['ref-c']['median_us']:.2f}; "
            f"x{lat['ours-c']['p99_us'] / lat['ref-c']['p99_us']:.2f}")

    lim = f"<= {TARGET_SYSCALLS_PER_DGRAM:.4f} (1/16)"
    if sc["ok"]:
        overhead = ("perf stat counting syscall tracepoints (in-kernel counters, no stops)"
                    if sc["tool"] == "perf" else
                    "strace -f -c (ptrace stops at every syscall: far slower than normal, "
                    "which changes the batching)")
        plain = m.get("utpcat", {}).get("mib_s")
        note = (f"{sc['size_mib']:.0f} MiB ran at {sc['mib_s']:.1f} MiB/s under {overhead}"
                + (f"; x{sc['mib_s'] / plain:.2f} of the uncounted utpcat median" if plain
                   else ""))
        tx, rx = sc["sender_calls"], sc["receiver_calls"]
        tx_calls = sum(tx[c] for c in SEND_CALLS)
        rx_calls = sum(rx[c] for c in RECV_CALLS)
        row("4 syscalls/datagram", "managed sender: send calls / datagrams it sent",
            f"{sc['send_per_dgram']:.4f} = {tx_calls} / {sc['sender_packets_sent']}", lim,
            sc["send_per_dgram"] <= TARGET_SYSCALLS_PER_DGRAM,
            ", ".join(f"{c} {tx[c]}" for c in SEND_CALLS) + f"; {note}")
        row("4 syscalls/datagram", "managed receiver: receive calls / datagrams it received",
            f"{sc['recv_per_dgram']:.4f} = {rx_calls} / {sc['receiver_packets_received']}", lim,
            sc["recv_per_dgram"] <= TARGET_SYSCALLS_PER_DGRAM,
            ", ".join(f"{c} {rx[c]}" for c in RECV_CALLS) +
            " (recvmsg: the ICMP error queue, MSG_ERRQUEUE)")
        row("4 syscalls/datagram", "ACKs (information): receiver's sends / its packets",
            f"{sc['ack_send_per_dgram']:.4f} = {sum(rx[c] for c in SEND_CALLS)} / "
            f"{sc['receiver_packets_sent']}")
        row("4 syscalls/datagram", "ACKs (information): sender's receives / its packets",
            f"{sc['ack_recv_per_dgram']:.4f} = {sum(tx[c] for c in RECV_CALLS)} / "
            f"{sc['sender_packets_received']}")
    else:
        skipped = sc.get("skipped", False)
        row("4 syscalls/datagram", "managed sender and receiver",
            sc["why"] if skipped else f"failed: {sc['why']}", lim, None if skipped else False)

    if idl.get("ok"):
        row("5 idle connections", "server socket's worker, 10,000 idle connections "
            f"({' '.join(idl['args']) or 'defaults'})", f"{idl['server_worker_pct']:.3f} % "
            "of a core", "< 1 %", idl["server_worker_pct"] < 1.0,
            f"took {idl['seconds']:.0f} s; datagrams sent in the window: server "
            f"{idl.get('datagrams_server')}, clients {idl.get('datagrams_clients')}")
    else:
        row("5 idle connections", "10,000 idle connections (examples/idle_cost)",
            idl.get("why", "not run"), "< 1 %", None if idl.get("skipped") else False)

    if mny.get("ok"):
        mt, bt = mny["many"], mny["baseline"]
        n, each = mt["connections"], mt["bytes_each"] / MIB
        what = f"{n:,} connections x {each:g} MiB"
        row("6 many connections", f"{what}: aggregate MiB/s", f"{mt['mib_s']:.1f}",
            note=f"{mt['seconds']:.1f} s; datagrams {mt['datagrams_sent']}, retransmits "
            f"{mt['retransmits']}, RTO timeouts {mt['timeouts']}; RcvbufErrors "
            f"{mt['rcvbuf_errors']}")
        row("6 many connections", f"one connection x {n * each:g} MiB (baseline): MiB/s",
            f"{bt['mib_s']:.1f}", note=f"{bt['seconds']:.1f} s; retransmits "
            f"{bt['retransmits']}, RTO timeouts {bt['timeouts']}")
        row("6 many connections", f"{what}: CPU s/GiB (process, both ends)",
            f"{mt['cpu_s_per_gib']:.2f}", note=f"CPU {mt['cpu_s']:.1f} s: utp workers "
            f"{mt['utp_workers_cpu_s']:.1f} s, tokio workers {mt['tokio_workers_cpu_s']:.1f} s")
        row("6 many connections", "one connection (baseline): CPU s/GiB (process, both ends)",
            f"{bt['cpu_s_per_gib']:.2f}", note=f"CPU {bt['cpu_s']:.1f} s")
        row("6 many ratio", "many / one: MiB/s; CPU s/GiB",
            f"x{mny['ratio_mib_s']:.2f}; x{mny['ratio_cpu_per_gib']:.2f}")
        per = mny.get("bytes_per_connection_established")
        peak = mny.get("bytes_per_connection_peak")
        row("6 many memory", "bytes per connection, both ends: established; peak",
            f"{per:,.0f}; {peak:,.0f}" if per is not None and peak is not None else "?",
            note=f"resident before {mny['rss_before_kib']} KiB, established "
            f"{mny['rss_established_kib']} KiB, peak {mny['peak_rss_kib']} KiB (VmHWM"
            f"{', reset before opening' if mny.get('peak_reset') else ', whole process'}), "
            f"after closing and malloc_trim {mny.get('rss_trimmed_kib')} KiB")
    else:
        row("6 many connections", "many connections (examples/many_transfers)",
            mny.get("why", "not run"), "", None if mny.get("skipped") else False)

    print()
    print(f"issue 9 table ({a.size_mib} MiB x {a.runs} run(s); median [min-max]; "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{time.monotonic() - started:.0f} s)")
    w = [max(len(r[k]) for r in rows) for k in ("section", "what", "value", "target")]
    w = [min(x, cap) for x, cap in zip(w, (26, 58, 40, 22))]
    for r in rows:
        line = (f"{r['section']:<{w[0]}} | {r['what']:<{w[1]}} | {r['value']:<{w[2]}} | "
                f"{r['target']:<{w[3]}} | {r['verdict']:<4}")
        if r["note"]:
            line += f" | {r['note']}"
        print(line)

    report = {
        "settings": {k: getattr(a, k) for k in ("size_mib", "runs", "sockbuf", "pings",
                                                  "warmup", "ping_size", "syscall_mib",
                                                  "udp_seconds", "idle", "many")},
        "load_before": load, "seconds": time.monotonic() - started,
        "table": rows,
        "medians": m,
        "runs": {c: [r.__dict__ for r in rs] for c, rs in results.items()},
        "latency": lat, "syscalls": sc, "idle": idl, "many": mny,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"bench-perf: wrote {a.json}")
    if a.plot:
        plot(a.plot, cases, results, a.size_mib)
        print(f"bench-perf: wrote {a.plot}")
    ok = all(r.ok for rs in results.values() for r in rs) and all(v["ok"] for v in lat.values())
    ok = ok and (mny["ok"] or mny.get("skipped", False))
    return 0 if ok and (sc["ok"] or not a.syscall_mib) else 1


def plot(path: str, cases: list[str], results: dict[str, list[bl.Result]], size_mib: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [PLOT_NAMES[c] for c in cases]
    thr = [med(results[c], "mib_s") or 0 for c in cases]
    snd = [med(results[c], "send_cpu_gib") or 0 for c in cases]
    rcv = [med(results[c], "recv_cpu_gib") or 0 for c in cases]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6))
    x = range(len(cases))
    bars = ax1.bar(x, thr, color="tab:blue")
    ax1.axhline(TARGET_MANAGED_MIB_S, color="tab:red", linestyle="--", linewidth=1,
                label=f"managed target {TARGET_MANAGED_MIB_S:.0f} MiB/s")
    for b, v in zip(bars, thr):
        ax1.annotate(f"{v:.0f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom",
                     fontsize=8)
    ax1.set_xticks(list(x), names, fontsize=7)
    ax1.set_ylabel("MiB/s (median)")
    ax1.set_title(f"One connection on loopback, {size_mib} MiB")
    ax1.legend(fontsize=8)
    width = 0.4
    ax2.bar([i - width / 2 for i in x], snd, width, label="sender", color="tab:orange")
    ax2.bar([i + width / 2 for i in x], rcv, width, label="receiver", color="tab:green")
    ax2.set_xticks(list(x), names, fontsize=7)
    ax2.set_ylabel("CPU s per GiB (user + sys, median)")
    ax2.set_title("CPU per GiB moved, each side")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
