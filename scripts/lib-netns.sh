# shellcheck shell=bash
# Sourced by the scripts that run peers in network namespaces of their own (netns-tbf.sh,
# interop-netns.sh). The sourcing script sets `tag` and sources lib-procs.sh first (say, die,
# `pids`, `cleanup`); this file replaces the EXIT trap with one that also deletes the
# namespaces it made. Defines:
#   netns_require PKG...       root, and the packages among iproute2 (ip, tc, ss) and nftables
#                              (nft); missing ones are installed with apt-get
#   netns_pair NS_A NS_B IF_A IF_B IP_A IP_B
#                              two new namespaces joined by a veth pair (IF_A in NS_A with IP_A,
#                              IF_B in NS_B with IP_B, one /30), loopback up, both ends carrying;
#                              deleted on exit with every process still running in them
#   netns_tbf NS IF MBIT BYTES a tbf qdisc on IF's egress: MBIT Mbit/s, a queue of BYTES, a bucket
#                              of 32 kbit (about two full frames)
#   netns_loss NS PERCENT SPARE
#                              nftables in NS drops PERCENT % of the UDP datagrams arriving from
#                              the link, at random (numgen random), sparing the first SPARE
#                              datagrams of every flow (both directions counted, conntrack)
#   netns_loss_counts NS       "dropped N of M" (UDP datagrams) since the last call (it resets the
#                              counters)
#   netns_frag_counter NS      nftables in NS counts the IPv4 fragments arriving from the link
#   netns_frag_counts NS       how many since the last call (it resets the counter)
#   netns_mtu NS IF MTU        the link MTU of IF
#   netns_udp_bound NS PORT    whether a UDP socket in NS is bound to PORT
# Names: veth names have at most 15 bytes; make namespace and link names unique per run (e.g.
# with $$), so concurrent runs do not collide. Traffic stays between the two namespaces.

netns_made=()
netns_err=$(mktemp)

netns_cleanup() {
    local ns p
    cleanup
    for ns in "${netns_made[@]}"; do
        # Only this script's processes run in its namespaces.
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$netns_err"
}
trap netns_cleanup EXIT

netns_require() {
    local pkg missing=()
    [ "$(id -u)" -eq 0 ] ||
        die "network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); nothing was run"
    for pkg in "$@"; do
        case $pkg in
            iproute2) { command -v ip && command -v tc && command -v ss; } >/dev/null ||
                missing+=("$pkg") ;;
            nftables) command -v nft >/dev/null || missing+=("$pkg") ;;
            *) die "netns_require: unknown package $pkg" ;;
        esac
    done
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
            die "cannot install ${missing[*]} with apt-get"
    fi
}

# Runs one setup step; a refusal (no privileges, a missing kernel feature) stops the script.
netns_do() {
    "$@" 2>>"$netns_err" ||
        die "cannot set up the namespaces: '$*' failed ($(tail -1 "$netns_err")); this needs" \
            "root with CAP_SYS_ADMIN and CAP_NET_ADMIN; nothing was measured"
}

netns_pair() {
    local ns_a=$1 ns_b=$2 if_a=$3 if_b=$4 ip_a=$5 ip_b=$6 ns
    netns_do ip netns add "$ns_a"
    netns_made+=("$ns_a")
    netns_do ip netns add "$ns_b"
    netns_made+=("$ns_b")
    netns_do ip -n "$ns_a" link add "$if_a" type veth peer name "$if_b" netns "$ns_b"
    netns_do ip -n "$ns_a" addr add "$ip_a/30" dev "$if_a"
    netns_do ip -n "$ns_b" addr add "$ip_b/30" dev "$if_b"
    for ns in "$ns_a" "$ns_b"; do netns_do ip -n "$ns" link set lo up; done
    netns_do ip -n "$ns_a" link set "$if_a" up
    netns_do ip -n "$ns_b" link set "$if_b" up
    for _ in $(seq 50); do
        ip -n "$ns_a" link show dev "$if_a" | grep -q 'state UP' &&
            ip -n "$ns_b" link show dev "$if_b" | grep -q 'state UP' && return 0
        sleep 0.1
    done
    die "the veth $if_a/$if_b did not come up"
}

netns_tbf() {
    netns_do tc -n "$1" qdisc add dev "$2" root tbf rate "${3}mbit" burst 32kbit limit "$4"
}

netns_loss() {
    local ns=$1 pct=$2 spare=$3
    # Input hook: the datagram is lost on the wire as far as the sender knows (dropping on
    # output would fail the sender's sendmsg with EPERM instead). `ct packets` counts both
    # directions of the flow, this datagram included.
    netns_do ip netns exec "$ns" nft -f - <<EOF
table inet rutp_loss {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp counter name seen
        meta l4proto udp ct packets > $spare numgen random mod 100 < $pct counter name dropped drop
    }
    counter seen {}
    counter dropped {}
}
EOF
}

netns_loss_counts() {
    local out seen dropped
    out=$(ip netns exec "$1" nft reset counters table inet rutp_loss 2>/dev/null) || true
    seen=$(awk '/counter seen/ { f = 1 } f && /packets/ { print $2; exit }' <<<"$out")
    dropped=$(awk '/counter dropped/ { f = 1 } f && /packets/ { print $2; exit }' <<<"$out")
    echo "dropped ${dropped:-?} of ${seen:-?}"
}

netns_frag_counter() {
    # Before the kernel reassembles them (defragmentation runs at priority -400).
    netns_do ip netns exec "$1" nft -f - <<EOF
table inet rutp_frag {
    counter fragments {}
    chain prerouting {
        type filter hook prerouting priority -450; policy accept;
        ip frag-off & 0x3fff != 0 counter name fragments
    }
}
EOF
}

netns_frag_counts() {
    ip netns exec "$1" nft reset counter inet rutp_frag fragments 2>/dev/null |
        awk '/packets/ { print $2; exit }'
}

netns_mtu() {
    netns_do ip -n "$1" link set dev "$2" mtu "$3"
}

netns_udp_bound() {
    [[ -n $(ss -N "$1" -Hlun "sport = :$2" 2>/dev/null) ]]
}
