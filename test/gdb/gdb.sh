#!/bin/sh
# SPDX-License-Identifier: MIT
# gdb support (gdb/libgreen-gdb.py), as a user meets it: gdb loads the
# script by itself from libgreen's .debug_gdb_scripts section (the build
# directory added to `auto-load safe-path`, as README says), then
#   (a) attached to a live preloaded program (test/gdb/prog.c): `info
#       greenlets` lists its named threads with what each waits on, and
#       `greenlet bt N` of the worker shows worker_waits_here; the
#       program runs on after gdb detaches;
#   (b) a core file of that program crashed by abort() in one green
#       thread while the others are parked: every green thread listed,
#       the parked worker's and the crashed thread's stacks shown;
#   (c) the same, live and core, for a program linking libgreen
#       (test/gdb/api.c: named tasks).
# Cores are written by the kernel when /proc/sys/kernel/core_pattern
# names a plain file (here "core"); where it pipes them elsewhere
# (systemd-coredump, apport), the core is gdb's own `gcore` of the live
# program instead, and the test says so.
#
# GDB_TEST_GCORE=1 takes the gcore path even where the kernel writes
# cores. Usage: gdb.sh PROG API LIBGREEN_SO. Exit 77 (skipped) without gdb or
# under a sanitizer build (GREEN_TEST_PRELOAD set).
set -u
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
prog=$(abs "$1") api=$(abs "$2") lib=$(abs "$3")
command -v gdb >/dev/null 2>&1 || { echo "gdb not found: skipped"; exit 77; }
if [ -n "${GREEN_TEST_PRELOAD:-}" ]; then
    echo "sanitizer build: skipped"; exit 77
fi
libdir=$(dirname "$lib")
work=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

# gdb with libgreen's own script only, loaded the way a user's gdb would.
rungdb() {
    timeout 120 gdb -nx -batch -iex "add-auto-load-safe-path $libdir" "$@" 2>&1
}

# start NAME CMD...: runs CMD in the background until it says "ready".
start() {
    name=$1; shift
    "$@" > "$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    pids="$pids $pid"
    i=0
    while ! grep -q '^ready$' "$work/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
            bad "$name did not get ready"; cat "$work/$name.err"; exit 1
        fi
        sleep 0.05
    done
}

# has FILE WHAT REGEX: FILE has a line matching REGEX.
has() {
    if grep -Eq -- "$3" "$1"; then ok "$2"; else bad "$2"; sed 's/^/  | /' "$1"; fi
}
hasnt() {
    if grep -Eq -- "$3" "$1"; then bad "$2"; sed 's/^/  | /' "$1"; else ok "$2"; fi
}

# The id of the green thread named $2 in an `info greenlets` listing.
gid() {
    awk -v n="$2" '{ sub(/^\*/, " "); if ($5 == n) { print $1; exit } }' "$1"
}

# checks of an `info greenlets` listing of prog; $3 = 0: the stacks are
# not in the core (gcore's), so the functions are not checked.
prog_listing() {
    f=$1 how=$2
    if [ "${3:-1}" = 1 ]; then
        r=reader c=condwait s=sleeper w='worker_waits_here \(worker\)' m=main
    else
        r='.*' c='.*' s='.*' w='.*' m='.*'
    fi
    has "$f" "$how: script auto-loaded" '^Yes +libgreen-gdb.py'
    has "$f" "$how: reader parked on its fd" \
        " task +parked +reader +$r .*wait on fd 3"
    has "$f" "$how: condwait in pthread_cond_wait" \
        " task +parked +condwait +$c .*pthread_cond_wait on 0x[0-9a-f]+ <cv>"
    has "$f" "$how: sleeper asleep" " task +parked +sleeper +$s .*green_sleep"
    has "$f" "$how: worker in worker_waits_here" \
        " task +parked +worker +$w .*sem_wait on 0x[0-9a-f]+ <sem>"
    has "$f" "$how: main's root listed" " root +parked +- +$m "
    hasnt "$f" "$how: no Python error" 'Python Exception|Error occurred in Python'
}

# (a) live, preloaded
start prog env LD_PRELOAD="$lib" "$prog" live
rungdb -p $pid -ex 'info auto-load python-scripts' -ex 'info greenlets' \
    > "$work/live.txt"
prog_listing "$work/live.txt" live
w=$(gid "$work/live.txt" worker)
rungdb -p $pid -ex "greenlet bt ${w:-0}" -ex "greenlet ${w:-0}" -ex 'up 8' \
    -ex 'greenlet' -ex 'greenlet off' -ex 'bt 1' > "$work/livebt.txt"
has "$work/livebt.txt" "live: greenlet bt shows the switch-out marker" \
    '^#0  \[green thread [0-9]+ switched out here'
has "$work/livebt.txt" "live: greenlet bt shows worker_waits_here" \
    '^#[0-9]+ .* worker_waits_here \(depth=.*prog.c'
has "$work/livebt.txt" "live: ...called from worker" '^#[0-9]+ .* worker \(arg='
has "$work/livebt.txt" "live: greenlet N selects its frame 1" \
    '^\[Switching to green thread [0-9]+ \(worker\), parked'
has "$work/livebt.txt" "live: up from there reaches worker_waits_here" \
    '^#[0-9]+ .*worker_waits_here'
has "$work/livebt.txt" "live: greenlet says which is selected" \
    '^Green thread [0-9]+ \(worker\), on OS thread 1'
has "$work/livebt.txt" "live: greenlet off gives back the OS thread's frame 0" \
    '^#0  .*epoll_wait'
hasnt "$work/livebt.txt" "live: no Python error" 'Python Exception|Error occurred in Python'
sleep 0.2
if kill -0 $pid 2>/dev/null; then ok "live: the program runs on"; else bad "live: the program died"; fi

# A core of prog: by the kernel if cores go to a file here, else gcore.
cd "$work" || exit 1
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|')
[ -n "${GDB_TEST_GCORE:-}" ] && pattern="|(GDB_TEST_GCORE)"
core=
case $pattern in
    \|*|*/*) ;;
    *)
        ulimit -c unlimited 2>/dev/null
        env LD_PRELOAD="$lib" timeout 60 "$prog" crash > /dev/null 2>&1
        core=$(ls -t "$work"/core* 2>/dev/null | head -1)
        ;;
esac
crashed=1
if [ -z "$core" ]; then
    # gdb's gcore reads memory a MiB at a time and leaves out a MiB
    # holding a guard page (MADV_GUARD_INSTALL reads as EFAULT): the
    # green stacks are not in its core, the runtime's records are.
    echo "note: no kernel core here (core_pattern '$pattern'): gcore of the live program, without the green stacks"
    rungdb -p $pid -ex "gcore $work/gcore" > /dev/null
    core=$work/gcore
    crashed=0
fi
rungdb "$prog" "$core" -ex 'info auto-load python-scripts' -ex 'info greenlets' \
    > "$work/core.txt"
prog_listing "$work/core.txt" core $crashed
if [ $crashed = 1 ]; then
    has "$work/core.txt" "core: the crashed thread is the running one" \
        '^\* [0-9]+ +1 +task +running +crasher'
    c=$(gid "$work/core.txt" crasher)
    rungdb "$prog" "$core" -ex "greenlet bt ${c:-0}" > "$work/corecrash.txt"
    has "$work/corecrash.txt" "core: the crasher's stack has abort" \
        '^#[0-9]+ .*abort'
    has "$work/corecrash.txt" "core: ...called from crasher" '^#[0-9]+ .* crasher \('
fi
w=$(gid "$work/core.txt" worker)
[ $crashed = 1 ] &&
rungdb "$prog" "$core" -ex "greenlet bt ${w:-0}" -ex "greenlet ${w:-0}" \
    -ex 'info registers rip' > "$work/corebt.txt"
if [ $crashed = 1 ]; then
    has "$work/corebt.txt" "core: greenlet bt shows worker_waits_here" \
        '^#[0-9]+ .* worker_waits_here \(depth=.*prog.c'
    has "$work/corebt.txt" "core: ...called from worker" '^#[0-9]+ .* worker \(arg='
    has "$work/corebt.txt" "core: greenlet N selects the greenlet's frame" \
        '^rip +0x[0-9a-f]+ .*jump'
    hasnt "$work/corebt.txt" "core: no Python error" 'Python Exception|Error occurred in Python'
fi
kill $pid 2>/dev/null

# (c) a program linking libgreen: live, then a core
start api "$api" live
rungdb -p $pid -ex 'info greenlets' > "$work/api.txt"
api_listing() {
    f=$1 how=$2
    has "$f" "$how: on-fd task waits on its fd" ' task +parked +on-fd .*wait on fd'
    has "$f" "$how: on-event task in task_waits_here" \
        ' task +parked +on-event +task_waits_here \(on_event\) .*event'
    has "$f" "$how: sleeper task" ' task +parked +sleeper +sleeper .*green_sleep'
    has "$f" "$how: joiner waits on the sleeper" \
        ' task +parked +joiner +joiner .*green_join.* on #[0-9]+'
    has "$f" "$how: main in green_run" ' root +parked +- +main '
    hasnt "$f" "$how: no Python error" 'Python Exception|Error occurred in Python'
}
api_listing "$work/api.txt" "api live"
e=$(gid "$work/api.txt" on-event)
rungdb -p $pid -ex "greenlet bt ${e:-0}" > "$work/apibt.txt"
has "$work/apibt.txt" "api live: greenlet bt shows task_waits_here" \
    '^#[0-9]+ .* task_waits_here \(\) at .*api.c'
kill $pid 2>/dev/null
if [ $crashed = 1 ]; then
    rm -f "$work"/core*
    timeout 60 "$api" crash > /dev/null 2>&1
    core=$(ls -t "$work"/core* 2>/dev/null | head -1)
    if [ -n "$core" ]; then
        rungdb "$api" "$core" -ex 'info greenlets' > "$work/apicore.txt"
        api_listing "$work/apicore.txt" "api core"
        has "$work/apicore.txt" "api core: the crasher is running" \
            '^\* [0-9]+ +1 +task +running +crasher'
        e=$(gid "$work/apicore.txt" on-event)
        rungdb "$api" "$core" -ex "greenlet bt ${e:-0}" > "$work/apicorebt.txt"
        has "$work/apicorebt.txt" "api core: greenlet bt shows task_waits_here" \
            '^#[0-9]+ .* task_waits_here \(\) at .*api.c'
    else
        bad "api core: no core file"
    fi
fi
exit $fail
