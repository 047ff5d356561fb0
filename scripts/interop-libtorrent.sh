#!/usr/bin/env bash
# Interop with libtorrent-rasterbar's own uTP (issue 7): BitTorrent over our uTP, written with the
# Python package, both directions, uTP only on 127.0.0.1 (python/interop/test_libtorrent.py;
# test_bittorrent.py checks our BitTorrent helper on its own). Each direction runs twice: 64 MiB
# straight over loopback, and 4 MiB through udp-relay (src/bin/udp-relay.rs) with the impairments
# of the libutp cells: 50 ms RTT, 2 % loss, 2 % reordering, 0.5 % duplication.
# Builds libutp.so and udp-relay (release), installs libtorrent from PyPI (the 2.1.x wheel) and
# pytest into target/interop-venv, installs our package there, and runs the test against the
# library just built. A failed install fails the run.
# Prints one table line per cell and writes them to target/interop/libtorrent.txt.
#
# Environment: SEED=N  the relay's seed (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."

out="$PWD/target/interop"
tag=interop-libtorrent.sh
# shellcheck source=scripts/lib-venv.sh
source scripts/lib-venv.sh

rutp_library
cargo build --locked --release --bin udp-relay --quiet
relay="$(dirname "$library")/udp-relay"
test -x "$relay"
mkdir -p "$out"
rm -f "$out/libtorrent.txt"
if ! rutp_venv "$PWD/target/interop-venv" 'libtorrent>=2.1,<2.2' pytest; then
    echo "$tag: FAIL: cannot install libtorrent 2.1.x from PyPI into target/interop-venv" >&2
    for scenario in 'bittorrent 64 MiB' 'bittorrent 4 MiB via relay 50 ms RTT 2% loss'; do
        for direction in 'libtorrent->rutp' 'rutp->libtorrent'; do
            echo "interop | libtorrent (not installed) | $scenario | $direction | FAIL | 0 | -"
        done
    done | tee "$out/libtorrent.txt"
    exit 1
fi

export RUTP_LIBRARY="$library" RUTP_RELAY="$relay" RUTP_RELAY_SEED="${SEED:-7}" RUTP_INTEROP_DIR="$out"
"$python" -m pytest python/interop/test_bittorrent.py python/interop/test_libtorrent.py -q -s -rxX -p no:cacheprovider
