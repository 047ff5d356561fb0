# Sourced by the interop scripts: their result table. The sourcing script sets `table` (the
# file the lines end up in), `tag` and `say` (scripts/lib-procs.sh), and `key` before each row:
# the cell's name, which XFAIL may list.
#   row PEER SCENARIO DIRECTION RESULT BYTES RATE
#       prints `interop | PEER | SCENARIO | DIRECTION | RESULT | BYTES | RATE`, appends it to
#       $table.tmp, and counts a result other than PASS in `failures`, or in `known` when XFAIL
#       lists the cell.
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
