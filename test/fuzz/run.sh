#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fuzzing, fault and churn tests in one go (test/fuzz/README.md):
#
#   run.sh ci   BUILD [SECONDS [SEED]]   what ./dev.sh extra runs
#   run.sh full BUILD [SECONDS [SEED]]   what ./dev.sh fuzz runs
#
# BUILD is an ordinary build (fuzzprog, fuzzdrive, libgreen.so, the churn
# programs). The fault sweep needs its own fault-injection builds, made
# here when missing: build-fault (-Dfault_injection=true) and, for the
# sanitizer subset, build-fault-asan (that, with ASan+UBSan); only the
# targets the sweep runs are built.
#   ci:   the differential fuzzer for SECONDS (100) from SEED (1),
#         reproducers into a temporary directory (printed, not kept); the
#         fault sweep, --points 8 per scenario and kind (faults.sh takes
#         the first ten points whenever N is under 10); its ASan subset
#         (spawn, dns, fork with detect_leaks=1), --points 4 (the same).
#   full: the fuzzer for SECONDS (60) from SEED (1), reproducers written
#         into test/legacy/ with their line in test/legacy/meson.build;
#         the churn test at full size (at least 10,000 connections, at
#         least 60 s); every injection point of the sweep; the ASan
#         subset at 30 points.
# Each part prints "fuzz PART: ok" or "fuzz PART: FAIL" (./dev.sh counts
# them); the fuzzer's own closing line is "N programs, N differences" and
# the sweep's "fault sweep: N scenarios x injection points, ...". The
# exit status is 1 if a part failed.
set -u
cd "$(dirname "$0")/../.."

mode=${1:?usage: run.sh ci|full BUILD [SECONDS [SEED]]}
build=${2:?usage: run.sh ci|full BUILD [SECONDS [SEED]]}
case "$mode" in
ci) seconds=${3:-100} ;;
full) seconds=${3:-60} ;;
*) echo "run.sh: ci or full, not $mode" >&2; exit 2 ;;
esac
seed=${4:-1}
status=0

part() {
    local name=$1
    shift
    if "$@"; then
        echo "fuzz $name: ok"
    else
        echo "fuzz $name: FAIL"
        status=1
    fi
}

# fault_build DIR [meson options]: a fault-injection build of what the
# sweep runs.
fault_build() {
    local dir=$1 lib
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dfault_injection=true -Dbenchmarks=false \
            -Dexamples=false "$@" >/dev/null || return 1
    fi
    lib=$(ninja -C "$dir" -t targets all |
        sed -n 's/^\(libgreen\.so\.[0-9.]*\): .*/\1/p' | head -1)
    ninja -C "$dir" "$lib" test/fuzz/faultprog test/fuzz/fakedns \
        test/churn/legacy_echo >/dev/null
}

echo "== differential fuzzer ($seconds s from seed $seed)"
if [ "$mode" = ci ]; then
    repro=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-repro.XXXXXX")
    part differential "$build/test/fuzz/fuzzdrive" \
        --prog "$build/test/fuzz/fuzzprog" --lib "$build/libgreen.so" \
        --seconds "$seconds" --seed "$seed" --known test/fuzz/known.txt \
        --repro-dir "$repro" --min-seconds 60
    for f in "$repro"/*.c; do
        [ -e "$f" ] || continue
        echo "== reproducer $(basename "$f") (not kept; ./dev.sh fuzz writes it into test/legacy/)"
        cat "$f"
    done
    rm -rf "$repro"
else
    part differential "$build/test/fuzz/fuzzdrive" \
        --prog "$build/test/fuzz/fuzzprog" --lib "$build/libgreen.so" \
        --seconds "$seconds" --seed "$seed" --known test/fuzz/known.txt \
        --repro-dir test/legacy --meson test/legacy/meson.build
    echo "== churn (at least 10,000 connections, at least 60 s)"
    # (The default, private TLS: since bd2b8de it keeps RSS flat.)
    part churn bash test/churn/churn.sh \
        "$build/libgreen.so" "$build/test/churn/legacy_echo" \
        "$build/test/churn/churn" 10000 60 64
fi

echo "== fault sweep"
if fault_build build-fault; then
    if [ "$mode" = ci ]; then
        part faults bash test/fuzz/faults.sh build-fault --points 8
    else
        part faults bash test/fuzz/faults.sh build-fault --full
    fi
else
    part faults false
fi

echo "== fault sweep under ASan (leaks)"
if fault_build build-fault-asan -Db_sanitize=address,undefined \
    -Db_lundef=false; then
    part faults-asan bash test/fuzz/faults.sh build-fault-asan --asan \
        --points "$([ "$mode" = ci ] && echo 4 || echo 30)"
else
    part faults-asan false
fi
exit "$status"
