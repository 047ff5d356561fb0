"""Our BitTorrent helper's bencode and wire framing, checked against BEP 3's own examples."""

import struct

import pytest

import bittorrent


def test_bencode_matches_the_examples_of_bep_3() -> None:
    assert bittorrent.bencode(b"spam") == b"4:spam"
    assert bittorrent.bencode(3) == b"i3e"
    assert bittorrent.bencode(-3) == b"i-3e"
    assert bittorrent.bencode([b"spam", b"eggs"]) == b"l4:spam4:eggse"
    # keys come out sorted as raw strings, whatever order they were given in
    assert bittorrent.bencode({"spam": [b"a", b"b"], "cow": b"moo"}) == b"d3:cow3:moo4:spaml1:a1:bee"


def test_bdecode_inverts_bencode_and_rejects_malformed_input() -> None:
    value = {b"info": {b"length": 1 << 40, b"pieces": bytes(range(40))}, b"list": [0, b"", []]}
    assert bittorrent.bdecode(bittorrent.bencode(value)) == value
    for bad in (b"i3", b"5:spam", b"i3ei4e", b"x", b"di1e1:ae"):
        with pytest.raises(ValueError):
            bittorrent.bdecode(bad)


def test_the_handshake_is_68_bytes_and_messages_are_length_prefixed() -> None:
    raw = bittorrent.handshake(b"H" * 20, b"P" * 20)
    assert len(raw) == bittorrent.HANDSHAKE_LEN == 68
    assert raw[:20] == b"\x13BitTorrent protocol" and raw[20:28] == bytes(8)
    assert bittorrent.message(bittorrent.INTERESTED) == b"\x00\x00\x00\x01\x02"
    request = bittorrent.message(bittorrent.REQUEST, struct.pack(">III", 1, 16384, 16384))
    assert request == b"\x00\x00\x00\x0d\x06" + struct.pack(">III", 1, 16384, 16384)
