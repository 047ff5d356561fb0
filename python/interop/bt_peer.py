"""Our BitTorrent peer (``bittorrent.py`` over ``rutp``) as a command-line program.

The other end of ``lt_peer.py``: across network namespaces each end of a transfer is a process
of its own. One ``rutp.Socket``, one connection:

- ``download --torrent T --content F --bind IP --peer IP:PORT``: connects to the peer, requests
  every block, checks every piece's SHA-1 (``bittorrent.download``), and compares the whole
  download with the source file ``F``;
- ``seed --torrent T --content F --bind IP:PORT``: accepts one connection and serves ``F`` until
  the peer closes it (``bittorrent.seed``).

Every event is one JSON line on stdout: ``{"event": "ready", "port": P}`` once a seeder listens,
then ``{"event": "done", ...}`` with ``passed``, the byte counts, the seconds and our side's
connection counters (``Stream.stats()``: ``mtu`` is the packet size our path-MTU discovery
settled on, the UDP payload). Exit status 0 when passed, 1 otherwise, 2 on a usage error.
Every wait is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import bittorrent
import rutp
from peer_cli import emit, endpoint


class StatsWatch:
    """Samples a stream's counters every ``interval`` seconds in a thread, keeping the last.

    A stream's counters can be read only while the connection exists; the seeder's ends when
    the peer closes it, so the last sample is what is reported.
    """

    def __init__(self, stream: Any, interval: float = 0.25) -> None:
        self.stream = stream
        self.last: Dict[str, Any] = {}
        self.max_mtu = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stats", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        try:
            stats = dataclasses.asdict(self.stream.stats())
        except OSError:
            return
        self.last = stats
        self.max_mtu = max(self.max_mtu, stats["mtu"])

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def stop(self) -> Dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        return dict(self.last, max_mtu=self.max_mtu)


def download(args: argparse.Namespace) -> int:
    """Downloads the torrent from ``--peer`` and compares it with ``--content``."""
    meta = bittorrent.Metainfo.parse(Path(args.torrent).read_bytes())
    content = Path(args.content).read_bytes()
    started = time.monotonic()
    progress = bittorrent.DownloadProgress()
    watch: Optional[StatsWatch] = None
    with rutp.Socket((args.bind, 0)) as ours:
        try:
            stream = ours.connect(args.peer, timeout=min(20.0, args.max_seconds))
            watch = StatsWatch(stream)
            result = bittorrent.download(stream, meta, pipeline=64, timeout=args.max_seconds,
                                         progress=progress)
            seconds = time.monotonic() - started
            stats = watch.stop()
            stream.close()
        except (OSError, bittorrent.ProtocolError) as exc:
            # How far it got: blocks received, and when the last one came (seconds from start).
            last = progress.last_block_at
            emit(event="done", passed=False, bytes=progress.blocks * bittorrent.BLOCK,
                 why=f"{type(exc).__name__}: {exc}", seconds=round(time.monotonic() - started, 3),
                 blocks=progress.blocks,
                 last_block_after=round(last - started, 3) if last is not None else None,
                 stats=watch.stop() if watch else {})
            return 1
    equal = bytes(result.data) == content
    passed = equal and result.pieces_verified == meta.piece_count
    emit(event="done", passed=passed, bytes=len(result.data), seconds=round(seconds, 3),
         pieces_verified=result.pieces_verified, pieces=meta.piece_count, equal=equal,
         remote_peer_id=result.remote.peer_id[:8].decode("latin-1"), stats=stats,
         why="" if passed else "the download differs from the source file")
    return 0 if passed else 1


def seed(args: argparse.Namespace) -> int:
    """Serves ``--content`` to the one peer that connects."""
    meta = bittorrent.Metainfo.parse(Path(args.torrent).read_bytes())
    content = Path(args.content).read_bytes()
    served = bittorrent.SeedResult()
    with rutp.Socket(args.bind) as ours:
        emit(event="ready", port=ours.getsockname()[1])
        try:
            stream, _ = ours.accept(timeout=args.max_seconds)
        except OSError as exc:
            emit(event="done", passed=False, why=f"no connection: {exc}")
            return 1
        watch = StatsWatch(stream)
        started = time.monotonic()
        failure = ""
        try:
            bittorrent.seed(stream, meta, content, served, timeout=args.max_seconds)
        except (OSError, bittorrent.ProtocolError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - started
        stats = watch.stop()
        stream.close()
    # The peer closes the connection once it has everything: that is how seeding ends.
    passed = not failure and served.bytes_served >= meta.length
    emit(event="done", passed=passed, bytes_served=served.bytes_served,
         blocks_served=served.blocks_served, seconds=round(seconds, 3),
         ended_by=served.ended_by, stats=stats,
         remote_peer_id=served.remote.peer_id[:8].decode("latin-1") if served.remote else "",
         why=failure or ("" if passed else f"served {served.bytes_served} of {meta.length} bytes"))
    return 0 if passed else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("download", "seed"):
        p = sub.add_parser(name)
        p.add_argument("--torrent", required=True)
        p.add_argument("--content", required=True, help="the file the torrent was made from")
        p.add_argument("--max-seconds", type=float, default=60.0)
        if name == "download":
            p.add_argument("--bind", required=True, help="IP to connect from")
            p.add_argument("--peer", type=endpoint, required=True)
        else:
            p.add_argument("--bind", type=endpoint, required=True, help="IP:PORT to listen on")
    args = parser.parse_args(argv)
    return {"download": download, "seed": seed}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
