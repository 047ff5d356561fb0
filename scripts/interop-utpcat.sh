#!/usr/bin/env bash
# Interop check of utpcat (our netcat on the managed runtime) against itself and against libutp's
# example program ucat, over 127.0.0.1.
#
# usage: scripts/interop-utpcat.sh [MiB]          (MiB default 50)
#
# A random file of MiB is moved in each mode below and checked with sha256sum. "X -> Y" means X
# sends and Y receives; the listener is named in brackets.
#   u2u       utpcat -> utpcat  [receiver listens]
#   u2u-rev   utpcat -> utpcat  [sender listens]
#   u2c       utpcat -> ucat    [ucat listens]
#   u2c-rev   utpcat -> ucat    [utpcat listens]
#   c2u       ucat   -> utpcat  [utpcat listens]
#   c2u-rev   ucat   -> utpcat  [ucat listens]
# ucat keeps the OS default socket buffers (it has no option for them); utpcat asks for 4 MiB
# (the runtime's default). That mismatch is the point of the utpcat -> ucat modes: a sender
# must not overrun a receiver whose socket buffer is small.
#
# ucat quirks handled here: a listening ucat quits as soon as its stdin is at end of input, and
# a receiving ucat only closes once its own stdin ends; so a receiving ucat's stdin is a pipe
# that is closed once the output file is complete. A listening ucat cannot report an ephemeral
# port without its per-packet debug output, so every listener's port is read from
# /proc/net/udp through the socket inode of the process.
#
# Each transfer is bounded: TIMEOUT seconds, then SIGTERM, then SIGKILL 5 s later. The rate
# printed is MiB / (time from starting the connector until the receiver's output is complete),
# polled every 10 ms. For a utpcat sender, its --stats retransmission and timeout counts are
# printed too, with the host's RcvbufErrors delta (/proc/net/snmp) over the transfer.
# Exit status: 0 if every transfer matched, 1 on any mismatch, failure or timeout, 2 on usage.
#
# Environment:
#   TIMEOUT=SECONDS   per transfer (default 60)
#   MODES="..."       subset of the modes above (default all six)
#   RUNS=N            repeat every mode N times (default 1)
#   WORK=DIR          scratch directory (default target/interop-utpcat)
#   UTPCAT=PATH       use this utpcat instead of building target/release/utpcat
#   KEEP=1            keep the data files
set -euo pipefail

usage() { echo "usage: $0 [MiB]" >&2; exit 2; }
[[ $# -le 1 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-50}
[[ $mib =~ ^[0-9]+$ && $mib -ge 1 ]] || usage
timeout_s=${TIMEOUT:-60}
modes=${MODES:-u2u u2u-rev u2c u2c-rev c2u c2u-rev}
runs=${RUNS:-1}
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || usage
work=${WORK:-$root/target/interop-utpcat}
bytes=$((mib * 1048576))

tag=interop-utpcat
# say, die, and background processes cleaned up on exit
# shellcheck source=scripts/lib-procs.sh
source "$root/scripts/lib-procs.sh"

# --- the two programs -------------------------------------------------------------------------
if [[ -n ${UTPCAT:-} ]]; then
    utpcat=$UTPCAT
else
    say "building utpcat (release)"
    (cd "$root" && cargo build --locked --release --quiet --bin utpcat)
    utpcat=${CARGO_TARGET_DIR:-$root/target}/release/utpcat
fi
[[ -x $utpcat ]] || die "no utpcat at $utpcat"
refdir=$root/target/reference-libutp
[[ -x $refdir/libutp/ucat ]] || bash "$root/scripts/reference-libutp.sh" "$refdir" >&2
ucat=$refdir/libutp/ucat
[[ -x $ucat ]] || die "no ucat at $ucat"

# run_utpcat ARGS... / run_ucat ARGS... : bounded in time (exec: the caller's $! is `timeout`)
run_utpcat() { exec timeout -k 5 "$timeout_s" "$utpcat" --stats "$@"; }
run_ucat() { exec timeout -k 5 "$timeout_s" "${ucat_cmd[@]}" "$@"; }
ucat_cmd=(env "LD_LIBRARY_PATH=$refdir/libutp" "$ucat" -B 65536)

# ucat's stdin, served over a socket pair by scripts/ucat-gate.py (see there):
#   gate hold OUT -- CMD...     stdin stays open, sending nothing, until OUT has all its bytes
#   gate feed IN T0 -- CMD...   once the file $work/go exists, waits 0.2 s, writes the time into
#                               T0 and streams IN
# The helper waits for CMD and exits with its status.
gate() { GATE_BYTES=$bytes GATE_GO=$work/go exec timeout -k 5 "$timeout_s" python3 "$root/scripts/ucat-gate.py" "$@"; }

# PID and its descendants.
descendants() {
    local c
    echo "$1"
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null || true); do descendants "$c"; done
}

# The UDP port the process PID (or one of its descendants) has bound, from /proc/net/udp.
udp_port() {
    local pid=$1 p fd link inodes=()
    for p in $(descendants "$pid"); do
        for fd in /proc/"$p"/fd/*; do
            link=$(readlink "$fd" 2>/dev/null || true)
            [[ $link =~ ^socket:\[([0-9]+)\]$ ]] && inodes+=("${BASH_REMATCH[1]}")
        done
    done
    ((${#inodes[@]})) || return 0
    local hex
    hex=$(awk -v want=" ${inodes[*]} " 'NR > 1 && index(want, " " $10 " ") {
        split($2, a, ":"); print a[2]; exit }' /proc/net/udp)
    [[ -n $hex ]] && echo $((16#$hex))
    return 0
}

rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp; }
now() { date +%s.%N; }

# start_listener ROLE(send|recv) PROG OUT LOG : starts it, sets $lpid
start_listener() {
    local role=$1 prog=$2 out=$3 log=$4
    case $prog/$role in
        utpcat/recv) run_utpcat -l -s 127.0.0.1 -p 0 </dev/null >"$out" 2>"$log" & ;;
        utpcat/send) run_utpcat -l -s 127.0.0.1 -p 0 <"$work/in.bin" >/dev/null 2>"$log" & ;;
        ucat/recv) gate hold "$out" -- "${ucat_cmd[@]}" -l -s 127.0.0.1 -p 0 >"$out" 2>"$log" & ;;
        ucat/send) gate feed "$work/in.bin" "$t0_file" -- "${ucat_cmd[@]}" -l -s 127.0.0.1 -p 0 \
            >/dev/null 2>"$log" & ;;
    esac
    lpid=$!
}

# start_connector ROLE PROG PORT OUT LOG : starts it, sets $cpid
start_connector() {
    local role=$1 prog=$2 port=$3 out=$4 log=$5
    case $prog/$role in
        utpcat/recv) run_utpcat 127.0.0.1 "$port" </dev/null >"$out" 2>"$log" & ;;
        utpcat/send) run_utpcat 127.0.0.1 "$port" <"$work/in.bin" >/dev/null 2>"$log" & ;;
        ucat/recv) gate hold "$out" -- "${ucat_cmd[@]}" 127.0.0.1 "$port" >"$out" 2>"$log" & ;;
        ucat/send) run_ucat 127.0.0.1 "$port" <"$work/in.bin" >/dev/null 2>"$log" & ;;
    esac
    cpid=$!
}

# transfer TAG SENDER RECEIVER LISTENER_ROLE(recv|send)
results=()
failures=0
transfer() {
    local tag=$1 snd=$2 rcv=$3 lrole=$4
    local d=$work/run-$tag
    rm -rf "$d"; mkdir -p "$d"
    local out=$d/out.bin t0_file=$d/t0 lprog cprog crole
    : >"$out"
    rm -f "$work/go"
    if [[ $lrole == recv ]]; then lprog=$rcv; cprog=$snd; crole=send
    else lprog=$snd; cprog=$rcv; crole=recv; fi
    local lout=/dev/null cout=/dev/null
    [[ $lrole == recv ]] && lout=$out || cout=$out

    local drops0; drops0=$(rcvbuf_errors)
    start_listener "$lrole" "$lprog" "$lout" "$d/listener.log"
    pids+=("$lpid")
    local port="" i
    for ((i = 0; i < 500; i++)); do
        port=$(udp_port "$lpid")
        [[ -n $port ]] && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.01
    done
    if [[ -z $port ]]; then
        cat "$d/listener.log" >&2
        kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; pids=()
        results+=("FAIL  $tag: listener did not start")
        say "FAIL  $tag: listener did not start"; failures=$((failures + 1)); return
    fi

    local t0; t0=$(now)
    start_connector "$crole" "$cprog" "$port" "$cout" "$d/connector.log"
    pids+=("$cpid")
    touch "$work/go"

    # The receiver's output is complete: the data phase is over.
    local t_data=""
    while :; do
        if [[ $(stat -c %s "$out") -ge $bytes ]]; then t_data=$(now); break; fi
        kill -0 "$lpid" 2>/dev/null || kill -0 "$cpid" 2>/dev/null || break
        sleep 0.01
    done
    local lrc=0 crc=0
    wait "$lpid" || lrc=$?
    wait "$cpid" || crc=$?
    local t1; t1=$(now)
    pids=()
    local drops=$(($(rcvbuf_errors) - drops0))

    local ok=1 why=()
    ((lrc == 0)) || { ok=0; why+=("listener ($lprog) exit $lrc"); }
    ((crc == 0)) || { ok=0; why+=("connector ($cprog) exit $crc"); }
    local got; got=$(sha256sum <"$out" | cut -d' ' -f1)
    [[ $got == "$want_sha" ]] || { ok=0; why+=("sha256 mismatch ($(stat -c %s "$out") bytes received)"); }

    # A fed ucat starts sending when its input starts flowing.
    [[ -s $t0_file ]] && t0=$(cat "$t0_file")
    local rate="?" data_s="-"
    if [[ -n $t_data ]]; then
        data_s=$(awk -v a="$t0" -v b="$t_data" 'BEGIN { printf "%.3f", b - a }')
        rate=$(awk -v s="$data_s" -v m="$mib" 'BEGIN { printf "%.1f", (s > 0 ? m / s : 0) }')
    fi
    local wall; wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    # The sender's own account of its losses, when the sender is utpcat.
    local slog extra=""
    [[ $lrole == send ]] && slog=$d/listener.log || slog=$d/connector.log
    if [[ $snd == utpcat ]]; then
        extra=$(sed -n 's/.*retransmits \([0-9]*\) .*timeouts \([0-9]*\),.*/; sender retransmits \1, timeouts \2/p' "$slog")
    fi
    local line
    line=$(printf '%-8s %-6s -> %-6s (%-6s listens) %7s MiB/s (data %s s, all done %s s)%s; RcvbufErrors +%d' \
        "$tag" "$snd" "$rcv" "$lprog" "$rate" "$data_s" "$wall" "$extra" "$drops")
    if ((ok)); then
        results+=("PASS  $line")
        say "PASS  $line"
        [[ ${KEEP:-0} == 1 ]] || rm -f "$out"
    else
        results+=("FAIL  $line: ${why[*]}")
        say "FAIL  $line: ${why[*]}"
        say "--- $d/listener.log"; tail -20 "$d/listener.log" >&2
        say "--- $d/connector.log"; tail -20 "$d/connector.log" >&2
        failures=$((failures + 1))
    fi
}

# --- main -------------------------------------------------------------------------------------
command -v sha256sum >/dev/null || die "no sha256sum"
mkdir -p "$work"
work=$(cd "$work" && pwd)
say "making $mib MiB of random data"
head -c "$bytes" /dev/urandom >"$work/in.bin"
want_sha=$(sha256sum <"$work/in.bin" | cut -d' ' -f1)

for ((run = 1; run <= runs; run++)); do
    for m in $modes; do
        case $m in
            u2u) transfer u2u utpcat utpcat recv ;;
            u2u-rev) transfer u2u-rev utpcat utpcat send ;;
            u2c) transfer u2c utpcat ucat recv ;;
            u2c-rev) transfer u2c-rev utpcat ucat send ;;
            c2u) transfer c2u ucat utpcat recv ;;
            c2u-rev) transfer c2u-rev ucat utpcat send ;;
            *) die "unknown mode $m" ;;
        esac
    done
done

[[ ${KEEP:-0} == 1 ]] || rm -f "$work/in.bin"
echo "interop-utpcat: $mib MiB, $runs run(s) per mode, utpcat=$utpcat, ucat=$ucat (default socket buffers)"
printf '%s\n' "${results[@]}"
if ((failures)); then
    echo "interop-utpcat: $failures transfer(s) FAILED (logs in $work)"
    exit 1
fi
echo "interop-utpcat: all transfers PASSED"
