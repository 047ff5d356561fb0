"""Each callback of the Python Context delivers what libutp's contract says it delivers."""

from __future__ import annotations

import time
from typing import List

import pytest

import rutp
from rutp import _ffi
from rutp import Callback, ErrorCode, Option, State
from udp_loop import Endpoint, run_until


@pytest.fixture
def pair():
    a, b = Endpoint(), Endpoint()
    yield a, b
    a.close()
    b.close()


def test_firewall_returning_true_rejects_the_connection(pair) -> None:
    a, b = pair
    asked: List[object] = []
    accepted: List[object] = []
    b.ctx.on_firewall(lambda addr: asked.append(addr) or True)
    b.ctx.on_accept(lambda sock, addr: accepted.append(addr))
    a.ctx.connect(b.addr)
    run_until([a, b], lambda: bool(asked), timeout=5)
    deadline = time.monotonic() + 0.3
    run_until([a, b], lambda: time.monotonic() > deadline, timeout=5)
    assert asked == [a.addr]
    assert accepted == []


def test_raw_callback_gets_the_c_arguments(pair) -> None:
    a, b = pair
    seen: List[tuple] = []

    def on_accept(args: _ffi.utp_callback_arguments) -> int:
        seen.append((args.callback_type, args.address_len, _ffi.sockaddr_to(args.address, args.address_len),
                     bool(args.socket), bool(args.context)))
        return 0

    b.ctx.set_callback(Callback.UTP_ON_ACCEPT, on_accept)
    a.ctx.connect(b.addr)
    run_until([a, b], lambda: bool(seen), timeout=5)
    assert seen == [(Callback.UTP_ON_ACCEPT, 16, a.addr, True, True)]


def test_a_reset_peer_reports_connreset(pair) -> None:
    a, b = pair
    errors: List[ErrorCode] = []
    connected: List[bool] = []
    b.ctx.on_accept(lambda sock, addr: None)
    a.ctx.on_error(lambda sock, code: errors.append(code))
    a.ctx.on_state_change(lambda s, st: connected.append(True) if st == State.UTP_STATE_CONNECT else None)
    sock = a.ctx.connect(b.addr)
    run_until([a, b], lambda: bool(connected), timeout=5)
    # b forgets the connection: a new context behind the same UDP socket answers with RESET.
    b.ctx.close()
    b.ctx = rutp.Context()
    b.ctx.on_sendto(b._send)
    sock.write(b"anyone there?")
    run_until([a, b], lambda: bool(errors), timeout=10)
    assert errors == [ErrorCode.UTP_ECONNRESET]


def test_read_buffer_size_closes_the_window_until_read_drained(pair) -> None:
    a, b = pair
    window = 64 * 1024
    unread = bytearray()  # what b's application has received but not consumed
    consumed = bytearray()
    b.ctx.set_option(Option.UTP_RCVBUF, window)
    b.ctx.on_accept(lambda sock, addr: None)
    b.ctx.on_read(lambda sock, data: unread.extend(data))
    b.ctx.get_read_buffer_size(lambda sock: len(unread))
    payload = bytes(range(256)) * 4096 * 4  # 4 MiB: more than the sender may queue
    sent = [0]
    sock = a.ctx.connect(b.addr)

    def pump() -> None:
        while sent[0] < len(payload):
            n = sock.write(payload[sent[0]:sent[0] + 65536])
            if n == 0:
                return
            sent[0] += n

    start = time.monotonic()
    run_until([a, b], lambda: time.monotonic() - start > 0.5, timeout=5, each_turn=pump)
    # The closed window holds the sender (zero-window probes may add a packet or two).
    assert window // 2 < len(unread) <= window + 3 * 1500
    assert sent[0] < len(payload)
    (accepted,) = b.ctx._state.sockets.values()

    def consume() -> None:
        if unread:
            consumed.extend(unread)
            unread.clear()
            accepted.read_drained()
        pump()

    run_until([a, b], lambda: len(consumed) + len(unread) == len(payload), timeout=30,
              each_turn=consume)
    assert bytes(consumed + unread) == payload


def test_statistics_callbacks_and_a_custom_clock(pair) -> None:
    a, b = pair
    overhead: List[bool] = []
    clock_calls: List[int] = []
    a.ctx.on_overhead_statistics(lambda sock, sent, length, kind: overhead.append(sent))
    a.ctx.get_microseconds(lambda: clock_calls.append(1) or time.monotonic_ns() // 1000)
    b.ctx.on_accept(lambda sock, addr: None)
    sock = a.ctx.connect(b.addr)
    run_until([a, b], lambda: True in overhead and False in overhead, timeout=5,
              each_turn=lambda: sock.write(b"x" * 3000))
    assert clock_calls
    stats = a.ctx.stats()
    assert sum(stats._nraw_send) > 0 and sum(stats._nraw_recv) > 0
