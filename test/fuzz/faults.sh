#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fault sweep: whole scenarios run under the preload of a
# fault-injection build (meson -Dfault_injection=true), once per
# injection point, and every outcome judged.
#
#   faults.sh BUILD [--full] [--points N] [--scenarios "spawn echo dns fork"]
#                   [--kinds "EINTR EAGAIN ENOMEM EMFILE short"] [--asan]
#                   [--persist]
#
# BUILD is a fault-injection build directory (libgreen.so,
# test/fuzz/faultprog, test/fuzz/fakedns, test/churn/legacy_echo).
#
# For each scenario a first run counts the calls that could fail with
# each kind (GREEN_FAULT=count); then the scenario runs once per point N
# with GREEN_FAULT=KIND:N: the Nth call that could fail with KIND fails.
# --full sweeps every point; otherwise --points (30) of them per scenario
# and kind: the first ten and the rest spread evenly over the count.
# --persist makes the Nth and every later such call fail (KIND:N:*): for
# ENOMEM, memory that runs out and stays out, which is where a fault the
# runtime cannot report (ENOMEM while reporting ENOMEM) shows.
# The scenarios (faultprog.c has the details):
#   spawn  1,000 threads created, run and joined
#   echo   the legacy echo server under the faults, 100 clients (native)
#          that check every echoed byte, then a probe that it still
#          serves, and its fd count back where it was
#   dns    40 getaddrinfo calls in 8 threads against test/fake_dns.c
#   fork   8 threads that fork children that write to a pipe
#
# Outcomes, per run:
#   ok           every call did its job or failed with a documented error
#                (which the program handled)
#   exit         the program reported the error itself and stopped (the
#                echo server's "legacy_echo: accept: ...", status 1)
#   undocumented a call failed with an error its manual does not list
#   abort        SIGABRT with a "libgreen:" message: a fault the runtime
#                cannot report, stopped loudly (allowed, and listed)
#   BROKEN       a wrong result, a lost or corrupted byte, a lost child
#   crash        any other signal (or an abort without a message), or a
#                memory error AddressSanitizer caught
#   hang         the time limit (20 s) ran out
#   leak         LeakSanitizer's report (--asan: a sanitizer build, run with
#                ASAN_OPTIONS=detect_leaks=1; echo is left out, since the
#                server never exits; pthread_key_create and
#                pthread_setspecific are not failed, since the sanitizer's
#                runtime makes them itself), or an fd the echo server kept
# The closing lines are a table (scenario x kind: points and outcomes),
# the distinct non-ok outcomes with the call that was made to fail, and
#   fault sweep: N scenarios x injection points, N ok, N exit,
#   N undocumented, N abort, N BROKEN, N crash, N hang, N leak
# The exit status is 1 if any run was BROKEN, a crash, a hang or a leak
# that faults-known.txt does not list (a finding reported and not fixed
# yet: it is counted, listed and marked "known", and fails nothing).
set -u

build=${1:?usage: faults.sh BUILD [--full] [--points N] [--scenarios LIST] [--kinds LIST] [--asan]}
shift
full=0
points=30
scenarios="spawn echo dns fork"
kinds="EINTR EAGAIN ENOMEM EMFILE short"
asan=0
persist=
while [ $# -gt 0 ]; do
    case "$1" in
    --full) full=1 ;;
    --points) points=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --kinds) kinds=$2; shift ;;
    --asan) asan=1 ;;
    --persist) persist=":*" ;;
    *) echo "faults.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

lib=$build/libgreen.so
prog=$build/test/fuzz/faultprog
fakedns=$build/test/fuzz/fakedns
echo_server=$build/test/churn/legacy_echo
for f in "$lib" "$prog" "$fakedns"; do
    [ -e "$f" ] || { echo "faults.sh: $f is missing (ninja -C $build)" >&2; exit 2; }
done
preload=$lib
if [ "$asan" = 1 ]; then
    rt=$(${CC:-cc} -print-file-name=libasan.so)
    preload=$rt:$lib
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    # ASan's runtime makes these through libgreen's interposers; made to
    # fail, its own CHECKs stop the program: nothing of libgreen's.
    export GREEN_FAULT_EXCEPT=pthread_key_create,pthread_setspecific
    scenarios=$(echo "$scenarios" | sed 's/echo//')
fi
[ -e "$echo_server" ] || scenarios=$(echo "$scenarios" | sed 's/echo//')

dir=$(mktemp -d "${TMPDIR:-/tmp}/faults.XXXXXX")
dns_pid=
cleanup() {
    [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# The fake DNS server, native, for the whole sweep.
"$fakedns" 3600 >"$dir/dns.addr" &
dns_pid=$!
for _ in $(seq 50); do [ -s "$dir/dns.addr" ] && break; sleep 0.1; done
dns_servers=$(cat "$dir/dns.addr")

limit=20

# Settings a scenario runs with. fork: GREEN_TLS=shared, because with
# private TLS (the default since 2bdd564) a child forked from a green
# pthread dies of SIGSEGV at once, fault or no fault (reported with
# test/legacy/fuzz reproducers; take this out when that is fixed).
declare -A scenario_env
scenario_env[fork]="GREEN_TLS=shared"

# run SCENARIO FAULT: runs once with GREEN_FAULT=FAULT, log in $dir/log;
# sets $outcome (and $detail).
run() {
    local scen=$1 fault=$2 rc
    : >"$dir/log"
    : >"$dir/err"
    outcome=
    detail=
    case "$scen" in
    echo) run_echo "$fault"; return ;;
    dns) set -- dns 40 ;;
    fork) set -- fork 8 ;;
    spawn) set -- spawn 1000 ;;
    esac
    # shellcheck disable=SC2086 # scenario_env: words on purpose
    timeout -k 2 "$limit" env GREEN_FAULT="$fault" \
        GREEN_FAULT_LOG="$dir/log" GREEN_DNS_SERVERS="$dns_servers" \
        GREEN_MAX_BLOCKING_MS=0 ${scenario_env[$scen]:-} \
        LD_PRELOAD="$preload" "$prog" "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
    judge "$rc"
}

# judge STATUS: the outcome of a faultprog run.
judge() {
    local rc=$1
    if grep -q "LeakSanitizer" "$dir/err"; then
        outcome=leak
        detail=$(grep -m1 -A3 "LeakSanitizer" "$dir/err" | tr '\n' ' ')
    elif grep -q "Sanitizer" "$dir/err"; then
        outcome=crash # a memory error the sanitizer caught
        detail=$(grep -m1 "Sanitizer" "$dir/err")
    elif [ "$rc" = 0 ]; then
        outcome=ok
    elif [ "$rc" = 1 ]; then
        outcome=BROKEN
        detail=$(grep -m1 "BROKEN" "$dir/err")
    elif [ "$rc" = 2 ]; then
        outcome=undocumented
        detail=$(grep -m1 -E "not an error|faultprog: " "$dir/err")
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        outcome=hang
    elif [ "$rc" = 134 ] && grep -q "libgreen: " "$dir/err"; then
        outcome=abort
        detail=$(grep -m1 "libgreen: " "$dir/err")
    else
        outcome=crash
        detail="status $rc $(grep -m1 -v '^inject' "$dir/err" | head -c 200)"
    fi
}

# server_exit STATUS: the echo server ended by itself. With a status and
# a message of its own ("legacy_echo: accept: Too many open files"), the
# program reported the error and stopped, as it is written to: "exit".
server_exit() {
    local rc=$1
    if [ "$rc" -ge 1 ] && [ "$rc" -lt 128 ] &&
        grep -q "^legacy_echo: " "$dir/err"; then
        outcome=exit
        detail=$(grep -m1 "^legacy_echo: " "$dir/err")
    else
        judge "$rc"
        [ "$outcome" = ok ] && outcome=crash && detail="the server exited 0"
    fi
}

# The echo server under the faults, the clients native.
run_echo() {
    local fault=$1 pid port base now rc=0
    # Emptied here, before the start: the redirection below empties the
    # file only after the fork, so the previous run's port could end the
    # wait, and be gone by the time it is read (an empty port: the wait
    # for a server that serves, until its --max-seconds alarm).
    : >"$dir/port"
    # No timeout(1) around it: $! must be the server itself (env execs
    # it), whose fds are counted; --max-seconds ends it if all else fails.
    env GREEN_FAULT="$fault" GREEN_FAULT_LOG="$dir/log" \
        GREEN_MAX_BLOCKING_MS=0 LD_PRELOAD="$preload" \
        "$echo_server" 0 --max-seconds 50 >"$dir/port" 2>"$dir/err" &
    pid=$!
    for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
    port=$(head -1 "$dir/port")
    if [ -z "$port" ]; then
        wait "$pid"
        server_exit $?
        return
    fi
    # A first client warms the server up (its hub and table), then the
    # fd count is taken.
    "$prog" echo "$port" 1 >/dev/null 2>&1
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        server_exit $?
        return
    fi
    base=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
    timeout -k 2 "$limit" "$prog" echo "$port" 100 >"$dir/out" 2>"$dir/cerr"
    rc=$?
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        server_exit $?
        return
    fi
    # Its connections closed, the server's fds come back to the count.
    now=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
    for _ in $(seq 40); do
        [ "$now" -le "$base" ] && break
        sleep 0.05
        now=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    case "$rc" in
    0) outcome=ok ;;
    1) outcome=BROKEN; detail=$(grep -m1 BROKEN "$dir/cerr") ;;
    124 | 137) outcome=hang; detail="the clients did not finish" ;;
    *) outcome=crash; detail="client status $rc" ;;
    esac
    if [ "$outcome" = ok ] && [ "$now" -gt "$base" ]; then
        outcome=leak
        detail="the server holds $now fds, $base before the clients"
    fi
}


# The points of a sweep of K calls.
pick() {
    local k=$1
    if [ "$full" = 1 ] || [ "$k" -le "$points" ]; then
        seq 1 "$k"
        return
    fi
    {
        seq 1 10
        local rest=$((points - 10)) i
        for i in $(seq 1 "$rest"); do
            echo $((10 + (k - 10) * i / rest))
        done
    } | sort -n | uniq
}

# The findings already reported and not fixed yet (faults-known.txt: one
# per line, SCENARIO OUTCOME SITE, # comments): such an outcome is still
# counted and listed, marked "(known)", but does not fail the sweep.
known_file=$(dirname "$0")/faults-known.txt
is_known() {
    local scen=$1 outcome=$2 at=$3 s o site
    [ -f "$known_file" ] || return 1
    while read -r s o site; do
        case "$s" in '#'* | '') continue ;; esac
        if { [ "$s" = "$scen" ] || [ "$s" = "*" ]; } &&
            { [ "$o" = "$outcome" ] || [ "$o" = "*" ]; } &&
            [[ "$at" == *" at $site"* ]]; then
            return 0
        fi
    done < <(sed 's/#.*//' "$known_file")
    return 1
}

# where "inject KIND #N CALL at libgreen.so+0xOFF(...)": the same with
# the call's file:line in libgreen (addr2line), cached.
declare -A lines
where() {
    local off
    off=$(sed -nE 's/.* at libgreen\.so\+(0x[0-9a-f]+).*/\1/p' <<<"$1")
    if [ -z "$off" ] || ! command -v addr2line >/dev/null; then
        echo "$1"
        return
    fi
    if [ -z "${lines[$off]:-}" ]; then
        lines[$off]=$(addr2line -e "$lib" "$off" | sed 's|^.*\.\./||')
    fi
    sed -E "s/ at libgreen\.so\+0x[0-9a-f]+\([^)]*\)/ at ${lines[$off]//\//\\/}/" <<<"$1"
}

declare -A tab
total=0
findings=$dir/findings
: >"$findings"
for scen in $scenarios; do
    run "$scen" count
    c=$(sed -n 's/^count //p' "$dir/log" | tr -s ' ')
    if [ "$outcome" != ok ]; then
        echo "faults.sh: $scen fails without a fault ($outcome: $detail)"
        tab[$scen,fail]=1
        continue
    fi
    echo "== $scen: $c calls that could fail"
    for kind in $kinds; do
        k=$(echo "$c" | tr ' ' '\n' | sed -n "s/^$kind=//p")
        [ -n "$k" ] && [ "$k" -gt 0 ] || continue
        for n in $(pick "$k"); do
            run "$scen" "$kind:$n$persist"
            if ! grep -q "^inject" "$dir/log"; then
                continue # past the calls this run made
            fi
            total=$((total + 1))
            tab[$scen,$kind,pts]=$((${tab[$scen,$kind,pts]:-0} + 1))
            tab[$scen,$kind,$outcome]=$((${tab[$scen,$kind,$outcome]:-0} + 1))
            tab[all,$outcome]=$((${tab[all,$outcome]:-0} + 1))
            if [ "$outcome" != ok ]; then
                at=$(grep -m1 "^inject" "$dir/log" | sed 's/ pid=.*//')
                at=$(where "$at")
                if is_known "$scen" "$outcome" "$at"; then
                    tab[all,known]=$((${tab[all,known]:-0} + 1))
                    tab[$scen,$kind,known]=$((${tab[$scen,$kind,known]:-0} + 1))
                    case "$outcome" in
                    BROKEN | crash | hang | leak)
                        tab[all,known_bad]=$((${tab[all,known_bad]:-0} + 1)) ;;
                    esac
                    outcome="$outcome (known)"
                fi
                echo "$scen $kind:$n $outcome | $at | $detail" >>"$findings"
            fi
        done
    done
done

outcomes="ok exit undocumented abort BROKEN crash hang leak"
echo
printf '%-6s %-7s %6s' scen kind points
for o in $outcomes known; do printf ' %7.7s' "$o"; done
echo
for scen in $scenarios; do
    for kind in $kinds; do
        [ -n "${tab[$scen,$kind,pts]:-}" ] || continue
        printf '%-6s %-7s %6s' "$scen" "$kind" "${tab[$scen,$kind,pts]}"
        for o in $outcomes known; do printf ' %7s' "${tab[$scen,$kind,$o]:-0}"; done
        echo
    done
done
if [ -s "$findings" ]; then
    echo
    echo "Outcomes other than ok (scenario fault outcome | the call made to fail | what was seen):"
    # One line per distinct (outcome, call site, what), with a count.
    sed -E 's/^([a-z]+) [A-Za-z]+:[0-9]+ /\1 /' "$findings" | sort | uniq -c |
        sort -rn | head -60
fi
summary="fault sweep: $total scenarios x injection points"
for o in $outcomes; do summary="$summary, ${tab[all,$o]:-0} $o"; done
summary="$summary (of which ${tab[all,known]:-0} known: faults-known.txt)"
echo "$summary"
bad=$((${tab[all,BROKEN]:-0} + ${tab[all,crash]:-0} + ${tab[all,hang]:-0} + ${tab[all,leak]:-0} - ${tab[all,known_bad]:-0}))
for scen in $scenarios; do
    [ -n "${tab[$scen,fail]:-}" ] && bad=$((bad + 1))
done
[ "$bad" -eq 0 ]
