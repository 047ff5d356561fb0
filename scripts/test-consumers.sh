#!/usr/bin/env bash
# Builds the C library with CMake, installs it into a temporary prefix with `cmake --install`,
# checks the installed tree, then builds and runs the consumer projects of c-tests/consumer
# against that prefix: CMake's find_package (libutp::libutp, libutp::libutp_static) and
# pkg-config (dynamic, --static, and a program linked as if against the reference libutp.so).
# Any failure stops the script with a non-zero status.
#
# Needs cargo, cmake (>= 3.16), pkg-config, make, a C compiler and readelf; installs cmake and
# pkg-config with apt-get when they are missing and it can.
# Environment:
#   RUTP_CMAKE_BUILD_DIR  the CMake build tree, kept between runs (default target/cmake-consumers)
#   CARGO_TARGET_DIR      honoured by CMakeLists.txt at the first configure of that tree
#   RUTP_KEEP_TMP=1       keep the temporary prefix and consumer builds for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf 'test-consumers: FAIL: %s\n' "$*" >&2
    exit 1
}

missing=()
for tool in cmake pkg-config; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        step "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        fail "missing tools: ${missing[*]}"
    fi
fi
for tool in cargo cc make readelf; do
    command -v "$tool" >/dev/null || fail "missing tool: $tool"
done

build=${RUTP_CMAKE_BUILD_DIR:-$root/target/cmake-consumers}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rutp-consumers.XXXXXX")
if [[ ${RUTP_KEEP_TMP:-0} == 1 ]]; then
    trap 'echo "kept $tmp"' EXIT
else
    trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

# Runs a program; it must succeed and print nothing on stderr. LD_WARN makes the dynamic loader
# report there a data symbol whose size differs from the copy the program was linked with, in
# either direction; LD_BIND_NOW resolves every function at start.
run_clean() {
    local out err
    out=$(LD_WARN=1 LD_BIND_NOW=1 "$1" 2>"$tmp/stderr") ||
        fail "$1 exited with status $?: $(cat "$tmp/stderr")"
    err=$(cat "$tmp/stderr")
    [[ -z $err ]] || fail "$1 wrote to stderr: $err"
    printf '%s: %s\n' "${1#"$tmp"/}" "$out"
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# The program must load libutp from the installed libdir, under the given name. (Outputs are
# captured first: `grep -q` closing a pipe early would fail the pipeline under pipefail.)
check_dynamic() {
    local deps loads
    deps=$(needed "$1")
    loads=$(ldd "$1")
    grep -qx "$2" <<<"$deps" || fail "$1 does not record NEEDED $2: $(xargs <<<"$deps")"
    grep -qF "$2 => $libdir/$2 (" <<<"$loads" || fail "$1 does not load $libdir/$2: $loads"
}
check_static() {
    local deps
    deps=$(needed "$1")
    if grep -q '^libutp' <<<"$deps"; then
        fail "$1 should not need a shared libutp: $(xargs <<<"$deps")"
    fi
}

step "configure and build ($build; c-tests/ is not built here)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLIBUTP_BUILD_TESTS=OFF
cmake --build "$build" --parallel "$(nproc)"

step "install into $prefix"
cmake --install "$build" --prefix "$prefix"
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
[[ $libdir == /* ]] || libdir=$prefix/$libdir
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
(cd "$prefix" && find . ! -type d | sort)

step "check the installed tree"
real=$libdir/libutp.so.$version
[[ -f $real && ! -L $real ]] || fail "$real is missing or not a regular file"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ -n $soname ]] || fail "$real has no SONAME"
[[ $(readlink "$libdir/$soname") == "libutp.so.$version" ]] ||
    fail "$libdir/$soname is not a link to libutp.so.$version"
[[ $(readlink "$libdir/libutp.so") == "$soname" ]] || fail "$libdir/libutp.so is not a link to $soname"
[[ -f $libdir/libutp.a ]] || fail "$libdir/libutp.a is missing"
for header in utp.h utp_types.h $(cd include && ls utp_managed.h 2>/dev/null); do
    cmp -s "include/$header" "$prefix/include/libutp/$header" ||
        fail "$prefix/include/libutp/$header is missing or differs from include/$header"
done
[[ -f $libdir/cmake/libutp/libutpConfig.cmake && -f $libdir/cmake/libutp/libutpConfigVersion.cmake ]] ||
    fail "the CMake package is not in $libdir/cmake/libutp"
export PKG_CONFIG_LIBDIR=$libdir/pkgconfig PKG_CONFIG_PATH=
[[ $(pkg-config --variable=prefix libutp) == "$prefix" ]] ||
    fail "libutp.pc does not name the install prefix: $(pkg-config --variable=prefix libutp)"
echo "SONAME $soname; pkg-config: $(pkg-config --cflags --libs libutp); private: $(pkg-config --static --libs libutp)"

step "CMake consumer: find_package(libutp CONFIG REQUIRED)"
cmake -S c-tests/consumer/cmake -B "$tmp/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
found=$(sed -n 's/^libutp_DIR:[A-Z]*=//p' "$tmp/consumer-cmake/CMakeCache.txt")
[[ $found == "$prefix"/* ]] || fail "find_package found libutp in $found, not under $prefix"
cmake --build "$tmp/consumer-cmake" --parallel "$(nproc)"
check_dynamic "$tmp/consumer-cmake/consumer_shared" "$soname"
check_static "$tmp/consumer-cmake/consumer_static"
run_clean "$tmp/consumer-cmake/consumer_shared"
run_clean "$tmp/consumer-cmake/consumer_static"

step "pkg-config consumer: --cflags --libs, --static, and a reference-style link"
make -C c-tests/consumer/pkgconfig BUILD_DIR="$tmp/consumer-pkgconfig"
check_dynamic "$tmp/consumer-pkgconfig/consumer-shared" "$soname"
check_static "$tmp/consumer-pkgconfig/consumer-static"
check_dynamic "$tmp/consumer-pkgconfig/consumer-legacy" libutp.so
run_clean "$tmp/consumer-pkgconfig/consumer-shared"
run_clean "$tmp/consumer-pkgconfig/consumer-static"
run_clean "$tmp/consumer-pkgconfig/consumer-legacy"

step "all consumers built and ran against the installed libutp"
