#!/bin/sh
# bench/scale.sh -- the scaling table (make bench-scale): kairos simulate
# bench/policy.kai on logs of kairos-bench gen from 1M to 50M events and from
# 8,000 to 1,000,000 customers, grouped by customer (as most exports come)
# and, where asked, time-sorted; prints one markdown table of wall and CPU
# seconds, events/s of wall and of CPU time, and peak RSS, then these ratios:
# peak RSS of the longest / the shortest log of the same customers at the same
# events a day, i.e. longer in time (target of issue 16: at most 1.3, memory
# flat in log length); the same for logs of the same days and more events a
# day (denser: what the policy's windows keep grows with it, so this one has
# no target); and the bytes of peak RSS per customer: the growth from the
# fewest to the most customers measured, divided by the customers added (kept
# history included; the default logs have 125 events per customer at 8,000
# customers, 12 at 1,000,000).  Each figure is the run with the least wall
# time of $BENCH_SCALE_RUNS runs.  Last, `kairos diff` (the bench policy
# against the edit make bench diffs; --format csv and text), `kairos readout`
# and `kairos report` on the 1M-event log and on the log of the same
# customers over 900 days: their peak RSS, flat in log length too (diff keeps
# neither schedule, readout and report sort their sends and responses in runs
# on disk; SPEC.md 5.10).
#
# The logs are kept in $BENCH_DIR for the next run (bench/logs.sh; make bench
# uses the same names), except those of $BENCH_SCALE_DROP events or more
# (50M events are 2.7 GB a copy), which are deleted after their row.  A
# grouped log is made by GNU sort with a buffer of a quarter of the memory,
# so the 50M-event one needs no temporary files beside it: at most about
# 3 GB on disk at any time for it.
#
# usage: sh bench/scale.sh build/kairos build/kairos-bench
# env:   BENCH_SCALE_SIZES  "EVENTS:CUSTOMERS[:ORDER[:DAYS]] ..." (ORDER
#                           sorted or grouped, default grouped; DAYS default
#                           $BENCH_DAYS; default: 1M, 10M, 50M events of 8,000
#                           customers grouped, 10M of them sorted, 10M of them
#                           over 900 days, 10M of 100,000 and 12M of 1,000,000
#                           customers grouped)
#        BENCH_SCALE_RUNS (3) BENCH_SCALE_DROP (20000000)
#        BENCH_DAYS (90) BENCH_SEED (1) BENCH_DIR (build/bench)
# Exits non-zero if a log cannot be made or a run fails (each such row says
# why).
set -u
KAIROS=${1:-build/kairos}
BENCH=${2:-build/kairos-bench}
SIZES=${BENCH_SCALE_SIZES:-1000000:8000:grouped 10000000:8000:grouped 10000000:8000:sorted 10000000:8000:grouped:900 50000000:8000:grouped 10000000:100000:grouped 12000000:1000000:grouped}
RUNS=${BENCH_SCALE_RUNS:-3}
DROP=${BENCH_SCALE_DROP:-20000000}
DAYS=${BENCH_DAYS:-90}
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
DIFFRES="$DIR/scale-diff.txt"
: >"$DIFFRES"
NEWPOLICY="$DIR/policy-scale-new.kai"
sed -e 's/^cap 1 per 30d/cap 1 per 45d/' -e 's/^quiet 20:00-08:00 on sms/quiet 20:00-09:00 on sms/' \
    "$POLICY" >"$NEWPOLICY" || exit 1
failed=0
echo "== kairos scaling: simulate bench/policy.kai, seed $SEED, best of $RUNS by wall time"
echo
echo "| events | customers | days | order | wall s | CPU s | events/s (wall) | events/s (CPU) | peak RSS |"
echo "|---:|---:|---:|---|---:|---:|---:|---:|---:|"
for size in $SIZES; do
    IFS=: read -r n c order D <<EOF
$size
EOF
    [ -n "$order" ] || order=grouped
    [ -n "$D" ] || D=$DAYS
    if ! bench_log "$n" "$c" "$order" 2>"$DIR/scale-stderr.txt"; then
        echo "| $n | $c | $D | $order | FAILED: $(tail -n 1 "$DIR/scale-stderr.txt") | | | | |"
        failed=1
        continue
    fi
    run "$KAIROS" simulate "$POLICY" "$log" --no-progress -o /dev/null
    if [ "$wall" = fail ]; then
        echo "| $n | $c | $D | $order | FAILED: $(tail -n 2 "$DIR/scale-stderr.txt" | head -n 1) | | | | |"
        failed=1
    else
        echo "$n $c $order $wall $cpu $rss $D" >>"$RES"
        awk -v n="$n" -v c="$c" -v d="$D" -v o="$order" -v w="$wall" -v s="$cpu" -v r="$rss" 'BEGIN {
            if (w <= 0) w = 0.0001
            if (s <= 0) s = 0.0001
            printf "| %d | %d | %d | %s | %.2f | %.2f | %.2f M | %.2f M | %.1f MB |\n", n, c, d, o, w, s, n / w / 1e6, n / s / 1e6, r / 1024
        }'
    fi
    # diff's, readout's and report's memory on the same customers' logs, 1x
    # and 10x as long in time
    if [ "$c" = 8000 ] && [ "$order" = grouped ] && { [ "$n:$D" = "1000000:$DAYS" ] || [ "$n:$D" = "10000000:$((DAYS * 10))" ]; }; then
        for what in diff-csv diff-text readout report; do
            case $what in
                diff-*) run "$KAIROS" diff "$POLICY" "$NEWPOLICY" "$log" --format "${what#diff-}" -o "$DIR/scale-diff.out" ;;
                readout) run "$KAIROS" readout "$POLICY" "$log" -o "$DIR/scale-diff.out" ;;
                report) run "$KAIROS" report "$POLICY" "$log" -o "$DIR/scale-diff.out" ;;
            esac
            if [ "$wall" = fail ]; then
                echo "$what, $n events over $D days: FAILED: $(tail -n 2 "$DIR/scale-stderr.txt" | head -n 1)"
                failed=1
            else
                echo "$n $D $what $rss" >>"$DIFFRES"
            fi
        done
        rm -f "$DIR/scale-diff.out"
    fi
    if [ "$n" -ge "$DROP" ]; then
        rm -f "$log"
        [ "$order" = grouped ] && rm -f "$DIR/events-$n-$c-$D-$SEED.csv"
    fi
done
echo
# RSS flat in log length: among the grouped logs of the same customers and
# the same events a day, the longest against the shortest (longer in time);
# of the same customers and days, the most events against the fewest
# (denser); bytes per customer from the fewest customers to the most.
awk '
    function ratio(key, what) {
        if (!(key in lo)) { lo[key] = $1; lr[key] = $6; ld[key] = $7; hi[key] = $1; hr[key] = $6; hd[key] = $7; kind[key] = what; return }
        if ($1 < lo[key]) { lo[key] = $1; lr[key] = $6; ld[key] = $7 }
        if ($1 > hi[key]) { hi[key] = $1; hr[key] = $6; hd[key] = $7 }
    }
    $3 == "grouped" {
        ratio($2 " " $1 / $7, "longer")
        ratio($2 " d" $7, "denser")
    }
    { if ($2 > maxc) { maxc = $2; maxr = $6; maxn = $1 } }
    !($2 in minn) || $1 < minn[$2] { minn[$2] = $1; minr[$2] = $6 }
    END {
        for (k in lo) if (hi[k] > lo[k] && kind[k] == "longer") {
            split(k, f, " ")
            printf "peak RSS, %d customers, a log %.0fx longer in time: %.2fx (%d events over %d days against %d over %d; target of issue 16: <= 1.3x)\n",
                f[1], hd[k] / ld[k], hr[k] / lr[k], hi[k], hd[k], lo[k], ld[k]
        }
        for (k in lo) if (hi[k] > lo[k] && kind[k] == "denser") {
            split(k, f, " ")
            printf "peak RSS, %d customers, a log %.0fx denser: %.2fx (%d events against %d over %d days; what the windows keep grows with it: no target)\n",
                f[1], hi[k] / lo[k], hr[k] / lr[k], hi[k], lo[k], hd[k]
        }
        minc = maxc
        for (c in minn) if (c + 0 < minc + 0) minc = c + 0
        if (maxc + 0 > minc)
            printf "peak RSS per customer: %.0f bytes ((RSS at %d customers, %d events - RSS at %d customers, %d events) / %d more customers; target of issue 16: <= 300 plus kept history)\n",
                (maxr - minr[minc]) * 1024 / (maxc - minc), maxc, maxn, minc, minn[minc], maxc - minc
    }' "$RES"
awk '
    { r[$3 " " $1] = $4; d[$1] = $2 }
    END {
        split("diff-csv diff-text readout report", f, " ")
        split("diff --format csv,diff --format text,readout,report", name, ",")
        for (i = 1; i <= 4; i++) if ((f[i] " 1000000") in r && (f[i] " 10000000") in r)
            printf "%s peak RSS, 8000 customers, a log 10x longer in time: %.1f MB -> %.1f MB, %.2fx (1000000 events over %d days, 10000000 over %d; target of issue 16: <= 1.3x)\n",
                name[i], r[f[i] " 1000000"] / 1024, r[f[i] " 10000000"] / 1024, r[f[i] " 10000000"] / r[f[i] " 1000000"], d[1000000], d[10000000]
    }' "$DIFFRES"
exit "$failed"
