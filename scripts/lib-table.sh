# Sourced by the interop scripts: their result table. The sourcing script sets `table` (the
# file the lines end up in), `tag` and `say` (scripts/lib-procs.sh), and `key` before each row:
# the cell's name, which XFAIL may list.
#   row PEER SCENARIO DIRECTION RESULT BYTES RATE
#       prints `interop | PEER | SCENARIO | DIRECTION | RESULT | BYTES | RATE`, appends it to
#       $table.tmp, and counts a result other than PASS in `failures`, or in `known` when XFAIL
#       lists the cell.
#   transfer_row OK PEER SCENARIO DIRECTION BYTES RATE OUT LOGDIR WHY
#       the row of a transfer cell: PASS (and OUT, the received copy, removed) when OK is 1;
#       otherwise FAIL with the bytes OUT holds, WHY and the tails of LOGDIR's sender.log and
#       receiver.log on stderr.
#   rate_of MiB SECONDS      MiB/s as the table prints it ("-" for no time)
#   mtu_in LOG               the last packet size our side reported in LOG (utpcat --stats
#                            "mtu N", utp_netcat's "mtu_guess N"), empty if none
failures=0
known=0
: >"$table.tmp"
row() {
    local line="interop | $1 | $2 | $3 | $4 | $5 | $6"
    echo "$line" | tee -a "$table.tmp"
    if [[ " ${XFAIL:-} " == *" ${key:-} "* ]]; then
        say "cell ${key} is listed in XFAIL: its $4 does not count"
        [[ $4 == PASS ]] || known=$((known + 1))
    elif [[ $4 != PASS ]]; then
        failures=$((failures + 1))
    fi
}

transfer_row() {
    if (($1)); then
        row "$2" "$3" "$4" PASS "$5" "$6"
        rm -f "$7"
    else
        row "$2" "$3" "$4" FAIL "$(stat -c %s "$7")" "$6"
        say "$9; logs in $8"
        tail -n 5 "$8/sender.log" "$8/receiver.log" >&2 || true
    fi
}

rate_of() {
    awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) { print "-"; exit } r = n / s; printf (r < 10 ? "%.2f" : "%.1f"), r }'
}

mtu_in() { sed -n 's/.*, mtu \([0-9]*\),.*/\1/p; s/.*mtu_guess \([0-9]*\).*/\1/p' "$1" | tail -1; }
