#!/usr/bin/env bash
# The main job: moves a 64 MiB random file over uTP on 127.0.0.1 twice, and checks each copy
# with sha256sum and prints the throughput:
#   1. between two utpcat processes (src/bin/utpcat.rs, the managed runtime: the library owns the
#      sockets and threads), one listening, one sending;
#   2. through the libutp C API: our libutp.so is built, a netcat-style client written only
#      against utp.h (examples/c/utp_netcat.c) is compiled against it, one copy listens and one
#      sends.
# Needs cargo, gcc, python3, bash, coreutils.
#   DEMO_SIZE_MIB=N   file size (default 64)
# scripts/demo-rust.sh does the same through the Rust engine API directly.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${DEMO_SIZE_MIB:-64}

echo "demo: ${size} MiB from utpcat to utpcat (managed runtime)"
MODES=u2u WORK=target/demo-utpcat bash scripts/interop-utpcat.sh "$size"

echo "demo: building libutp.so (release)"
cargo build --locked --release --quiet
stage=target/demo-stage
rm -rf "$stage" && mkdir -p "$stage/include" "$stage/lib"
cp include/utp.h include/utp_types.h "$stage/include/"
cp target/release/libutp.so "$stage/lib/libutp.so.0"
ln -sf libutp.so.0 "$stage/lib/libutp.so"

echo "demo: ${size} MiB from utp_netcat to utp_netcat, both linked against our libutp.so"
MODES=a2b WORK=target/demo-netcat bash scripts/interop-netcat.sh "$stage" "$stage" "$size"
