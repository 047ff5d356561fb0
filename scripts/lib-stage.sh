# shellcheck shell=bash
# Sourced by the benchmark scripts: stages our C library, and builds the reference one, for C
# programs to build against.
#
# stage_ours DIR LIBRARY: copies include/utp.h and include/utp_types.h into DIR/include and the
# built LIBRARY (a libutp.so) into DIR/lib, under its soname with a libutp.so link when it has
# one, as an installed library would be laid out. Run from the repository root.
stage_ours() {
    local dir=$1 library=$2 soname
    rm -rf "$dir" && mkdir -p "$dir/include" "$dir/lib"
    cp include/utp.h include/utp_types.h "$dir/include/"
    soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [[ -n $soname && $soname != libutp.so ]]; then
        cp "$library" "$dir/lib/$soname"
        ln -s "$soname" "$dir/lib/libutp.so"
    else
        cp "$library" "$dir/lib/libutp.so"
    fi
}

# reference_libutp DEFAULT_DIR LOG: builds the reference libutp with scripts/reference-libutp.sh
# (idempotent) into REFERENCE_DIR when that is set, else DEFAULT_DIR, its output going to LOG,
# and prints the absolute path of the directory holding its headers and libutp.so. Run from the
# repository root; use as ref=$(reference_libutp DIR LOG).
reference_libutp() {
    local out=${REFERENCE_DIR:-$1}
    bash scripts/reference-libutp.sh "$out" >"$2"
    (cd "$out/libutp" && pwd)
}
