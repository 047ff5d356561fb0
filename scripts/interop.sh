#!/usr/bin/env bash
# Issue 7's interop matrix in one command: installs the real peers (each script below installs
# its own from package registries, and fails with a clear message when it cannot), runs every
# cell, and prints the whole table at the end.
#
# usage: scripts/interop.sh            (root: the namespace cells need CAP_NET_ADMIN)
#
#   scripts/interop-libtorrent.sh     libtorrent 2.1.x (PyPI): BitTorrent both ways, direct and
#                                     through udp-relay
#   scripts/interop-transmission.sh   Transmission 3.00 (Debian transmission-cli): BitTorrent
#   scripts/interop-libutp.sh         the reference libutp 2.5.3 (npm utp-native): bulk, RESET,
#                                     the Python package, the impairment relay
#   scripts/interop-netns.sh          libutp and libtorrent across network namespaces: tbf with
#                                     nftables loss, and a 1280-byte MTU link
#
# Every script runs even when an earlier one failed, so one run shows every cell. The table
# (`interop | peer | scenario | direction | PASS/FAIL | bytes | MiB/s`) is the concatenation of
# target/interop/{libtorrent,transmission,libutp,netns}.txt, also written to
# target/interop/table.txt. Exit status 1 if any script failed or any line says FAIL.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/interop
tag=interop
# shellcheck source=scripts/lib-procs.sh
source "$root/scripts/lib-procs.sh"

parts=(libtorrent transmission libutp netns)
mkdir -p "$out"
failed=()
for part in "${parts[@]}"; do
    rm -f "$out/$part.txt"
    printf '\n==> interop: %s\n' "$part"
    if ! bash "$root/scripts/interop-$part.sh"; then
        failed+=("$part")
    fi
done

: >"$out/table.txt"
for part in "${parts[@]}"; do
    if [[ -s $out/$part.txt ]]; then
        cat "$out/$part.txt" >>"$out/table.txt"
    else
        echo "interop | $part | (no result: scripts/interop-$part.sh wrote no table) | - | FAIL | 0 | -" >>"$out/table.txt"
        [[ " ${failed[*]} " == *" $part "* ]] || failed+=("$part")
    fi
done

printf '\n==> interop matrix (%s)\n' "$out/table.txt"
cat "$out/table.txt"
cells=$(grep -c '^interop |' "$out/table.txt")
fails=$(grep -c '| FAIL |' "$out/table.txt")
say "$cells cells, $((cells - fails)) PASS, $fails FAIL"
if ((${#failed[@]} || fails)); then
    say "failed: ${failed[*]:-cells marked FAIL}"
    exit 1
fi
