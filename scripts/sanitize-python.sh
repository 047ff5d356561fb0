#!/usr/bin/env bash
# The Python package's pytest suite against a libutp.so built with AddressSanitizer.
#
# The library (with std, so that std's own allocations and copies are checked too) is built by
# nightly Rust with -Zsanitizer=address -Zbuild-std. A Rust cdylib does not carry the ASan
# runtime (rustc links it into executables only), and the Python interpreter is not
# instrumented, so the runtime is preloaded into every Python process of the run (pytest and the
# interpreters the tests start):
# * gcc's shared libasan (libasan.so.8 of GCC 12 here) is the runtime. It serves the LLVM
#   instrumentation nightly rustc emits: same ABI version (__asan_version_mismatch_check_v8),
#   and the script checks first that it defines every __asan_* symbol the library needs.
# * Rust's own runtime (librustc-nightly_rt.asan.a) is for static linking into executables: as
#   a shared object it cannot be made as is (ld: ".preinit_array section is not allowed in
#   DSO"), and without that object its leak checker fails under this seccomp profile ("ptrace
#   appears to be blocked ... Child exited with signal 42"), while gcc's works.
#
# Memory errors abort the process that hits them (abort_on_error=1): the test fails, and the
# report is kept in $CARGO_TARGET_DIR/asan-python/logs (CARGO_TARGET_DIR defaulting to target). Leaks: the interpreter frees little at exit, so
# every Python process ends with leak reports of its own. They cannot be told apart by an LSan
# suppression (any of our allocations made through ctypes has interpreter frames on its stack
# too), so leaks do not change exit codes (exitcode=0) and the script reads the reports
# instead: a leak whose allocation stack passes through libutp.so is ours and fails the run;
# the others are the interpreter's and are only counted.
#
# Cost, measured on the shared 2-core machine (load 5 to 7 from other builds): the cold build
# (std and five dependencies, release) 290 s wall, the suite 60 s (169 tests, as unsanitized);
# 2 min 21 s of CPU in all.
#
# usage: scripts/sanitize-python.sh [PYTEST ARGS...]    (prints "sanitize-python: PASS/FAIL")
set -euo pipefail
cd "$(dirname "$0")/.."

tag=sanitize-python.sh
say() { printf 'sanitize-python: %s\n' "$*"; }
# shellcheck source=scripts/lib-venv.sh
source scripts/lib-venv.sh

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing rust-src for nightly"
    rustup component add rust-src --toolchain nightly >/dev/null
fi
command -v gcc >/dev/null || apt_install gcc
target=x86_64-unknown-linux-gnu
base=${CARGO_TARGET_DIR:-target}
case $base in /*) ;; *) base=$PWD/$base ;; esac
out=$base/asan-python
logs=$out/logs
start=$SECONDS
say "building libutp.so with -Zsanitizer=address (std included)"
RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=$out/cargo \
    cargo +nightly build --locked --quiet --release -Zbuild-std --target $target --lib
library=$out/cargo/$target/release/libutp.so
runtime=$(gcc -print-file-name=libasan.so)
runtime=$(readlink -f "$runtime")
[[ -f $runtime ]] || { say "error: gcc has no shared libasan"; say FAIL; exit 1; }
missing=$(comm -23 \
    <(nm -D --undefined-only "$library" | awk '{print $2}' | grep '^__asan' | sort -u) \
    <(nm -D --defined-only "$runtime" | awk '{print $3}' | sort -u))
if [[ -n $missing ]]; then
    say "error: $runtime lacks what the library calls: $missing"; say FAIL; exit 1
fi
say "runtime: $runtime; build took $((SECONDS - start)) s"

rutp_venv "$PWD/target/python-venv" pytest
rm -rf "$logs" && mkdir -p "$logs"
export RUTP_LIBRARY=$library
# leaks FILE: the leak reports in FILE with a frame in libutp.so, and those without.
leaks() {
    awk '
        /^(Direct|Indirect) leak/ { if (inleak) { if (mine) o++; else t++ } inleak = 1; mine = 0; next }
        inleak && /libutp\.so/ { mine = 1 }
        END { if (inleak) { if (mine) o++; else t++ } print o + 0, t + 0 }' "$@"
}
# asan_options DIR: the options of every run, reports written to DIR/asan.<pid>.
asan_options() {
    echo "abort_on_error=1:halt_on_error=1:detect_leaks=1:exitcode=0:log_path=$1/asan:symbolize=0"
}
# Canary: a context that is never destroyed must be found as a leak through libutp.so, or the
# classification below would pass anything.
canary=$logs/canary
mkdir -p "$canary"
ASAN_OPTIONS=$(asan_options "$canary") LD_PRELOAD=$runtime "$python" -c '
import ctypes, os
lib = ctypes.CDLL(os.environ["RUTP_LIBRARY"])
lib.utp_init.restype = ctypes.c_void_p
assert lib.utp_init(2)
'
read -r found _ < <(cat "$canary"/asan.* 2>/dev/null | leaks)
if [[ $found == 0 ]]; then
    say "error: the canary's leaked context was not reported through libutp.so"; say FAIL; exit 1
fi
say "canary: a leaked context is reported through libutp.so (leak checking is live)"
status=0
ASAN_OPTIONS=$(asan_options "$logs") LD_PRELOAD=$runtime "$python" -m pytest python/tests -q -p no:cacheprovider "$@" || status=$?

# Every report: memory errors fail; leak reports fail when a frame is in libutp.so.
errors=$(grep -l 'ERROR: AddressSanitizer' "$logs"/asan.* 2>/dev/null || true)
ours=0 theirs=0
for log in "$logs"/asan.*; do  # (the canary's reports are in a subdirectory)
    [[ -f $log ]] || continue
    read -r o t < <(leaks "$log")
    ours=$((ours + o)) theirs=$((theirs + t))
    if [[ $o -gt 0 ]]; then say "leak in libutp.so ($log):"; grep -A25 -m3 'leak of' "$log" | head -60; fi
done
say "leak reports: $ours through libutp.so, $theirs of the interpreter alone (ignored)"
if [[ -n $errors ]]; then
    say "AddressSanitizer errors:"
    for f in $errors; do head -40 "$f"; done
fi
say "took $((SECONDS - start)) s"
if [[ $status == 0 && -z $errors && $ours == 0 ]]; then say PASS; else say "FAIL (pytest exit $status)"; exit 1; fi
