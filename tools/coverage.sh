#!/bin/sh
# coverage.sh BUILD_DIR -- after `make check` ran with a --coverage build in
# BUILD_DIR, prints the line coverage of lang/ and runtime/ and cli/ (gcov only,
# no lcov needed): lines executed / executable lines, per file and per folder.
set -eu
B=$1
OUT=$B/gcov
rm -rf "$OUT"; mkdir -p "$OUT"
for dir in lang runtime cli; do
    for gcda in "$B/$dir"/*.gcda; do
        [ -e "$gcda" ] || continue
        (cd "$OUT" && gcov -n -o "../$dir" "../../$dir/$(basename "$gcda" .gcda).c" 2>/dev/null) |
            awk -v dir="$dir" '
                /^File / { f = $2; gsub(/\047/, "", f) }
                /^Lines executed:/ && f ~ ("^(\\.\\./)*" dir "/.*\\.c$") {
                    split($2, a, "%"); sub(/^executed:/, "", a[1]); pct = a[1]
                    n = $NF; printf "%s %s %s\n", f, pct, n; f = "" }'
    done
done > "$OUT/summary.txt"
awk '{ f = $1; sub(/^(\.\.\/)*/, "", f); split(f, p, "/"); d = p[1]
       hit[d] += $2 * $3 / 100; tot[d] += $3; printf "%-28s %6.1f%% of %5d lines\n", f, $2, $3 }
     END { print ""; for (d in tot) printf "%-8s line coverage: %5.1f%% (%d of %d lines)\n", d "/", 100 * hit[d] / tot[d], hit[d] + 0.5, tot[d] }' "$OUT/summary.txt"
