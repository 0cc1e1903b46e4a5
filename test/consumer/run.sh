#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The consumer tests: libgreen as another project gets it. One small
# program, test/consumer/hello.c (two tasks that sleep and are joined, the
# library's version compared with the headers', "localhost" resolved with
# green_getaddrinfo), is built and run through every route a consumer
# takes, each route printing one line, "consumer ROUTE: ok (...)" or
# "consumer ROUTE: FAIL: why" followed by the log's tail:
#
#   pkg-config-uninstalled  PKG_CONFIG_PATH=BUILDDIR/meson-uninstalled
#                           pkg-config --cflags --libs libgreen, with cc;
#                           run with LD_LIBRARY_PATH=BUILDDIR.
#   subproject              a meson project (test/consumer/meson-project/,
#                           copied into a temporary directory) whose
#                           subprojects/libgreen is a symlink to SRCDIR,
#                           using dependency('libgreen'); also: its
#                           `meson test --list` holds none of libgreen's
#                           tests and no test, example or benchmark of
#                           libgreen's was built.
#   no-check                `meson setup -Dtests=false` succeeds on a
#                           machine without Check. pkg-config is given a
#                           search path (PKG_CONFIG_LIBDIR, which replaces
#                           the default one) holding only a copy of
#                           libcares.pc, the one .pc libgreen needs, so
#                           Check's check.pc is as absent as on a machine
#                           that never installed it; the same setup with
#                           the tests on must then fail for want of Check,
#                           which proves the hiding works.
#   installed-static        that build (tests off, everything else on)
#                           installed under a temporary --prefix, and the
#                           program linked with `pkg-config --static --libs
#                           libgreen` against it: libgreen, c-ares and libev
#                           from their .a archives, glibc dynamic; the
#                           binary must need none of the three at run time.
#
# Why not -static: a fully static glibc program that resolves names links
# with warnings (getaddrinfo and dlopen need the shared glibc of the same
# version at run time, for NSS), and such a binary is not what anyone ships
# against glibc. What the route must prove is that libgreen.pc's static
# half (Requires.private: libcares; Libs.private: -lev -lm -pthread -ldl)
# is complete for libgreen.a, and a link against libgreen.a that misses any
# of them fails with undefined references. So every -lgreen, -lcares and
# -lev pkg-config prints is turned into -l:libNAME.a (the archive, with no
# -Bstatic/-Bdynamic toggling that could drag glibc's own libm.a or
# libpthread.a in), and the rest is used as pkg-config printed it.
#
# usage: test/consumer/run.sh BUILDDIR SRCDIR
# Exits 0 when every route passed, else 1. The routes need cc, meson,
# ninja and pkg-config; the subproject and no-check routes configure
# libgreen afresh in the temporary directory (removed at exit).
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILDDIR SRCDIR" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd) || exit 2
SRC=$(cd "$2" && pwd) || exit 2
HERE=$SRC/test/consumer
CC=${CC:-cc}
# The program must build cleanly with the warnings a consumer might use.
CFLAGS_HELLO=(-Wall -Wextra -Werror -O1)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/green-consumer.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
failed=0

ok() {
    echo "consumer $1: ok ($2)"
}

# bad ROUTE WHY LOG
bad() {
    echo "consumer $1: FAIL: $2"
    if [ -s "$3" ]; then
        tail -n 40 "$3" | sed 's/^/    /'
    fi
    failed=$((failed + 1))
}

# runs_ok LOG PROGRAM...: runs it, appends its output to LOG, and
# succeeds if it exited 0 printing "OK ...".
runs_ok() {
    local log=$1 out
    shift
    out=$("$@" 2>>"$log")
    local rc=$?
    echo "$out" >>"$log"
    [ "$rc" -eq 0 ] && [ "${out#OK }" != "$out" ]
}

# --- pkg-config, uninstalled -------------------------------------------

route_uninstalled() {
    local r=pkg-config-uninstalled log=$tmp/uninstalled.log flags
    local pc=$BUILD/meson-uninstalled
    if ! flags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs libgreen \
                 2>"$log"); then
        bad $r "pkg-config found no libgreen in $pc" "$log"
        return
    fi
    echo "flags: $flags" >>"$log"
    case " $flags " in
    *" -I$SRC/include "*) ;;
    *)
        bad $r "--cflags lacks -I$SRC/include: $flags" "$log"
        return
        ;;
    esac
    # shellcheck disable=SC2086 # pkg-config's words
    if ! "$CC" "${CFLAGS_HELLO[@]}" "$HERE/hello.c" -o "$tmp/hello-uninst" \
        $flags >>"$log" 2>&1; then
        bad $r "compiling hello.c failed" "$log"
        return
    fi
    if ! LD_LIBRARY_PATH=$BUILD ldd "$tmp/hello-uninst" 2>&1 |
        grep -q "libgreen.so.0 => $BUILD/"; then
        bad $r "libgreen.so.0 does not come from $BUILD" "$log"
        return
    fi
    if ! runs_ok "$log" env LD_LIBRARY_PATH="$BUILD" "$tmp/hello-uninst"; then
        bad $r "hello failed" "$log"
        return
    fi
    ok $r "$flags"
}

# --- meson subproject --------------------------------------------------

route_subproject() {
    local r=subproject log=$tmp/subproject.log proj=$tmp/subproject
    mkdir -p "$proj/subprojects"
    cp "$HERE/meson-project/meson.build" "$HERE/hello.c" "$proj/"
    ln -s "$SRC" "$proj/subprojects/libgreen"
    # --force-fallback-for: an installed libgreen.pc must not answer.
    if ! meson setup "$proj/build" "$proj" --force-fallback-for=libgreen \
        >"$log" 2>&1; then
        bad $r "meson setup failed" "$log"
        return
    fi
    if ! ninja -C "$proj/build" >>"$log" 2>&1; then
        bad $r "ninja failed" "$log"
        return
    fi
    if ! runs_ok "$log" "$proj/build/hello"; then
        bad $r "hello failed" "$log"
        return
    fi
    local list
    list=$(meson test -C "$proj/build" --list --no-rebuild 2>>"$log")
    echo "meson test --list: $list" >>"$log"
    if [ "$(echo "$list" | grep -c .)" != 1 ] ||
        ! echo "$list" | grep -qE '(^| )hello$'; then
        bad $r "meson test --list is not just hello: $list" "$log"
        return
    fi
    local sub=$proj/build/subprojects/libgreen extra
    if [ ! -e "$sub/libgreen.so.0" ]; then
        bad $r "no $sub/libgreen.so.0" "$log"
        return
    fi
    extra=$(cd "$sub" && ls -d test examples bench green-tests* 2>/dev/null)
    if [ -n "$extra" ]; then
        bad $r "libgreen built what a subproject must not: $extra" "$log"
        return
    fi
    ok $r "dependency('libgreen'), meson test --list: $list"
}

# --- no Check, then installed and linked statically --------------------

route_no_check() {
    local r=no-check log=$tmp/no-check.log pcdir=$tmp/pkgconfig-no-check
    local cares_pc
    cares_pc=$(pkg-config --variable=pcfiledir libcares 2>/dev/null)/libcares.pc
    if [ ! -f "$cares_pc" ]; then
        bad $r "no libcares.pc to copy" "$log"
        return 1
    fi
    mkdir -p "$pcdir"
    cp "$cares_pc" "$pcdir/"
    # The control: with the tests on, the hidden Check must be missed.
    if env PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= \
        meson setup "$tmp/control" "$SRC" >"$log" 2>&1; then
        bad $r "check.pc was not hidden: setup with the tests on passed" \
            "$log"
        return 1
    fi
    if ! grep -q 'Dependency "check" not found' "$log"; then
        bad $r "setup with the tests on failed, but not for Check" "$log"
        return 1
    fi
    if ! env PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= \
        meson setup "$tmp/install-build" "$SRC" -Dtests=false \
        --prefix="$tmp/prefix" >"$log" 2>&1; then
        bad $r "meson setup -Dtests=false failed without Check" "$log"
        return 1
    fi
    if grep -qiE 'dependency "?check"?( |:|$)' "$log"; then
        bad $r "meson setup -Dtests=false still looked for Check" "$log"
        return 1
    fi
    ok $r "only libcares.pc visible: -Dtests=false configures, the tests on fail for Check"
}

route_installed_static() {
    local r=installed-static log=$tmp/static.log
    if [ ! -f "$tmp/install-build/build.ninja" ]; then
        bad $r "no configured build (the no-check route failed)" "$log"
        return
    fi
    if ! meson install -C "$tmp/install-build" >"$log" 2>&1; then
        bad $r "meson install failed" "$log"
        return
    fi
    local pcfile
    pcfile=$(find "$tmp/prefix" -name libgreen.pc | head -n 1)
    if [ -z "$pcfile" ]; then
        bad $r "no libgreen.pc installed" "$log"
        return
    fi
    local pcpath cflags libs
    pcpath=$(dirname "$pcfile")
    cflags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags libgreen 2>>"$log")
    if ! libs=$(PKG_CONFIG_PATH=$pcpath pkg-config --static --libs libgreen \
                2>>"$log"); then
        bad $r "pkg-config --static --libs libgreen failed" "$log"
        return
    fi
    echo "static libs: $libs" >>"$log"
    local w want
    for want in -lgreen -lcares -lev; do
        case " $libs " in
        *" $want "*) ;;
        *)
            bad $r "pkg-config --static --libs lacks $want: $libs" "$log"
            return
            ;;
        esac
    done
    local linked=()
    for w in $libs; do
        case $w in
        -lgreen | -lcares | -lev) linked+=("-l:lib${w#-l}.a") ;;
        *) linked+=("$w") ;;
        esac
    done
    # shellcheck disable=SC2086 # pkg-config's words
    if ! "$CC" "${CFLAGS_HELLO[@]}" "$HERE/hello.c" -o "$tmp/hello-static" \
        $cflags "${linked[@]}" >>"$log" 2>&1; then
        bad $r "the static link failed" "$log"
        return
    fi
    local needed
    needed=$(readelf -d "$tmp/hello-static" | grep NEEDED)
    echo "$needed" >>"$log"
    if echo "$needed" | grep -qE 'libgreen|libcares|libev'; then
        bad $r "the binary still needs a shared library it should not" "$log"
        return
    fi
    if ! runs_ok "$log" "$tmp/hello-static"; then
        bad $r "hello failed" "$log"
        return
    fi
    ok $r "cc hello.c \$(pkg-config --cflags) ${linked[*]}"
}

route_uninstalled
route_subproject
route_no_check
route_installed_static

if [ "$failed" -ne 0 ]; then
    echo "consumer: $failed route(s) failed"
    exit 1
fi
echo "consumer: all routes passed"
