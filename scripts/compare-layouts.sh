#!/usr/bin/env bash
# Compiles c-tests/interop/layout_probe.c against the reference libutp (header and library)
# and against ours, runs both, and requires identical output: every struct size and offset,
# constant, exported name and function seen by a client is the same.
# usage: compare-layouts.sh REFERENCE_DIR OUR_STAGE_DIR
#   REFERENCE_DIR: the reference build (utp.h and libutp.so side by side)
#   OUR_STAGE_DIR: our staged install (include/utp.h, lib/libutp.so)
set -euo pipefail
cd "$(dirname "$0")/.."
ref=$(cd "$1" && pwd)
ours=$(cd "$2" && pwd)
work=target/compare-layouts
mkdir -p "$work"
probe=c-tests/interop/layout_probe.c
gcc -std=gnu99 -Wall -Werror -I"$ref" "$probe" -L"$ref" -lutp -lstdc++ -Wl,-rpath,"$ref" -o "$work/probe-reference"
gcc -std=c99 -Wall -Werror -pedantic -I"$ours/include" "$probe" -L"$ours/lib" -lutp -Wl,-rpath,"$ours/lib" -o "$work/probe-ours"
LD_LIBRARY_PATH="$ref" "$work/probe-reference" > "$work/reference.txt"
LD_LIBRARY_PATH="$ours/lib" "$work/probe-ours" > "$work/ours.txt"
if ! diff -u "$work/reference.txt" "$work/ours.txt"; then
    echo "compare-layouts: our header or library differs from the reference (diff above)" >&2
    exit 1
fi
echo "compare-layouts: identical ($(wc -l < "$work/ours.txt") facts: layouts, constants, names, $(grep 'functions linked' "$work/ours.txt"))"
