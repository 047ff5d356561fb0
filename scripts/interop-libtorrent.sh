#!/usr/bin/env bash
# Interop with libtorrent-rasterbar's own uTP (issue 7): BitTorrent over our uTP, written with the
# Python package, both directions, 64 MiB, uTP only on 127.0.0.1 (python/interop/test_libtorrent.py;
# test_bittorrent.py checks our BitTorrent helper on its own).
# Installs libtorrent from PyPI (the 2.1.x wheel) and pytest into target/interop-venv, installs our
# package there, and runs the test against the library just built. A failed install fails the run.
# Prints one table line per direction and writes them to target/interop/libtorrent.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$PWD/target/interop"
tag=interop-libtorrent.sh
# shellcheck source=scripts/lib-venv.sh
source scripts/lib-venv.sh

rutp_library
mkdir -p "$out"
rm -f "$out/libtorrent.txt"
if ! rutp_venv "$PWD/target/interop-venv" 'libtorrent>=2.1,<2.2' pytest; then
    echo "$tag: FAIL: cannot install libtorrent 2.1.x from PyPI into target/interop-venv" >&2
    for direction in 'libtorrent->rutp' 'rutp->libtorrent'; do
        echo "interop | libtorrent (not installed) | bittorrent 64 MiB | $direction | FAIL | 0 | -"
    done | tee "$out/libtorrent.txt"
    exit 1
fi

export RUTP_LIBRARY="$library" RUTP_INTEROP_DIR="$out"
"$python" -m pytest python/interop/test_bittorrent.py python/interop/test_libtorrent.py -q -s -p no:cacheprovider
