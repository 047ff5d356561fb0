"""``StreamStats``: a copy of one connection's counters (``utp_get_stats``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StreamStats"]


@dataclass(frozen=True)
class StreamStats:
    """Counters of one uTP connection at the time ``Stream.stats()`` was called.

    Byte counts are payload bytes; packet counts are uTP packets (data, ACKs and control).
    """

    bytes_received: int
    """Payload bytes received (``nbytes_recv``)."""
    bytes_sent: int
    """Payload bytes sent, retransmissions included (``nbytes_xmit``)."""
    retransmits: int
    """Packets sent again after a timeout or loss (``rexmit``)."""
    fast_retransmits: int
    """Packets sent again after duplicate ACKs (``fastrexmit``)."""
    packets_sent: int
    """Packets sent (``nxmit``)."""
    packets_received: int
    """Packets received (``nrecv``)."""
    duplicates_received: int
    """Duplicate data packets received (``nduprecv``)."""
    mtu: int
    """The current packet size guess in bytes (``mtu_guess``)."""

    @classmethod
    def from_c(cls, c: Any) -> "StreamStats":
        """Copies a ``utp_socket_stats`` structure."""
        return cls(
            bytes_received=int(c.nbytes_recv),
            bytes_sent=int(c.nbytes_xmit),
            retransmits=int(c.rexmit),
            fast_retransmits=int(c.fastrexmit),
            packets_sent=int(c.nxmit),
            packets_received=int(c.nrecv),
            duplicates_received=int(c.nduprecv),
            mtu=int(c.mtu_guess),
        )
