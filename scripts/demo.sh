#!/usr/bin/env bash
# The main job: moves a 64 MiB random file over uTP on 127.0.0.1 through the C API. Our
# libutp.so is built, a netcat-style client written only against utp.h
# (examples/c/utp_netcat.c) is compiled against it, one copy listens and one sends, the file is
# checked with sha256sum, and the throughput is printed. Needs cargo, gcc, bash, coreutils.
#   DEMO_SIZE_MIB=N   file size (default 64)
# scripts/demo-rust.sh does the same through the Rust engine API directly.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${DEMO_SIZE_MIB:-64}

echo "demo: building libutp.so (release)"
cargo build --locked --release --quiet
stage=target/demo-stage
rm -rf "$stage" && mkdir -p "$stage/include" "$stage/lib"
cp include/utp.h include/utp_types.h "$stage/include/"
cp target/release/libutp.so "$stage/lib/libutp.so.0"
ln -sf libutp.so.0 "$stage/lib/libutp.so"

echo "demo: ${size} MiB from utp_netcat to utp_netcat, both linked against our libutp.so"
MODES=a2b WORK=target/demo-netcat bash scripts/interop-netcat.sh "$stage" "$stage" "$size"
