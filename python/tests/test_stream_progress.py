"""``Stream.progress()``: how much of what a stream wrote the peer acknowledged (issue 8, no data
lost): nothing before writing, everything after ``finish``, and an error once closed."""

import errno

import pytest

import rutp


def _pair(server):
    client = rutp.Socket()
    stream = client.connect(server.getsockname(), timeout=10)
    peer, _ = server.accept(timeout=10)
    return client, stream, peer


def test_progress_counts_what_was_written_and_acknowledged():
    server = rutp.Socket()
    client, stream, peer = _pair(server)
    try:
        assert stream.progress() == (0, 0)
        data = bytes(range(256)) * 4096  # 1 MiB
        stream.sendall(data)
        written, acked = stream.progress()
        assert written == len(data)
        assert acked <= written
        stream.settimeout(30)
        stream.finish()
        assert stream.progress() == (len(data), len(data))
        got = bytearray()
        while len(got) < len(data):
            chunk = peer.recv(65536)
            assert chunk
            got += chunk
        assert bytes(got) == data
    finally:
        for s in (stream, peer):
            s.close()
        client.close()
        server.close()


def test_progress_of_a_closed_stream_raises():
    server = rutp.Socket()
    client, stream, peer = _pair(server)
    stream.close()
    with pytest.raises(OSError) as info:
        stream.progress()
    assert info.value.errno == errno.EBADF
    peer.close()
    client.close()
    server.close()
