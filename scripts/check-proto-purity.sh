#!/usr/bin/env bash
# The sans-IO engine (src/proto) must not read a clock, open sockets, spawn threads or use
# std::net (issue 2). clippy.toml's disallowed-methods also rejects clock reads at compile time.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='std::net|Instant::now|SystemTime|std::thread|UdpSocket|std::sync|std::fs|std::io::(stdin|stdout)'
if grep -rnE "$pattern" src/proto; then
    echo "src/proto must stay sans-IO: the lines above break that" >&2
    exit 1
fi
echo "src/proto is sans-IO"
