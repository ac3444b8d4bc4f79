#!/bin/sh
# bench/compare.sh OLD NEW [LOG...] -- checks that two kairos binaries
# replay the same: every golden case (tests/golden), every example and each
# LOG given (e.g. the bench log grouped by customer, time-sorted and
# shuffled) is simulated by both, with and without --stats, and by NEW with
# --jobs 1 to 4 and as the union of --shard 0/3, 1/3, 2/3; standard output,
# standard error and the exit status must be the same byte for byte.
# Prints one line per difference, then "N same, N different".
set -u
OLD=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
NEW=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
LOGS="$*"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
same=0
diff=0

# run BIN OUTPREFIX ARGS...: stdout, stderr, status into OUTPREFIX.{out,err,rc}
run() {
    bin=$1; pre=$2; shift 2
    "$bin" "$@" >"$pre.out" 2>"$pre.err"
    echo $? >"$pre.rc"
}

# check NAME: compares $TMP/old.* with $TMP/new.*
check() {
    if cmp -s "$TMP/old.out" "$TMP/new.out" && cmp -s "$TMP/old.err" "$TMP/new.err" &&
       cmp -s "$TMP/old.rc" "$TMP/new.rc"; then
        same=$((same + 1))
    else
        diff=$((diff + 1))
        echo "DIFFERENT: $1"
    fi
}

# case NAME POLICY ARGS... (events and flags): old vs new, with --stats,
# new with --jobs N.
case_() {
    name=$1; shift
    run "$OLD" "$TMP/old" simulate "$@" --no-progress
    run "$NEW" "$TMP/new" simulate "$@" --no-progress
    check "$name"
    run "$OLD" "$TMP/old" simulate "$@" --no-progress --stats
    for j in 1 2 3 4; do
        run "$NEW" "$TMP/new" simulate "$@" --no-progress --stats --jobs "$j"
        check "$name --stats --jobs $j"
    done
}

for dir in "$ROOT"/tests/golden/*/ "$ROOT"/examples/*/; do
    [ -f "$dir/policy.kai" ] || continue
    set --
    for f in "$dir"events*; do [ -e "$f" ] && set -- "$@" "$(basename "$f")"; done
    [ $# -gt 0 ] || continue
    args=""
    [ -f "$dir/args" ] && args=$(cat "$dir/args")
    cd "$dir" || exit 1
    # shellcheck disable=SC2086
    case_ "$(basename "$dir")" policy.kai "$@" $args
    cd "$ROOT" || exit 1
done

POLICY="$ROOT/bench/policy.kai"
for log in $LOGS; do
    case_ "$log" "$POLICY" "$log"
    run "$OLD" "$TMP/old" simulate "$POLICY" "$log" --no-progress
    : >"$TMP/new.out"
    for k in 0 1 2; do
        "$NEW" simulate "$POLICY" "$log" --no-progress --shard "$k/3" -o "$TMP/shard$k.csv" 2>>"$TMP/new.err"
    done
    # the union of the shards, rows in the schedule's order
    "$NEW" merge "$POLICY" "$TMP/shard0.csv" "$TMP/shard1.csv" "$TMP/shard2.csv" >"$TMP/new.out" 2>"$TMP/new.err"
    echo 0 >"$TMP/new.rc"
    : >"$TMP/old.err"
    echo 0 >"$TMP/old.rc"
    check "$log --shard union"
done
echo "$same same, $diff different"
[ "$diff" -eq 0 ]
