#!/bin/sh
# run.sh KAIROS -- the data-driven tests: diagnostics cases, golden replay
# cases and examples.  Adding a case is adding files:
#
#   tests/errors/NAME.kai        a policy; NAME.expected is exactly what
#                                `kairos check NAME.kai` prints (run in
#                                tests/errors); NAME.args optional extra flags.
#                                Expected exit: 1 if NAME.expected has ": error:",
#                                else 0.
#   tests/golden/NAME/           policy.kai (or policy.kbc), events* files
#                                (replayed in name order), args (optional
#                                simulate flags), and either expected.csv
#                                (exit 0, stdout compared byte for byte, and
#                                the same again through a compiled .kbc) or
#                                expected.err (stderr compared, exit status
#                                from expected.status, default 1, and no
#                                output file left behind).
#   examples/NAME/               policy.kai, events.*, expected.csv: checked
#                                with --Werror, simulated (.kai and .kbc),
#                                every *.test.yaml run by `kairos test`, and
#                                `kairos explain` of every customer gives the
#                                same story from .kai and from .kbc, with the
#                                values of every condition it evaluated.
#
# Prints one line per failure, then "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
KT_LINES=40
kt_begin "" "$1"

# --- diagnostics -------------------------------------------------------------
for kai in "$ROOT"/tests/errors/*.kai; do
    [ -e "$kai" ] || continue
    name=$(basename "$kai" .kai)
    exp="$ROOT/tests/errors/$name.expected"
    if [ ! -e "$exp" ]; then bad "errors/$name: no $name.expected"; continue; fi
    args=""
    [ -e "$ROOT/tests/errors/$name.args" ] && args=$(cat "$ROOT/tests/errors/$name.args")
    # shellcheck disable=SC2086
    (cd "$ROOT/tests/errors" && "$KAIROS" check --color=never $args "$name.kai") >"$TMP/out" 2>&1
    status=$?
    want=0
    grep -q ': error: ' "$exp" && want=1
    if [ "$status" != "$want" ]; then
        bad "errors/$name: exit status $status, expected $want" "$TMP/out"
    elif ! cmp -s "$TMP/out" "$exp"; then
        diff -u "$exp" "$TMP/out" >"$TMP/diff"
        bad "errors/$name: output differs" "$TMP/diff"
    else
        ok
    fi
done

# --- command line ------------------------------------------------------------
#   tests/cli/NAME.cmd: one line, the arguments after `kairos` (run in
#   tests/cli with sh word splitting); NAME.expected: stdout and stderr
#   together; NAME.status: the exit status (default 0).
for cmd in "$ROOT"/tests/cli/*.cmd; do
    [ -e "$cmd" ] || continue
    name=$(basename "$cmd" .cmd)
    want=0
    [ -e "$ROOT/tests/cli/$name.status" ] && want=$(cat "$ROOT/tests/cli/$name.status")
    # shellcheck disable=SC2046
    (cd "$ROOT/tests/cli" && eval "\"\$KAIROS\" $(cat "$cmd")") >"$TMP/out" 2>&1 </dev/null
    status=$?
    if [ "$status" != "$want" ]; then
        bad "cli/$name: exit status $status, expected $want" "$TMP/out"
    elif [ -e "$ROOT/tests/cli/$name.expected" ] && ! cmp -s "$TMP/out" "$ROOT/tests/cli/$name.expected"; then
        diff -u "$ROOT/tests/cli/$name.expected" "$TMP/out" >"$TMP/diff"
        bad "cli/$name: output differs" "$TMP/diff"
    else
        ok
    fi
done

# --- replay: one case directory -------------------------------------------------
# replay_case DIR LABEL [check]
replay_case() {
    dir=$1 label=$2
    policy="$dir/policy.kai"
    [ -e "$policy" ] || policy="$dir/policy.kbc"
    if [ ! -e "$policy" ]; then bad "$label: no policy.kai"; return; fi
    events=$(ls "$dir" | grep '^events' | sort | sed "s|^|$dir/|" | tr '\n' ' ')
    args=""
    [ -e "$dir/args" ] && args=$(cat "$dir/args")
    if [ "${3:-}" = check ]; then
        if ! "$KAIROS" check --color=never --Werror "$policy" >"$TMP/out" 2>&1; then
            bad "$label: kairos check --Werror failed" "$TMP/out"
            return
        fi
    fi
    if [ -e "$dir/expected.csv" ]; then
        # shellcheck disable=SC2086
        (cd "$dir" && "$KAIROS" simulate --no-progress "$policy" $events $args) >"$TMP/out" 2>"$TMP/err"
        status=$?
        if [ $status != 0 ]; then bad "$label: exit status $status" "$TMP/err"; return; fi
        if ! cmp -s "$TMP/out" "$dir/expected.csv"; then
            diff -u "$dir/expected.csv" "$TMP/out" >"$TMP/diff"
            bad "$label: schedule differs" "$TMP/diff"
            return
        fi
        case "$policy" in
        *.kai)
            if ! "$KAIROS" compile "$policy" -o "$TMP/p.kbc" 2>"$TMP/err"; then
                bad "$label: compile failed" "$TMP/err"; return
            fi
            # shellcheck disable=SC2086
            (cd "$dir" && "$KAIROS" simulate --no-progress "$TMP/p.kbc" $events $args) >"$TMP/out2" 2>"$TMP/err"
            if ! cmp -s "$TMP/out" "$TMP/out2"; then
                diff -u "$TMP/out" "$TMP/out2" >"$TMP/diff"
                bad "$label: .kbc schedule differs from .kai schedule" "$TMP/diff"
                return
            fi ;;
        esac
        ok
    elif [ -e "$dir/expected.err" ]; then
        want=1
        [ -e "$dir/expected.status" ] && want=$(cat "$dir/expected.status")
        rm -f "$TMP/o.csv"
        # shellcheck disable=SC2086
        (cd "$dir" && "$KAIROS" simulate --no-progress "$(basename "$policy")" $(ls "$dir" | grep '^events' | sort) $args -o "$TMP/o.csv") >"$TMP/out" 2>"$TMP/err"
        status=$?
        if [ "$status" != "$want" ]; then bad "$label: exit status $status, expected $want" "$TMP/err"
        elif ! cmp -s "$TMP/err" "$dir/expected.err"; then
            diff -u "$dir/expected.err" "$TMP/err" >"$TMP/diff"
            bad "$label: messages differ" "$TMP/diff"
        elif [ "$want" != 0 ] && ls "$TMP" | grep -q '^o.csv'; then
            bad "$label: a failed run left an output file"
        else ok
        fi
    else
        bad "$label: neither expected.csv nor expected.err"
    fi
}

for dir in "$ROOT"/tests/golden/*/; do
    [ -d "$dir" ] || continue
    replay_case "${dir%/}" "golden/$(basename "$dir")"
done

# --- kairos test cases ---------------------------------------------------------
#   tests/testyaml/cases/NAME.cmd: one line, the arguments after `kairos test`
#   (run in tests/testyaml, sh word splitting); NAME.expected: standard output
#   and standard error together; NAME.status: the exit status (default 0).
#   The test files, policy and event logs they use live in tests/testyaml/.
#   JUnit durations and start times vary: time="..." is compared as
#   time="T" and timestamp="..." as timestamp="TS" (tests/ci checks them).
for cmd in "$ROOT"/tests/testyaml/cases/*.cmd; do
    [ -e "$cmd" ] || continue
    name=$(basename "$cmd" .cmd)
    want=0
    [ -e "$ROOT/tests/testyaml/cases/$name.status" ] && want=$(cat "$ROOT/tests/testyaml/cases/$name.status")
    (cd "$ROOT/tests/testyaml" && export TMPDIR="$TMP" NO_COLOR=1 && eval "\"\$KAIROS\" test $(cat "$cmd")") >"$TMP/out.raw" 2>&1 </dev/null
    status=$?
    sed 's/ time="[0-9]*\.[0-9]*"/ time="T"/g; s/ timestamp="[0-9T:-]*"/ timestamp="TS"/g' "$TMP/out.raw" >"$TMP/out"
    if [ "$status" != "$want" ]; then
        bad "testyaml/$name: exit status $status, expected $want" "$TMP/out"
    elif [ ! -e "$ROOT/tests/testyaml/cases/$name.expected" ]; then
        bad "testyaml/$name: no $name.expected" "$TMP/out"
    elif ! cmp -s "$TMP/out" "$ROOT/tests/testyaml/cases/$name.expected"; then
        diff -u "$ROOT/tests/testyaml/cases/$name.expected" "$TMP/out" >"$TMP/diff"
        bad "testyaml/$name: output differs" "$TMP/diff"
    elif ls "$TMP" | grep -q '^kairos-test\.'; then
        bad "testyaml/$name: temporary files left behind"
        rm -rf "$TMP"/kairos-test.*
    else
        ok
    fi
done
# --- end of kairos test cases ---------------------------------------------------

# --- kairos fmt cases ---------------------------------------------------------
# tests/fmt/cases.sh (owned with `kairos fmt`): formatter cases, lint cases, and
# every example and golden policy formatted: idempotent, same bytecode, same schedule.
. "$ROOT/tests/fmt/cases.sh"
# --- end of kairos fmt cases ---

# sub_suite NAME SCRIPT -- runs a script that ends with "NAME: N passed, M
# failed", adds its counts, and shows its failure lines.
sub_suite() {
    sh "$2" "$KAIROS" >"$TMP/$1.out" 2>&1
    sp=$(sed -n "s/^$1: \([0-9]*\) passed.*/\1/p" "$TMP/$1.out")
    sf=$(sed -n "s/^$1: [0-9]* passed, \([0-9]*\) failed/\1/p" "$TMP/$1.out")
    if [ -z "$sp" ]; then
        bad "$1: $2 did not finish" "$TMP/$1.out"
    else
        pass=$((pass + sp))
        fail=$((fail + sf))
        grep -v "^$1: [0-9]* passed" "$TMP/$1.out" | head -40
    fi
}

# --- differential tests ---------------------------------------------------------
# tests/diff/run.sh: random event logs (seeded) replayed in ways that must give
# identical schedules (.kai/.kbc, CSV/JSONL/gzip/stdin, shuffled rows, file
# order, shards, fmt).  One line per failure; counted here as one case each.
# A failing case's files are kept in build/diff-failures/.
sub_suite diff "$ROOT/tests/diff/run.sh"
# --- end of differential tests ---

# --- reference oracles ------------------------------------------------------------
# Independent implementations written from LANGUAGE.md and SPEC.md alone, fed
# random policies and logs (fixed seeds), compared with kairos:
# tests/oracle/run.sh: the replay (caps, priority yield, reminders, consent,
# opt-out, restart/keep, variants, windows, untyped attributes), about 15 s.
sub_suite oracle "$ROOT/tests/oracle/run.sh"
# tests/tzoracle/run.sh: local time (quiet hours, at windows, best_time, every,
# tz traits) around DST transitions of six zones, about 25 s.
sub_suite tzoracle "$ROOT/tests/tzoracle/run.sh"
# tests/oracle7/run.sh: readout and diff numbers from kairos's own schedules.
sub_suite oracle7 "$ROOT/tests/oracle7/run.sh"
# --- end of reference oracles ---

# --- limits -----------------------------------------------------------------------
# tests/limits/run.sh: huge lines, deep nesting, many rules/customers/columns,
# extreme times and durations: each works or fails cleanly (SPEC.md section 9).
sub_suite limits "$ROOT/tests/limits/run.sh"
# --- end of limits ---

# --- files, streams, signals --------------------------------------------------------
# tests/io/run.sh: output files (atomic, devices and FIFOs in place, links,
# directories), inputs read once, strict .gz, write errors on standard output
# for every command, temporary files and signals (SPEC.md sections 5.1, 6).
sub_suite io "$ROOT/tests/io/run.sh"
# --- end of files, streams, signals ---

# --- CI formats -------------------------------------------------------------------
# tests/ci/run.sh: SARIF and JUnit output read by the real consumers (SARIF
# multitool, junit2json, xmllint with a JUnit schema) from tools/node.
sub_suite ci "$ROOT/tests/ci/run.sh"
# kairos test --update: tests/testyaml/update/run.sh (rewrites copies of its files)
sub_suite update "$ROOT/tests/testyaml/update/run.sh"
# --- end of CI formats ---

# --- the bench's peer -----------------------------------------------------------
# tests/peer/run.sh: bench/single.kai and its SQL for DuckDB (bench/duckdb.mjs)
# give the same schedules; bench/run.sh and bench/scale.sh in miniature.
sub_suite peer "$ROOT/tests/peer/run.sh"
# --- end of the bench's peer ---

# --- diff and readout ---------------------------------------------------------------
# tests/report/run.sh: golden cases of `kairos diff` (tests/diff-golden/) and
# `kairos readout` (tests/readout/), and the examples' diff and readout walkthroughs.
sub_suite report "$ROOT/tests/report/run.sh"
# --- end of diff and readout ---

# explain_example DIR LABEL -- explains every customer of an example's log
# from the .kai and from a compiled .kbc: both stories must be identical,
# and every where/if/unless line must be followed by its value lines.
explain_example() {
    dir=$1 label=$2
    events=$(ls "$dir" | grep '^events' | sort)
    [ -e "$dir/args" ] && events="$events $(cat "$dir/args")"     # --schema, --map: how to read them
    "$KAIROS" compile "$dir/policy.kai" -o "$TMP/x.kbc" 2>"$TMP/err" || { bad "$label: compile failed" "$TMP/err"; return; }
    # shellcheck disable=SC2086
    custs=$(cd "$dir" && "$KAIROS" simulate --no-progress policy.kai $events 2>/dev/null | sed 1d | cut -d, -f2 | sort -u)
    for c in $custs; do
        # shellcheck disable=SC2086
        (cd "$dir" && "$KAIROS" explain policy.kai $events --customer "$c") >"$TMP/x1" 2>&1 || { bad "$label: explain $c failed" "$TMP/x1"; return; }
        # shellcheck disable=SC2086
        (cd "$dir" && "$KAIROS" explain "$TMP/x.kbc" $events --customer "$c") >"$TMP/x2" 2>&1
        if ! cmp -s "$TMP/x1" "$TMP/x2"; then
            diff -u "$TMP/x1" "$TMP/x2" >"$TMP/diff"
            bad "$label: explain $c from .kbc differs from .kai" "$TMP/diff"; return
        fi
        if awk '$3 ~ /^(where|if|unless)$/ { want = 1; next } want && $3 != "value" { bad = 1 } { want = 0 } END { exit !bad }' "$TMP/x1"; then
            bad "$label: explain $c: a condition without its values" "$TMP/x1"; return
        fi
    done
    ok
}

# --- examples -----------------------------------------------------------------
for dir in "$ROOT"/examples/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    # examples/ci is a policy repository's layout (policies/, events/, a
    # workflow), tested by tests/ci/run.sh
    [ "$name" = ci ] && continue
    replay_case "${dir%/}" "examples/$name" check
    for t in "${dir%/}"/*.test.yaml; do
        [ -e "$t" ] || continue
        if (cd "$dir" && "$KAIROS" test "$(basename "$t")") >"$TMP/out" 2>&1; then ok
        else bad "examples/$name: kairos test $(basename "$t")" "$TMP/out"
        fi
    done
    explain_example "${dir%/}" "examples/$name"
done

kt_end
