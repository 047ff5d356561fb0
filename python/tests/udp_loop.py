"""A test harness: Contexts driven over Python-owned UDP sockets on 127.0.0.1 by a select loop."""

from __future__ import annotations

import select
import socket
import time
from typing import Callable, List, Tuple

import rutp

SOCKET_BUFFER = 4 << 20  # room for a full uTP window, so loopback does not drop


class Endpoint:
    """A Context and the UDP socket it sends through and receives from."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.udp.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.addr: Tuple[str, int] = self.udp.getsockname()
        self.ctx = rutp.Context()
        self.ctx.on_sendto(self._send)

    def _send(self, data: bytes, addr: Tuple[str, int], flags: int) -> None:
        try:
            self.udp.sendto(data, addr)
        except BlockingIOError:
            pass  # a full socket buffer loses the datagram, as a full queue would

    def drain(self, limit: int = 512) -> int:
        """Feeds up to ``limit`` waiting datagrams to the context; returns how many."""
        count = 0
        while count < limit:
            try:
                data, addr = self.udp.recvfrom(65536)
            except BlockingIOError:
                break
            self.ctx.process_udp(data, addr)
            count += 1
        if count:
            self.ctx.issue_deferred_acks()
        return count

    def close(self) -> None:
        self.ctx.close()
        self.udp.close()


def run_until(endpoints: List[Endpoint], done: Callable[[], bool], timeout: float,
              each_turn: Callable[[], None] = lambda: None) -> None:
    """Runs the loop until ``done()``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    by_socket = {e.udp: e for e in endpoints}
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s")
        each_turn()
        readable, _, _ = select.select(list(by_socket), [], [], 0.005)
        for udp in readable:
            by_socket[udp].drain()
        for e in endpoints:
            if not e.ctx.closed:
                e.ctx.check_timeouts()
