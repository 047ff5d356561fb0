#!/usr/bin/env bash
# Interop check between two libutp-API libraries, over 127.0.0.1, with examples/c/utp_netcat.c.
#
# usage: scripts/interop-netcat.sh LIB_A_DIR LIB_B_DIR [MiB]          (MiB default 50)
#
# utp_netcat is built twice with gcc, once against each library, and a random file of MiB is moved
# A -> B and B -> A, each both ways round: the sender connecting to a receiving listener, and a
# sending listener serving a connecting receiver (which exercises libutp's "acceptor waits for
# the initiator's first data packet" rule). Every copy is checked with sha256sum.
# Exit status: 0 if every transfer matched, 1 on any mismatch, failure or timeout, 2 on usage.
#
# A library directory may be laid out as either of
#   DIR/include/utp.h (or DIR/include/libutp/utp.h)  +  DIR/lib/libutp.so
#   DIR/utp.h                                         +  DIR/libutp.so     (the reference build)
# utp_types.h must sit next to utp.h. Each binary gets an rpath to its own library directory and is
# also started with LD_LIBRARY_PATH set to it alone, so each process loads its own libutp.so; the
# resolved path is printed. -lstdc++ is added when the library depends on libstdc++.
#
# Environment:
#   TIMEOUT=SECONDS   per transfer (default 120; utp_netcat -t, plus a hard kill 10 s later)
#   SOCKBUF=BYTES     utp_netcat -b for both ends (default 4194304; 0 = OS default)
#   MODES="..."       subset of: a2b a2b-rev b2a b2a-rev (default all four)
#   WORK=DIR          scratch directory (default target/interop-netcat)
#   KEEP=1            keep the data files
#   CC=compiler       default gcc
set -euo pipefail

usage() { echo "usage: $0 LIB_A_DIR LIB_B_DIR [MiB]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
mib=${3:-50}
[[ $mib =~ ^[0-9]+$ && $mib -ge 1 ]] || usage
timeout_s=${TIMEOUT:-120}
sockbuf=${SOCKBUF:-4194304}
modes=${MODES:-a2b a2b-rev b2a b2a-rev}
cc=${CC:-gcc}
work=${WORK:-$root/target/interop-netcat}
src=$root/examples/c/utp_netcat.c

tag=interop-netcat
# say, die, and background processes cleaned up on exit
# shellcheck source=scripts/lib-procs.sh
source "$root/scripts/lib-procs.sh"

# --- locate headers and library ---------------------------------------------------------------
# prints "INCDIR LIBDIR" for a library directory
locate_lib() {
    local d inc="" lib=""
    d=$(cd "$1" 2>/dev/null && pwd) || die "no such directory: $1"
    if [[ -f $d/include/utp.h ]]; then inc=$d/include
    elif [[ -f $d/include/libutp/utp.h ]]; then inc=$d/include/libutp
    elif [[ -f $d/utp.h ]]; then inc=$d
    fi
    if [[ -e $d/lib/libutp.so ]]; then lib=$d/lib
    elif [[ -e $d/libutp.so ]]; then lib=$d
    fi
    [[ -n $inc ]] || die "$d: no utp.h (looked in include/, include/libutp/ and the directory)"
    [[ -n $lib ]] || die "$d: no libutp.so (looked in lib/ and the directory)"
    [[ -f $inc/utp_types.h ]] || die "$inc: utp.h without utp_types.h"
    printf '%s %s\n' "$inc" "$lib"
}

build() { # NAME LIBDIR_ARG -> $work/NAME/utp_netcat
    local name=$1 inc lib extra=()
    read -r inc lib < <(locate_lib "$2")
    mkdir -p "$work/$name"
    local dyn; dyn=$(readelf -d "$lib/libutp.so" 2>/dev/null || true)
    [[ $dyn == *"(NEEDED)"*"libstdc++"* ]] && extra+=(-lstdc++)
    "$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$inc" -o "$work/$name/utp_netcat" "$src" \
        -L"$lib" -lutp "${extra[@]}" -Wl,-rpath,"$lib" \
        >"$work/$name/build.log" 2>&1 || { cat "$work/$name/build.log" >&2; die "build $name failed"; }
    printf '%s\n' "$lib" >"$work/$name/libdir"
    local resolved
    resolved=$(LD_LIBRARY_PATH=$lib ldd "$work/$name/utp_netcat" | awk '$1 ~ /^libutp\.so/ {print $3}')
    [[ $resolved -ef $lib/libutp.so || $(readlink -f "$resolved") == $(readlink -f "$lib")/* ]] ||
        die "$name: libutp resolves to '$resolved', expected $lib"
    say "built $name: headers $inc, loads $resolved${extra:+ (linked with ${extra[*]})}"
}

# run NAME ARGS... : start utp_netcat of NAME with its own library, bounded in time
run_nc() {
    local name=$1; shift
    local lib; lib=$(cat "$work/$name/libdir")
    LD_LIBRARY_PATH=$lib exec timeout -k 5 $((timeout_s + 10)) \
        "$work/$name/utp_netcat" -t "$timeout_s" -b "$sockbuf" "$@"
}

rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp; }
now() { date +%s.%N; }

# transfer TAG SENDER RECEIVER LISTENER_ROLE(receiver|sender)
results=()
failures=0
transfer() {
    local tag=$1 snd=$2 rcv=$3 lrole=$4
    local d=$work/run-$tag
    rm -rf "$d"; mkdir -p "$d"
    local lname cname largs cargs
    if [[ $lrole == receiver ]]; then
        lname=$rcv; cname=$snd
    else
        lname=$snd; cname=$rcv
    fi
    local drops0; drops0=$(rcvbuf_errors)
    local t0; t0=$(now)

    # listener first, on an ephemeral port that it reports
    if [[ $lrole == receiver ]]; then
        run_nc "$lname" -l -N -s 127.0.0.1 -p 0 </dev/null >"$d/out.bin" 2>"$d/listener.log" &
    else
        run_nc "$lname" -l -s 127.0.0.1 -p 0 <"$work/in.bin" >/dev/null 2>"$d/listener.log" &
    fi
    local lpid=$!; pids+=("$lpid")
    local port="" i
    for ((i = 0; i < 500; i++)); do
        # (the log may not exist yet: the listener's shell creates it)
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]\+\).*/\1/p' "$d/listener.log" 2>/dev/null || true)
        [[ -n $port ]] && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.01
    done
    if [[ -z $port ]]; then
        cat "$d/listener.log" >&2
        kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; pids=()
        say "$tag: listener did not start"; failures=$((failures + 1)); return
    fi

    if [[ $lrole == receiver ]]; then
        run_nc "$cname" 127.0.0.1 "$port" <"$work/in.bin" >/dev/null 2>"$d/connector.log" &
    else
        run_nc "$cname" -N 127.0.0.1 "$port" </dev/null >"$d/out.bin" 2>"$d/connector.log" &
    fi
    local cpid=$!; pids+=("$cpid")

    local lrc=0 crc=0 t_rcv=""
    if [[ $lrole == receiver ]]; then
        wait "$lpid" || lrc=$?; t_rcv=$(now); wait "$cpid" || crc=$?
    else
        wait "$cpid" || crc=$?; t_rcv=$(now); wait "$lpid" || lrc=$?
    fi
    local t1; t1=$(now)
    pids=()
    local drops=$(( $(rcvbuf_errors) - drops0 ))

    local ok=1 why=()
    ((lrc == 0)) || { ok=0; why+=("listener exit $lrc"); }
    ((crc == 0)) || { ok=0; why+=("connector exit $crc"); }
    local got; got=$(sha256sum <"$d/out.bin" | cut -d' ' -f1)
    [[ $got == "$want_sha" ]] || { ok=0; why+=("sha256 mismatch ($(stat -c %s "$d/out.bin") bytes received)"); }

    local rlog; [[ $lrole == receiver ]] && rlog=$d/listener.log || rlog=$d/connector.log
    local rate; rate=$(sed -n 's/.*received [0-9]* bytes in \([0-9.]*\) s (\([0-9.]*\) MiB\/s.*/\2 MiB\/s in \1 s/p' "$rlog")
    local wall_rcv wall
    wall_rcv=$(awk -v a="$t0" -v b="$t_rcv" 'BEGIN { printf "%.3f", b - a }')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    local line
    line=$(printf '%-9s %-3s -> %-3s (%s listens)  data phase %s; receiver done after %s s, both after %s s; RcvbufErrors +%d' \
        "$tag" "$snd" "$rcv" "$lname" "${rate:-?}" "$wall_rcv" "$wall" "$drops")
    if ((ok)); then
        results+=("ok    $line")
        say "ok    $line"
        [[ ${KEEP:-0} == 1 ]] || rm -f "$d/out.bin"
    else
        results+=("FAIL  $line: ${why[*]}")
        say "FAIL  $line: ${why[*]}"
        say "--- $d/listener.log"; cat "$d/listener.log" >&2
        say "--- $d/connector.log"; cat "$d/connector.log" >&2
        failures=$((failures + 1))
    fi
}

# --- main -------------------------------------------------------------------------------------
command -v "$cc" >/dev/null || die "no $cc"
command -v sha256sum >/dev/null || die "no sha256sum"
mkdir -p "$work"
work=$(cd "$work" && pwd)
build A "$1"
build B "$2"

say "making $mib MiB of random data"
head -c $((mib * 1048576)) /dev/urandom >"$work/in.bin"
want_sha=$(sha256sum <"$work/in.bin" | cut -d' ' -f1)

for m in $modes; do
    case $m in
        a2b) transfer a2b A B receiver ;;
        a2b-rev) transfer a2b-rev A B sender ;;
        b2a) transfer b2a B A receiver ;;
        b2a-rev) transfer b2a-rev B A sender ;;
        *) die "unknown mode $m" ;;
    esac
done

[[ ${KEEP:-0} == 1 ]] || rm -f "$work/in.bin"
echo "interop-netcat: $mib MiB, socket buffers ${sockbuf}, A=$1 B=$2"
printf '%s\n' "${results[@]}"
if ((failures)); then
    echo "interop-netcat: $failures transfer(s) FAILED (logs in $work)"
    exit 1
fi
echo "interop-netcat: all transfers OK"
