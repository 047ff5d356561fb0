"""Socket/Stream: transfers are byte-exact, in both directions at once, through every read API."""

from __future__ import annotations

import socket
import time

import rutp
from streamkit import MiB, Pump, digest, pair, pattern, read_all, send_then_eof


def test_32_mib_each_way_at_once_arrives_byte_exact() -> None:
    up, down = pattern(32 * MiB, 1), pattern(32 * MiB, 2)
    with pair() as (client, server):
        started = time.monotonic()
        senders = [Pump(send_then_eof, client, up), Pump(send_then_eof, server, down)]
        readers = [Pump(read_all, server), Pump(read_all, client)]
        for t in senders + readers:
            t.start()
        got_up = readers[0].join_result(60)
        got_down = readers[1].join_result(60)
        for t in senders:
            t.join_result(60)
        elapsed = time.monotonic() - started
        assert len(got_up) == len(up) and digest(got_up) == digest(up)
        assert len(got_down) == len(down) and digest(got_down) == digest(down)
        stats = server.stats()
        assert stats.bytes_received == len(up)
        assert stats.bytes_sent >= len(down)
        assert stats.packets_received > 0 and stats.mtu > 0
        print(f"64 MiB in {elapsed:.2f} s")


def test_recv_into_and_makefile_read_the_same_bytes_as_recv() -> None:
    data = pattern(3 * MiB + 17, 3)
    with pair() as (client, server):
        sender = Pump(send_then_eof, client, data)
        sender.start()
        buffer = bytearray(100_000)
        first = server.recv_into(buffer, 1000)
        assert 1 <= first <= 1000
        with server.makefile("rb") as f:
            rest = f.read()
        sender.join_result(30)
        assert bytes(buffer[:first]) + rest == data
        assert server.recv(10) == b""  # EOF stays EOF


def test_makefile_text_lines_and_writer() -> None:
    with pair() as (client, server):
        w = client.makefile("w", encoding="utf-8")
        w.write("hello\nwörld\n")
        w.flush()
        client.shutdown(socket.SHUT_WR)
        r = server.makefile("r", encoding="utf-8")
        assert r.readline() == "hello\n"
        assert r.readline() == "wörld\n"
        assert r.readline() == ""


def test_shutdown_write_gives_eof_and_the_other_direction_goes_on() -> None:
    with pair() as (client, server):
        client.sendall(b"request")
        client.shutdown(socket.SHUT_WR)
        assert read_all(server) == b"request"
        server.sendall(b"reply")
        server.shutdown(socket.SHUT_WR)
        assert read_all(client) == b"reply"
        try:
            client.send(b"more")
        except BrokenPipeError:
            pass
        else:
            raise AssertionError("send after SHUT_WR must raise BrokenPipeError")


def test_addresses_match_both_ends() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        a = client.connect(server.getsockname(), timeout=5)
        b, peer = server.accept(timeout=5)
        assert a.getpeername() == server.getsockname()
        assert peer == b.getpeername() == client.getsockname()
        assert a.getsockname() == client.getsockname()


def test_ipv6_loopback_transfer() -> None:
    with rutp.Socket(("::1", 0)) as server, rutp.Socket(("::1", 0)) as client:
        host, port = server.getsockname()
        assert host == "::1" and port > 0
        a = client.connect(("::1", port), timeout=5)
        b, _ = server.accept(timeout=5)
        send_then_eof(a, b"over ipv6")
        assert read_all(b) == b"over ipv6"


def test_timeouts_zero_raises_blockingioerror_and_seconds_raise_timeouterror() -> None:
    with pair() as (client, server):
        server.settimeout(0)
        assert server.gettimeout() == 0
        try:
            server.recv(10)
        except BlockingIOError:
            pass
        else:
            raise AssertionError("non-blocking recv with nothing queued must raise")
        server.settimeout(0.3)
        started = time.monotonic()
        try:
            server.recv(10)
        except TimeoutError:
            pass
        else:
            raise AssertionError("recv must time out")
        waited = time.monotonic() - started
        assert 0.28 <= waited < 1.5, waited
        client.sendall(b"x")
        assert server.recv(10) == b"x"  # a timeout leaves the stream usable
        server.settimeout(None)
        assert server.gettimeout() is None


def test_accept_times_out_and_nonblocking_accept_raises() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as sock:
        started = time.monotonic()
        try:
            sock.accept(timeout=0.25)
        except TimeoutError:
            pass
        else:
            raise AssertionError("accept must time out")
        assert 0.2 <= time.monotonic() - started < 1.5
        try:
            sock.accept(timeout=0)
        except BlockingIOError:
            pass
        else:
            raise AssertionError("non-blocking accept must raise")


def test_a_sender_blocked_by_a_full_window_is_released_by_the_reader() -> None:
    # Nobody reads: the receive window closes and send() stops taking bytes.
    with pair() as (client, server):
        client.settimeout(0)
        queued = 0
        chunk = b"z" * 65536
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                queued += client.send(chunk)
            except BlockingIOError:
                break
        else:
            raise AssertionError("send never reported a full window")
        assert queued > 0
        client.settimeout(None)
        client.shutdown(socket.SHUT_WR)
        assert len(read_all(server)) == queued
