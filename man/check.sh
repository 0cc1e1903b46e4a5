#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The manual pages render cleanly and keep up with the code.
#
#   check.sh SOURCE_ROOT
#
# Each page is rendered twice, by man (man -l, as a user reads it, 80
# columns, with groff's warnings on) and by groff -ww -man -z; any
# warning or an empty rendering fails. The rendered text must have the
# page's section headings, and both pages must name every GREEN_*
# variable that lib/ or preload/ reads, so that a new variable cannot
# land without its documentation. Exit 77 (skipped) without man or groff.
set -uo pipefail
root=${1:?usage: check.sh SOURCE_ROOT}
man_dir=$root/man

for tool in man groff; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "man: $tool is not installed (Debian: man-db); skipped"
        exit 77
    fi
done

export LC_ALL=C MANWIDTH=80 MAN_KEEP_FORMATTING=
unset MANPAGER PAGER MANOPT GROFF_TYPESETTER
failed=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

fail() {
    echo "man: FAIL: $*"
    failed=1
}

# The GREEN_* variables the code reads: the first argument of every
# getenv() and green__env_*() call (a call may break across lines: the
# files are read whole), and every string literal that is exactly a
# GREEN_* name (a name kept in a variable or a table before it is read).
vars=$( {
    grep -rhPzo --include='*.c' --include='*.h' \
        '(getenv|green__env_[a-z_]+)\s*\(\s*"\KGREEN_[A-Z0-9_]+(?=")' \
        "$root/lib" "$root/preload" | tr '\0' '\n'
    grep -rhoE --include='*.c' --include='*.h' '"GREEN_[A-Z0-9_]+"' \
        "$root/lib" "$root/preload" | tr -d '"'
} | grep -E '^GREEN_[A-Z0-9_]+$' | sort -u)
# Never vacuous: these are read today, so a search that finds nothing is
# broken, not proof.
for v in GREEN_PATCH GREEN_STACK_SIZE GREEN_DEBUG; do
    grep -qx "$v" <<<"$vars" ||
        fail "the search for GREEN_* variables in lib/ and preload/ did not find $v"
done

# check PAGE HEADING...: renders PAGE both ways and looks for each heading.
check() {
    local name=$1 page=$man_dir/$1 text was=$failed
    failed=0
    shift
    [ -r "$page" ] || { fail "$page is missing"; return; }

    text=$(man --warnings -P cat -l "$page" 2>"$err")
    if [ -s "$err" ]; then
        fail "man -l $name warned:"
        sed 's/^/    /' "$err"
    fi
    # man strips bold and underline when its output is not a terminal;
    # strip any overstrike that is left all the same.
    text=$(sed 's/.\x08//g' <<<"$text")
    if [ -z "${text//[[:space:]]/}" ]; then
        fail "man -l $name rendered nothing"
        return
    fi

    groff -ww -man -z "$page" 2>"$err"
    if [ -s "$err" ]; then
        fail "groff -ww -man $name warned:"
        sed 's/^/    /' "$err"
    fi
    local lines
    lines=$(groff -ww -man -Tascii "$page" 2>/dev/null | wc -l)
    [ "$lines" -gt 10 ] || fail "groff -man $name rendered $lines lines"

    for h in "$@"; do
        grep -qx "$h" <<<"$text" || fail "$name has no section '$h'"
    done
    for v in $vars; do
        grep -qw -- "$v" <<<"$text" || fail "$name does not mention $v, which the code reads"
    done
    [ "$failed" = 0 ] &&
        echo "man: $name: $(wc -l <<<"$text") lines, no warnings, every heading and variable"
    [ "$was" = 0 ] || failed=1
}

check green-run.1 NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT \
    'EXIT STATUS' EXAMPLES 'SEE ALSO'
check libgreen.7 NAME SYNOPSIS DESCRIPTION 'PATCH FAMILIES' \
    'THE PATCH BOUNDARY' ENVIRONMENT MESSAGES 'SEMANTICS KEPT' \
    'KNOWN LIMITS' API FILES 'SEE ALSO'

echo "man: variables the code reads: $(echo $vars)"
if [ "$failed" = 0 ]; then
    echo "man: all checks passed"
fi
exit "$failed"
