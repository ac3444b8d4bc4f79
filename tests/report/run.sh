#!/bin/sh
# tests/report/run.sh KAIROS -- golden cases of `kairos diff` and `kairos
# readout` (run by tests/run.sh through sub_suite).  Adding a case is adding
# files:
#
#   tests/diff-golden/NAME/   old.kai, new.kai, events* files (in name order),
#                             args (optional extra flags), expected.csv: the
#                             output of `kairos diff old.kai new.kai EVENTS
#                             --format csv ARGS`, byte for byte, exit 0; the
#                             same again with both policies compiled to .kbc.
#                             expected.md / expected.txt / expected.json
#                             (optional): the markdown / text / json forms.
#   tests/readout/NAME/       policy.kai, events*, args (optional),
#                             expected.csv: `kairos readout policy.kai EVENTS
#                             --format csv ARGS`; expected.txt / expected.json
#                             (optional): the text / json forms.
#   examples/NAME/diff/       new.kai and expected.md: `kairos diff policy.kai
#                             diff/new.kai EVENTS --format markdown`, run in the
#                             example's folder (the walkthrough of a change).
#   examples/NAME/readout/    expected.csv (and optional expected.txt):
#                             `kairos readout policy.kai EVENTS` in the
#                             example's folder.
#
# Prints one line per failure, then "report: N passed, N failed".
set -u
[ $# -ge 1 ] || { echo "usage: run.sh KAIROS" >&2; exit 2; }
KAIROS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    /' "$2" | head -40; }

# same LABEL EXPECTED -- compares $TMP/out with EXPECTED.
same() {
    if cmp -s "$TMP/out" "$2"; then ok
    else
        diff -u "$2" "$TMP/out" >"$TMP/diff"
        bad "$1: output differs" "$TMP/diff"
    fi
}

# run LABEL DIR CMD... -- runs kairos in DIR; output in $TMP/out; 0 if exit 0.
run() {
    label=$1 dir=$2
    shift 2
    (cd "$dir" && "$KAIROS" "$@") >"$TMP/out" 2>"$TMP/err"
    st=$?
    if [ $st != 0 ]; then bad "$label: exit status $st" "$TMP/err"; return 1; fi
    return 0
}

events_of() { ls "$1" | grep '^events' | sort | tr '\n' ' '; }

for dir in "$ROOT"/tests/diff-golden/*/; do
    [ -d "$dir" ] || continue
    name=diff-golden/$(basename "$dir")
    ev=$(events_of "$dir")
    args=""
    [ -e "$dir/args" ] && args=$(cat "$dir/args")
    if [ ! -e "$dir/expected.csv" ]; then bad "$name: no expected.csv"; continue; fi
    # shellcheck disable=SC2086
    run "$name" "$dir" diff old.kai new.kai $ev --format csv $args && same "$name" "$dir/expected.csv"
    if "$KAIROS" compile "$dir/old.kai" -o "$TMP/old.kbc" 2>"$TMP/err" &&
       "$KAIROS" compile "$dir/new.kai" -o "$TMP/new.kbc" 2>>"$TMP/err"; then
        # shellcheck disable=SC2086
        run "$name (.kbc)" "$dir" diff "$TMP/old.kbc" "$TMP/new.kbc" $ev --format csv $args &&
            same "$name (.kbc)" "$dir/expected.csv"
    else bad "$name: compile failed" "$TMP/err"
    fi
    for f in md:markdown txt:text json:json; do
        ext=${f%%:*} fmt=${f#*:}
        [ -e "$dir/expected.$ext" ] || continue
        # shellcheck disable=SC2086
        run "$name ($fmt)" "$dir" diff old.kai new.kai $ev --format "$fmt" $args && same "$name ($fmt)" "$dir/expected.$ext"
    done
done

for dir in "$ROOT"/tests/readout/*/; do
    [ -d "$dir" ] || continue
    name=readout/$(basename "$dir")
    ev=$(events_of "$dir")
    args=""
    [ -e "$dir/args" ] && args=$(cat "$dir/args")
    if [ ! -e "$dir/expected.csv" ]; then bad "$name: no expected.csv"; continue; fi
    # shellcheck disable=SC2086
    run "$name" "$dir" readout policy.kai $ev --format csv $args && same "$name" "$dir/expected.csv"
    for f in txt:text json:json; do
        ext=${f%%:*} fmt=${f#*:}
        [ -e "$dir/expected.$ext" ] || continue
        # shellcheck disable=SC2086
        run "$name ($fmt)" "$dir" readout policy.kai $ev --format "$fmt" $args && same "$name ($fmt)" "$dir/expected.$ext"
    done
done

for dir in "$ROOT"/examples/*/; do
    ex=examples/$(basename "$dir")
    ev=$(events_of "$dir")
    if [ -d "$dir/diff" ]; then
        if [ ! -e "$dir/diff/new.kai" ] || [ ! -e "$dir/diff/expected.md" ]; then
            bad "$ex/diff: needs new.kai and expected.md"
        else
            # shellcheck disable=SC2086
            run "$ex/diff" "$dir" diff policy.kai diff/new.kai $ev --format markdown && same "$ex/diff" "$dir/diff/expected.md"
            if ! "$KAIROS" check --Werror "$dir/diff/new.kai" >"$TMP/out" 2>&1; then
                bad "$ex/diff: new.kai: kairos check --Werror failed" "$TMP/out"
            fi
        fi
    fi
    if [ -d "$dir/readout" ]; then
        # shellcheck disable=SC2086
        run "$ex/readout" "$dir" readout policy.kai $ev --format csv && same "$ex/readout" "$dir/readout/expected.csv"
        if [ -e "$dir/readout/expected.txt" ]; then
            # shellcheck disable=SC2086
            run "$ex/readout (text)" "$dir" readout policy.kai $ev && same "$ex/readout (text)" "$dir/readout/expected.txt"
        fi
    fi
done

echo "report: $pass passed, $fail failed"
[ "$fail" = 0 ]
