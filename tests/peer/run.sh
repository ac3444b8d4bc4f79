#!/bin/sh
# tests/peer/run.sh KAIROS -- the peer of make bench (bench/run.sh): the
# single-rule case bench/single.kai and its statement in SQL for DuckDB
# (bench/duckdb.mjs, DuckDB from tools/node/node_modules: a missing package
# is a failure, never a skip), and the bench scripts' own behaviour:
#   corners   kairos and DuckDB each give tests/peer/corners.expected (checked
#             by hand: restart, a retrigger at the due instant, equal
#             triggers, opt-out by channel and for all, opt_in by channel and
#             for all, a blocked or capped ask counting nothing, a cap window
#             of exactly 30 days, the horizon) on tests/peer/corners.csv;
#   gen log   the same schedule (sorted rows) from both on a generated log;
#   run.sh    a tiny bench exits 0 and says the schedules are the same; with
#             a node that fails it prints "peer: FAILED: DuckDB cannot start"
#             and exits 1, and so it does when the peer's schedule differs;
#   scale.sh  a tiny scaling table: one row per size, the RSS and per-customer
#             lines, exit 0.
# Ends with "peer: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
kt_begin peer "$1"
BENCHBIN=$(dirname "$KAIROS")/kairos-bench
LC_ALL=C
export LC_ALL
cd "$ROOT" || exit 1

# corners: both against the expected schedule
"$KAIROS" simulate bench/single.kai tests/peer/corners.csv --no-progress -o "$TMP/k.csv" 2>"$TMP/err"
if cmp -s "$TMP/k.csv" tests/peer/corners.expected; then ok
else diff -u tests/peer/corners.expected "$TMP/k.csv" >"$TMP/diff" 2>&1; cat "$TMP/err" >>"$TMP/diff"; bad "corners: kairos" "$TMP/diff"
fi
if node bench/duckdb.mjs tests/peer/corners.csv "$TMP/d.csv" 2>"$TMP/err" && cmp -s "$TMP/d.csv" tests/peer/corners.expected; then ok
else { diff -u tests/peer/corners.expected "$TMP/d.csv"; cat "$TMP/err"; } >"$TMP/diff" 2>&1; bad "corners: duckdb" "$TMP/diff"
fi

# a generated log: 60,000 events of 400 customers (many asks each, so the
# cap and restarts decide most of them)
"$BENCHBIN" gen -n 60000 -c 400 -d 90 -s 7 -f csv -o "$TMP/gen.csv"
"$KAIROS" simulate bench/single.kai "$TMP/gen.csv" --no-progress -o "$TMP/k.csv" 2>"$TMP/err"
node bench/duckdb.mjs "$TMP/gen.csv" "$TMP/d.csv" 2>>"$TMP/err"
sort "$TMP/k.csv" >"$TMP/k.sorted"
sort "$TMP/d.csv" >"$TMP/d.sorted"
rows=$(($(wc -l <"$TMP/k.csv") - 1))
if [ "$rows" -ge 500 ] && cmp -s "$TMP/k.sorted" "$TMP/d.sorted"; then ok
else { echo "$rows rows"; diff "$TMP/k.sorted" "$TMP/d.sorted" | head; cat "$TMP/err"; } >"$TMP/diff" 2>&1; bad "gen log: kairos and duckdb" "$TMP/diff"
fi

# bench/run.sh, tiny: passes; with a node that cannot start: a failure line, exit 1
tiny() {
    BENCH_EVENTS=2000 BENCH_CUSTOMERS=100 BENCH_RUNS=1 BENCH_PAIRS=1 BENCH_PG=0 BENCH_PEER_SIZES="20000:300" \
        BENCH_PEER_ORDERS=grouped BENCH_DIR="$TMP/bench" "$@" sh bench/run.sh "$KAIROS" "$BENCHBIN" >"$TMP/out" 2>&1
}
tiny env
st=$?
if [ "$st" = 0 ] && grep -q '^peer: every schedule above is the same in kairos and DuckDB' "$TMP/out" &&
   grep -q '^    20000       300 grouped ' "$TMP/out" &&
   grep -q '^paired (wall ratios of runs back to back, median of 1): simulate / wc -l (CSV sorted) [0-9]*\.[0-9][0-9] (<= 6); grouped / sorted [0-9]*\.[0-9][0-9], shuffled / sorted [0-9]*\.[0-9][0-9] (about 1); JSON Lines / CSV [0-9]*\.[0-9][0-9] (<= 1.5); diff / simulate [0-9]*\.[0-9][0-9] (<= 1.3); report / simulate [0-9]*\.[0-9][0-9] (<= 1.5)$' "$TMP/out"; then ok
else echo "exit status $st" >>"$TMP/out"; bad "run.sh: tiny bench" "$TMP/out"
fi
tiny env BENCH_NODE=false
st=$?
if [ "$st" = 1 ] && grep -q '^peer: FAILED: DuckDB cannot start: false ' "$TMP/out" &&
   ! grep -q '^peer: every schedule' "$TMP/out"; then ok
else echo "exit status $st" >>"$TMP/out"; bad "run.sh: DuckDB that cannot start" "$TMP/out"
fi

# a peer that writes another schedule: a failure line naming both files, exit 1
{ echo '#!/bin/sh'
  echo '[ "$2" = --probe ] && { echo "a fake DuckDB, 1 threads" >&2; exit 0; }'
  echo 'echo time,customer,rule,action,survey,channel,attempt,variant >"$3"'; } >"$TMP/fakenode"
chmod +x "$TMP/fakenode"
tiny env BENCH_NODE="$TMP/fakenode"
st=$?
if [ "$st" = 1 ] && grep -q '^peer: FAILED: 20000 events, 300 customers, grouped: the schedules differ (.*peer-kairos-20000-300-grouped.csv, .*peer-duckdb-20000-300-grouped.csv)$' "$TMP/out" &&
   ! grep -q '^peer: every schedule' "$TMP/out"; then ok
else echo "exit status $st" >>"$TMP/out"; bad "run.sh: a peer with another schedule" "$TMP/out"
fi

# bench/scale.sh, tiny
BENCH_SCALE_SIZES="20000:200:grouped 60000:200:grouped 20000:200:sorted 40000:200:grouped:180 30000:1000" BENCH_SCALE_RUNS=1 \
    BENCH_SCALE_DROP=40000 BENCH_DIR="$TMP/scale" sh bench/scale.sh "$KAIROS" "$BENCHBIN" >"$TMP/out" 2>&1
st=$?
if [ "$st" = 0 ] && [ "$(grep -c '^| [0-9]* | [0-9]* | [0-9]* | [a-z]* | [0-9.]* | [0-9.]* | [0-9.]* M | [0-9.]* M | [0-9.]* MB |$' "$TMP/out")" = 5 ] &&
   grep -q '^| 40000 | 200 | 180 | grouped |' "$TMP/out" &&
   grep -q '^peak RSS, 200 customers, a log 2x longer in time: [0-9.]*x (40000 events over 180 days against 20000 over 90; target' "$TMP/out" &&
   grep -q '^peak RSS, 200 customers, a log 3x denser: [0-9.]*x (60000 events against 20000 over 90 days;' "$TMP/out" &&
   # (the tiny logs' peaks differ by less than their noise: the growth may come out negative)
   grep -q '^peak RSS per customer: -\{0,1\}[0-9]* bytes ((RSS at 1000 customers' "$TMP/out" &&
   [ ! -e "$TMP/scale/events-60000-200-90-1-grouped.csv" ] && [ ! -e "$TMP/scale/events-40000-200-180-1-grouped.csv" ] && [ -s "$TMP/scale/events-20000-200-90-1-grouped.csv" ]; then ok
else echo "exit status $st" >>"$TMP/out"; ls "$TMP/scale" >>"$TMP/out"; bad "scale.sh: tiny table" "$TMP/out"
fi

kt_end
