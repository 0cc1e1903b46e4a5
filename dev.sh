#!/usr/bin/env bash
# libgreen's one entry point for people and CI.
#
#   ./dev.sh demo    install what is missing, build, run the demos
#   ./dev.sh test    install what is missing, build, run every test
#   ./dev.sh bench   install what is missing, run the benchmarks (bench/run.sh)
#   ./dev.sh ci      test, then the extra CI configurations: ASan+UBSan,
#                    the ucontext backend, valgrind, aarch64 under qemu
#
# Missing Debian packages are installed with apt-get when run as root;
# otherwise the script names them and stops.
set -euo pipefail
cd "$(dirname "$0")"

BUILD=${BUILD:-build}
PKGS=(gcc meson ninja-build pkg-config libev-dev libc-ares-dev check valgrind)

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

unit() {
    local dir=$1
    shift
    meson test -C "$dir" --print-errorlogs "$@"
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
    ;;
test)
    need "${PKGS[@]}"
    build "$BUILD"
    unit "$BUILD"
    ;;
bench)
    need "${PKGS[@]}"
    exec bench/run.sh
    ;;
ci)
    "$0" test
    echo "== ASan + UBSan"
    need "${PKGS[@]}"
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    ASAN_OPTIONS=detect_leaks=1 unit build-asan --suite unit
    echo "== ucontext backend"
    build build-ucontext -Dcontext=ucontext
    unit build-ucontext --suite unit
    echo "== valgrind"
    unit "$BUILD" --setup=valgrind --suite unit
    if [ -x .ci/aarch64.sh ] || [ -f .ci/aarch64.sh ]; then
        echo "== aarch64 under qemu"
        bash .ci/aarch64.sh
    fi
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
