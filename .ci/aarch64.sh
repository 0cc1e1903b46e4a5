#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CI for aarch64 on an x86-64 Debian 12 host: cross-build libgreen with
# aarch64-linux-gnu-gcc and run every unit suite under
# qemu-aarch64, once plainly and once with -mbranch-protection=standard
# (qemu enforces the return-address signing; BTI stays off for these runs
# because Debian's crt objects are not BTI-marked). Before that, it checks
# that the assembly context switch carries its BTI property note exactly
# when asked, and runs it in a freestanding program with BTI enforced.
#
#   .ci/aarch64.sh [extra meson options...]    e.g. -Dcontext=ucontext
#
# Run as root on a fresh machine it installs what it needs with apt-get,
# adding arm64 as a dpkg architecture for the arm64 builds of libev and
# Check (multiarch). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD_AARCH64:-build-aarch64}
CROSS=.ci/aarch64-cross.ini
# Installed without recommends, so every package the build uses is named:
# the cross compiler only recommends its C library (crt objects, headers).
HOST_PKGS=(gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user meson
           ninja-build pkg-config)
ARM64_PKGS=(libev-dev:arm64 check:arm64 libc-ares-dev:arm64)

missing() {
    local p
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = \
            "install ok installed" ] || echo "$p"
    done
}

install_deps() {
    local want
    mapfile -t want < <(missing "${HOST_PKGS[@]}" "${ARM64_PKGS[@]}")
    [ ${#want[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "aarch64.sh: missing packages: ${want[*]}" >&2
        echo "aarch64.sh: as root: dpkg --add-architecture arm64 &&" \
             "apt-get update && apt-get install -y ${want[*]}" >&2
        exit 1
    fi
    echo "aarch64.sh: installing ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    dpkg --add-architecture arm64
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${want[@]}" \
        </dev/null >/dev/null
}

# The assembly must be marked BTI-compatible when built with BTI, and
# carry no property note otherwise (it would wrongly enable BTI).
check_bti_note() {
    local tmp ok=1
    tmp=$(mktemp -d)
    aarch64-linux-gnu-gcc -c -mbranch-protection=standard \
        -o "$tmp/bti.o" lib/arch/aarch64_aapcs_elf.S
    aarch64-linux-gnu-gcc -c -o "$tmp/plain.o" lib/arch/aarch64_aapcs_elf.S
    # Captured first: grep -q closing a pipe early would fail the pipeline.
    local bti plain
    bti=$(aarch64-linux-gnu-readelf -n "$tmp/bti.o")
    plain=$(aarch64-linux-gnu-readelf -n "$tmp/plain.o")
    if ! grep -q 'AArch64 feature: BTI' <<<"$bti"; then
        echo "aarch64.sh: no BTI property note with -mbranch-protection" >&2
        ok=0
    fi
    if grep -q 'AArch64 feature' <<<"$plain"; then
        echo "aarch64.sh: property note without -mbranch-protection" >&2
        ok=0
    fi
    rm -rf "$tmp"
    [ "$ok" -eq 1 ] || exit 1
    echo "aarch64.sh: BTI property note present exactly with BTI"
}

# Debian's crt objects carry no BTI note, so no program linked with libc
# runs with BTI enforced. This freestanding one (every object marked) does:
# it switches through function pointers, so each call into the assembly is
# a blr that must land on a bti c. A control program that calls a function
# without a landing pad must die of SIGILL; if it does not, qemu does not
# enforce BTI and the check is skipped.
check_bti_enforced() {
    local tmp rc=0
    tmp=$(mktemp -d)
    cat >"$tmp/bti.c" <<'END'
#include "arch/switch.h"
static green__sp_t main_sp, co_sp;
static char stack[16384] __attribute__((aligned(16)));
static void *(*volatile jump)(green__sp_t *, green__sp_t, void *) =
    green__ctx_jump;
static green__sp_t (*volatile make)(void *, size_t, void (*)(void *)) =
    green__ctx_make;
int no_pad(void);
static int (*volatile no_pad_p)(void) = no_pad;
void abort(void) { for (;;) __builtin_trap(); }
static void entry(void *arg)
{
    for (;;) arg = jump(&co_sp, main_sp, (char *)arg + 1);
}
int start_c(void);
int start_c(void)
{
#ifdef CONTROL
    return no_pad_p();
#endif
    co_sp = make(stack + sizeof stack, sizeof stack, entry);
    return jump(&main_sp, co_sp, (void *)41) == (void *)42 ? 0 : 1;
}
__asm__(".globl _start\n_start:\n bl start_c\n mov x8, #93\n svc #0\n"
        "no_pad:\n mov x0, #0\n ret\n");
END
    local cc=(aarch64-linux-gnu-gcc -O2 -ffreestanding -nostdlib -static
              -mbranch-protection=standard -Ilib)
    "${cc[@]}" -DCONTROL -o "$tmp/control" "$tmp/bti.c" \
        lib/arch/aarch64_aapcs_elf.S
    "${cc[@]}" -o "$tmp/switch" "$tmp/bti.c" lib/arch/aarch64_aapcs_elf.S
    (qemu-aarch64 "$tmp/control"; exit $?) 2>/dev/null || rc=$?
    if [ "$rc" -ne 132 ]; then
        echo "aarch64.sh: qemu does not enforce BTI (control: $rc); skipped"
    elif ! qemu-aarch64 "$tmp/switch"; then
        echo "aarch64.sh: the switch fails with BTI enforced" >&2
        rm -rf "$tmp"
        exit 1
    else
        echo "aarch64.sh: the switch runs with BTI enforced"
    fi
    rm -rf "$tmp"
}

# run DIR [meson options...]: configure DIR afresh, build, run the suites.
run() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --wipe "$dir" --cross-file "$CROSS" "$@"
    else
        meson setup "$dir" --cross-file "$CROSS" "$@"
    fi
    ninja -C "$dir"
    meson test -C "$dir" --suite unit --print-errorlogs
}

install_deps
check_bti_note
check_bti_enforced
echo "== aarch64 under qemu"
run "$BUILD" "$@"
echo "== aarch64 under qemu, -mbranch-protection=standard"
run "$BUILD-bp" -Dc_args=-mbranch-protection=standard "$@"
