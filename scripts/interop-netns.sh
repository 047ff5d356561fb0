#!/usr/bin/env bash
# The network-namespace cells of issue 7's interop matrix: libutp 2.5.3 and libtorrent 2.1.1
# against our side over real links between two network namespaces, each cell byte-exact, both
# directions.
#
# usage: scripts/interop-netns.sh
#
# Two pairs of namespaces, each joined by a veth pair (scripts/lib-netns.sh), made once per run
# and deleted on exit; nothing is sent anywhere else:
#   loss  both ends' egress shaped by tbf to RATE_MBIT (default 40) Mbit/s with a queue of
#         QUEUE_MS (default 50) ms at that rate, and nftables dropping LOSS_PCT (default 2) % of
#         the UDP datagrams arriving in each namespace at random (numgen random), sparing the
#         first SPARE (default 6) datagrams of every flow, both directions counted: the reference
#         libutp answers a SYN only once, so a lost SYN-ACK would fail any connection it accepts
#         (the udp-relay cells of interop-libutp.sh spare the handshake for the same reason).
#         The queue is shorter than LEDBAT's 100 ms target, so a window that outgrows it meets
#         tail drops in the tbf on top of the random loss.
#   mtu   the link MTU lowered to 1280 on both veth ends, no shaping, no loss: a datagram above
#         1252 bytes of UDP payload cannot cross the link unfragmented (a don't-fragment send
#         fails with EMSGSIZE, a plain one is fragmented by the sending kernel), so every
#         implementation's path-MTU logic meets a path below its Ethernet default.
#
# Cells, for each pair (the receiver listens in the second namespace, the sender connects from
# the first; "rutp" is our side):
#   ucat     utpcat <-> libutp's ucat, both directions (ucat keeps the OS socket buffers: it has
#            no option for them; utpcat asks for 4 MiB)
#   netcat   examples/c/utp_netcat.c on our libutp.so <-> on the reference libutp.so, both
#            directions, 4 MiB socket buffers
#   bt       BitTorrent between libtorrent (python/interop/lt_peer.py) and our peer
#            (python/interop/bt_peer.py: bittorrent.py over the rutp package), libtorrent seeder
#            -> our downloader and our seeder -> libtorrent downloader, uTP only. On the loss
#            pair libtorrent may send a packet LT_RESENDS (default 10, as test_libtorrent.py's
#            relay cells) times before it gives the connection up (its utp_num_resends, 3 by
#            default): with 2 % loss on each of ~24,000 data packets some packet is lost 3 times
#            in a row in about 1 transfer of 6 (24,000 * 0.02^3 = 0.19), and libtorrent then
#            drops the connection without a word (seen: its peer_disconnected_alert says
#            "Connection timed out" after exactly 3 copies of one packet). That is libtorrent's
#            give-up policy, not an interop failure.
# Checks: sha256 of the receiver's output equals the input's and both programs exit 0 (an
# orderly close) for ucat/netcat; for BitTorrent every piece's SHA-1 and the whole file equal
# the source on the downloading side, libtorrent saw its peer on uTP only, and both processes
# exit 0. Every process is bounded by `timeout` (TIMEOUT seconds per cell).
#
# One line per cell goes to stdout and to target/interop/netns.txt:
#   interop | peer | scenario | direction | PASS/FAIL | bytes | MiB/s
# MiB/s: ucat/netcat from starting the sender until the receiver's output is complete (polled
# every 10 ms; libutp's close is left out); BitTorrent, our downloader's connect to its last
# piece, or libtorrent's connect_peer to seeding (which includes about 0.5 s of libtorrent's
# connection scheduling). Per cell, a detail line on stderr and in target/interop/netns-details.txt
# gives the datagrams nftables dropped (loss pair) or the IPv4 fragments that crossed the link
# (mtu pair: a sender's datagrams above the link MTU), and the packet size our side ended with
# (utpcat --stats "mtu", utp_netcat's "mtu_guess", Stream.stats().mtu: the UDP payload, uTP
# header included). Exit status: 0 if every cell passed, 1 otherwise (or when the setup fails).
#
# Environment:
#   PAIRS="loss mtu"      which pairs (default both)
#   CELLS="ucat netcat bt" which cells (default all)
#   LOSS_MIB=N            ucat/netcat size on the loss pair (default 32)
#   MTU_MIB=N             ucat/netcat size on the mtu pair (default 32)
#   BT_LOSS_MIB=N, BT_MTU_MIB=N   BitTorrent sizes (default 32 each)
#   RATE_MBIT, QUEUE_MS, LOSS_PCT, SPARE   the loss pair's link (above)
#   LT_RESENDS=N          libtorrent's utp_num_resends on the loss pair (default 10, above)
#   TIMEOUT=SECONDS       per cell (default 60)
#   XFAIL="KEY ..."       cells whose result does not decide the exit status (known defects;
#                         the table still says FAIL). Keys PAIR:SENDER-RECEIVER, with programs
#                         utpcat, ucat, nc-rutp, nc-libutp, bt (ours), lt (libtorrent), e.g.
#                         loss:ucat-utpcat or mtu:bt-lt
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pairs=${PAIRS:-loss mtu}
cells=${CELLS:-ucat netcat bt}
loss_mib=${LOSS_MIB:-32}
mtu_mib=${MTU_MIB:-32}
bt_loss_mib=${BT_LOSS_MIB:-32}
bt_mtu_mib=${BT_MTU_MIB:-32}
rate_mbit=${RATE_MBIT:-40}
queue_ms=${QUEUE_MS:-50}
loss_pct=${LOSS_PCT:-2}
spare=${SPARE:-6}
lt_resends=${LT_RESENDS:-10}
timeout_s=${TIMEOUT:-60}
link_mtu=1280
sockbuf=4194304
out_dir=$root/target/interop
work=$out_dir/netns-run
table=$out_dir/netns.txt
details=$out_dir/netns-details.txt

tag="interop-netns"
# say, die, background processes and the namespaces cleaned up on exit; the venv
# shellcheck source=scripts/lib-procs.sh
source "$root/scripts/lib-procs.sh"
# shellcheck source=scripts/lib-netns.sh
source "$root/scripts/lib-netns.sh"
# shellcheck source=scripts/lib-venv.sh
source "$root/scripts/lib-venv.sh"

for n in "$loss_mib" "$mtu_mib" "$bt_loss_mib" "$bt_mtu_mib" "$rate_mbit" "$queue_ms" \
    "$timeout_s" "$lt_resends"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive integer"
done
[[ $loss_pct =~ ^[0-9]+$ && $loss_pct -le 100 && $spare =~ ^[0-9]+$ ]] ||
    die "LOSS_PCT must be 0-100 and SPARE a count"
netns_require iproute2 nftables

# --- programs ----------------------------------------------------------------------------------
rm -rf "$work" && mkdir -p "$work"
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
say "building utpcat and libutp.so (release), the reference libutp, the netcats, the venv"
cargo build --locked --release --quiet --bin utpcat --lib
utpcat=$target/release/utpcat
refdir=$root/target/reference-libutp/libutp
bash "$root/scripts/reference-libutp.sh" "$root/target/reference-libutp" >/dev/null
[[ -x $utpcat && -x $refdir/ucat && -f $refdir/libutp.so ]] || die "missing programs"
stage=$work/stage
mkdir -p "$stage"
cp "$root/include/utp.h" "$root/include/utp_types.h" "$target/release/libutp.so" "$stage/"
ln -sf libutp.so "$stage/libutp.so.0"
cc=${CC:-gcc}
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$stage" -o "$work/nc-rutp" \
    "$root/examples/c/utp_netcat.c" -L"$stage" -lutp -Wl,-rpath,"$stage"
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$refdir" -o "$work/nc-libutp" \
    "$root/examples/c/utp_netcat.c" -L"$refdir" -lutp -lstdc++ -Wl,-rpath,"$refdir"
python=""
lt_version="libtorrent (not installed)"
if [[ " $cells " == *" bt "* ]]; then
    rutp_library
    # lt_peer.py takes its session settings from test_libtorrent.py, which imports pytest.
    rutp_venv "$root/target/interop-venv" 'libtorrent>=2.1,<2.2' pytest ||
        say "cannot install libtorrent 2.1.x from PyPI: the BitTorrent cells fail"
    export RUTP_LIBRARY=$library
fi
interop=$root/python/interop

# --- the two pairs of namespaces -----------------------------------------------------------------
run=$$
declare -A ns_a ns_b ip_a ip_b scen_of
if [[ " $pairs " == *" loss "* ]]; then
    ns_a[loss]=rutp-loss-a-$run; ns_b[loss]=rutp-loss-b-$run
    ip_a[loss]=10.202.1.1; ip_b[loss]=10.202.1.2
    netns_pair "${ns_a[loss]}" "${ns_b[loss]}" "rl${run}a" "rl${run}b" "${ip_a[loss]}" "${ip_b[loss]}"
    queue_bytes=$((rate_mbit * 125 * queue_ms))  # Mbit/s * 1e6 / 8 * ms / 1000
    netns_tbf "${ns_a[loss]}" "rl${run}a" "$rate_mbit" "$queue_bytes"
    netns_tbf "${ns_b[loss]}" "rl${run}b" "$rate_mbit" "$queue_bytes"
    netns_loss "${ns_a[loss]}" "$loss_pct" "$spare"
    netns_loss "${ns_b[loss]}" "$loss_pct" "$spare"
    scen_of[loss]="netns tbf $rate_mbit Mbit/s ${queue_ms} ms queue, $loss_pct % loss"
    say "loss pair: tbf $rate_mbit Mbit/s, queue $queue_bytes bytes each way; $loss_pct % of UDP" \
        "datagrams dropped each way after the first $spare of a flow"
fi
if [[ " $pairs " == *" mtu "* ]]; then
    ns_a[mtu]=rutp-mtu-a-$run; ns_b[mtu]=rutp-mtu-b-$run
    ip_a[mtu]=10.202.2.1; ip_b[mtu]=10.202.2.2
    netns_pair "${ns_a[mtu]}" "${ns_b[mtu]}" "rm${run}a" "rm${run}b" "${ip_a[mtu]}" "${ip_b[mtu]}"
    netns_mtu "${ns_a[mtu]}" "rm${run}a" "$link_mtu"
    netns_mtu "${ns_b[mtu]}" "rm${run}b" "$link_mtu"
    netns_frag_counter "${ns_a[mtu]}"
    netns_frag_counter "${ns_b[mtu]}"
    scen_of[mtu]="netns mtu $link_mtu"
    say "mtu pair: link MTU $link_mtu on both ends, no shaping, no loss"
fi

# --- helpers -------------------------------------------------------------------------------------
now() { date +%s.%N; }
# A fresh port per cell: no flow (and so no conntrack entry counting towards SPARE) is reused.
next_port=7000
# The field KEY (a.b for nested) of the last JSON line of FILE whose "event" is EVENT (default
# done); "" when absent.
jget() {
    python3 - "$1" "$2" "${3:-done}" <<'EOF'
import json, sys
path, key, event = sys.argv[1:4]
value = ""
try:
    with open(path) as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("event") == event:
                value = doc
                for part in key.split("."):
                    value = value.get(part, "") if isinstance(value, dict) else ""
except OSError:
    pass
print(value if not isinstance(value, bool) else str(value).lower())
EOF
}
# Waits up to 15 s for an event line in FILE while PID runs.
wait_event() {
    local file=$1 event=$2 pid=$3 i
    for ((i = 0; i < 1500; i++)); do
        grep -q "\"event\": \"$event\"" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
# Waits up to 5 s until a UDP socket in NS is bound to PORT while PID runs.
wait_bound() {
    local ns=$1 port=$2 pid=$3 i
    for ((i = 0; i < 100; i++)); do
        netns_udp_bound "$ns" "$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# What the link did to the cell's datagrams, from the nftables counters of both namespaces
# (reading resets them, so each cell starts from zero).
# Datagrams a full socket receive buffer dropped (RcvbufErrors of the namespace's
# /proc/net/snmp) since the last call for that namespace.
declare -A rcvbuf_seen
rcvbuf_errors() { # NS
    local n
    # shellcheck disable=SC2016  # (an awk program)
    n=$(ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
        else print $c["RcvbufErrors"] }' /proc/net/snmp)
    echo $((n - ${rcvbuf_seen[$1]:-0}))
    rcvbuf_seen[$1]=$n
}
link_counts() { # PAIR [NAME_B NAME_A]: who is in each namespace (default receiver, sender)
    local a=${ns_a[$1]} b=${ns_b[$1]} ra rb text="" nb=${2:-receiver} na=${3:-sender}
    case $1 in
        loss) text="nftables $(netns_loss_counts "$b") datagrams into the $nb's namespace,"
            text="$text $(netns_loss_counts "$a") into the $na's; " ;;
        mtu) text="IPv4 fragments: $(netns_frag_counts "$b") into the $nb's namespace,"
            text="$text $(netns_frag_counts "$a") into the $na's; " ;;
    esac
    # (not in a command substitution: rcvbuf_errors keeps its last values in this shell)
    rcvbuf_errors "$b" >"$work/rcvbuf"; rb=$(<"$work/rcvbuf")
    rcvbuf_errors "$a" >"$work/rcvbuf"; ra=$(<"$work/rcvbuf")
    echo "${text}RcvbufErrors +$rb in the $nb's namespace, +$ra in the $na's"
}

# row (the table's lines and the failure counts)
# shellcheck source=scripts/lib-table.sh
source "$root/scripts/lib-table.sh"
: >"$details.tmp"
detail() { # text: one line per cell, after its row
    say "  $key: $*"
    echo "$key: $*" >>"$details.tmp"
}
make_input() { # MiB -> $work/in-MiB.bin, sets $in and $want
    in=$work/in-$1.bin
    [[ -s $in ]] || head -c $(($1 * 1048576)) /dev/urandom >"$in"
    want=$(sha256sum <"$in" | cut -d' ' -f1)
}

# listen PAIR KIND PORT OUT LOG : a receiver on the second namespace's address; sets $bg
listen() {
    local pair=$1 kind=$2 port=$3 out=$4 log=$5 ns=${ns_b[$1]} ip=${ip_b[$1]}
    # (for ucat, the gate watches the size of the file ucat writes)
    # shellcheck disable=SC2094
    case $kind in
        utpcat) timeout -k 5 "$timeout_s" ip netns exec "$ns" "$utpcat" --stats -l -s "$ip" \
            -p "$port" </dev/null >"$out" 2>"$log" & ;;
        ucat) GATE_BYTES=$bytes timeout -k 5 "$timeout_s" python3 "$root/scripts/ucat-gate.py" \
            hold "$out" -- ip netns exec "$ns" env "LD_LIBRARY_PATH=$refdir" "$refdir/ucat" \
            -B 65536 -l -s "$ip" -p "$port" >"$out" 2>"$log" & ;;
        nc-*) timeout -k 5 $((timeout_s + 5)) ip netns exec "$ns" "$work/$kind" -t "$timeout_s" \
            -b "$sockbuf" -l -N -s "$ip" -p "$port" </dev/null >"$out" 2>"$log" & ;;
    esac
    bg=$!; pids+=("$bg")
}
# send PAIR KIND PORT LOG IN : a sender in the first namespace; sets $bg
send() {
    local pair=$1 kind=$2 port=$3 log=$4 in=$5 ns=${ns_a[$1]} ip=${ip_a[$1]} dst=${ip_b[$1]}
    case $kind in
        utpcat) timeout -k 5 "$timeout_s" ip netns exec "$ns" "$utpcat" --stats -s "$ip" \
            "$dst" "$port" <"$in" >/dev/null 2>"$log" & ;;
        ucat) timeout -k 5 "$timeout_s" ip netns exec "$ns" env "LD_LIBRARY_PATH=$refdir" \
            "$refdir/ucat" -B 65536 "$dst" "$port" <"$in" >/dev/null 2>"$log" & ;;
        nc-*) timeout -k 5 $((timeout_s + 5)) ip netns exec "$ns" "$work/$kind" -t "$timeout_s" \
            -b "$sockbuf" -s "$ip" "$dst" "$port" <"$in" >/dev/null 2>"$log" & ;;
    esac
    bg=$!; pids+=("$bg")
}
# Our side's final packet size from a utpcat (--stats) or utp_netcat log ("" if none).

# stream_cell PAIR PEER DIRECTION SENDER RECEIVER MiB
stream_cell() {
    local pair=$1 peer=$2 dir=$3 snd=$4 rcv=$5 mib=$6
    local scen="${scen_of[$pair]}, $mib MiB" port=$next_port
    next_port=$((next_port + 1))
    key=$pair:$snd-$rcv
    local d=$work/$pair-$snd-to-$rcv
    bytes=$((mib * 1048576))
    mkdir -p "$d"
    make_input "$mib"
    link_counts "$pair" >/dev/null
    local out=$d/out.bin; : >"$out"
    listen "$pair" "$rcv" "$port" "$out" "$d/receiver.log"; local rpid=$bg
    if ! wait_bound "${ns_b[$pair]}" "$port" "$rpid"; then
        row "$peer" "$scen" "$dir" FAIL 0 -
        detail "the receiver did not bind port $port: $(tail -2 "$d/receiver.log" | tr '\n' ' ')"
        kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; pids=()
        return
    fi
    local t0 t_data="" src=0 rrc=0
    t0=$(now)
    send "$pair" "$snd" "$port" "$d/sender.log" "$in"; local spid=$bg
    t_data=$(until_size "$out" "$bytes" "$rpid")
    wait "$spid" || src=$?
    wait "$rpid" || rrc=$?
    pids=()
    local got rate=- ok=1 mtu
    got=$(sha256sum <"$out" | cut -d' ' -f1)
    [[ $got == "$want" && $src == 0 && $rrc == 0 ]] || ok=0
    [[ -z $t_data ]] || rate=$(rate_of "$mib" "$(awk -v a="$t0" -v b="$t_data" 'BEGIN { print b - a }')")
    case $snd in utpcat | nc-rutp) mtu=$(mtu_in "$d/sender.log") ;; *) mtu=$(mtu_in "$d/receiver.log") ;; esac
    transfer_row "$ok" "$peer" "$scen" "$dir" "$bytes" "$rate" "$out" "$d" \
        "sender $snd exit $src, receiver $rcv exit $rrc, sha256 $got (want $want)"
    local info="our side's packet size at the end: ${mtu:-not reported} bytes"
    info="$info; $(link_counts "$pair")"
    [[ $snd != utpcat ]] || info="$info; utpcat sender: $(sed -n 's/.*\(retransmits [0-9]* ([^)]*)\), \(timeouts [0-9]*\).*/\1, \2/p' "$d/sender.log")"
    detail "$info"
}

# bt_cell PAIR DIRECTION(lt-bt|bt-lt) MiB
bt_cell() {
    local pair=$1 which=$2 mib=$3 peer scen dir
    local seed_port=$next_port peer_port=$((next_port + 1))
    next_port=$((next_port + 2))
    key=$pair:$which
    local d=$work/$pair-$which
    mkdir -p "$d"
    scen="${scen_of[$pair]}, bittorrent $mib MiB"
    [[ $which == lt-bt ]] && dir="libtorrent->rutp" || dir="rutp->libtorrent"
    local tdir=$work/torrent-$mib
    if [[ ! -s $tdir/made.json ]]; then
        mkdir -p "$tdir"
        if [[ -z $python ]] || ! "$python" "$interop/lt_peer.py" make --dir "$tdir" \
            --size-mib "$mib" >"$tdir/made.json" 2>"$tdir/made.err"; then
            rm -f "$tdir/made.json"
            row "$lt_version" "$scen" "$dir" FAIL 0 -
            detail "no torrent: $(tail -1 "$tdir/made.err" 2>/dev/null)"
            return
        fi
    fi
    local torrent content sha
    torrent=$(jget "$tdir/made.json" torrent made)
    content=$(jget "$tdir/made.json" content made)
    sha=$(jget "$tdir/made.json" sha1 made)
    lt_version="libtorrent $(jget "$tdir/made.json" version made)"
    peer=$lt_version
    local spid cpid src=0 crc=0 seeder_log client_log lt_opts=()
    [[ $pair != loss ]] || lt_opts=(--utp-num-resends "$lt_resends")
    link_counts "$pair" >/dev/null
    seeder_log=$d/seeder.json; client_log=$d/client.json
    if [[ $which == lt-bt ]]; then
        timeout -k 5 "$timeout_s" ip netns exec "${ns_b[$pair]}" "$python" "$interop/lt_peer.py" \
            seed --torrent "$torrent" --save-path "$(dirname "$content")" \
            --listen "${ip_b[$pair]}:$seed_port" --max-seconds $((timeout_s - 5)) "${lt_opts[@]}" \
            >"$seeder_log" 2>"$d/seeder.err" &
    else
        timeout -k 5 "$timeout_s" ip netns exec "${ns_b[$pair]}" "$python" "$interop/bt_peer.py" \
            seed --torrent "$torrent" --content "$content" --bind "${ip_b[$pair]}:$seed_port" \
            --max-seconds $((timeout_s - 5)) >"$seeder_log" 2>"$d/seeder.err" &
    fi
    spid=$!; pids+=("$spid")
    if ! wait_event "$seeder_log" ready "$spid"; then
        row "$peer" "$scen" "$dir" FAIL 0 -
        detail "the seeder did not start: $(tail -3 "$d/seeder.err" | tr '\n' ' ')"
        kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; pids=()
        return
    fi
    if [[ $which == lt-bt ]]; then
        timeout -k 5 "$timeout_s" ip netns exec "${ns_a[$pair]}" "$python" "$interop/bt_peer.py" \
            download --torrent "$torrent" --content "$content" --bind "${ip_a[$pair]}" \
            --peer "${ip_b[$pair]}:$seed_port" --max-seconds $((timeout_s - 10)) \
            >"$client_log" 2>"$d/client.err" &
    else
        mkdir -p "$d/leech"
        timeout -k 5 "$timeout_s" ip netns exec "${ns_a[$pair]}" "$python" "$interop/lt_peer.py" \
            download --torrent "$torrent" --save-path "$d/leech" \
            --listen "${ip_a[$pair]}:$peer_port" --peer "${ip_b[$pair]}:$seed_port" \
            --expect-sha1 "$sha" --max-seconds $((timeout_s - 10)) "${lt_opts[@]}" \
            >"$client_log" 2>"$d/client.err" &
    fi
    cpid=$!; pids+=("$cpid")
    wait "$cpid" || crc=$?
    wait "$spid" || src=$?
    pids=()
    local nbytes seconds rate=- ours_log mtu
    nbytes=$(jget "$client_log" bytes)
    seconds=$(jget "$client_log" seconds)
    [[ $which == lt-bt ]] && ours_log=$client_log || ours_log=$seeder_log
    mtu=$(jget "$ours_log" stats.mtu)
    if [[ $src == 0 && $crc == 0 && $(jget "$client_log" passed) == true &&
        $(jget "$seeder_log" passed) == true ]]; then
        row "$peer" "$scen" "$dir" PASS "$nbytes" "$(rate_of "$mib" "$seconds")"
        rm -rf "$d/leech"
    else
        row "$peer" "$scen" "$dir" FAIL "${nbytes:-0}" "$rate"
        say "seeder exit $src: $(jget "$seeder_log" why); downloader exit $crc:" \
            "$(jget "$client_log" why); logs in $d"
        tail -n 3 "$d/seeder.err" "$d/client.err" >&2 || true
    fi
    local info="our side's packet size at the end: ${mtu:-not reported} bytes"
    info="$info (largest seen $(jget "$ours_log" stats.max_mtu)), retransmits"
    info="$info $(jget "$ours_log" stats.retransmits); libtorrent counters:"
    info="$info $(grep -h '"event": "done"' "$seeder_log" "$client_log" | python3 -c '
import json, sys
for line in sys.stdin:
    counters = json.loads(line).get("counters") or {}
    shown = []
    for name, value in counters.items():
        short = name.split(".")[1]
        if any(word in short for word in ("loss", "timeout", "resend", "retransmit")):
            shown.append(short + "=" + str(value))
    if shown:
        print(" ".join(shown))' || true)"
    info="$info; $(link_counts "$pair" seeder downloader)"
    local gone
    gone=$(grep -h '"event": "done"' "$seeder_log" "$client_log" | python3 -c '
import json, sys
for line in sys.stdin:
    for message in json.loads(line).get("disconnects") or []:
        print(message)' | tr '\n' ' ' || true)
    [[ -z $gone ]] || info="$info; libtorrent dropped the peer: $gone"
    detail "$info"
}

# --- the cells -------------------------------------------------------------------------------------
started=$(now)
peer_ucat="libutp 2.5.3 (ucat)"
peer_nc="libutp 2.5.3 (utp_netcat.c)"
for pair in $pairs; do
    [[ -n ${ns_a[$pair]:-} ]] || die "unknown pair $pair (loss, mtu)"
    if [[ $pair == loss ]]; then mib=$loss_mib; bt_mib=$bt_loss_mib; else mib=$mtu_mib; bt_mib=$bt_mtu_mib; fi
    for cell in $cells; do
        case $cell in
            ucat)
                stream_cell "$pair" "$peer_ucat" "rutp->libutp (utpcat->ucat)" utpcat ucat "$mib"
                stream_cell "$pair" "$peer_ucat" "libutp->rutp (ucat->utpcat)" ucat utpcat "$mib" ;;
            netcat)
                stream_cell "$pair" "$peer_nc" "rutp->libutp (nc-rutp->nc-libutp)" nc-rutp nc-libutp "$mib"
                stream_cell "$pair" "$peer_nc" "libutp->rutp (nc-libutp->nc-rutp)" nc-libutp nc-rutp "$mib" ;;
            bt)
                bt_cell "$pair" lt-bt "$bt_mib"
                bt_cell "$pair" bt-lt "$bt_mib" ;;
            *) die "unknown cell $cell (ucat, netcat, bt)" ;;
        esac
    done
done
mv "$table.tmp" "$table"
mv "$details.tmp" "$details"
rm -f "$work"/in-*.bin
rm -rf "$work"/torrent-*
say "$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s; table in $table, details in $details"
((known == 0)) || say "$known cell(s) failed as XFAIL expects (XFAIL=\"${XFAIL}\")"
if ((failures)); then
    say "$failures cell(s) FAILED"
    exit 1
fi
