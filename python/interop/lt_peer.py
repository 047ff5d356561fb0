"""libtorrent as one end of a BitTorrent transfer over uTP, as a command-line program.

The interop tests of ``test_libtorrent.py`` run libtorrent in the test's own process. Across
network namespaces each end must be a process of its own (``ip netns exec``), so this program
runs one libtorrent session, uTP only, bound to one address:

- ``make --dir D --size-mib N``: a random file ``D/seed/data.bin`` and its v1 torrent
  ``D/data.torrent``, made by libtorrent's ``create_torrent`` (the piece size libtorrent picks);
- ``seed --torrent T --save-path DIR --listen IP:PORT``: seeds until a peer that took the whole
  file has gone (or ``--max-seconds``);
- ``download --torrent T --save-path DIR --listen IP:PORT --peer IP:PORT``: connects to the
  peer, downloads until libtorrent is seeding (or the peer has been gone for 5 s), and checks
  the file's SHA-1 against the torrent's source (``--expect-sha1``).

The session settings are ``test_libtorrent.utp_only_settings`` (TCP off both ways, no DHT, LSD,
UPnP or NAT-PMP, plaintext, 4 MiB socket buffers) with the listen and outgoing interface
replaced by the given address. Every event is one JSON line on stdout: ``{"event": "ready",
"port": P}`` when listening (and, for a seeder, seeding), then ``{"event": "done", ...}`` with
``passed``, the byte count, the seconds and the evidence that uTP was used (the peers'
``utp_socket`` flag, the session's uTP counters) and the reasons libtorrent gave for dropping a
peer (``disconnects``). Exit status 0 when passed, 1 otherwise, 2 on a usage error. Every wait is
bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import libtorrent as lt

from peer_cli import emit, endpoint
from test_libtorrent import UTP_SOCKET_FLAG, lt_version, sha1_file, utp_only_settings

COUNTERS = ["peer.num_tcp_peers", "utp.utp_packets_in", "utp.utp_packets_out",
            "utp.utp_payload_pkts_in", "utp.utp_payload_pkts_out", "utp.utp_packet_loss",
            "utp.utp_timeout", "utp.utp_packet_resend", "utp.utp_fast_retransmit",
            "net.sent_payload_bytes", "net.recv_payload_bytes"]


def session_for(listen: Tuple[str, int], utp_num_resends: Optional[int]) -> Any:
    """A uTP-only session listening on ``listen`` and connecting out from its address only.

    ``utp_num_resends``: how many times libtorrent sends one packet before it declares the
    connection dead (its default is 3); None keeps the default.
    """
    settings = utp_only_settings(lt, "direct")
    settings["listen_interfaces"] = f"{listen[0]}:{listen[1]}"
    settings["outgoing_interfaces"] = listen[0]
    if utp_num_resends is not None:
        settings["utp_num_resends"] = utp_num_resends
    return lt.session(settings)


def disconnects(session: Any, into: List[str]) -> None:
    """Appends the message of every peer_disconnected_alert waiting in ``session``."""
    for alert in session.pop_alerts():
        if isinstance(alert, lt.peer_disconnected_alert):
            into.append(alert.message())


def counters(session: Any, timeout: float = 10.0) -> Dict[str, int]:
    """The session's counters named in COUNTERS (empty if no stats alert came in time)."""
    session.post_session_stats()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        session.wait_for_alert(200)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.session_stats_alert):
                return {name: int(alert.values[name]) for name in COUNTERS}
    return {}


def add_torrent(session: Any, torrent: Path, save_path: Path) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent))
    params.save_path = str(save_path)
    return session.add_torrent(params)


def alert_comes(session: Any, kind: Any, timeout: float) -> bool:
    """Waits for an alert of type ``kind`` (others are dropped); False after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        session.wait_for_alert(100)
        if any(isinstance(alert, kind) for alert in session.pop_alerts()):
            return True
    return False


def wait_until(predicate: Any, deadline: float, step: float = 0.02) -> bool:
    """Polls ``predicate`` until it is true (True) or ``deadline`` (monotonic) passes (False)."""
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def make(args: argparse.Namespace) -> int:
    """A random file and its v1 torrent; prints the paths and the file's SHA-1."""
    root = Path(args.dir)
    seed_dir = root / "seed"
    seed_dir.mkdir(parents=True, exist_ok=True)
    data = seed_dir / "data.bin"
    with open(data, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(1 << 20))
    creator = lt.create_torrent(lt.list_files(str(data)), 0, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(seed_dir))
    (root / "data.torrent").write_bytes(lt.bencode(creator.generate()))
    info = lt.torrent_info(str(root / "data.torrent"))
    emit(event="made", torrent=str(root / "data.torrent"), content=str(data),
         seed_dir=str(seed_dir), size=info.total_size(), piece_length=info.piece_length(),
         info_hash=str(info.info_hashes().v1), sha1=sha1_file(data), version=lt_version(lt))
    return 0


def seed(args: argparse.Namespace) -> int:
    """Seeds until a peer that downloaded the whole file has disconnected."""
    deadline = time.monotonic() + args.max_seconds
    session = session_for(args.listen, args.utp_num_resends)
    handle = add_torrent(session, Path(args.torrent), Path(args.save_path))
    if not wait_until(lambda: handle.status().is_seeding, deadline):
        emit(event="done", passed=False, why="libtorrent did not start seeding")
        return 1
    emit(event="ready", port=session.listen_port(), version=lt_version(lt))
    size = handle.torrent_file().total_size()
    on_utp: List[bool] = []
    gone: List[str] = []
    uploaded = 0

    def finished() -> bool:
        nonlocal uploaded
        disconnects(session, gone)
        peers = handle.get_peer_info()
        on_utp.extend(bool(p.flags & UTP_SOCKET_FLAG) for p in peers)
        uploaded = handle.status().total_payload_upload
        return uploaded >= size and not peers

    passed = wait_until(finished, deadline, step=0.05)
    stats = counters(session)
    utp = bool(on_utp) and all(on_utp)
    emit(event="done", passed=passed and utp, uploaded=uploaded, on_utp=utp, counters=stats,
         disconnects=gone,
         why="" if passed else f"timed out after {args.max_seconds:.0f} s ({uploaded} of {size} bytes uploaded)")
    return 0 if passed and utp else 1


def download(args: argparse.Namespace) -> int:
    """Downloads from ``--peer`` until seeding; checks the file against ``--expect-sha1``."""
    deadline = time.monotonic() + args.max_seconds
    session = session_for(args.listen, args.utp_num_resends)
    save = Path(args.save_path)
    handle = add_torrent(session, Path(args.torrent), save)
    checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    if not wait_until(lambda: handle.status().state not in checking, deadline):
        emit(event="done", passed=False, why="libtorrent did not finish checking")
        return 1
    emit(event="ready", port=session.listen_port(), version=lt_version(lt))
    started = time.monotonic()
    handle.connect_peer(args.peer)
    on_utp: List[bool] = []
    gone: List[str] = []
    last_peer = [0.0]  # when a peer was last connected (0: never yet)

    def complete_or_gone() -> bool:
        """Seeding, or the only peer has been gone for 5 s (it will not come back)."""
        disconnects(session, gone)
        peers = handle.get_peer_info()
        on_utp.extend(bool(p.flags & UTP_SOCKET_FLAG) for p in peers)
        if peers:
            last_peer[0] = time.monotonic()
        if handle.status().is_seeding:
            return True
        return last_peer[0] > 0 and time.monotonic() - last_peer[0] > 5

    wait_until(complete_or_gone, deadline)
    seconds = time.monotonic() - started
    status = handle.status()
    done = bool(status.is_seeding)
    stats = counters(session)
    # Complete means every piece passed its hash; the disk threads may still be writing them.
    handle.flush_cache()
    alert_comes(session, lt.cache_flushed_alert, 10)
    session.remove_torrent(handle)
    wait_until(lambda: not session.get_torrents(), time.monotonic() + 10)
    name = lt.torrent_info(args.torrent).name()
    path = save / name
    # The file exists at its full size from the start (sparse): count what libtorrent verified.
    nbytes = path.stat().st_size if done and path.exists() else int(status.total_wanted_done)
    digest = sha1_file(path) if done and path.exists() else ""
    utp = bool(on_utp) and all(on_utp)
    passed = done and digest == args.expect_sha1 and utp
    why = ""
    if not done:
        ending = "the peer closed the connection" if last_peer[0] else "no connection"
        why = (f"not complete after {seconds:.1f} s ({status.total_wanted_done} bytes done;"
               f" {ending})")
    elif digest != args.expect_sha1:
        why = f"SHA-1 of the file {digest} differs from the source's {args.expect_sha1}"
    elif not utp:
        why = f"the peer was not (only) on uTP: {sorted(set(on_utp))}"
    emit(event="done", passed=passed, bytes=nbytes, seconds=round(seconds, 3), sha1=digest,
         on_utp=utp, counters=stats, disconnects=gone, why=why)
    return 0 if passed else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make", help="a random file and its torrent")
    p.add_argument("--dir", required=True)
    p.add_argument("--size-mib", type=int, required=True)
    for name in ("seed", "download"):
        p = sub.add_parser(name)
        p.add_argument("--torrent", required=True)
        p.add_argument("--save-path", required=True)
        p.add_argument("--listen", type=endpoint, required=True, help="IP:PORT (0: any port)")
        p.add_argument("--max-seconds", type=float, default=60.0)
        p.add_argument("--utp-num-resends", type=int, default=None,
                       help="libtorrent's utp_num_resends (default: libtorrent's, 3)")
        if name == "download":
            p.add_argument("--peer", type=endpoint, required=True)
            p.add_argument("--expect-sha1", required=True)
    args = parser.parse_args(argv)
    return {"make": make, "seed": seed, "download": download}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
