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
#   examples/NAME/report/     expected.html: `kairos report policy.kai EVENTS`
#                             in the example's folder, byte for byte (the
#                             page is deterministic); run twice, and once
#                             more with --stamp (which must add the time).
#   examples/NAME/diff/       expected.html (optional): `kairos diff
#                             policy.kai diff/new.kai EVENTS --format html`.
#   tests/report-cases/NAME/  policy.kai, events* files, args (optional flags),
#                             contains: lines that must each appear in the page
#                             of `kairos report policy.kai EVENTS ARGS` (fixed
#                             strings: warnings, buckets, caps, horizon).
#   The csv forms of diff and readout and the example pages are also run with
#   --jobs 1 and --jobs 3 (the partitioned replay): the same bytes.
#   The browser test (tests/report/browser.sh) renders the pages.
#
# Prints one line per failure, then "report: N passed, N failed".
set -u
[ $# -ge 1 ] || { echo "usage: run.sh KAIROS" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
KT_FAIL= KT_LINES=40
kt_begin report "$1"

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
    # the partitioned replay: the same bytes on any number of threads
    for jobs in 1 3; do
        # shellcheck disable=SC2086
        run "$name (--jobs $jobs)" "$dir" diff old.kai new.kai $ev --format csv $args --jobs $jobs --memory 16M &&
            same "$name (--jobs $jobs)" "$dir/expected.csv"
    done
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
    for jobs in 1 3; do
        # shellcheck disable=SC2086
        run "$name (--jobs $jobs)" "$dir" readout policy.kai $ev --format csv $args --jobs $jobs &&
            same "$name (--jobs $jobs)" "$dir/expected.csv"
    done
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
    if [ -e "$dir/diff/expected.html" ]; then
        # shellcheck disable=SC2086
        run "$ex/diff (html)" "$dir" diff policy.kai diff/new.kai $ev --format html &&
            same "$ex/diff (html)" "$dir/diff/expected.html"
    fi
    if [ -d "$dir/report" ]; then
        # shellcheck disable=SC2086
        run "$ex/report" "$dir" report policy.kai $ev && same "$ex/report" "$dir/report/expected.html"
        for jobs in 1 3; do
            # shellcheck disable=SC2086
            run "$ex/report (--jobs $jobs)" "$dir" report policy.kai $ev --jobs $jobs --memory 16M &&
                same "$ex/report (--jobs $jobs)" "$dir/report/expected.html"
        done
        # shellcheck disable=SC2086
        run "$ex/report (again, -o)" "$dir" report policy.kai $ev -o "$TMP/again.html" &&
            cp "$TMP/again.html" "$TMP/out" && same "$ex/report (again, -o)" "$dir/report/expected.html"
        # shellcheck disable=SC2086
        if run "$ex/report --stamp" "$dir" report policy.kai $ev --stamp; then
            if grep -q '<tr><th>generated</th><td>20[0-9][0-9]-' "$TMP/out" &&
               ! grep -q '<th>generated</th>' "$dir/report/expected.html"; then ok
            else bad "$ex/report --stamp: no generation time, or one without --stamp"
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

for dir in "$ROOT"/tests/report-cases/*/; do
    [ -d "$dir" ] || continue
    name=report-cases/$(basename "$dir")
    ev=$(events_of "$dir")
    args=""
    [ -e "$dir/args" ] && args=$(cat "$dir/args")
    if [ ! -s "$dir/contains" ]; then bad "$name: no contains file"; continue; fi
    # shellcheck disable=SC2086
    if run "$name" "$dir" report policy.kai $ev $args; then
        missing=0
        while IFS= read -r line; do
            [ -n "$line" ] || continue
            if ! grep -qF -- "$line" "$TMP/out"; then
                missing=$((missing + 1))
                echo "not in the page: $line" >>"$TMP/missing"
            fi
        done <"$dir/contains"
        if [ "$missing" = 0 ]; then ok; else bad "$name: $missing lines missing" "$TMP/missing"; fi
        rm -f "$TMP/missing"
    fi
done

# report: a bad row fails the run (exit 1) and leaves no output file.
if "$KAIROS" report "$ROOT/tests/cli/report/old.kai" "$ROOT/tests/cli/report/bad.csv" -o "$TMP/bad.html" 2>"$TMP/err"; then
    bad "report with a bad row: exit 0"
elif [ -e "$TMP/bad.html" ]; then bad "report with a bad row: left $TMP/bad.html"
else ok
fi

# A tz that names no time zone (SPEC 4.11) is among the warnings about the
# inputs, with the names, escaped, as on standard error.
TZW=$ROOT/tests/golden/tz-unknown-warning
if run "report: unknown tz" "$TZW" report policy.kai events.csv; then
    if grep -q '<li>12 identify events set <code>tz</code> to a name that is not a time zone (<code>Bad/Zone01</code>, .*<code>Bad/Zone08</code>, and others): those customers keep the policy.s zone</li>' "$TMP/out" &&
       grep -q '<li>2 identify events set <code>tz</code> to a number or a boolean, not a time zone.s name: those customers keep the policy.s zone</li>' "$TMP/out" &&
       grep -q 'is not a time zone' "$TMP/err"; then ok
    else bad "report: unknown tz: no warning in the page or on standard error" "$TMP/err"
    fi
fi

# Differential: on random logs (tests/diff/gen.c) and pairs of the policies of
# tests/diff/policies, the '-' rows of `diff --format csv` are exactly the
# multiset OLD minus NEW of the two `simulate` schedules, the '+' rows NEW
# minus OLD (the one-read replay gives each policy the schedule simulate gives
# it), and the rows are in time order.
if ${CC:-cc} -std=c11 -O1 -o "$TMP/gen" "$ROOT/tests/diff/gen.c" 2>"$TMP/err"; then
    pols=$(cd "$ROOT/tests/diff/policies" && ls *.kai)
    nrows=0
    for seed in 11 12 13; do
        d=$TMP/seed$seed
        mkdir -p "$d"
        "$TMP/gen" -s "$seed" -o "$d" >/dev/null || { bad "report differential: gen failed"; continue; }
        prev=""
        for p in $pols $(echo "$pols" | head -n 1); do
            if [ -n "$prev" ] && [ "$prev" != "$p" ]; then
                label="differential seed $seed $prev -> $p"
                P1=$ROOT/tests/diff/policies/$prev P2=$ROOT/tests/diff/policies/$p
                if "$KAIROS" simulate --no-progress "$P1" "$d/events.csv" 2>/dev/null | tail -n +2 | LC_ALL=C sort >"$d/a" &&
                   "$KAIROS" simulate --no-progress "$P2" "$d/events.csv" 2>/dev/null | tail -n +2 | LC_ALL=C sort >"$d/b" &&
                   "$KAIROS" diff "$P1" "$P2" "$d/events.csv" --format csv >"$d/diff.csv" 2>/dev/null &&
                   "$KAIROS" diff "$P1" "$P2" "$d/events.csv" --format csv --jobs 1 >"$d/diff1.csv" 2>/dev/null &&
                   "$KAIROS" diff "$P1" "$P2" "$d/events.csv" --format csv --jobs 3 >"$d/diff3.csv" 2>/dev/null; then
                    LC_ALL=C comm -23 "$d/a" "$d/b" >"$d/minus"
                    LC_ALL=C comm -13 "$d/a" "$d/b" >"$d/plus"
                    grep '^-,' "$d/diff.csv" | cut -c3- | LC_ALL=C sort >"$d/gm"
                    grep '^+,' "$d/diff.csv" | cut -c3- | LC_ALL=C sort >"$d/gp"
                    tail -n +2 "$d/diff.csv" | cut -d, -f2 >"$d/times"
                    if ! cmp -s "$d/diff.csv" "$d/diff1.csv" || ! cmp -s "$d/diff.csv" "$d/diff3.csv"; then
                        bad "$label: the output depends on --jobs"
                    elif ! cmp -s "$d/minus" "$d/gm" || ! cmp -s "$d/plus" "$d/gp"; then
                        diff "$d/minus" "$d/gm" >"$TMP/diff"; diff "$d/plus" "$d/gp" >>"$TMP/diff"
                        bad "$label: diff rows are not the schedules' difference" "$TMP/diff"
                    elif ! LC_ALL=C sort -c "$d/times" 2>/dev/null; then
                        bad "$label: rows not in time order"
                    else
                        ok
                        nrows=$((nrows + $(wc -l <"$d/minus") + $(wc -l <"$d/plus")))
                    fi
                else
                    bad "$label: a command failed"
                fi
            fi
            prev=$p
        done
    done
    # not vacuous: the pairs must differ somewhere
    if [ "$nrows" -gt 100 ]; then ok; else bad "report differential: only $nrows differing rows"; fi
else
    bad "report differential: cannot compile tests/diff/gen.c" "$TMP/err"
fi

kt_end
