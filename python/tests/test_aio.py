"""The asyncio layer: open_connection/start_server give working reader/writer pairs."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

import rutp
from streamkit import MiB, digest, free_udp_port, pattern

SIZE = 32 * MiB


async def _write_all(writer: rutp.aio.StreamWriter, data: bytes) -> None:
    view = memoryview(data)
    for i in range(0, len(data), 256 * 1024):
        writer.write(view[i : i + 256 * 1024])
        await writer.drain()
    writer.write_eof()


def test_32_mib_each_way_at_once_through_asyncio_byte_exact() -> None:
    up, down = pattern(SIZE, 11), pattern(SIZE, 12)
    seen: dict = {}

    async def handle(reader: asyncio.StreamReader, writer: rutp.aio.StreamWriter) -> None:
        seen["peer"] = writer.get_extra_info("peername")
        sending = asyncio.ensure_future(_write_all(writer, down))
        seen["up"] = await reader.read()
        await sending
        writer.close()
        await writer.wait_closed()

    async def main() -> bytes:
        server = await rutp.start_server(handle, "127.0.0.1", 0)
        async with server:
            reader, writer = await rutp.open_connection(*server.sockname)
            assert writer.get_extra_info("peername") == server.sockname
            sending = asyncio.ensure_future(_write_all(writer, up))
            got = await reader.read()
            await sending
            writer.close()
            await writer.wait_closed()
            assert seen["peer"][1] == writer.get_extra_info("sockname")[1]  # bound to 0.0.0.0
        return got

    started = time.monotonic()
    got_down = asyncio.run(asyncio.wait_for(main(), 60))
    elapsed = time.monotonic() - started
    assert len(got_down) == SIZE and digest(got_down) == digest(down)
    assert len(seen["up"]) == SIZE and digest(seen["up"]) == digest(up)
    print(f"asyncio: 64 MiB in {elapsed:.2f} s")


def test_readline_and_readexactly_and_several_clients() -> None:
    async def handle(reader: asyncio.StreamReader, writer: rutp.aio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()

    async def client(port: int, n: int) -> bytes:
        reader, writer = await rutp.open_connection("127.0.0.1", port)
        writer.write(b"client %d\n" % n)
        await writer.drain()
        answer = await reader.readexactly(len(b"CLIENT %d\n" % n))
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        return answer

    async def main() -> list:
        server = await rutp.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockname[1]
            return await asyncio.gather(*(client(port, n) for n in range(5)))

    answers = asyncio.run(asyncio.wait_for(main(), 30))
    assert answers == [b"CLIENT %d\n" % n for n in range(5)]


def test_open_connection_to_a_closed_port_is_refused() -> None:
    port = free_udp_port()

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError) as caught:
            await rutp.open_connection("127.0.0.1", port)
        assert caught.value.errno == errno.ECONNREFUSED

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_slow_reader_holds_back_the_sender_and_gets_everything() -> None:
    data = pattern(8 * MiB, 13)

    async def handle(reader: asyncio.StreamReader, writer: rutp.aio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> bytes:
        server = await rutp.start_server(handle, "127.0.0.1", 0)
        async with server:
            reader, writer = await rutp.open_connection(*server.sockname, limit=4096)
            out = bytearray()
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                out += chunk
                # The reader's buffer never grows far past its limit: the pump pauses.
                assert len(reader._buffer) <= 2 * 4096 + 256 * 1024  # type: ignore[attr-defined]
            writer.close()
            await writer.wait_closed()
            return bytes(out)

    assert asyncio.run(asyncio.wait_for(main(), 60)) == data


def test_server_close_stops_accepting() -> None:
    async def main() -> None:
        server = await rutp.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockname[1]
        assert server.is_serving()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises((ConnectionRefusedError, TimeoutError)):
            await rutp.open_connection("127.0.0.1", port, timeout=2)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_bad_arguments() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await rutp.start_server(None, "127.0.0.1", 0)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await rutp.open_connection("127.0.0.1", 70000)
        with pytest.raises(TypeError):
            await rutp.open_connection("127.0.0.1", "80")  # type: ignore[arg-type]

    asyncio.run(main())


def test_a_program_that_never_closes_its_writer_or_server_still_exits() -> None:
    import subprocess
    import sys

    from streamkit import env_with_library

    code = (
        "import asyncio, rutp\n"
        "async def main():\n"
        "    server = await rutp.start_server(lambda r, w: None, '127.0.0.1', 0)\n"
        "    reader, writer = await rutp.open_connection(*server.sockname)\n"
        "    writer.write(b'left open')\n"
        "    await writer.drain()\n"
        "asyncio.run(main())\n"
        "print('returned', flush=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env_with_library(),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "returned\n"
    assert time.monotonic() - started < 10  # the blocked reads and accept loop do not hold it
