#!/bin/sh
# bench/scale.sh -- the scaling table (make bench-scale): kairos simulate
# bench/policy.kai on logs of kairos-bench gen from 1M to 50M events and from
# 8,000 to 1,000,000 customers, grouped by customer (as most exports come)
# and, where asked, time-sorted; prints one markdown table of wall and CPU
# seconds, events/s of wall and of CPU time, and peak RSS, then two ratios:
# peak RSS of the longest / the shortest log of the same customers (target
# of issue 16: at most 1.3, memory flat in log length) and the bytes of peak
# RSS per customer: the growth from the fewest to the most customers measured,
# divided by the customers added (kept history included; the default logs
# have 125 events per customer at 8,000 customers, 12 at 1,000,000).  Each figure is the run
# with the least wall time of $BENCH_SCALE_RUNS runs.
#
# The logs are kept in $BENCH_DIR for the next run (bench/logs.sh; make bench
# uses the same names), except those of $BENCH_SCALE_DROP events or more
# (50M events are 2.7 GB a copy), which are deleted after their row.  A
# grouped log is made by GNU sort with a buffer of a quarter of the memory,
# so the 50M-event one needs no temporary files beside it: at most about
# 3 GB on disk at any time for it.
#
# usage: sh bench/scale.sh build/kairos build/kairos-bench
# env:   BENCH_SCALE_SIZES  "EVENTS:CUSTOMERS:ORDER ..." (ORDER sorted or
#                           grouped; default: 1M, 10M, 50M events of 8,000
#                           customers grouped, 10M of them sorted, 10M of
#                           100,000 and 12M of 1,000,000 customers grouped)
#        BENCH_SCALE_RUNS (3) BENCH_SCALE_DROP (20000000)
#        BENCH_DAYS (90) BENCH_SEED (1) BENCH_DIR (build/bench)
# Exits non-zero if a log cannot be made or a run fails (each such row says
# why).
set -u
KAIROS=${1:-build/kairos}
BENCH=${2:-build/kairos-bench}
SIZES=${BENCH_SCALE_SIZES:-1000000:8000:grouped 10000000:8000:grouped 10000000:8000:sorted 50000000:8000:grouped 10000000:100000:grouped 12000000:1000000:grouped}
RUNS=${BENCH_SCALE_RUNS:-3}
DROP=${BENCH_SCALE_DROP:-20000000}
D=${BENCH_DAYS:-90}
SEED=${BENCH_SEED:-1}
DIR=${BENCH_DIR:-build/bench}
POLICY=$(dirname "$0")/policy.kai
LC_ALL=C
export LC_ALL
. "$(dirname "$0")/logs.sh"
mkdir -p "$DIR" || exit 1

# run CMD...: the best of $RUNS runs (least wall time): $wall, $cpu, $rss
# (kB), or wall=fail with the reason in $DIR/scale-stderr.txt.
run() { bench_best /dev/null "$DIR/scale-stderr.txt" "$@"; }

RES="$DIR/scale.txt"
: >"$RES"
failed=0
echo "== kairos scaling: simulate bench/policy.kai, $D days, seed $SEED, best of $RUNS by wall time"
echo
echo "| events | customers | order | wall s | CPU s | events/s (wall) | events/s (CPU) | peak RSS |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|"
for size in $SIZES; do
    n=${size%%:*}
    rest=${size#*:}
    c=${rest%%:*}
    order=${rest#*:}
    [ "$order" = "$rest" ] && order=grouped
    if ! bench_log "$n" "$c" "$order" 2>"$DIR/scale-stderr.txt"; then
        echo "| $n | $c | $order | FAILED: $(tail -n 1 "$DIR/scale-stderr.txt") | | | | |"
        failed=1
        continue
    fi
    run "$KAIROS" simulate "$POLICY" "$log" --no-progress -o /dev/null
    if [ "$wall" = fail ]; then
        echo "| $n | $c | $order | FAILED: $(tail -n 2 "$DIR/scale-stderr.txt" | head -n 1) | | | | |"
        failed=1
    else
        echo "$n $c $order $wall $cpu $rss" >>"$RES"
        awk -v n="$n" -v c="$c" -v o="$order" -v w="$wall" -v s="$cpu" -v r="$rss" 'BEGIN {
            if (w <= 0) w = 0.0001
            if (s <= 0) s = 0.0001
            printf "| %d | %d | %s | %.2f | %.2f | %.2f M | %.2f M | %.1f MB |\n", n, c, o, w, s, n / w / 1e6, n / s / 1e6, r / 1024
        }'
    fi
    if [ "$n" -ge "$DROP" ]; then
        rm -f "$log"
        [ "$order" = grouped ] && rm -f "$DIR/events-$n-$c-$D-$SEED.csv"
    fi
done
echo
# RSS flat in log length: the longest against the shortest grouped log of
# the same customer count; bytes per customer from the fewest to the most.
awk '
    $3 == "grouped" {
        if (!($2 in lo) || $1 < lo[$2]) { lo[$2] = $1; lr[$2] = $6 }
        if (!($2 in hi) || $1 > hi[$2]) { hi[$2] = $1; hr[$2] = $6 }
    }
    { if ($2 > maxc) { maxc = $2; maxr = $6; maxn = $1 } }
    !($2 in minn) || $1 < minn[$2] { minn[$2] = $1; minr[$2] = $6 }
    END {
        for (c in lo) if (hi[c] > lo[c])
            printf "peak RSS, %d customers: %.2fx from %d to %d events (target of issue 16: <= 1.3x)\n", c, hr[c] / lr[c], lo[c], hi[c]
        minc = maxc
        for (c in minn) if (c + 0 < minc + 0) minc = c + 0
        if (maxc + 0 > minc)
            printf "peak RSS per customer: %.0f bytes ((RSS at %d customers, %d events - RSS at %d customers, %d events) / %d more customers; target of issue 16: <= 300 plus kept history)\n",
                (maxr - minr[minc]) * 1024 / (maxc - minc), maxc, maxn, minc, minn[minc], maxc - minc
    }' "$RES"
exit "$failed"
