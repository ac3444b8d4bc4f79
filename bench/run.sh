#!/bin/sh
# bench/run.sh -- the benchmark (make bench): generates an event log (CSV and
# JSON Lines), then measures on each
#   floor     reading the file in 1 MiB blocks and splitting lines and fields
#             (kairos-bench floor: the least any reader must do),
#   reader    the event reader alone (ki_open/ki_next, kairos-bench read),
#   simulate  kairos simulate bench/policy.kai FILE, end to end,
#   diff      kairos diff bench/policy.kai NEW FILE --format csv, NEW being the
#             bench policy with its cap widened to 45 days and SMS quiet hours
#             to 09:00 (CSV only): one read feeds two replays, so its cost is
#             printed as a ratio to simulate's (target: at most 1.3x),
#   postgresql  the same CSV log loaded into a table of a PostgreSQL server
#             started for the bench (as tests/db/run.sh does), replayed with
#             kairos simulate POLICY 'postgresql://...?table=events': events/s
#             and the ratio to the CSV file's simulate, by wall time (the
#             server's CPU is not in kairos's CPU time); BENCH_PG=0 skips it,
#             a missing server is reported and skipped,
#   report    kairos report bench/policy.kai FILE -o report.html (CSV only):
#             the HTML page of the same replay, its cost as a ratio to
#             simulate's (target: at most 1.5x) and its size (under 2 MB),
# and prints seconds, events/s, MB/s, peak RSS and the ratio of time to the
# floor, for CPU time (user + system: what counts on a loaded machine, where
# wall time mostly measures waiting for a core) and for wall time.
# Each measurement is the best of $BENCH_RUNS runs (default 3), by CPU time.
#
# usage: sh bench/run.sh build/kairos build/kairos-bench
# env:   BENCH_EVENTS (1000000) BENCH_CUSTOMERS (8000) BENCH_DAYS (90)
#        BENCH_SEED (1) BENCH_RUNS (3) BENCH_DIR (build/bench) BENCH_PG (1)
# Needs only a POSIX shell and awk.
set -u
KAIROS=${1:-build/kairos}
BENCH=${2:-build/kairos-bench}
N=${BENCH_EVENTS:-1000000}
C=${BENCH_CUSTOMERS:-8000}
D=${BENCH_DAYS:-90}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-3}
DIR=${BENCH_DIR:-build/bench}
POLICY=$(dirname "$0")/policy.kai

mkdir -p "$DIR" || exit 1
base="$DIR/events-$N-$C-$D-$SEED"
for fmt in csv jsonl; do
    if [ ! -s "$base.$fmt" ]; then
        "$BENCH" gen -n "$N" -c "$C" -d "$D" -s "$SEED" -f "$fmt" -o "$base.$fmt" || exit 1
    fi
done

# measure CMD...: the run with the least CPU time over $RUNS runs; sets
# $secs (CPU), $wall and $rss (kB), or secs=fail.
measure() {
    best=""
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        i=$((i + 1))
        if ! "$BENCH" rss "$@" >"$DIR/stdout.txt" 2>"$DIR/stderr.txt"; then
            secs=fail
            return
        fi
        line=$(tail -n 1 "$DIR/stderr.txt")
        t=$(echo "$line" | awk '{print $6}')
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t
            wall=$(echo "$line" | awk '{print $2}')
            rss=$(echo "$line" | awk '{print $4}')
        fi
    done
    secs=$best
}

echo "== kairos bench: $N events, $C customers, $D days, seed $SEED (best of $RUNS)"
echo "cpu: user + system seconds; wall: elapsed seconds (x floor: the same ratio by wall time)"
printf '%-6s %-9s %8s %11s %7s %7s %9s %8s %8s\n' format step cpu events/s MB/s "x floor" wall "x floor" "peak RSS"
for fmt in csv jsonl; do
    f="$base.$fmt"
    bytes=$(wc -c <"$f" | tr -d ' ')
    floor=""
    wfloor=""
    for step in floor reader simulate; do
        case $step in
            floor)    measure "$BENCH" floor "$f" ;;
            reader)   measure "$BENCH" read "$f" ;;
            simulate) measure "$KAIROS" simulate "$POLICY" "$f" -o "$DIR/schedule-$fmt.csv" ;;
        esac
        [ "$step" = simulate ] && [ "$fmt" = csv ] && [ "$secs" != fail ] && sim_secs=$secs && sim_wall=$wall
        if [ "$secs" = fail ]; then
            printf '%-6s %-9s %9s   (failed: %s)\n' "$fmt" "$step" - "$(tail -n 2 "$DIR/stderr.txt" | head -n 1)"
            continue
        fi
        [ "$step" = floor ] && floor=$secs && wfloor=$wall
        awk -v fmt="$fmt" -v step="$step" -v s="$secs" -v w="$wall" -v n="$N" -v b="$bytes" -v r="$rss" \
            -v fl="$floor" -v wfl="$wfloor" 'BEGIN {
            if (s <= 0) s = 0.0001
            if (w <= 0) w = 0.0001
            ratio = (fl > 0) ? sprintf("%.2f", s / fl) : "-"
            wratio = (wfl > 0) ? sprintf("%.2f", w / wfl) : "-"
            printf "%-6s %-9s %8.3f %10.2fM %7.0f %7s %9.3f %8s %6.1fMB\n", fmt, step, s, n / s / 1e6, b / s / 1e6, ratio, w, wratio, r / 1024
        }'
    done
done
if [ -s "$DIR/schedule-csv.csv" ]; then
    echo "schedule: $(($(wc -l <"$DIR/schedule-csv.csv") - 1)) rows ($DIR/schedule-csv.csv)"
    if [ -s "$DIR/schedule-jsonl.csv" ] && ! cmp -s "$DIR/schedule-csv.csv" "$DIR/schedule-jsonl.csv"; then
        echo "WARNING: the CSV and JSON Lines schedules differ"
    fi
fi
# diff / simulate: two replays over one read (SPEC.md 6.3), on the CSV log.
if [ -n "${sim_secs:-}" ]; then
    sed -e 's/^cap 1 per 30d/cap 1 per 45d/' -e 's/^quiet 20:00-08:00 on sms/quiet 20:00-09:00 on sms/' \
        "$POLICY" >"$DIR/policy-new.kai"
    measure "$KAIROS" diff "$POLICY" "$DIR/policy-new.kai" "$base.csv" --format csv -o "$DIR/diff.csv"
    if [ "$secs" = fail ]; then
        echo "diff: failed: $(tail -n 2 "$DIR/stderr.txt" | head -n 1)"
    else
        awk -v d="$secs" -v s="$sim_secs" -v w="$wall" -v sw="$sim_wall" -v r="$rss" -v rows="$(($(wc -l <"$DIR/diff.csv") - 1))" 'BEGIN {
            printf "diff: %.3f s cpu, %.3f s wall, %.1fMB peak RSS, %d rows; diff / simulate = %.2fx cpu, %.2fx wall (target <= 1.3x)\n",
                d, w, r / 1024, rows, (s > 0 ? d / s : 0), (sw > 0 ? w / sw : 0)
        }'
    fi
fi

# postgresql / csv: the same log read from a table (SPEC.md 5.12).
pg_bench() {
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$PGBIN" ] || ! command -v psql >/dev/null 2>&1; then
        echo "postgresql: skipped (no PostgreSQL server installed; tools/deps.sh installs it)"
        return
    fi
    PGT=$(mktemp -d)
    chmod 755 "$PGT"
    RUN=""
    [ "$(id -u)" = 0 ] && RUN="runuser -u postgres --" && chown postgres "$PGT"
    trap '$RUN "$PGBIN/pg_ctl" -D "$PGT/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$PGT"' EXIT
    if ! $RUN "$PGBIN/initdb" -D "$PGT/data" -A trust -U kairos --no-sync -E UTF8 --locale=C >"$DIR/pg.log" 2>&1 ||
       ! $RUN "$PGBIN/pg_ctl" -D "$PGT/data" -l "$PGT/server.log" -w -t 60 \
             -o "-k $PGT -c listen_addresses='' -F" start >>"$DIR/pg.log" 2>&1; then
        echo "postgresql: failed: the server did not start ($DIR/pg.log)"
        return
    fi
    cols=$(head -n 1 "$base.csv" | tr -d '\r' | sed 's/,/ text, /g; s/$/ text/')
    if ! psql -X -q -v ON_ERROR_STOP=1 -h "$PGT" -U kairos -d postgres >>"$DIR/pg.log" 2>&1 <<SQL
CREATE TABLE events ($cols);
\\copy events FROM '$base.csv' (FORMAT csv, HEADER)
SQL
    then
        echo "postgresql: failed: loading the log ($DIR/pg.log)"
        return
    fi
    measure "$KAIROS" simulate "$POLICY" "postgresql:///postgres?host=$PGT&user=kairos&table=events" -o "$DIR/schedule-pg.csv"
    if [ "$secs" = fail ]; then
        echo "postgresql: failed: $(tail -n 2 "$DIR/stderr.txt" | head -n 1)"
        return
    fi
    same="same schedule as from the CSV file"
    cmp -s "$DIR/schedule-pg.csv" "$DIR/schedule-csv.csv" || same="WARNING: the schedule differs from the CSV one"
    awk -v s="$secs" -v w="$wall" -v n="$N" -v r="$rss" -v sw="$sim_wall" -v sc="$sim_secs" -v same="$same" 'BEGIN {
        if (w <= 0) w = 0.0001
        printf "postgresql: %.3f s wall, %.2fM events/s, %.3f s kairos cpu, %.1fMB peak RSS; postgresql / csv = %.2fx wall (%.2fx cpu); %s\n",
            w, n / w / 1e6, s, r / 1024, (sw > 0 ? w / sw : 0), (sc > 0 ? s / sc : 0), same
    }'
}
if [ "${BENCH_PG:-1}" != 0 ] && [ -n "${sim_secs:-}" ]; then pg_bench; fi
# report / simulate: the HTML page of the same replay (SPEC.md 6.4), on the CSV log.
if [ -n "${sim_secs:-}" ]; then
    measure "$KAIROS" report "$POLICY" "$base.csv" -o "$DIR/report.html"
    if [ "$secs" = fail ]; then
        echo "report: failed: $(tail -n 2 "$DIR/stderr.txt" | head -n 1)"
    else
        awk -v d="$secs" -v s="$sim_secs" -v w="$wall" -v sw="$sim_wall" -v r="$rss" -v b="$(wc -c <"$DIR/report.html" | tr -d ' ')" 'BEGIN {
            printf "report: %.3f s cpu, %.3f s wall, %.1fMB peak RSS, %.0f kB page (target < 2048 kB); report / simulate = %.2fx cpu, %.2fx wall (target <= 1.5x)\n",
                d, w, r / 1024, b / 1024, (s > 0 ? d / s : 0), (sw > 0 ? w / sw : 0)
        }'
    fi
fi
