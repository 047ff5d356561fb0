"""Socket/Stream errors: refused and silent peers, a killed peer, closed streams, bad arguments.

Budgets (documented in the README's Python section): a connect to a closed loopback port is
refused within 2 s (the ICMP port unreachable arrives within milliseconds); a peer killed with
SIGKILL mid-transfer shows as ConnectionResetError on the survivor's next sends within 5 s.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import rutp
from streamkit import env_with_library, free_udp_port, pair

HERE = os.path.dirname(os.path.abspath(__file__))


def test_connect_to_a_closed_port_is_refused_within_2_s() -> None:
    port = free_udp_port()
    with rutp.Socket(("127.0.0.1", 0)) as sock:
        started = time.monotonic()
        with pytest.raises((ConnectionRefusedError, TimeoutError)) as caught:
            sock.connect(("127.0.0.1", port))
        assert time.monotonic() - started < 2.0
        # On loopback the ICMP error makes it a refusal, not a timeout.
        assert isinstance(caught.value, ConnectionRefusedError)
        assert caught.value.errno == errno.ECONNREFUSED


def test_connect_to_a_silent_port_times_out_at_the_given_timeout() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        with rutp.Socket(("127.0.0.1", 0)) as sock:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                sock.connect(silent.getsockname(), timeout=0.5)
            assert 0.45 <= time.monotonic() - started < 2.0
    finally:
        silent.close()


def _spawn(role: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, os.path.join(HERE, "peer_child.py"), role, *args],
        stdout=subprocess.PIPE,
        env=env_with_library(),
        text=True,
    )


def _send_until_reset(stream: rutp.Stream, budget: float) -> float:
    """Sends until ConnectionResetError; the seconds it took."""
    stream.settimeout(budget)
    chunk = b"r" * 65536
    started = time.monotonic()
    with pytest.raises(ConnectionResetError) as caught:
        while time.monotonic() - started < budget:
            stream.sendall(chunk)
    assert caught.value.errno == errno.ECONNRESET
    return time.monotonic() - started


@pytest.mark.parametrize("child_role", ["connect", "accept"])
def test_a_peer_killed_mid_transfer_gives_connectionreseterror(child_role: str) -> None:
    with rutp.Socket(("127.0.0.1", 0)) as sock:
        if child_role == "connect":
            child = _spawn("connect", str(sock.getsockname()[1]))
            stream, _ = sock.accept(timeout=10)
        else:
            child = _spawn("accept")
            port = int(child.stdout.readline())
            stream = sock.connect(("127.0.0.1", port), timeout=10)
        try:
            with stream:
                assert child.stdout.readline().strip() == "ready"
                assert stream.recv(5) == b"hello"
                stream.sendall(b"x" * (1 << 20))  # the transfer is running
                child.send_signal(signal.SIGKILL)
                child.wait(10)
                took = _send_until_reset(stream, 5.0)
                assert took < 5.0
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(10)


def test_every_operation_on_a_closed_stream_raises_ebadf() -> None:
    with pair() as (client, server):
        client.close()
        client.close()  # idempotent
        assert client.closed
        calls = [
            lambda: client.send(b"x"),
            lambda: client.sendall(b"x"),
            lambda: client.recv(1),
            lambda: client.recv_into(bytearray(1)),
            lambda: client.shutdown(socket.SHUT_WR),
            lambda: client.getpeername(),
            lambda: client.getsockname(),
            lambda: client.stats(),
            lambda: client.makefile("rb"),
        ]
        for call in calls:
            with pytest.raises(OSError) as caught:
                call()
            assert caught.value.errno == errno.EBADF
        # The peer sees a clean end of stream.
        server.settimeout(5)
        assert server.recv(10) == b""


def test_closing_the_socket_closes_its_streams_and_itself() -> None:
    server = rutp.Socket(("127.0.0.1", 0))
    with rutp.Socket(("127.0.0.1", 0)) as client:
        a = client.connect(server.getsockname(), timeout=5)
        b, _ = server.accept(timeout=5)
        server.close()
        assert server.closed and b.closed
        for call in (lambda: b.recv(1), lambda: b.send(b"x"), server.getsockname,
                     lambda: server.accept(timeout=0), lambda: server.connect(("127.0.0.1", 9))):
            with pytest.raises(OSError) as caught:
                call()
            assert caught.value.errno == errno.EBADF
        a.settimeout(5)
        assert a.recv(1) == b""  # the destroyed socket sent its FIN


def test_close_from_another_thread_ends_a_blocked_recv() -> None:
    import threading

    with pair() as (client, server):
        errors: list = []

        def blocked() -> None:
            try:
                server.recv(10)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.1)
        started = time.monotonic()
        server.close()
        t.join(5)
        assert not t.is_alive()
        assert time.monotonic() - started < 2
        assert len(errors) == 1 and errors[0].errno == errno.EBADF


BAD_SOCKETS = [
    ("127.0.0.1", (TypeError,)),
    (("127.0.0.1",), (TypeError,)),
    ((b"127.0.0.1", 0), (TypeError,)),
    (("127.0.0.1", "0"), (TypeError,)),
    (("127.0.0.1", 65536), (ValueError,)),
    (("127.0.0.1", -1), (ValueError,)),
    (("256.1.1.1", 0), (ValueError,)),
    (("127.0.0.1\0", 0), (ValueError,)),
]


@pytest.mark.parametrize("bind, expected", BAD_SOCKETS)
def test_bad_bind_addresses_raise_typeerror_or_valueerror(bind: object, expected: tuple) -> None:
    with pytest.raises(expected):
        rutp.Socket(bind)  # type: ignore[arg-type]


def test_binding_a_taken_port_raises_oserror_with_errno() -> None:
    with rutp.Socket(("127.0.0.1", 0)) as first:
        with pytest.raises(OSError) as caught:
            rutp.Socket(first.getsockname())
        assert caught.value.errno == errno.EADDRINUSE


def test_bad_arguments_raise_typeerror_or_valueerror() -> None:
    with pair() as (client, server):
        sock = rutp.Socket(("127.0.0.1", 0))
        cases = [
            (TypeError, lambda: sock.connect("127.0.0.1:80")),
            (TypeError, lambda: sock.connect(("127.0.0.1", 80.0))),
            (ValueError, lambda: sock.connect(("127.0.0.1", 70000))),
            (ValueError, lambda: sock.connect(("127.0.0.1", 1), timeout=-1)),
            (TypeError, lambda: sock.accept(timeout="1")),
            (ValueError, lambda: sock.accept(timeout=float("nan"))),
            (TypeError, lambda: client.send("text")),
            (TypeError, lambda: client.send(12)),
            (TypeError, lambda: client.sendall(None)),
            (TypeError, lambda: client.recv("10")),
            (ValueError, lambda: client.recv(-1)),
            (TypeError, lambda: client.recv_into(b"read-only")),
            (ValueError, lambda: client.recv_into(bytearray(4), 10)),
            (ValueError, lambda: client.recv_into(bytearray(4), -1)),
            (ValueError, lambda: client.shutdown(7)),
            (TypeError, lambda: client.shutdown("SHUT_WR")),
            (ValueError, lambda: client.settimeout(-0.5)),
            (TypeError, lambda: client.settimeout("1")),
            (ValueError, lambda: client.makefile("x")),
            (ValueError, lambda: client.makefile("r", buffering=0)),
            (ValueError, lambda: client.send(b"x", 1)),
        ]
        try:
            for expected, call in cases:
                with pytest.raises(expected):
                    call()
        finally:
            sock.close()
        # Nothing above broke the connection.
        client.sendall(b"still fine")
        client.shutdown(socket.SHUT_WR)
        assert server.recv(100) == b"still fine"
