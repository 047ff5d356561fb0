"""``python -m rutp``: netcat over uTP, like ``utpcat``, for quick scripting.

``python -m rutp -l PORT [-s HOST] [-o FILE]`` accepts one connection and writes what it
receives to stdout (or FILE); ``python -m rutp HOST PORT [-i FILE]`` sends stdin (or FILE).
The sender half-closes after its data and waits for the receiver to close in turn, so exit
status 0 means every byte arrived. ``--stats`` prints bytes, seconds, MiB/s and the stream's
counters on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from typing import BinaryIO, List, Optional

from .streams import Socket, Stream

__all__ = ["main"]

_CHUNK = 1 << 20


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rutp",
        description="netcat over uTP: send stdin to HOST PORT, or -l PORT to receive to stdout",
    )
    p.add_argument("-l", "--listen", type=int, metavar="PORT", help="accept one connection")
    p.add_argument("-s", "--source", default=None, metavar="HOST", help="local address to bind")
    p.add_argument("-i", "--input", metavar="FILE", help="send FILE instead of stdin")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--timeout", type=float, default=30.0, help="connect/accept timeout (s)")
    p.add_argument("--stats", action="store_true", help="print throughput and counters")
    p.add_argument("host", nargs="?", help="peer address (IPv4 or IPv6)")
    p.add_argument("port", nargs="?", type=int, help="peer port")
    return p


def _receive(stream: Stream, out: BinaryIO) -> int:
    total = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while True:
        n = stream.recv_into(buffer)
        if n == 0:
            return total
        out.write(view[:n])
        total += n


def _send(stream: Stream, source: BinaryIO) -> int:
    total = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        stream.sendall(chunk)
        total += len(chunk)
    stream.shutdown(1)  # SHUT_WR: our FIN after the data
    while stream.recv(4096):  # the receiver closes once it has everything
        pass
    return total


def _report(stream: Stream, total: int, seconds: float) -> None:
    rate = total / 1048576 / seconds if seconds > 0 else 0.0
    print(f"bytes {total} seconds {seconds:.3f} MiB/s {rate:.1f}", file=sys.stderr)
    fields = " ".join(f"{k} {v}" for k, v in asdict(stream.stats()).items())
    print(f"stats {fields}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; the exit status."""
    args = _parser().parse_args(argv)
    listening = args.listen is not None
    if listening == (args.host is not None):
        _parser().error("give either -l PORT or HOST PORT")
    if not listening and args.port is None:
        _parser().error("HOST needs a PORT")
    try:
        if listening:
            host = args.source or "0.0.0.0"
            with Socket((host, args.listen)) as sock:
                stream, _ = sock.accept(timeout=args.timeout)
                with stream:
                    out = open(args.output, "wb") if args.output else sys.stdout.buffer
                    started = time.monotonic()
                    try:
                        total = _receive(stream, out)
                    finally:
                        if args.output:
                            out.close()
                        else:
                            out.flush()
                    if args.stats:
                        _report(stream, total, time.monotonic() - started)
        else:
            host = args.source or ("::" if ":" in args.host else "0.0.0.0")
            with Socket((host, 0)) as sock:
                with sock.connect((args.host, args.port), timeout=args.timeout) as stream:
                    source = open(args.input, "rb") if args.input else sys.stdin.buffer
                    started = time.monotonic()
                    try:
                        total = _send(stream, source)
                    finally:
                        if args.input:
                            source.close()
                    if args.stats:
                        _report(stream, total, time.monotonic() - started)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as e:
        print(f"rutp: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
