#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The runtime never calls its own interposers: no libc name that
# libgreen.so exports (the preload's read, signal, pthread_create...) may
# be an undefined symbol of the core library (lib/), which must reach
# libc through the real-symbol table (lib/real.h) instead. A direct call
# would bind to the interposer inside libgreen.so and come back in.
#
#   symbols.sh CORE.a LIBGREEN.so
set -euo pipefail
core=$1
lib=$2

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' |
           grep -v '^green' | sort -u)
undefined=$(nm -u "$core" | awk 'NF == 2 {print $2}' | sed 's/@.*//' |
            sort -u)
[ -n "$exported" ] || { echo "symbols: $lib exports no interposer"; exit 1; }
[ -n "$undefined" ] || { echo "symbols: $core has no undefined symbol"; exit 1; }
bad=$(comm -12 <(echo "$exported") <(echo "$undefined"))
if [ -n "$bad" ]; then
    echo "symbols: the core library calls interposed names directly:"
    for s in $bad; do
        printf '  %s in' "$s"
        nm -A -u "$core" | awk -v s="$s" '$NF == s || $NF ~ "^" s "@" {
            n = split($1, part, ":"); o = part[n - 1]
            sub(/.*\//, "", o); printf " %s", o }'
        echo
    done
    exit 1
fi
echo "symbols: $(echo "$exported" | wc -l) interposed names, none called" \
     "directly by the core"
