#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libgreen's one entry point for people and CI.
#
#   ./dev.sh demo    install what is missing, build, run the demos
#   ./dev.sh test    install what is missing, build, run every test
#   ./dev.sh bench   install what is missing, run the benchmarks (bench/run.sh)
#   ./dev.sh extra   the extra CI configurations: ASan+UBSan, the ucontext
#                    backend, valgrind, aarch64 under qemu, the fuzzer and
#                    fault sweep (.ci/run runs `./dev.sh test`, then this)
#   ./dev.sh fuzz [SECONDS] [SEED]   the differential fuzzer for SECONDS
#                    (60) from SEED (1), reproducers into test/legacy/;
#                    the full churn test and fault sweep (test/fuzz/README.md)
#
# Missing Debian packages are installed with apt-get when run as root;
# otherwise the script names them and stops.
set -euo pipefail
cd "$(dirname "$0")"

BUILD=${BUILD:-build}
PKGS=(gcc meson ninja-build pkg-config libev-dev libc-ares-dev check valgrind)
# What the tests run under the preload besides our own programs
# (test/legacy/debian_programs.sh): Debian's python3, curl and wget.
TEST_PKGS=(python3 curl wget man-db) # man-db: man -l for man/check.sh
# The allocators and the server test/legacy/allocators.sh runs beside the
# preload.
TEST_PKGS+=(libjemalloc2 libtcmalloc-minimal4 redis-server redis-tools)
# The servers test/legacy/servers.sh runs under the preload.
TEST_PKGS+=(apache2 apache2-utils mariadb-server mariadb-client)
# The C++ and Rust thread programs, the gdb script's test, and CPython's
# own suites (real-cpython) that the tests run; each test skips itself
# where its tool is missing, so without these a fresh machine would prove
# less than this one.
TEST_PKGS+=(g++ rustc gdb libpython3.11-testsuite)

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
        # A server package (redis-server) starts its service on install
        # unless policy-rc.d says no: the tests start their own servers.
        local policy=/usr/sbin/policy-rc.d made=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
            made=1
        fi
        local rc=0
        { apt-get update -qq && apt-get install -y -qq "${missing[@]}" \
              >/dev/null; } </dev/null || rc=$?
        [ "$made" = 0 ] || rm -f "$policy"
        [ "$rc" = 0 ] || exit "$rc"
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
    # Everything: the unit suites, the examples, and the legacy programs
    # and differential test under LD_PRELOAD=libasan.so:libgreen.so.
    ASAN_OPTIONS=detect_leaks=1 unit build-asan
    echo "== ucontext backend"
    build build-ucontext -Dcontext=ucontext
    unit build-ucontext --suite unit
    echo "== valgrind"
    unit "$BUILD" --setup=valgrind --suite unit --no-suite realtime \
        --no-suite script
    # The shell-script tests are not valgrind's; the boundary one runs its
    # program under valgrind itself.
    BOUNDARY_VALGRIND=1 GREEN_VALGRIND=1 CK_FORK=no unit "$BUILD" boundary
    echo "== aarch64 under qemu"
    log=$(mktemp)
    bash .ci/aarch64.sh 2>&1 | tee "$log"
    count "$log"
    rm -f "$log"
    echo "== consumers"
    # test/consumer/run.sh prints one line per route (pkg-config from the
    # build tree, meson subproject, setup without Check, static link of an
    # installation): each "consumer ROUTE: ok" counts as a pass, each
    # "consumer ROUTE: FAIL" as a failure, and a run that failed without
    # saying which route as one more.
    log=$(mktemp)
    rc=0
    bash test/consumer/run.sh "$BUILD" . 2>&1 | tee "$log" || rc=$?
    ok=$(awk '/^consumer [^ ]+: ok/ {n++} END {print n + 0}' "$log")
    bad=$(awk '/^consumer [^ ]+: FAIL/ {n++} END {print n + 0}' "$log")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
    rm -f "$log"
    [ "$rc" -eq 0 ]
    echo "== fuzz"
    # test/fuzz/run.sh ci: the differential fuzzer for 100 s from seed 1
    # (closing line "N programs, N differences"), the fault sweep at 8
    # points per scenario and kind in a fault-injection build, and its
    # ASan subset. Each part says "fuzz PART: ok" (a pass) or "fuzz PART:
    # FAIL" (a failure), and a run that failed without saying which part
    # counts as one more.
    log=$(mktemp)
    rc=0
    bash test/fuzz/run.sh ci "$BUILD" 2>&1 | tee "$log" || rc=$?
    ok=$(awk '/^fuzz [^ ]+: ok/ {n++} END {print n + 0}' "$log")
    bad=$(awk '/^fuzz [^ ]+: FAIL/ {n++} END {print n + 0}' "$log")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
    rm -f "$log"
    [ "$rc" -eq 0 ]
    ;;
fuzz)
    # ./dev.sh fuzz [SECONDS] [SEED]: test/fuzz/run.sh full (the fuzzer,
    # writing minimised reproducers into test/legacy/, the churn test at
    # full size, every point of the fault sweep, its ASan subset).
    need "${PKGS[@]}"
    trap 'summary' EXIT
    build "$BUILD"
    log=$(mktemp)
    rc=0
    bash test/fuzz/run.sh full "$BUILD" "${2:-60}" "${3:-1}" 2>&1 | tee "$log" || rc=$?
    PASSED=$((PASSED + $(awk '/^fuzz [^ ]+: ok/ {n++} END {print n + 0}' "$log")))
    FAILED=$((FAILED + $(awk '/^fuzz [^ ]+: FAIL/ {n++} END {print n + 0}' "$log")))
    rm -f "$log"
    [ "$rc" -eq 0 ]
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
