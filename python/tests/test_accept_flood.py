"""``Socket.accept`` under a small SYN flood (issue 8): connection requests whose senders never
answer are released inside the library, so ``accept`` hands out the genuine peer only."""

import socket
import struct
import time

import pytest

import rutp


def _syn(connection_id: int) -> bytes:
    """A BEP 29 SYN (type 4, version 1): connection id, sequence number 1, window 4096."""
    return struct.pack(">BBHIIIHH", 0x41, 0, connection_id, 0, 0, 4096, 1, 0)


def test_accept_skips_connection_requests_that_were_never_confirmed():
    with rutp.Socket(("127.0.0.1", 0)) as server, rutp.Socket(("127.0.0.1", 0)) as client:
        target = server.getsockname()
        # A socket connected elsewhere: the kernel answers the server's SYN-ACKs to it with
        # ICMP port-unreachable, as for a spoofed source. Twenty, paced, stay inside the
        # kernel's ICMP rate limit.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flooder:
            flooder.bind(("127.0.0.1", 0))
            flooder.connect(("127.0.0.1", 9))
            for i in range(20):
                flooder.sendto(_syn(1000 + 7 * i), target)
                time.sleep(0.002)
            stream = client.connect(target, timeout=10)
            with stream:
                stream.sendall(b"hello")
                accepted, peer = server.accept(timeout=10)
                with accepted:
                    assert peer == client.getsockname()
                    got = b""
                    accepted.settimeout(5)
                    while len(got) < 5:
                        chunk = accepted.recv(5 - len(got))
                        assert chunk
                        got += chunk
                    assert got == b"hello"
                    # Past the 250 ms after which a silent initiator counts as confirmed.
                    with pytest.raises(TimeoutError):
                        server.accept(timeout=0.6)
