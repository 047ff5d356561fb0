"""Interop with libtorrent-rasterbar's own uTP, BitTorrent on top, both directions.

libtorrent runs in this process (its session has its own threads; our calls release the GIL),
restricted to uTP on 127.0.0.1: TCP off both ways, DHT, LSD, UPnP and NAT-PMP off from the
session's construction, so nothing leaves the host. The torrent is a 64 MiB random file made
into a v1 torrent by libtorrent's own ``create_torrent``.

- ``libtorrent->rutp``: a libtorrent seeder; our client (``rutp.Socket.connect``) does the
  BitTorrent handshake, requests every block, checks every piece's SHA-1, and the bytes equal
  the file.
- ``rutp->libtorrent``: our seeder accepts libtorrent's connection (``connect_peer`` to our
  port) and serves it until libtorrent is seeding; its file equals the original.

In both, libtorrent must say it used uTP: the peer's ``utp_socket`` flag and its session's
uTP packet counters. Every wait is bounded. Each case prints one table line and appends it to
``$RUTP_INTEROP_DIR/libtorrent.txt`` (default ``target/interop`` of the checkout).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

import bittorrent
import rutp

SIZE = 64 * 1024 * 1024
SCENARIO = "bittorrent 64 MiB"
DEADLINE = 120.0  # seconds for any one transfer, far above the few seconds it takes
# peer_info::utp_socket; the Python binding does not export it. It is the bit after
# i2p_socket (1 << 16) in libtorrent's peer_info.hpp.
UTP_SOCKET_FLAG = 1 << 17
OUT_DIR = Path(os.environ.get("RUTP_INTEROP_DIR", Path(__file__).resolve().parents[2] / "target" / "interop"))


@pytest.fixture(scope="module")
def lt() -> Any:
    try:
        import libtorrent
    except ImportError as exc:
        pytest.fail(
            f"libtorrent is not installed ({exc}); scripts/interop-libtorrent.sh installs the PyPI "
            "wheel into target/interop-venv (pip install libtorrent)",
            pytrace=False,
        )
    return libtorrent


def lt_version(lt: Any) -> str:
    parts = lt.__version__.split(".")
    return ".".join(parts[:3])


def utp_only_settings(lt: Any) -> Dict[str, Any]:
    """uTP only, loopback only, nothing that talks to other hosts (see ../shared/peers.md 2.2)."""
    category = lt.alert.category_t
    return {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Plaintext BitTorrent only: our peer does not speak message stream encryption, and
        # libtorrent would otherwise try an encrypted handshake first on its outgoing connection.
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.enabled),
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        # As large as ours (the runtime asks for 4 MiB): with the 208 KiB default a window burst
        # overflows the receiving socket on loopback (peers.md, TL;DR).
        "recv_socket_buffer_size": 4 << 20,
        "send_socket_buffer_size": 4 << 20,
        "alert_mask": category.error_notification | category.peer_notification
        | category.connect_notification | category.status_notification,
    }


@pytest.fixture(scope="module")
def torrent(lt: Any, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A random 64 MiB file and its v1 torrent, made by libtorrent."""
    root = tmp_path_factory.mktemp("libtorrent")
    seed_dir = root / "seed"
    seed_dir.mkdir()
    content = os.urandom(SIZE)
    (seed_dir / "data.bin").write_bytes(content)
    # Piece size 0: libtorrent picks it (128 KiB for 64 MiB).
    creator = lt.create_torrent(lt.list_files(str(seed_dir / "data.bin")), 0, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(seed_dir))
    raw = lt.bencode(creator.generate())
    (root / "data.torrent").write_bytes(raw)
    meta = bittorrent.Metainfo.parse(raw)
    info = lt.torrent_info(str(root / "data.torrent"))
    # Our metainfo reader agrees with libtorrent's on what identifies and splits the torrent.
    assert meta.info_hash.hex() == str(info.info_hashes().v1)
    assert (meta.length, meta.piece_length) == (SIZE, info.piece_length())
    assert meta.piece_count == info.num_pieces()
    return {"root": root, "seed_dir": seed_dir, "content": content, "meta": meta}


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.02)


def session_counters(lt: Any, session: Any, names: List[str]) -> Dict[str, int]:
    session.post_session_stats()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        session.wait_for_alert(500)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.session_stats_alert):
                values = alert.values  # a dict keyed by metric name in 2.x
                return {name: int(values[name]) for name in names}
    pytest.fail("libtorrent posted no session_stats_alert within 10 s", pytrace=False)


def add_torrent(lt: Any, session: Any, torrent: Dict[str, Any], save_path: Path) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent["root"] / "data.torrent"))
    params.save_path = str(save_path)
    return session.add_torrent(params)


def record(lt: Any, direction: str, passed: bool, nbytes: int, seconds: float) -> str:
    rate = f"{nbytes / 1048576 / seconds:.1f}" if passed and seconds > 0 else "-"
    line = " | ".join(
        ["interop", f"libtorrent {lt_version(lt)}", SCENARIO, direction,
         "PASS" if passed else "FAIL", str(nbytes), rate]
    )
    print("\n" + line)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "libtorrent.txt", "a") as out:
        out.write(line + "\n")
    return line


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_rutp_downloads_every_piece_from_a_libtorrent_seeder(lt: Any, torrent: Dict[str, Any]) -> None:
    meta = torrent["meta"]
    session = lt.session(utp_only_settings(lt))
    passed, nbytes, seconds = False, 0, 0.0
    try:
        handle = add_torrent(lt, session, torrent, torrent["seed_dir"])
        wait_for("libtorrent to check the file and start seeding", lambda: handle.status().is_seeding)
        port = session.listen_port()
        assert port > 0

        with rutp.Socket(("127.0.0.1", 0)) as ours:
            started = time.monotonic()
            stream = ours.connect(("127.0.0.1", port), timeout=10)
            result = bittorrent.download(stream, meta, pipeline=64, timeout=DEADLINE)
            seconds = time.monotonic() - started
            # Asked while our connection is still open: how libtorrent sees it.
            peers = handle.get_peer_info()
            stream.close()

        assert result.remote.info_hash == meta.info_hash
        assert result.remote.peer_id.startswith(b"-LT"), result.remote.peer_id
        assert result.pieces_verified == meta.piece_count
        assert bytes(result.data) == torrent["content"]
        nbytes = len(result.data)

        assert len(peers) == 1, f"libtorrent lists {len(peers)} peers"
        assert peers[0].flags & UTP_SOCKET_FLAG, "libtorrent's peer is not on a uTP socket"
        counters = session_counters(
            lt, session, ["peer.num_tcp_peers", "utp.utp_packets_in", "utp.utp_payload_pkts_out",
                          "net.sent_payload_bytes"])
        assert counters["peer.num_tcp_peers"] == 0, counters
        assert counters["utp.utp_payload_pkts_out"] >= SIZE // 1500, counters
        assert counters["net.sent_payload_bytes"] >= SIZE, counters
        print(f"\nhandshake answered in {result.handshake_seconds * 1000:.1f} ms, messages {result.messages},"
              f" libtorrent counters {counters}")
        passed = True
    finally:
        record(lt, "libtorrent->rutp", passed, nbytes, seconds)


def test_libtorrent_downloads_everything_from_a_rutp_seeder(lt: Any, torrent: Dict[str, Any]) -> None:
    meta = torrent["meta"]
    leech_dir = torrent["root"] / "leech"
    leech_dir.mkdir()
    served = bittorrent.SeedResult()
    failures: List[BaseException] = []
    passed, nbytes, seconds = False, 0, 0.0

    with rutp.Socket(("127.0.0.1", 0)) as ours:
        accepted: List[Any] = []

        def serve() -> None:
            try:
                stream, _ = ours.accept(timeout=DEADLINE)
                accepted.append(stream)
                bittorrent.seed(stream, meta, torrent["content"], served, timeout=DEADLINE)
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        seeder = threading.Thread(target=serve, name="rutp-seeder", daemon=True)
        seeder.start()
        session = lt.session(utp_only_settings(lt))
        try:
            handle = add_torrent(lt, session, torrent, leech_dir)
            wait_for("libtorrent to check its (empty) download directory",
                     lambda: handle.status().state not in (lt.torrent_status.checking_files,
                                                            lt.torrent_status.checking_resume_data))
            started = time.monotonic()
            handle.connect_peer(ours.getsockname())
            on_utp = set()
            first_payload = started

            seeder_ended: List[float] = []

            def complete() -> bool:
                nonlocal first_payload
                if failures:
                    raise failures[0]
                if first_payload == started and served.bytes_served:
                    first_payload = time.monotonic()
                for peer in handle.get_peer_info():
                    on_utp.add(bool(peer.flags & UTP_SOCKET_FLAG))
                if handle.status().is_seeding:
                    return True
                # libtorrent closes the connection once it is complete; closing it earlier (a
                # failed hash, a protocol error) ends the download, so do not wait for the deadline.
                if not seeder.is_alive():
                    seeder_ended.append(time.monotonic())
                    if seeder_ended[-1] - seeder_ended[0] > 5:
                        status = handle.status()
                        pytest.fail(
                            f"libtorrent closed the connection to our seeder ({served.ended_by}) with"
                            f" {status.total_wanted_done} of {SIZE} bytes done"
                            f" ({served.bytes_served} served)", pytrace=False)
                return False

            wait_for("libtorrent to download the torrent from our seeder", complete)
            seconds = time.monotonic() - started
            counters = session_counters(
                lt, session, ["peer.num_tcp_peers", "utp.utp_payload_pkts_in", "net.recv_payload_bytes"])
            handle.flush_cache()
            session.remove_torrent(handle)
            wait_for("libtorrent to release the torrent", lambda: not session.get_torrents())

            assert sha1_file(leech_dir / meta.name) == hashlib.sha1(torrent["content"]).hexdigest()
            nbytes = (leech_dir / meta.name).stat().st_size
            assert served.remote is not None and served.remote.peer_id.startswith(b"-LT")
            assert served.bytes_served >= SIZE, f"we served {served.bytes_served} bytes"
            assert on_utp == {True}, f"libtorrent's peer utp_socket flags seen: {on_utp}"
            assert counters["peer.num_tcp_peers"] == 0, counters
            assert counters["utp.utp_payload_pkts_in"] >= SIZE // 1500, counters
            assert counters["net.recv_payload_bytes"] >= SIZE, counters
            wait = first_payload - started
            print(f"\nwe served {served.blocks_served} blocks; libtorrent counters {counters};"
                  f" our first block went out {wait:.2f} s after connect_peer (libtorrent's connection"
                  f" scheduling), then {SIZE / 1048576 / (seconds - wait):.1f} MiB/s")
            passed = True
        finally:
            record(lt, "rutp->libtorrent", passed, nbytes, seconds)
            for stream in accepted:
                stream.close()
        seeder.join(timeout=10)
        assert not seeder.is_alive(), "our seeder did not finish after the connection closed"
        print(f"our seeder's connection ended by {served.ended_by or failures}")
        if failures and not isinstance(failures[0], (ConnectionError, socket.timeout, OSError)):
            raise failures[0]
