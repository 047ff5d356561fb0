"""Shared by the interop peers run as processes (``bt_peer.py``, ``lt_peer.py``): their output
is one JSON object per line on stdout, and addresses are given as ``IP:PORT``."""

from __future__ import annotations

import argparse
import json
from typing import Any, Tuple


def emit(**fields: Any) -> None:
    """One JSON line on stdout, flushed at once (the caller waits for it)."""
    print(json.dumps(fields), flush=True)


def endpoint(text: str) -> Tuple[str, int]:
    """``IP:PORT`` (IPv4) as a tuple."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not IP:PORT: {text!r}")
    return host, int(port)
