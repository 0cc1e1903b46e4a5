#!/usr/bin/env bash
# libgreen's one entry point for people and CI.
#
#   ./dev.sh demo    install what is missing, build, run the demos
#   ./dev.sh test    install what is missing, build, run every test
#   ./dev.sh bench   install what is missing, run the benchmarks (bench/run.sh)
#   ./dev.sh extra   the extra CI configurations: ASan+UBSan, the ucontext
#                    backend, valgrind, aarch64 under qemu (.ci/run runs
#                    `./dev.sh test`, then this)
#
# Missing Debian packages are installed with apt-get when run as root;
# otherwise the script names them and stops.
set -euo pipefail
cd "$(dirname "$0")"

BUILD=${BUILD:-build}
PKGS=(gcc meson ninja-build pkg-config libev-dev libc-ares-dev check valgrind)
# What the tests run under the preload besides our own programs
# (test/legacy/debian_programs.sh): Debian's python3, curl and wget.
TEST_PKGS=(python3 curl wget)

need() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "dev.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "dev.sh: libgreen needs these Debian packages: ${missing[*]}" >&2
        echo "dev.sh: install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# setup DIR [meson options...]: configure DIR once, then build it.
build() {
    local dir=$1
    shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
    ninja -C "$dir" >/dev/null
}

PASSED=0
FAILED=0

# unit DIR [meson test options...]: runs tests, adding meson's counts up
# for the closing "N passed, N failed" line.
unit() {
    local dir=$1 log rc=0
    shift
    log=$(mktemp)
    meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log" || rc=$?
    count "$log"
    rm -f "$log"
    return "$rc"
}

# count LOG: adds up every meson summary in LOG.
count() {
    PASSED=$((PASSED + $(awk '/^Ok:/ {n += $2} END {print n + 0}' "$1")))
    FAILED=$((FAILED + $(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF}
                              END {print n + 0}' "$1")))
}

summary() {
    echo "$PASSED passed, $FAILED failed"
}

case "${1:-}" in
demo)
    need "${PKGS[@]}"
    build "$BUILD"
    echo "== greenlets switching by hand (examples/pingpong)"
    "$BUILD/examples/pingpong"
    echo
    echo "== two tasks sleeping 2 s and 1 s, joined (examples/sleepers)"
    "$BUILD/examples/sleepers"
    echo
    echo "== an unmodified thread-per-connection server, natively and under green-run"
    examples/demo.sh "$BUILD"
    ;;
test)
    need "${PKGS[@]}" "${TEST_PKGS[@]}"
    build "$BUILD"
    unit "$BUILD" || { summary; exit 1; }
    summary
    ;;
bench)
    need "${PKGS[@]}"
    # The references the table compares with (skipped if not installed).
    if [ "$(id -u)" -eq 0 ]; then
        need g++ libboost-context-dev golang-go python3-gevent gnuplot-nox
    fi
    exec bench/run.sh
    ;;
extra)
    need "${PKGS[@]}"
    trap 'summary' EXIT
    build "$BUILD"
    echo "== ASan + UBSan"
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    ASAN_OPTIONS=detect_leaks=1 unit build-asan --suite unit
    echo "== ucontext backend"
    build build-ucontext -Dcontext=ucontext
    unit build-ucontext --suite unit
    echo "== valgrind"
    unit "$BUILD" --setup=valgrind --suite unit --no-suite realtime
    echo "== aarch64 under qemu"
    log=$(mktemp)
    bash .ci/aarch64.sh 2>&1 | tee "$log"
    count "$log"
    rm -f "$log"
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
