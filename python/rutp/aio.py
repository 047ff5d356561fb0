"""asyncio streams over uTP: ``open_connection`` and ``start_server``.

Design: the managed runtime already moves the packets on its own threads, so this layer only
has to turn its blocking calls into awaitables. Each connection gets two daemon threads of its
own (one blocked reading, one writing; daemon, so a connection never closed cannot hang the
interpreter's exit), and the event loop never blocks:

* a *pump* task reads with ``Stream.recv`` in the read thread and feeds the bytes to an
  ordinary :class:`asyncio.StreamReader`; the reader's flow control reaches back through
  :class:`_PumpTransport` (``pause_reading``/``resume_reading``), so a slow consumer stops the
  pump, the library's queue fills and the uTP window closes: end-to-end backpressure;
* :class:`StreamWriter` buffers ``write`` calls and a flush task hands them to
  ``Stream.sendall`` in the write thread; ``drain`` waits until at most 64 KiB are buffered and
  raises the error of a failed send;
* the server's accept loop runs in a thread of its own, waiting in short slices so
  ``Server.close`` stops it promptly.

Blocking library calls release the GIL, so these threads run in parallel with the loop.
"""

from __future__ import annotations

import asyncio
import collections
import socket as _socket
import threading
from typing import Any, Awaitable, Callable, Deque, Optional, Set, Tuple, Union

from ._daemon_pool import DaemonExecutor
from .streams import Address, Socket, Stream

__all__ = ["Server", "StreamWriter", "open_connection", "start_server"]

#: Bytes asked of the library per read.
_READ_SIZE = 256 * 1024
#: ``drain`` returns once at most this many bytes wait in the writer's buffer.
_HIGH_WATER = 64 * 1024
#: Longest accept wait before the server checks whether it was closed (seconds).
_ACCEPT_SLICE = 0.2

ClientCallback = Callable[[asyncio.StreamReader, "StreamWriter"], Union[None, Awaitable[None]]]


class _PumpTransport(asyncio.ReadTransport):
    """What the :class:`asyncio.StreamReader` sees as its transport: pause and resume only."""

    def __init__(self, extra: dict) -> None:
        super().__init__(extra)
        self.may_read = asyncio.Event()
        self.may_read.set()
        self._closing = False

    def pause_reading(self) -> None:
        """The reader's buffer is full: the pump stops asking for data."""
        self.may_read.clear()

    def resume_reading(self) -> None:
        """The reader was drained: the pump goes on."""
        self.may_read.set()

    def is_reading(self) -> bool:
        """Whether the pump may read."""
        return self.may_read.is_set()

    def is_closing(self) -> bool:
        """Whether the connection is being closed."""
        return self._closing

    def close(self) -> None:
        """Marks the transport closing (the writer closes the stream)."""
        self._closing = True
        self.may_read.set()


class StreamWriter:
    """The writing half of a connection, with :class:`asyncio.StreamWriter`'s methods."""

    def __init__(
        self,
        stream: Stream,
        transport: _PumpTransport,
        reader_pool: DaemonExecutor,
        pool: DaemonExecutor,
        owned_socket: Optional[Socket],
        on_closed: Optional[Callable[["StreamWriter"], None]] = None,
    ) -> None:
        self._stream = stream
        self._transport = transport
        self._reader_pool = reader_pool
        self._pool = pool
        self._owned_socket = owned_socket
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._chunks: Deque[Optional[bytes]] = collections.deque()
        self._buffered = 0
        self._flusher: Optional["asyncio.Task[None]"] = None
        self._progress = asyncio.Event()
        self._error: Optional[BaseException] = None
        self._closing = False
        self._closed = self._loop.create_future()

    @property
    def transport(self) -> asyncio.BaseTransport:
        """The transport object (for ``get_extra_info`` and ``is_closing``)."""
        return self._transport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername``, ``sockname`` or ``stream`` (the :class:`rutp.Stream`)."""
        return self._transport.get_extra_info(name, default)

    def can_write_eof(self) -> bool:
        """Always True: :meth:`write_eof` sends a FIN."""
        return True

    def is_closing(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Buffers ``data`` for sending; call :meth:`drain` to wait for room."""
        if self._error is not None:
            raise self._error
        if self._closing:
            raise ConnectionResetError("the writer is closed")
        chunk = bytes(data)
        if chunk:
            self._push(chunk)

    def writelines(self, data: Any) -> None:
        """Writes each item of ``data``."""
        for item in data:
            self.write(item)

    def write_eof(self) -> None:
        """Sends our FIN once the buffered bytes are queued; the peer's reader sees EOF."""
        if self._closing:
            return
        self._push(None)

    def _push(self, chunk: Optional[bytes]) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk) if chunk else 0
        if self._flusher is None or self._flusher.done():
            self._flusher = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self._chunks and self._error is None:
            if self._chunks[0] is None:
                self._chunks.popleft()
                await self._run(self._stream.shutdown, _socket.SHUT_WR)
                continue
            batch = []
            while self._chunks and self._chunks[0] is not None:
                batch.append(self._chunks.popleft())
            data = b"".join(batch)  # type: ignore[arg-type]
            await self._run(self._stream.sendall, data)
            self._buffered -= len(data)
            self._progress.set()

    async def _run(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            await self._loop.run_in_executor(self._pool, function, *args)
        except Exception as e:  # reported by drain() and write()
            self._error = e
            self._chunks.clear()
            self._buffered = 0
            self._progress.set()

    async def drain(self) -> None:
        """Waits until the buffer is small again; raises the error of a failed send."""
        while self._error is None and self._buffered > _HIGH_WATER:
            self._progress.clear()
            await self._progress.wait()
        if self._error is not None:
            raise self._error
        await asyncio.sleep(0)

    def close(self) -> None:
        """Closes the connection once the buffered bytes are queued (gracefully: the peer
        reads them, then EOF)."""
        if self._closing:
            return
        self._closing = True
        self._transport.close()
        self._loop.create_task(self._finish())

    async def _finish(self) -> None:
        try:
            if self._flusher is not None:
                await asyncio.shield(self._flusher)
            await self._loop.run_in_executor(self._pool, self._stream.close)
            if self._owned_socket is not None:
                await self._loop.run_in_executor(self._pool, self._owned_socket.close)
        finally:
            self._pool.shutdown(wait=False)
            self._reader_pool.shutdown(wait=False)
            if self._on_closed is not None:
                self._on_closed(self)
            if not self._closed.done():
                self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Waits until :meth:`close` has finished."""
        await asyncio.shield(self._closed)


async def _pump(
    stream: Stream,
    reader: asyncio.StreamReader,
    transport: _PumpTransport,
    pool: DaemonExecutor,
) -> None:
    """Moves received bytes into ``reader`` until EOF, an error, or the writer closes."""
    loop = asyncio.get_running_loop()
    try:
        while not transport.is_closing():
            await transport.may_read.wait()
            data = await loop.run_in_executor(pool, stream.recv, _READ_SIZE)
            if not data:
                break
            reader.feed_data(data)
    except OSError as e:
        if not transport.is_closing():
            reader.set_exception(e)
            return
    except RuntimeError:  # the pool was shut down by close()
        pass
    reader.feed_eof()


def _pair(
    stream: Stream,
    owned_socket: Optional[Socket],
    limit: int,
    on_closed: Optional[Callable[[StreamWriter], None]] = None,
) -> Tuple[asyncio.StreamReader, StreamWriter, "asyncio.Task[None]"]:
    reader_pool = DaemonExecutor("rutp-aio-read")
    pool = DaemonExecutor("rutp-aio-write")
    transport = _PumpTransport(
        {"peername": stream.getpeername(), "sockname": stream.getsockname(), "stream": stream}
    )
    reader = asyncio.StreamReader(limit=limit)
    reader.set_transport(transport)
    writer = StreamWriter(stream, transport, reader_pool, pool, owned_socket, on_closed)
    task = asyncio.get_running_loop().create_task(_pump(stream, reader, transport, reader_pool))
    return reader, writer, task


def _any_address(host: str) -> str:
    return "::" if ":" in host else "0.0.0.0"


async def open_connection(
    host: str,
    port: int,
    *,
    bind: Optional[Address] = None,
    timeout: Optional[float] = None,
    limit: int = 2**16,
) -> Tuple[asyncio.StreamReader, StreamWriter]:
    """Connects to ``(host, port)`` (an IPv4 or IPv6 literal, or a name) from a new :class:`rutp.Socket`
    bound to ``bind`` (default: any address of the host's family, a free port). The socket
    is closed with the writer. Errors as :meth:`rutp.Socket.connect` raises them."""
    loop = asyncio.get_running_loop()
    sock = Socket(bind or (_any_address(host), 0))
    try:
        stream = await loop.run_in_executor(None, sock.connect, (host, port), timeout)
    except BaseException:
        await loop.run_in_executor(None, sock.close)
        raise
    reader, writer, _ = _pair(stream, sock, limit)
    return reader, writer


class Server:
    """A listening :class:`rutp.Socket` calling back for each connection."""

    def __init__(self, sock: Socket, callback: ClientCallback, limit: int) -> None:
        self._socket = sock
        self._callback = callback
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._pool = DaemonExecutor("rutp-accept")
        self._writers: Set[StreamWriter] = set()
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._all_closed = asyncio.Event()
        self._accepting = self._loop.create_task(self._accept_loop())

    @property
    def socket(self) -> Socket:
        """The listening :class:`rutp.Socket`."""
        return self._socket

    @property
    def sockets(self) -> Tuple[Socket, ...]:
        """The listening socket, as a one-item tuple (``asyncio.Server.sockets`` style)."""
        return (self._socket,)

    @property
    def sockname(self) -> Address:
        """The bound ``(host, port)``."""
        return self._socket.getsockname()

    def is_serving(self) -> bool:
        """Whether connections are still accepted."""
        return not self._stop.is_set()

    def _accept_one(self) -> Optional[Tuple[Stream, Address]]:
        while not self._stop.is_set():
            try:
                return self._socket.accept(timeout=_ACCEPT_SLICE)
            except TimeoutError:
                continue
        return None

    async def _accept_loop(self) -> None:
        while True:
            try:
                accepted = await self._loop.run_in_executor(self._pool, self._accept_one)
            except (OSError, RuntimeError):
                return
            if accepted is None:
                return
            stream, _ = accepted
            reader, writer, _task = _pair(stream, None, self._limit, self._forget)
            self._writers.add(writer)
            result = self._callback(reader, writer)
            if asyncio.iscoroutine(result):
                task = self._loop.create_task(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _forget(self, writer: StreamWriter) -> None:
        self._writers.discard(writer)
        if not self._writers:
            self._all_closed.set()

    def close(self) -> None:
        """Stops accepting; connections already made go on until their writers close."""
        self._stop.set()

    async def wait_closed(self) -> None:
        """Waits until accepting stopped and every connection's writer closed, then closes
        the socket."""
        await self._accepting
        while self._writers:
            self._all_closed.clear()
            await self._all_closed.wait()
        self._pool.shutdown(wait=False)
        await self._loop.run_in_executor(None, self._socket.close)

    async def serve_forever(self) -> None:
        """Waits until :meth:`close` is called."""
        await self._accepting

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


async def start_server(
    client_connected_cb: ClientCallback,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    limit: int = 2**16,
) -> Server:
    """Listens on ``(host, port)`` and calls ``client_connected_cb(reader, writer)`` (a plain
    function or a coroutine function) for each connection."""
    if not callable(client_connected_cb):
        raise TypeError("client_connected_cb must be callable")
    sock = Socket((host, port))
    return Server(sock, client_connected_cb, limit)
