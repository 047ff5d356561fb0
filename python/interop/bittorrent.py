"""A minimal BitTorrent peer (BEP 3) over a ``rutp.Stream``: enough to download a single-file
v1 torrent from a real client and to seed one to it.

Not part of the installed package: the interop suite uses it to speak to libtorrent and
Transmission over our uTP. It implements:

- bencode (BEP 3 "bencoding"): :func:`bencode`, :func:`bdecode`;
- the metainfo file (BEP 3 "metainfo files"): :class:`Metainfo`, whose info-hash is the SHA-1
  of the ``info`` value exactly as it appears in the file;
- the peer wire protocol (BEP 3 "peer protocol"): the 68-byte handshake, then length-prefixed
  messages; :func:`download` (request every block, a pipeline of outstanding requests, SHA-1
  check of every piece) and :func:`seed` (bitfield with every piece, unchoke on interested,
  answer requests).

Invariants: every length read from the peer is checked before it is used; a block is accepted
only if it was requested and is still outstanding; a piece is kept only after its SHA-1 equals
the metainfo's. Extensions are never advertised (8 zero reserved bytes), so a peer sends only
the messages of BEP 3 (plus keep-alives), which is all we parse.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Deque, Dict, List, Optional, Set, Tuple

PROTOCOL = b"BitTorrent protocol"
HANDSHAKE_LEN = 1 + len(PROTOCOL) + 8 + 20 + 20  # 68 bytes (BEP 3 "peer protocol")
BLOCK = 16 * 1024  # the request size every client uses; BEP 3 suggests 2^14
MAX_MESSAGE = BLOCK + 9 + 1024  # a piece message with a full block, plus slack for a bitfield

# Message ids (BEP 3).
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)


class ProtocolError(Exception):
    """The peer sent something BEP 3 does not allow (or data that fails its hash)."""


# ---------------------------------------------------------------------------------------------
# bencode


def bencode(value: Any) -> bytes:
    """Encodes ints, bytes, str (as UTF-8), lists and dicts (keys sorted as raw bytes)."""
    out: List[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: List[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, str):
        _encode(value.encode("utf-8"), out)
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        keys = {(k.encode("utf-8") if isinstance(k, str) else bytes(k)): v for k, v in value.items()}
        out.append(b"d")
        for key in sorted(keys):
            _encode(key, out)
            _encode(keys[key], out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Any:
    """Decodes one complete bencoded value; trailing bytes are an error."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"bencode: {len(data) - end} trailing bytes")
    return value


def _decode(data: bytes, at: int) -> Tuple[Any, int]:
    """The value starting at ``at`` and the offset just past it."""
    if at >= len(data):
        raise ValueError("bencode: truncated")
    lead = data[at : at + 1]
    if lead == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if lead == b"l":
        items = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        return items, at + 1
    if lead == b"d":
        result: Dict[bytes, Any] = {}
        at += 1
        while data[at : at + 1] != b"e":
            key, at = _decode(data, at)
            if not isinstance(key, bytes):
                raise ValueError("bencode: dict key is not a string")
            result[key], at = _decode(data, at)
        return result, at + 1
    if lead.isdigit():
        colon = data.index(b":", at)
        length = int(data[at:colon])
        start = colon + 1
        if start + length > len(data):
            raise ValueError("bencode: string runs past the end")
        return data[start : start + length], start + length
    raise ValueError(f"bencode: unexpected byte {lead!r} at {at}")


def _value_span(data: bytes, wanted: bytes) -> Tuple[int, int]:
    """Where the value of key ``wanted`` lies in the top-level dict ``data``."""
    if data[:1] != b"d":
        raise ValueError("metainfo is not a dict")
    at = 1
    while data[at : at + 1] != b"e":
        key, at = _decode(data, at)
        start = at
        _, at = _decode(data, at)
        if key == wanted:
            return start, at
    raise ValueError(f"metainfo has no {wanted!r}")


# ---------------------------------------------------------------------------------------------
# metainfo


@dataclass(frozen=True)
class Metainfo:
    """A single-file v1 torrent: what a peer needs to request and check pieces."""

    info_hash: bytes
    name: str
    length: int
    piece_length: int
    piece_hashes: Tuple[bytes, ...]

    @classmethod
    def parse(cls, torrent: bytes) -> "Metainfo":
        start, end = _value_span(torrent, b"info")
        info = bdecode(torrent[start:end])
        if b"files" in info or b"length" not in info:
            raise ValueError("only single-file torrents are supported")
        pieces = info[b"pieces"]
        if len(pieces) % 20:
            raise ValueError("'pieces' is not a whole number of SHA-1 hashes")
        meta = cls(
            info_hash=hashlib.sha1(torrent[start:end]).digest(),
            name=info[b"name"].decode("utf-8"),
            length=info[b"length"],
            piece_length=info[b"piece length"],
            piece_hashes=tuple(pieces[i : i + 20] for i in range(0, len(pieces), 20)),
        )
        if len(meta.piece_hashes) != meta.piece_count:
            raise ValueError("piece count does not match the length")
        return meta

    @property
    def piece_count(self) -> int:
        return -(-self.length // self.piece_length)

    def piece_size(self, index: int) -> int:
        return min(self.piece_length, self.length - index * self.piece_length)


# ---------------------------------------------------------------------------------------------
# wire


def new_peer_id() -> bytes:
    """Azureus-style peer id: client ``RU`` version 0.0.0.1, then 12 random bytes."""
    return b"-RU0001-" + os.urandom(12)


def handshake(info_hash: bytes, peer_id: bytes) -> bytes:
    return bytes([len(PROTOCOL)]) + PROTOCOL + bytes(8) + info_hash + peer_id


def message(message_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), message_id) + payload


@dataclass
class Handshake:
    reserved: bytes
    info_hash: bytes
    peer_id: bytes


class Wire:
    """Reads and writes BEP 3 framing on a ``rutp.Stream`` (through a buffered reader)."""

    def __init__(self, stream: Any, timeout: float) -> None:
        self.stream = stream
        stream.settimeout(timeout)
        self.reader: BinaryIO = stream.makefile("rb", buffering=1 << 20)

    def read_exact(self, n: int) -> bytes:
        data = self.reader.read(n)
        if len(data) != n:
            raise ConnectionError(f"peer closed the connection ({len(data)} of {n} bytes read)")
        return data

    def read_handshake(self) -> Handshake:
        raw = self.read_exact(HANDSHAKE_LEN)
        if raw[0] != len(PROTOCOL) or raw[1:20] != PROTOCOL:
            raise ProtocolError(f"not a plaintext BitTorrent handshake: {raw[:20]!r}")
        return Handshake(reserved=raw[20:28], info_hash=raw[28:48], peer_id=raw[48:68])

    def read_message(self) -> Tuple[Optional[int], bytes]:
        """The next message as (id, payload); (None, b"") for a keep-alive."""
        (length,) = struct.unpack(">I", self.read_exact(4))
        if length == 0:
            return None, b""
        if length > MAX_MESSAGE:
            raise ProtocolError(f"message of {length} bytes is longer than any we asked for")
        body = self.read_exact(length)
        return body[0], body[1:]

    def send(self, data: bytes) -> None:
        self.stream.sendall(data)

    def close(self) -> None:
        self.reader.close()


# ---------------------------------------------------------------------------------------------
# downloading


@dataclass
class DownloadProgress:
    """When each phase of a download began (``time.monotonic()``; None: not reached yet).

    Filled in as the download goes, so a caller still has it when :func:`download` raises:
    e.g. to tell a connection the peer closed before it ever unchoked us from one that broke
    during the transfer.
    """

    handshake_at: Optional[float] = None  # the peer's handshake arrived
    interested_at: Optional[float] = None  # we sent interested
    unchoked_at: Optional[float] = None  # the peer's first unchoke arrived
    first_block_at: Optional[float] = None
    last_block_at: Optional[float] = None
    blocks: int = 0
    chokes: int = 0  # chokes after the first unchoke


@dataclass
class DownloadResult:
    data: bytearray
    remote: Handshake
    handshake_seconds: float
    seconds: float
    pieces_verified: int
    messages: Dict[int, int] = field(default_factory=dict)
    progress: DownloadProgress = field(default_factory=DownloadProgress)


def download(
    stream: Any,
    meta: Metainfo,
    pipeline: int = 64,
    timeout: float = 30.0,
    progress: Optional[DownloadProgress] = None,
) -> DownloadResult:
    """Downloads every piece of ``meta`` over ``stream`` (we are the initiator and speak first).

    Requests go out in 16 KiB blocks with up to ``pipeline`` outstanding; each piece is checked
    against its SHA-1 as soon as its last block arrives. A choke drops the outstanding requests
    (BEP 3: the peer discards them), which are asked again after the next unchoke. ``timeout``
    bounds every single read. Raises :class:`ProtocolError` on a bad hash or message. The
    phases' times go into ``progress`` (a fresh one when None), which the result carries.
    """
    if progress is None:
        progress = DownloadProgress()
    started = time.monotonic()
    wire = Wire(stream, timeout)
    wire.send(handshake(meta.info_hash, new_peer_id()))
    remote = wire.read_handshake()
    progress.handshake_at = time.monotonic()
    handshake_seconds = progress.handshake_at - started
    if remote.info_hash != meta.info_hash:
        raise ProtocolError("peer answered with another info-hash")

    blocks: Deque[Tuple[int, int, int]] = deque(
        (index, begin, min(BLOCK, meta.piece_size(index) - begin))
        for index in range(meta.piece_count)
        for begin in range(0, meta.piece_size(index), BLOCK)
    )
    missing_in_piece = [-(-meta.piece_size(i) // BLOCK) for i in range(meta.piece_count)]
    outstanding: Set[Tuple[int, int, int]] = set()
    peer_has = bytearray(meta.piece_count)
    data = bytearray(meta.length)
    view = memoryview(data)
    verified = 0
    unchoked = interested = False
    counts: Dict[int, int] = {}

    def refill() -> None:
        batch = []
        while blocks and len(outstanding) < pipeline:
            index, begin, length = block = blocks.popleft()
            if not peer_has[index]:
                raise ProtocolError(f"peer does not have piece {index}")
            outstanding.add(block)
            batch.append(message(REQUEST, struct.pack(">III", index, begin, length)))
        if batch:
            wire.send(b"".join(batch))

    while verified < meta.piece_count:
        message_id, payload = wire.read_message()
        if message_id is None:
            continue
        counts[message_id] = counts.get(message_id, 0) + 1
        if message_id == BITFIELD:
            if len(payload) != -(-meta.piece_count // 8):
                raise ProtocolError(f"bitfield of {len(payload)} bytes for {meta.piece_count} pieces")
            for i in range(meta.piece_count):
                peer_has[i] = (payload[i // 8] >> (7 - i % 8)) & 1
        elif message_id == HAVE:
            (index,) = struct.unpack(">I", payload)
            if index >= meta.piece_count:
                raise ProtocolError(f"have for piece {index} of {meta.piece_count}")
            peer_has[index] = 1
        elif message_id == UNCHOKE:
            unchoked = True
            if progress.unchoked_at is None:
                progress.unchoked_at = time.monotonic()
        elif message_id == CHOKE:
            if progress.unchoked_at is not None:
                progress.chokes += 1
            unchoked = False
            blocks.extendleft(sorted(outstanding, reverse=True))
            outstanding.clear()
        elif message_id == PIECE:
            index, begin = struct.unpack(">II", payload[:8])
            block = (index, begin, len(payload) - 8)
            if block not in outstanding:
                raise ProtocolError(f"unrequested block {block}")
            outstanding.remove(block)
            progress.last_block_at = time.monotonic()
            if progress.first_block_at is None:
                progress.first_block_at = progress.last_block_at
            progress.blocks += 1
            offset = index * meta.piece_length + begin
            view[offset : offset + block[2]] = payload[8:]
            missing_in_piece[index] -= 1
            if missing_in_piece[index] == 0:
                start = index * meta.piece_length
                digest = hashlib.sha1(view[start : start + meta.piece_size(index)]).digest()
                if digest != meta.piece_hashes[index]:
                    raise ProtocolError(f"piece {index} fails its SHA-1")
                verified += 1
        # interested, not interested, request, cancel: a seed asks us nothing we must answer
        if not interested and any(peer_has):
            wire.send(message(INTERESTED))
            interested = True
            progress.interested_at = time.monotonic()
        if unchoked:
            refill()

    wire.send(message(NOT_INTERESTED))
    wire.close()
    return DownloadResult(
        data=data,
        remote=remote,
        handshake_seconds=handshake_seconds,
        seconds=time.monotonic() - started,
        pieces_verified=verified,
        messages=counts,
        progress=progress,
    )


# ---------------------------------------------------------------------------------------------
# seeding


@dataclass
class SeedResult:
    remote: Optional[Handshake] = None
    blocks_served: int = 0
    bytes_served: int = 0
    ended_by: str = ""


def seed(stream: Any, meta: Metainfo, content: bytes, result: SeedResult, timeout: float = 30.0) -> None:
    """Serves ``content`` (the whole file) to the peer that connected over ``stream``.

    The peer is the initiator: we read its handshake, answer with ours and a bitfield with every
    piece, unchoke it when it is interested and answer each request with its block. Returns when
    the peer closes the connection (a seed is not needed once the peer is complete); progress is
    kept in ``result`` so the caller can read it even when the connection ends with an error.
    """
    if len(content) != meta.length:
        raise ValueError("content length differs from the metainfo")
    wire = Wire(stream, timeout)
    source = memoryview(content)
    remote = wire.read_handshake()
    result.remote = remote
    if remote.info_hash != meta.info_hash:
        raise ProtocolError("peer asked for another info-hash")
    bitfield = bytearray(-(-meta.piece_count // 8))
    for i in range(meta.piece_count):
        bitfield[i // 8] |= 0x80 >> (i % 8)
    wire.send(handshake(meta.info_hash, new_peer_id()) + message(BITFIELD, bytes(bitfield)))
    try:
        while True:
            message_id, payload = wire.read_message()
            if message_id == INTERESTED:
                wire.send(message(UNCHOKE))
            elif message_id == REQUEST:
                index, begin, length = struct.unpack(">III", payload)
                if index >= meta.piece_count or length > BLOCK or begin + length > meta.piece_size(index):
                    raise ProtocolError(f"bad request {(index, begin, length)}")
                offset = index * meta.piece_length + begin
                wire.send(
                    struct.pack(">IBII", 9 + length, PIECE, index, begin) + source[offset : offset + length]
                )
                result.blocks_served += 1
                result.bytes_served += length
            # keep-alive, have, not interested, cancel (we answer requests at once): nothing to do
    except ConnectionError as exc:
        result.ended_by = f"{type(exc).__name__}: {exc}"
    finally:
        wire.close()
