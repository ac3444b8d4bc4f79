#!/bin/sh
# tests/diff/run.sh KAIROS [--large] [--seeds "S..."] [--policies "P..."] [--keep DIR]
#
# Differential tests: random event logs (tests/diff/gen.c, seeded and
# deterministic) replayed through the policies in tests/diff/policies/ in
# ways that must give the same schedule, byte for byte:
#
#   kai/kbc     the policy compiled in memory vs loaded from a .kbc file
#   jsonl       the same rows as JSON Lines instead of CSV
#   gzip        the CSV gzip-compressed
#   stdin       the CSV on standard input ("-")
#   shuffled    rows reordered (rows with equal timestamps keep their order)
#   grouped     rows grouped by customer, CSV and JSON Lines (and its shards)
#   files       the log split into three files (CSV and JSONL, no timestamp
#               shared by two files) given in several orders
#   shards      the union of --shard K/N for K = 0..N-1, sorted, equals the
#               unsharded schedule sorted (N = 1..4, one N per seed in turn)
#   fmt         `kairos fmt` output of the policy (when fmt is implemented)
#
# Every time is written in a random but equivalent spelling (Z, offsets,
# fractions, Unix seconds), so the time parsers are compared too.
#
# Default: 8 seeds of random shapes (1 to 200 customers, up to 2500 events),
# a few seconds in all; `make check` runs this.  --large: 3 big logs
# (5000 customers, 300000 events, 90 days) with the cheaper checks; run it
# by hand before a release:  sh tests/diff/run.sh build/kairos --large
#
# A failing case's files are kept in --keep DIR (default build/diff-failures)
# for reproduction.  Prints one line per failure, then "diff: N passed, N failed".
set -u
[ $# -ge 1 ] || { echo "usage: run.sh KAIROS [--large] [--seeds \"S...\"] [--policies \"P...\"] [--keep DIR]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib.sh"
kt_begin diff "$1"
shift
SEEDS="1 2 3 4 5 6 7 8"
GENARGS=""
LARGE=0
POLICIES=""
KEEP="$ROOT/build/diff-failures"
while [ $# -gt 0 ]; do
    case $1 in
    --large) LARGE=1; SEEDS="101 102 103"; GENARGS="-c 5000 -n 300000 -d 90" ;;
    --seeds) SEEDS=$2; shift ;;
    --policies) POLICIES=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$POLICIES" ] || POLICIES=$(cd "$HERE/policies" && ls *.kai | sed 's/\.kai$//')

${CC:-cc} -std=c11 -O1 -o "$TMP/gen" "$HERE/gen.c" || { echo "diff: cannot compile gen.c"; exit 1; }

# Does `kairos fmt` work yet?  (A stub exits 2.)
HAVE_FMT=0
if "$KAIROS" fmt "$HERE/policies/support.kai" >"$TMP/fmt-probe.kai" 2>/dev/null && [ -s "$TMP/fmt-probe.kai" ]; then
    HAVE_FMT=1
fi
HAVE_GZIP=0
command -v gzip >/dev/null 2>&1 && HAVE_GZIP=1

# fail_case LABEL DIR FILE -- records a failure, shows FILE, keeps the case.
fail_case() {
    fail=$((fail + 1))
    echo "FAIL: diff $1"
    [ -n "${3:-}" ] && [ -s "$3" ] && sed 's/^/    /' "$3" | head -20
    if [ -n "$KEEP" ] && mkdir -p "$KEEP" 2>/dev/null; then
        k="$KEEP/$(echo "$1" | tr ' /' '__')"
        rm -rf "$k"
        cp -r "$2" "$k" 2>/dev/null && echo "    case kept in $k"
    fi
}

# same LABEL DIR OUT -- OUT must equal DIR/ref.csv.
same() {
    if cmp -s "$3" "$2/ref.csv"; then
        pass=$((pass + 1))
    else
        diff "$2/ref.csv" "$3" | head -12 >"$TMP/d"
        fail_case "$1: schedule differs from the reference" "$2" "$TMP/d"
    fi
}

# sim DIR OUT POLICY ARGS... -- simulate in DIR; OUT gets stdout; 0 on success.
sim() {
    d=$1 o=$2
    shift 2
    (cd "$d" && "$KAIROS" simulate --no-progress "$@") >"$o" 2>"$TMP/err"
}

body_sorted() { tail -n +2 "$1" | LC_ALL=C sort; }

# Regression (found by the shard check): rows outside a shard still count for
# the horizon, so the task of customer a (shard 0) is due before it.
mkdir -p "$TMP/reg"
printf 'time,customer,event,score\n2026-03-01T00:00:00Z,a,response,3\n2026-03-02T00:00:00Z,b,login,\n' >"$TMP/reg/events.csv"
printf 'policy "diff-horizon"\ntask call_back via phone after response + 1h where score <= 6\n' >"$TMP/reg/p.kai"
if sim "$TMP/reg" "$TMP/reg/ref.csv" p.kai events.csv && sim "$TMP/reg" "$TMP/o" p.kai events.csv --shard 0/2 \
   && grep -q '^2026-03-01T01:00:00Z,a,' "$TMP/reg/ref.csv"; then
    same "horizon with --shard 0/2" "$TMP/reg" "$TMP/o"
else
    fail_case "horizon with --shard 0/2: simulate failed or no task" "$TMP/reg" "$TMP/err"
fi

for seed in $SEEDS; do
    d=$TMP/seed$seed
    mkdir -p "$d"
    # shellcheck disable=SC2086
    shape=$("$TMP/gen" -s "$seed" -o "$d" $GENARGS) || { fail_case "seed $seed: gen failed" "$d"; continue; }
    [ "$LARGE" = 1 ] && echo "diff: $shape"
    [ "$HAVE_GZIP" = 1 ] && gzip -c "$d/events.csv" >"$d/events.csv.gz"
    for p in $POLICIES; do
        cp "$HERE/policies/$p.kai" "$d/$p.kai"
        label="seed $seed $p"
        if ! "$KAIROS" compile "$d/$p.kai" -o "$d/$p.kbc" >"$TMP/err" 2>&1; then
            fail_case "$label: compile failed" "$d" "$TMP/err"; continue
        fi
        if ! sim "$d" "$d/ref.csv" "$p.kai" events.csv; then
            fail_case "$label: simulate failed" "$d" "$TMP/err"; continue
        fi
        pass=$((pass + 1))

        sim "$d" "$TMP/o" "$p.kbc" events.csv; same "$label kbc" "$d" "$TMP/o"
        sim "$d" "$TMP/o" "$p.kai" shuffled.csv; same "$label shuffled" "$d" "$TMP/o"
        sim "$d" "$TMP/o" "$p.kai" grouped.csv; same "$label grouped" "$d" "$TMP/o"
        sim "$d" "$TMP/o" "$p.kbc" grouped.jsonl; same "$label grouped jsonl" "$d" "$TMP/o"
        sim "$d" "$TMP/o" "$p.kai" part3.csv part2.jsonl part1.csv; same "$label files 3,2,1" "$d" "$TMP/o"
        if [ "$LARGE" = 0 ]; then
            sim "$d" "$TMP/o" "$p.kai" events.jsonl; same "$label jsonl" "$d" "$TMP/o"
            (cd "$d" && "$KAIROS" simulate --no-progress "$p.kai" - <events.csv) >"$TMP/o" 2>"$TMP/err"
            same "$label stdin" "$d" "$TMP/o"
            [ "$HAVE_GZIP" = 1 ] && { sim "$d" "$TMP/o" "$p.kai" events.csv.gz; same "$label gzip" "$d" "$TMP/o"; }
            sim "$d" "$TMP/o" "$p.kbc" part2.jsonl part3.csv part1.csv; same "$label files 2,3,1" "$d" "$TMP/o"
        fi

        # shards: the union of every K/N, sorted, is the whole schedule sorted
        body_sorted "$d/ref.csv" >"$TMP/ref-sorted"
        # one N per seed (N = 1..4 in turn) keeps the default run fast
        ns=$((seed % 4 + 1))
        [ "$LARGE" = 1 ] && ns=3
        for n in $ns; do
          for log in events.csv grouped.csv; do
            : >"$TMP/union"
            k=0
            ok=1
            while [ $k -lt "$n" ]; do
                if ! sim "$d" "$TMP/o" "$p.kbc" "$log" --shard "$k/$n"; then
                    fail_case "$label: $log --shard $k/$n failed" "$d" "$TMP/err"; ok=0; break
                fi
                if [ "$(head -1 "$TMP/o")" != "$(head -1 "$d/ref.csv")" ]; then
                    fail_case "$label: $log --shard $k/$n header differs" "$d" "$TMP/o"; ok=0; break
                fi
                tail -n +2 "$TMP/o" >>"$TMP/union"
                k=$((k + 1))
            done
            [ $ok = 1 ] || continue
            LC_ALL=C sort "$TMP/union" >"$TMP/union-sorted"
            if cmp -s "$TMP/union-sorted" "$TMP/ref-sorted"; then
                pass=$((pass + 1))
            else
                diff "$TMP/ref-sorted" "$TMP/union-sorted" | head -12 >"$TMP/d"
                fail_case "$label $log shards N=$n: union differs from the whole" "$d" "$TMP/d"
            fi
          done
        done

        if [ "$HAVE_FMT" = 1 ] && [ "$LARGE" = 0 ]; then
            if "$KAIROS" fmt "$d/$p.kai" >"$d/fmt-$p.kai" 2>"$TMP/err"; then
                sim "$d" "$TMP/o" "fmt-$p.kai" events.csv; same "$label fmt" "$d" "$TMP/o"
            else
                fail_case "$label: kairos fmt failed" "$d" "$TMP/err"
            fi
        fi
    done
    rm -rf "$d"
done

kt_end
