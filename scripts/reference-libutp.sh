#!/usr/bin/env bash
# Builds the reference C libutp, for interop tests against our crate's C API.
#
# usage: scripts/reference-libutp.sh [OUT_DIR]        (default: target/reference-libutp)
#
# The sources come from the npm package utp-native@2.5.3, whose tarball carries a copy of
# bittorrent/libutp (MIT) under deps/libutp. They are installed into OUT_DIR, copied to
# OUT_DIR/libutp and built there with libutp's own Makefile: libutp.so, libutp.a and its example
# program ucat. Nothing of it is ever part of our repository; keep OUT_DIR under target/.
#
# Idempotent: when OUT_DIR already holds a finished build, only the paths are printed.
# On a fresh Debian machine (as root) missing node/npm, make and g++ are installed with apt-get.
#
# Outputs (flat layout, as scripts/interop-netcat.sh expects it):
#   OUT_DIR/libutp/utp.h, utp_types.h     headers
#   OUT_DIR/libutp/libutp.so              shared library (no SONAME; depends on libstdc++)
#   OUT_DIR/libutp/libutp.a               static library (link with -lstdc++)
#   OUT_DIR/libutp/ucat                   linked against ./libutp.so without rpath: run it with
#                                         LD_LIBRARY_PATH=OUT_DIR/libutp
set -euo pipefail

readonly PKG=utp-native
readonly VERSION=2.5.3

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/reference-libutp}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/libutp
stamp=$out/.built-$PKG-$VERSION

say() { printf 'reference-libutp: %s\n' "$*" >&2; }

print_paths() {
    printf 'include dir: %s\n' "$src"
    printf 'header:      %s\n' "$src/utp.h"
    printf 'shared lib:  %s\n' "$src/libutp.so"
    printf 'static lib:  %s\n' "$src/libutp.a"
    printf 'ucat:        %s   (run with LD_LIBRARY_PATH=%s)\n' "$src/ucat" "$src"
}

built() {
    [[ -f $stamp ]] || return 1
    local f
    for f in utp.h utp_types.h libutp.so libutp.a ucat; do
        [[ -s $src/$f ]] || return 1
    done
}

if built; then
    say "already built in $out"
    print_paths
    exit 0
fi

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing tools: ${missing[*]} (install them, or run as root on Debian)"
        exit 1
    fi
    say "installing with apt-get: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$out/apt.log" 2>&1 || { cat "$out/apt.log" >&2; exit 1; }
    apt-get install -y -q --no-install-recommends ca-certificates "${missing[@]}" \
        >>"$out/apt.log" 2>&1 || { cat "$out/apt.log" >&2; exit 1; }
fi

# --- sources from the npm tarball ------------------------------------------------------------
rm -f "$stamp"
pkgdir=$out/node_modules/$PKG
have_version=$(node -p "try { require('$pkgdir/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [[ $have_version != "$VERSION" ]]; then
    say "npm install $PKG@$VERSION into $out"
    [[ -f $out/package.json ]] || printf '{ "name": "reference-libutp", "private": true }\n' >"$out/package.json"
    # --ignore-scripts: we only want the bundled C++ sources, not the Node addon.
    (cd "$out" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
        "$PKG@$VERSION") >"$out/npm.log" 2>&1 || { cat "$out/npm.log" >&2; exit 1; }
fi
[[ -f $pkgdir/deps/libutp/utp.h ]] || { say "no deps/libutp in $pkgdir"; exit 1; }

rm -rf "$src"
cp -r "$pkgdir/deps/libutp" "$src"

# --- build ------------------------------------------------------------------------------------
say "building libutp.so, libutp.a, ucat (log: $out/build.log)"
jobs=$(nproc 2>/dev/null || echo 2)
if ! make -C "$src" -j"$jobs" libutp.so libutp.a ucat >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    say "build failed"
    exit 1
fi
built_ok=1
for f in libutp.so libutp.a ucat; do [[ -s $src/$f ]] || built_ok=0; done
((built_ok)) || { cat "$out/build.log" >&2; say "build produced no $f"; exit 1; }

date -u +%Y-%m-%dT%H:%M:%SZ >"$stamp"
say "done"
print_paths
