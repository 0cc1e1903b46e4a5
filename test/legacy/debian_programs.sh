#!/bin/sh
# SPDX-License-Identifier: MIT
# Real programs from Debian under LD_PRELOAD=libgreen.so, none of them
# built for it:
#   a) python3 (Debian's, /usr/bin/python3) running threaded socket code:
#      a socketserver.ThreadingTCPServer echo server, client threads and
#      time.sleep in threads;
#   b) HTTP clients, curl and wget, fetching files from python3's
#      http.server, all three under the preload;
#   c) a server with worker threads under the preload: python3's
#      ThreadingHTTPServer answering 30 parallel requests that each take
#      0.3 s, then stopping by itself.
# Each part checks the programs' output byte for byte and samples
# /proc/PID/status while the preloaded process runs: it must have one OS
# thread. A program that is missing is installed with apt-get when we
# are root; otherwise that part is skipped with a message.
#
# usage: debian_programs.sh LIBGREEN_SO
# Exit: 0 all run parts passed, 1 a failure, 77 everything was skipped.
set -u

lib=${1:?usage: debian_programs.sh LIBGREEN_SO}
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/debian_programs.XXXXXX")
failed=0
ran=0
started= # pids of background processes this script started

cleanup() {
    for p in $started; do
        kill "$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

say() { echo "debian_programs: $*"; }
fail() {
    say "FAIL: $*"
    failed=1
}

# have PROGRAM PACKAGE: the program is there, or installed now if we can.
have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "$1 is missing: apt-get install -y $2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" \
            >"$work/apt.log" 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" \
                  >"$work/apt.log" 2>&1; }
        command -v "$1" >/dev/null 2>&1 && return 0
        tail -5 "$work/apt.log"
    fi
    say "SKIP: $1 (Debian package $2) is not installed and could not be"
    say "      installed (not root, or no apt); its part is skipped"
    return 1
}

# sample_threads PID OUT: until PID exits, records in OUT the largest
# number of its OS threads but libgreen's own (named green-...), sampled
# every 20 ms. A count above the largest so far is read again 10 ms
# later and the smaller one kept: a runtime thread has its creator's
# name for the moment between its start and naming itself.
sample_threads() {
    max=0
    while t=$(cat "/proc/$1"/task/*/comm 2>/dev/null | grep -vc '^green-') &&
        [ "$t" != 0 ]; do
        if [ "$t" -gt "$max" ]; then
            sleep 0.01
            t2=$(cat "/proc/$1"/task/*/comm 2>/dev/null | grep -vc '^green-')
            [ -n "$t2" ] && [ "$t2" != 0 ] && [ "$t2" -lt "$t" ] && t=$t2
        fi
        [ "$t" -gt "$max" ] && max=$t
        echo "$max" >"$2.tmp" && mv -f "$2.tmp" "$2" # never seen half-written
        sleep 0.02
    done
}

# check_one_thread NAME FILE: the sampler saw exactly one OS thread.
check_one_thread() {
    n=$(cat "$2" 2>/dev/null)
    if [ -z "$n" ]; then
        say "$1: exited before /proc could be sampled"
    elif [ "$n" != 1 ]; then
        fail "$1 ran with up to $n OS threads under the preload (want 1)"
    else
        say "$1: 1 OS thread"
    fi
}

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT: until something answers HTTP on 127.0.0.1:PORT (10 s).
wait_http() {
    for _ in $(seq 100); do
        "$py" - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
EOF
        sleep 0.1
    done
    return 1
}

if [ ! -f "$lib" ]; then
    say "FAIL: $lib does not exist"
    exit 1
fi
if [ -n "${GREEN_TEST_PRELOAD:-}" ]; then
    # A sanitizer build. Debian's curl hangs in setlocale with libasan
    # preloaded and no libgreen at all, and ASan's warnings change the
    # programs' output: the plain build runs these programs.
    say "SKIP: a sanitizer build (the plain build runs Debian's programs)"
    exit 77
fi
if [ ! -x "$py" ]; then
    say "SKIP: $py (Debian's python3) is missing; every part needs it"
    exit 77
fi

# ---- a) python3: threads, sockets, sleeps ------------------------------
cat >"$work/py_echo.py" <<'EOF'
import os, socket, socketserver, sys, threading, time

def os_threads():  # but libgreen's own, named green-...
    n = 0
    for t in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{t}/comm") as f:
            n += not f.read().startswith("green-")
    return n

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True

srv = Server(("127.0.0.1", 0), Echo)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                 daemon=True).start()

N = 20
ok = [False] * N
seen = []
barrier = threading.Barrier(N + 1)

def client(i):
    s = socket.create_connection(("127.0.0.1", port))
    good = True
    for k in range(5):
        msg = (f"client {i} message {k};" * (k * 300 + 1)).encode()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            part = s.recv(65536)
            if not part:
                break
            got += part
        good = good and got == msg
    barrier.wait()
    time.sleep(0.5)
    s.close()
    ok[i] = good

t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
barrier.wait()          # every client connected and echoed, now sleeping
seen.append(os_threads())
for t in threads:
    t.join()
wall = time.monotonic() - t0
srv.shutdown()
srv.server_close()
print(f"echo ok {sum(ok)}/{N}")
print(f"sleeps overlapped {wall < 0.5 * N / 4}")
print(f"threads {seen[0]}")
EOF

say "a) python3 threaded echo server + client threads"
ran=1
if ! timeout 60 "$py" "$work/py_echo.py" >"$work/a.native" 2>&1 ||
    ! grep -q '^echo ok 20/20$' "$work/a.native"; then
    fail "a) the script fails natively:"
    cat "$work/a.native"
else
    timeout 120 env LD_PRELOAD="$lib" "$py" "$work/py_echo.py" \
        >"$work/a.out" 2>&1
    rc=$?
    printf 'echo ok 20/20\nsleeps overlapped True\nthreads 1\n' \
        >"$work/a.want"
    if [ $rc != 0 ] || ! cmp -s "$work/a.want" "$work/a.out"; then
        fail "a) python3 under the preload: status $rc, output (want" \
            "'echo ok 20/20', 'sleeps overlapped True', 'threads 1'):"
        head -40 "$work/a.out"
    else
        say "a) passed: 20 client threads echoed, slept together, 1 OS thread"
    fi
fi

# ---- b) curl and wget under the preload, from http.server --------------
say "b) curl and wget fetching from python3 -m http.server, all preloaded"
mkdir -p "$work/site" "$work/got"
: >"$work/site/empty"
printf 'hello\n' >"$work/site/small"
"$py" -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 255 for i in range(5 << 20)))' >"$work/site/big"
port=$(free_port)
env LD_PRELOAD="$lib" "$py" -m http.server --bind 127.0.0.1 \
    --directory "$work/site" "$port" >"$work/b.server" 2>&1 &
srv=$!
started="$started $srv"
sample_threads "$srv" "$work/b.threads" &
if ! wait_http "$port"; then
    fail "b) python3 -m http.server under the preload never answered:"
    head -20 "$work/b.server"
else
    if have curl curl; then
        ran=1
        for f in empty small big; do
            timeout 60 env LD_PRELOAD="$lib" curl -sS -f \
                -o "$work/got/curl.$f" "http://localhost:$port/$f" \
                2>"$work/b.curl.err" ||
                { fail "b) curl $f: status $?"; cat "$work/b.curl.err"; }
            cmp -s "$work/site/$f" "$work/got/curl.$f" ||
                fail "b) curl: $f differs from the served file"
        done
        # Several transfers at once in one curl (its multi interface).
        timeout 60 env LD_PRELOAD="$lib" curl -sS -f -Z \
            -o "$work/got/z1" "http://127.0.0.1:$port/big" \
            -o "$work/got/z2" "http://localhost:$port/small" \
            -o "$work/got/z3" "http://127.0.0.1:$port/big" \
            2>"$work/b.curlz.err" ||
            { fail "b) curl -Z: status $?"; cat "$work/b.curlz.err"; }
        cmp -s "$work/site/big" "$work/got/z1" &&
            cmp -s "$work/site/small" "$work/got/z2" &&
            cmp -s "$work/site/big" "$work/got/z3" ||
            fail "b) curl -Z: a parallel transfer differs"
        # A 404 is reported as curl reports it natively (status 22).
        timeout 30 env LD_PRELOAD="$lib" curl -sS -f -o /dev/null \
            "http://localhost:$port/missing" 2>/dev/null
        rc=$?
        [ $rc = 22 ] || fail "b) curl -f on a 404: status $rc (want 22)"
        # Nobody listening: curl's own connect error (status 7).
        dead=$(free_port)
        timeout 30 env LD_PRELOAD="$lib" curl -sS -o /dev/null \
            "http://127.0.0.1:$dead/" 2>/dev/null
        rc=$?
        [ $rc = 7 ] || fail "b) curl to a closed port: status $rc (want 7)"
        say "b) curl done"
    fi
    if have wget wget; then
        ran=1
        for f in small big; do
            timeout 60 env LD_PRELOAD="$lib" wget -q \
                -O "$work/got/wget.$f" "http://localhost:$port/$f" \
                2>"$work/b.wget.err" ||
                { fail "b) wget $f: status $?"; cat "$work/b.wget.err"; }
            cmp -s "$work/site/$f" "$work/got/wget.$f" ||
                fail "b) wget: $f differs from the served file"
        done
        say "b) wget done"
    fi
    check_one_thread "b) python3 -m http.server" "$work/b.threads"
fi
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null

# ---- c) a threaded server that stops by itself -------------------------
cat >"$work/py_httpd.py" <<'EOF'
import http.server, os, sys, threading, time

portfile, total = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
count = 0
done = threading.Event()

class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global count
        time.sleep(0.3)
        body = (self.path + "\n").encode() * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with lock:
            count += 1
            if count == total:
                done.set()

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                 daemon=True).start()
finished = done.wait(timeout=60)
srv.shutdown()
srv.server_close()
print(f"served {count}")
sys.exit(0 if finished else 1)
EOF

say "c) python3 ThreadingHTTPServer under the preload, 30 parallel requests"
if have curl curl; then
    ran=1
    env LD_PRELOAD="$lib" "$py" "$work/py_httpd.py" "$work/c.port" 30 \
        >"$work/c.out" 2>&1 &
    srv=$!
    started="$started $srv"
    sample_threads "$srv" "$work/c.threads" &
    for _ in $(seq 100); do
        [ -f "$work/c.port" ] && break
        sleep 0.1
    done
    if [ ! -f "$work/c.port" ]; then
        fail "c) the server never started:"
        head -20 "$work/c.out"
    else
        port=$(cat "$work/c.port")
        t0=$("$py" -c 'import time; print(time.time())')
        pids=
        for i in $(seq 30); do
            timeout 30 curl -sS -f -o "$work/got/c.$i" \
                "http://127.0.0.1:$port/page/$i" 2>"$work/c.err.$i" &
            pids="$pids $!"
        done
        for p in $pids; do
            wait "$p" || fail "c) a curl failed: $(cat "$work"/c.err.* )"
        done
        wall=$("$py" -c "import time; print(round(time.time() - $t0, 2))")
        for i in $(seq 30); do
            "$py" -c "import sys; sys.stdout.write('/page/$i\n' * 100)" \
                >"$work/c.want"
            cmp -s "$work/c.want" "$work/got/c.$i" ||
                fail "c) /page/$i: wrong body"
        done
        # Serially: 30 x 0.3 s = 9 s.
        "$py" -c "import sys; sys.exit(0 if $wall < 4.5 else 1)" ||
            fail "c) 30 requests of 0.3 s took $wall s: not concurrent"
        wait "$srv"
        rc=$?
        [ $rc = 0 ] && grep -q '^served 30$' "$work/c.out" ||
            { fail "c) the server ended with status $rc:"; cat "$work/c.out"; }
        check_one_thread "c) python3 ThreadingHTTPServer" "$work/c.threads"
        say "c) 30 requests in $wall s"
    fi
fi

if [ $ran = 0 ]; then
    say "SKIP: no part could run"
    exit 77
fi
[ $failed = 0 ] && say "all parts passed"
exit $failed
