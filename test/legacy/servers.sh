#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real multi-threaded servers from Debian under the preload, compared with
# their native runs (issue: thread fidelity):
#   a) Apache httpd's worker MPM in -X: `ab -c 200` gets every response,
#      the program's threads run on one OS thread, and SIGTERM stops it
#      about as fast as natively (its signal thread waits in sigwait and
#      wakes the listener with pthread_kill);
#   b) MariaDB (thread per connection, thread_local current_thd):
#      mariadb-slap with 100 concurrent clients, then 20 concurrent
#      clients that each insert their own rows and count them, reading
#      back exactly what they wrote; one OS thread; a clean shutdown.
# A part whose programs are missing is skipped; the test is skipped (77)
# when none can run. Loopback only; every process is started here, bounded
# by timeouts, and stopped by pid.
#
#   servers.sh LIBGREEN_SO
set -u
lib=$1
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/servers.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
ran=0
say() { echo "servers: $*"; }
fail() { say "FAIL: $*"; failed=1; }
if [ -n "${GREEN_TEST_PRELOAD:-}" ]; then
    say "SKIP: a sanitizer build (the plain build runs these servers)"
    exit 77
fi

# own_threads PID: the program's OS threads, the runtime's green-* left out.
own_threads() {
    cat /proc/"$1"/task/*/comm 2>/dev/null | grep -vc '^green-'
}

# wait_gone PID SECONDS: waits for PID to end; prints the seconds taken.
wait_gone() {
    local pid=$1 limit=$2 t0 t1
    t0=$(date +%s%N)
    while kill -0 "$pid" 2>/dev/null; do
        t1=$(date +%s%N)
        [ $(( (t1 - t0) / 1000000 )) -gt $((limit * 1000)) ] && break
        sleep 0.02
    done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

# --- a) Apache, worker MPM ------------------------------------------------
apache=/usr/sbin/apache2
mods=/usr/lib/apache2/modules
if [ -x "$apache" ] && [ -x /usr/bin/ab ] && [ -f "$mods/mod_mpm_worker.so" ]; then
    ran=1
    mkdir -p "$work/ap/htdocs" "$work/ap/logs"
    chmod 777 "$work/ap/logs"
    echo "hello from apache" >"$work/ap/htdocs/index.html"
    chmod -R a+rX "$work/ap"
    port=$(( 21000 + $$ % 10000 ))
    user=$(id -un)
    [ "$user" = root ] && user=www-data
    group=$(id -gn "$user" 2>/dev/null || echo nogroup)
    cat >"$work/ap/httpd.conf" <<CONF
ServerRoot "$work/ap"
LoadModule mpm_worker_module $mods/mod_mpm_worker.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule dir_module $mods/mod_dir.so
LoadModule mime_module $mods/mod_mime.so
Listen 127.0.0.1:$port
PidFile $work/ap/httpd.pid
ErrorLog $work/ap/logs/error.log
DocumentRoot "$work/ap/htdocs"
ServerName localhost
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
ServerLimit 1
StartServers 1
User $user
Group $group
TypesConfig /etc/mime.types
<Directory "$work/ap/htdocs">
  Require all granted
</Directory>
CONF
    native_stop=0
    for mode in native preload; do
        pre=
        [ "$mode" = preload ] && pre=$lib
        rm -f "$work/ap/httpd.pid"
        env LD_PRELOAD="$pre" timeout 120 "$apache" -X -f "$work/ap/httpd.conf" \
            >"$work/ap/$mode.out" 2>&1 &
        pids+=($!)
        for _ in $(seq 100); do
            [ -s "$work/ap/httpd.pid" ] && \
                timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
            sleep 0.1
        done
        apid=$(cat "$work/ap/httpd.pid" 2>/dev/null)
        if [ -z "$apid" ]; then
            fail "a) apache ($mode) did not start: $(tail -2 "$work/ap/$mode.out")"
            continue
        fi
        out=$(timeout 120 ab -q -c 200 -n 4000 "http://127.0.0.1:$port/" 2>&1)
        complete=$(echo "$out" | awk '/^Complete requests/ {print $3}')
        failedreq=$(echo "$out" | awk '/^Failed requests/ {print $3}')
        [ "$complete" = 4000 ] && [ "$failedreq" = 0 ] ||
            fail "a) apache ($mode): ab completed '$complete', failed '$failedreq'"
        n=$(own_threads "$apid")
        if [ "$mode" = preload ]; then
            [ "$n" = 1 ] || fail "a) apache under the preload: $n OS threads"
        fi
        kill -TERM "$apid"
        ms=$(wait_gone "$apid" 30)
        kill -0 "$apid" 2>/dev/null && fail "a) apache ($mode) did not stop on SIGTERM"
        if [ "$mode" = native ]; then
            native_stop=$ms
        elif [ "$ms" -gt $(( native_stop * 3 + 1000 )) ]; then
            fail "a) apache stopped in $ms ms under the preload, $native_stop ms natively"
        fi
        say "a) apache $mode: $complete of 4000 answered, $n OS thread(s), stopped in $ms ms"
    done
else
    say "SKIP: a) needs apache2 (worker MPM) and ab"
fi

# --- b) MariaDB -----------------------------------------------------------
mysqld=/usr/sbin/mariadbd
client=/usr/bin/mariadb
if [ -x "$mysqld" ] && [ -x "$client" ] && [ -x /usr/bin/mariadb-slap ] &&
   command -v mariadb-install-db >/dev/null; then
    ran=1
    db=$work/db
    mkdir -p "$db/data"
    if ! mariadb-install-db --no-defaults --datadir="$db/data" --user="$(id -un)" \
            --auth-root-authentication-method=normal >"$db/install.log" 2>&1; then
        fail "b) mariadb-install-db: $(tail -2 "$db/install.log")"
    else
        sock=$db/sock
        env LD_PRELOAD="$lib" timeout 300 "$mysqld" --no-defaults \
            --datadir="$db/data" --socket="$sock" --skip-networking \
            --pid-file="$db/pid" --user="$(id -un)" --innodb-use-native-aio=0 \
            --skip-grant-tables --log-error="$db/err.log" >"$db/out.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 150); do [ -S "$sock" ] && break; sleep 0.2; done
        mpid=$(cat "$db/pid" 2>/dev/null)
        if [ ! -S "$sock" ] || [ -z "$mpid" ]; then
            fail "b) mariadbd did not start under the preload: $(tail -3 "$db/err.log")"
        else
            sq() { timeout 120 "$client" --socket="$sock" -N -B -e "$1" 2>&1; }
            slap=$(timeout 200 mariadb-slap --socket="$sock" --concurrency=100 \
                   --iterations=2 --auto-generate-sql \
                   --auto-generate-sql-load-type=mixed \
                   --number-of-queries=2000 2>&1)
            echo "$slap" | grep -q "Number of clients running queries: 100" ||
                fail "b) mariadb-slap: $(echo "$slap" | tail -3)"
            sq "CREATE DATABASE t; CREATE TABLE t.rows (client INT, n INT) ENGINE=InnoDB" >/dev/null
            clients=()
            for c in $(seq 20); do
                (
                    vals=$(seq 50 | sed "s/.*/($c,&)/" | paste -sd,)
                    sq "INSERT INTO t.rows VALUES $vals" >/dev/null
                    got=$(sq "SELECT COUNT(*), SUM(n) FROM t.rows WHERE client=$c")
                    [ "$got" = "$(printf '50\t1275')" ] || echo "client $c read '$got'"
                ) >"$db/client$c.out" &
                clients+=($!)
            done
            for j in "${clients[@]}"; do
                wait "$j"
            done
            bad=$(cat "$db"/client*.out)
            [ -z "$bad" ] || fail "b) clients read other than they wrote: $bad"
            total=$(sq "SELECT COUNT(*) FROM t.rows")
            [ "$total" = 1000 ] || fail "b) 20 clients x 50 rows: $total rows"
            n=$(own_threads "$mpid")
            [ "$n" = 1 ] || fail "b) mariadbd under the preload: $n OS threads"
            kill -TERM "$mpid"
            ms=$(wait_gone "$mpid" 60)
            kill -0 "$mpid" 2>/dev/null && fail "b) mariadbd did not stop on SIGTERM"
            grep -q "Shutdown complete" "$db/err.log" ||
                fail "b) mariadbd's log has no clean shutdown"
            say "b) mariadb: slap with 100 clients, 20 clients x 50 rows read back ($total rows), $n OS thread(s), stopped in $ms ms"
        fi
    fi
else
    say "SKIP: b) needs mariadb-server and mariadb-client"
fi

[ "$ran" = 1 ] || { say "SKIP: nothing could run"; exit 77; }
[ "$failed" = 0 ] && say "all passed"
exit "$failed"
