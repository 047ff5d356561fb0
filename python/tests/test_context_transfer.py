"""The callback API moves data both ways byte-exact over Python-owned UDP sockets."""

from __future__ import annotations

import os
import socket
from typing import List, Optional

import rutp
from rutp._ffi import State
from udp_loop import Endpoint, run_until

SIZE = 32 << 20


class Side:
    """One side of a transfer: sends ``payload``, collects what the peer sends, until EOF."""

    def __init__(self, endpoint: Endpoint, payload: bytes) -> None:
        self.endpoint = endpoint
        self.payload = memoryview(payload)
        self.sent = 0
        self.received: List[bytes] = []
        self.eof = False
        self.destroyed = False
        self.sock: Optional[rutp.CSocket] = None
        self.shut = False
        ctx = endpoint.ctx
        ctx.on_read(lambda s, data: self.received.append(data))
        ctx.on_state_change(self._state)
        ctx.on_accept(self._accept)

    def _accept(self, sock: rutp.CSocket, addr: object) -> None:
        assert self.sock is None, "one connection expected"
        self.sock = sock

    def _state(self, sock: rutp.CSocket, state: State) -> None:
        if state == State.UTP_STATE_EOF:
            self.eof = True
        elif state == State.UTP_STATE_DESTROYING:
            self.destroyed = True
        elif state in (State.UTP_STATE_CONNECT, State.UTP_STATE_WRITABLE):
            self.pump()

    def pump(self) -> None:
        """Writes until the window is full; sends the FIN after the last byte."""
        if self.sock is None or self.shut:
            return
        while self.sent < len(self.payload):
            n = self.sock.write(self.payload[self.sent:self.sent + 65536])
            if n == 0:
                return
            self.sent += n
        self.sock.shutdown(socket.SHUT_WR)
        self.shut = True


def test_32_mib_each_way_byte_exact() -> None:
    a, b = Endpoint(), Endpoint()
    payload_a, payload_b = os.urandom(SIZE), os.urandom(SIZE)
    side_a, side_b = Side(a, payload_a), Side(b, payload_b)
    try:
        side_a.sock = a.ctx.connect(b.addr)
        sides = [side_a, side_b]
        run_until([a, b], lambda: side_a.eof and side_b.eof, timeout=240,
                  each_turn=lambda: [s.pump() for s in sides])
        assert side_a.sent == SIZE and side_b.sent == SIZE
        assert b"".join(side_b.received) == payload_a
        assert b"".join(side_a.received) == payload_b
        assert side_a.sock.getpeername() == b.addr
        stats = side_a.sock.stats()
        assert stats.nbytes_xmit >= SIZE and stats.nbytes_recv >= SIZE
        side_a.sock.close()
        side_b.sock.close()
        run_until([a, b], lambda: side_a.destroyed and side_b.destroyed, timeout=30)
        assert side_a.sock.destroyed
    finally:
        a.close()
        b.close()
