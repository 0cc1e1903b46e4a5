#!/bin/sh
# SPDX-License-Identifier: MIT
# CPython's own test suites natively and under LD_PRELOAD=libgreen.so,
# compared case by case: fails when a case that passes natively does not
# pass preloaded (a case that fails natively too is only reported).
# Each module runs on its own, under a timeout, so that a hang shows as
# that module's cases not passing instead of hiding the others.
#
# usage: cpython.sh LIBGREEN.so [MODULE...]   (exit 77: no test suite)
# PER_MODULE=seconds (default 300) bounds each run. CPYTHON_KNOWN: names
# of cases (the part after the last dot) whose difference is known and
# explained where the variable is set: reported as known, not counted.
set -u
lib=$1
shift
[ $# -gt 0 ] || set -- test_threading test_thread test_threadsignals \
    test_queue test_select test_selectors test_poll test_epoll \
    test_httpservers test_urllib2_localnet
py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import test.libregrtest' 2>/dev/null; then
    echo "cpython: no test suite for $py (libpython3-testsuite): skipped"
    exit 77
fi
limit=${PER_MODULE:-300}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cpython.XXXXXX")
trap 'rm -rf "$dir"' EXIT
lib=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$lib

for m in "$@"; do
    timeout -s KILL "$limit" "$py" -m test "$m" \
        --junit-xml "$dir/native.$m.xml" >"$dir/native.$m.log" 2>&1
    timeout -s KILL "$limit" env LD_PRELOAD="$lib" "$py" -m test "$m" \
        --junit-xml "$dir/preload.$m.xml" >"$dir/preload.$m.log" 2>&1
    echo "cpython: $m run (preloaded status $?)"
done

"$py" - "$dir" "$@" <<'EOF'
import sys, os, xml.etree.ElementTree as ET

def cases(path):
    out = {}
    if not os.path.exists(path):
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    for c in root.iter('testcase'):
        name = c.get('classname', '') + '.' + c.get('name', '')
        kids = {k.tag for k in c}
        out[name] = ('fail' if kids & {'failure', 'error'} else
                     'skip' if 'skipped' in kids else 'pass')
    return out

d = sys.argv[1]
known = set(os.environ.get('CPYTHON_KNOWN', '').split())
bad = 0
for m in sys.argv[2:]:
    n = cases(os.path.join(d, 'native.%s.xml' % m)) or {}
    p = cases(os.path.join(d, 'preload.%s.xml' % m))
    def count(r):
        return {k: sum(1 for v in (r or {}).values() if v == k)
                for k in ('pass', 'fail', 'skip')}
    cn, cp = count(n), count(p)
    print('cpython: %-22s native %3d passed %3d failed %3d skipped; '
          'preloaded %s' % (m, cn['pass'], cn['fail'], cn['skip'],
                            'no result (hang or crash)' if p is None else
                            '%3d passed %3d failed %3d skipped' %
                            (cp['pass'], cp['fail'], cp['skip'])))
    for name, v in sorted(n.items()):
        got = (p or {}).get(name, 'missing')
        if v == 'pass' and got != 'pass':
            if name.rsplit('.', 1)[-1] in known:
                print('cpython:   %s: passes natively, %s preloaded '
                      '(known)' % (name, got))
                continue
            bad += 1
            print('cpython:   %s: passes natively, %s preloaded' % (name, got))
if bad:
    print('cpython: %d case(s) pass natively but not under the preload' % bad)
sys.exit(1 if bad else 0)
EOF
