#!/usr/bin/env bash
# Moves a random file over real uTP on the loopback interface through the Rust engine API
# (scripts/demo.sh, the main job, does it through the C API).
#
# Builds examples/udp_file_transfer.rs in release mode, starts its `receive` half in one process
# and its `send` half in another (both on 127.0.0.1), checks that the copy is byte-identical, and
# prints the throughput and the engine's connection statistics reported by both halves.
#
# Needs only cargo, bash and coreutils. Exits non-zero if anything fails; temporary files and
# background processes are removed on every exit path.
#
# Environment:
#   DEMO_SIZE_MIB   size of the random file in MiB (default 64)
#   DEMO_TIMEOUT    hard limit in seconds for each half of the transfer (default 300); each half
#                   also gives up by itself after 60 s without progress
set -euo pipefail

size_mib=${DEMO_SIZE_MIB:-64}
run_timeout=${DEMO_TIMEOUT:-300}
[[ $size_mib =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_SIZE_MIB must be a positive integer" >&2; exit 2; }
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_TIMEOUT must be a positive integer" >&2; exit 2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rutp-demo.XXXXXX")
pids=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf -- "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "demo: FAILED: $*" >&2
    exit 1
}

# Prints a file with every line prefixed by "  [name] ".
show() {
    local name=$1 file=$2 line
    [[ -f $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        printf '  [%s] %s\n' "$name" "$line"
    done <"$file"
}

# System-wide count of UDP datagrams dropped because a socket receive buffer was full (Linux,
# per network namespace); -1 when unavailable.
udp_rcvbuf_errors() {
    local line i
    local -a names=() values=()
    if [[ -r /proc/net/snmp ]]; then
        while IFS= read -r line; do
            if [[ $line == Udp:* ]]; then
                if ((${#names[@]} == 0)); then
                    read -ra names <<<"$line"
                else
                    read -ra values <<<"$line"
                fi
            fi
        done </proc/net/snmp
        for i in "${!names[@]}"; do
            if [[ ${names[i]} == RcvbufErrors && -n ${values[i]:-} ]]; then
                echo "${values[i]}"
                return
            fi
        done
    fi
    echo -1
}

echo "demo: building the example (release)"
cargo build --quiet --release --example udp_file_transfer

echo "demo: creating a ${size_mib} MiB random file"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$tmp/in.bin"
in_size=$(stat -c %s "$tmp/in.bin")
((in_size == size_mib * 1024 * 1024)) || die "could not create the input file"

drops_before=$(udp_rcvbuf_errors)

# The receiver: bind any free port on loopback, print the address first.
: >"$tmp/receiver.out"
timeout -k 5 "$run_timeout" \
    cargo run --quiet --release --example udp_file_transfer -- \
    receive 127.0.0.1:0 "$tmp/out.bin" >"$tmp/receiver.out" 2>"$tmp/receiver.err" &
receiver_pid=$!
pids+=("$receiver_pid")

addr=
for ((i = 0; i < 600; i++)); do
    if IFS= read -r addr <"$tmp/receiver.out" && [[ -n $addr ]]; then
        break
    fi
    addr=
    if ! kill -0 "$receiver_pid" 2>/dev/null; then
        show receiver "$tmp/receiver.err" >&2
        die "the receiver exited before it was listening"
    fi
    sleep 0.1
done
[[ -n $addr ]] || die "the receiver did not report its address within 60 s"
[[ $addr =~ ^127\.0\.0\.1:[0-9]+$ ]] || die "unexpected receiver address: $addr"
echo "demo: receiver listening on $addr"

timeout -k 5 "$run_timeout" \
    cargo run --quiet --release --example udp_file_transfer -- \
    send "$addr" "$tmp/in.bin" >"$tmp/sender.out" 2>"$tmp/sender.err" &
sender_pid=$!
pids+=("$sender_pid")
echo "demo: sending $in_size bytes"

sender_status=0
wait "$sender_pid" || sender_status=$?
receiver_status=0
wait "$receiver_pid" || receiver_status=$?
pids=()

drops_after=$(udp_rcvbuf_errors)

echo "demo: sender (exit status $sender_status):"
show sender "$tmp/sender.out"
show sender "$tmp/sender.err"
echo "demo: receiver (exit status $receiver_status):"
tail -n +2 "$tmp/receiver.out" >"$tmp/receiver.report"
show receiver "$tmp/receiver.report"
show receiver "$tmp/receiver.err"
if ((drops_before >= 0 && drops_after >= 0)); then
    echo "demo: UDP receive-buffer drops on this host during the run: $((drops_after - drops_before))" \
        "(system-wide counter, other programs included)"
fi

for half in sender receiver; do
    status_var=${half}_status
    case ${!status_var} in
        0) ;;
        124 | 137) die "the $half did not finish within ${run_timeout} s" ;;
        *) die "the $half exited with status ${!status_var}" ;;
    esac
done

[[ -f $tmp/out.bin ]] || die "the receiver wrote no file"
out_size=$(stat -c %s "$tmp/out.bin")
((out_size == in_size)) || die "size mismatch: sent $in_size bytes, received $out_size"
in_sum=$(sha256sum <"$tmp/in.bin")
out_sum=$(sha256sum <"$tmp/out.bin")
[[ $in_sum == "$out_sum" ]] || die "the received file differs from the sent one"
echo "demo: OK: received file is byte-identical (sha256 ${in_sum%% *})"

# The headline: goodput measured by the receiver from accept to end of stream.
report=$(<"$tmp/receiver.report")
[[ $report =~ in\ ([0-9.]+)\ s\ =\ ([0-9.]+)\ MiB/s ]] || die "the receiver reported no throughput"
echo "demo: throughput ${BASH_REMATCH[2]} MiB/s (${size_mib} MiB in ${BASH_REMATCH[1]} s," \
    "receiver wall clock from accept to end of stream)"
