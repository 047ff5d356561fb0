#!/usr/bin/env bash
# Runs every check and test of the project, as CI does (.ci/run calls this script).
# On a fresh Debian machine it needs only the Rust toolchain (cargo, rustfmt, clippy); later
# parts of the suite install what they need themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all -- --check

step "the engine reads no clock and touches no socket or thread"
bash scripts/check-proto-purity.sh

step "clippy"
cargo clippy --locked --all-targets --features sim -- -D warnings

step "docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps --features sim --quiet

step "unit tests"
cargo test --locked --features sim --lib

step "simulator scenarios (one summary line each)"
mkdir -p target
cargo test --locked --features sim --test scenarios -- --nocapture 2>&1 | tee target/scenarios.log |
    grep -E '^(scenario|goodput|test result)|FAILED|panicked' || true
grep -q '^test result: ok' target/scenarios.log

step "engine benchmark (short run; the README records the 256 MiB figures)"
RUTP_BENCH_MIB="${RUTP_BENCH_MIB:-64}" cargo bench --locked --features sim --bench engine
