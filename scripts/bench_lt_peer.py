#!/usr/bin/env python3
"""One libtorrent session for scripts/bench_perf.py: a uTP transfer between two libtorrent
sessions in two processes, 127.0.0.1 only, TCP off both ways.

  bench_lt_peer.py make  --dir D --size-mib N   a random file D/data.bin and its v1 torrent
                                                D/data.torrent (kept when the size matches)
  bench_lt_peer.py seed  --dir D                seeds D/data.bin; prints {"port": P}, then
                                                answers each stdin line "cpu" with
                                                {"cpu": user+sys seconds so far}; exits at EOF
                                                with its uTP counters
  bench_lt_peer.py leech --dir E --torrent T --seed-port P
                                                downloads into the empty directory E and prints
                                                one JSON line with the timings (below)

The downloader prints, in seconds: `total` from connect_peer() until it is seeding (every piece
SHA-1 checked by libtorrent), `data` from its first payload byte (status polled every
POLL_S) until then, as shared/peers.md 2.3 measures it, and `cpu_data`, its own user+sys CPU
over the data phase (getrusage of the whole process: the network thread, the disk threads
and the piece hashing). It also reports whether the peer was uTP (peer_info flag bit 17,
which the Python binding does not name) and libtorrent's uTP and TCP peer counters.

Settings: uTP only, DHT, LSD, UPnP and NAT-PMP off from the session's construction (so nothing
is ever sent anywhere but 127.0.0.1), 4 MiB socket buffers like every other case of the
benchmark (--sockbuf), no rate limits. Needs the `libtorrent` wheel (2.x) from PyPI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings

import libtorrent as lt

MIB = 1 << 20
POLL_S = 0.001  # status polling while waiting for the first payload byte
UTP_SOCKET_FLAG = 1 << 17  # peer_info.flags: bit after i2p_socket = 1 << 16 (libtorrent 2.x)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def say(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def settings(sockbuf: int) -> dict:
    s = {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        "alert_mask": 0,
    }
    if sockbuf > 0:
        s["recv_socket_buffer_size"] = sockbuf
        s["send_socket_buffer_size"] = sockbuf
    return s


def counters(ses) -> dict:
    """The session's metric values by name (session_stats_alert.values is a dict in 2.x)."""
    ses.post_session_stats()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.session_stats_alert):
                return dict(a.values)
    return {}


def make(a) -> int:
    os.makedirs(a.dir, exist_ok=True)
    data = os.path.join(a.dir, "data.bin")
    tor = os.path.join(a.dir, "data.torrent")
    size = a.size_mib * MIB
    if not (os.path.exists(tor) and os.path.exists(data) and os.path.getsize(data) == size):
        with open(data, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MIB)
                f.write(os.urandom(n))
                left -= n
        fs = lt.file_storage()
        with warnings.catch_warnings():  # 2.1 deprecates these; they still do the job
            warnings.simplefilter("ignore", DeprecationWarning)
            lt.add_files(fs, data)
            ct = lt.create_torrent(fs, 0, lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, a.dir)
        with open(tor, "wb") as f:
            f.write(lt.bencode(ct.generate()))
    say({"torrent": tor, "size": size})
    return 0


def seed(a) -> int:
    ses = lt.session(settings(a.sockbuf))
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(os.path.join(a.dir, "data.torrent"))
    p.save_path = a.dir
    p.flags |= lt.torrent_flags.seed_mode  # the file is ours: no re-hashing at start
    ses.add_torrent(p)
    say({"port": ses.listen_port(), "version": lt.__version__})
    for line in sys.stdin:
        if line.strip() == "cpu":
            say({"cpu": cpu()})
    c = counters(ses)
    say({"exit": True, "utp_payload_pkts_out": c.get("utp.utp_payload_pkts_out"),
         "utp_packets_out": c.get("utp.utp_packets_out"),
         "utp_packet_loss": c.get("utp.utp_packet_loss"),
         "utp_timeout": c.get("utp.utp_timeout")})
    return 0


def leech(a) -> int:
    ses = lt.session(settings(a.sockbuf))
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(a.torrent)
    p.save_path = a.dir
    h = ses.add_torrent(p)
    deadline = time.monotonic() + 60
    while h.status().state in (lt.torrent_status.checking_files,
                               lt.torrent_status.checking_resume_data):
        if time.monotonic() > deadline:
            say({"error": "torrent still checking after 60 s"})
            return 1
        time.sleep(0.01)
    total_size = p.ti.total_size()
    cpu0 = cpu()
    t0 = time.monotonic()
    h.connect_peer(("127.0.0.1", a.seed_port))
    deadline = t0 + a.timeout
    t_first = cpu_first = None
    utp_seen = False
    while True:
        st = h.status()
        now = time.monotonic()
        if t_first is None and st.total_payload_download > 0:
            t_first, cpu_first = now, cpu()
        if not utp_seen:
            utp_seen = any(pi.flags & UTP_SOCKET_FLAG for pi in h.get_peer_info())
        if st.is_seeding:
            break
        if now > deadline:
            say({"error": f"not complete after {a.timeout:.0f} s",
                 "downloaded": st.total_wanted_done})
            return 1
        time.sleep(POLL_S if t_first is None else 0.005)
    t_done, cpu_done = time.monotonic(), cpu()
    if t_first is None:
        t_first, cpu_first = t0, cpu0
    c = counters(ses)
    say({"size": total_size, "total": t_done - t0, "data": t_done - t_first,
         "cpu_data": cpu_done - cpu_first, "cpu_total": cpu_done - cpu0, "utp": utp_seen,
         "num_utp_peers_seen": c.get("peer.num_utp_peers"),
         "num_tcp_peers": c.get("peer.num_tcp_peers"),
         "utp_payload_pkts_in": c.get("utp.utp_payload_pkts_in"),
         "version": lt.__version__})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["make", "seed", "leech"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--torrent")
    ap.add_argument("--seed-port", type=int)
    ap.add_argument("--sockbuf", type=int, default=4 << 20)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    if a.mode == "leech" and (not a.torrent or not a.seed_port):
        ap.error("leech needs --torrent and --seed-port")
    return {"make": make, "seed": seed, "leech": leech}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
