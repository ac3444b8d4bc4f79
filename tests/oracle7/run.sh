#!/bin/sh
# tests/oracle7/run.sh KAIROS  -- independent oracle for `kairos readout` and
# `kairos diff` (Python 3 stdlib, written from LANGUAGE.md section 7 and
# SPEC.md 6.3 alone; kairos's own `simulate` schedules are trusted as input).
#
# Covers: readout --format csv (attribution to the latest sent attempt of the
# survey at or before the response within --window, ties by schedule order,
# answered asks, Wilson 95 % z=1.959964, %.4f, row order, empty variant) and
# --format json (vs_first with Newcombe's hybrid interval, NPS promoters -
# detractors / mean score, time to response median/p90 by nearest rank, by
# channel with benchmark bands, by attempt, by local hour of the send in the
# zone at the trigger, short_experiment / few_asks warnings, responses /
# attributed, --by customer.TRAIT groups); diff --format csv (multiset
# difference and its order) and --format json (totals, per rule / survey /
# channel before and after, gaining / losing customers, contact pressure
# 0/1/2/3+ and max in any (t-30d, t], moved sends and median shift,
# only_old / only_new).  Inputs: random policies (variants with delay / channel
# overrides, reminder chains, several surveys and channels, caps, quiet hours,
# `at` windows, priorities, `after` and `every` triggers, tasks, policy
# timezones) and random event logs (customer zones incl. an invalid one and
# zone changes, traits, responses placed at the send second, at the window
# edge, one second past it, one before; unscored and non-numeric scores;
# several CSV/JSON Lines files; varied time spellings; --window, --until),
# plus fixed edge cases (tests/oracle7/edge.py).  Also: diff markdown's top-10
# gaining/losing customers and summary numbers, diff --fail-if on the oracle's
# values, and (every 4th seed) the same numbers from a .kbc, --jobs 1/3, a
# gzip log, standard input, and --shard K/3 (rows and counts add up).
#
# Runs 18 edge cases and seeds 1..160 (about 40 s), exits 1 on any mismatch and prints
# the path of each failing case (kept under $OUT, default
# /tmp/oracle7-failures); re-run one with
#   python3 tests/oracle7/check.py verify KAIROS DIR
# The two kairos bugs it found (--window 0s refused; a 27.96-day span shown
# as "28.0 days (< 28)") are fixed, with cases in tests/readout/ and
# tests/cli/.  The last line is "oracle7: N passed, M failed" (tests/run.sh
# counts it as a sub-suite): the edge cases and seeds that agree, and those
# that do not.
set -u
export PYTHONDONTWRITEBYTECODE=1
[ $# -ge 1 ] || { echo "usage: run.sh KAIROS" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
K=$1
OUT=${OUT:-/tmp/oracle7-failures}
rc=0
LOG=$(mktemp) || exit 1
trap 'rm -f "$LOG"' EXIT
/usr/bin/python3 "$HERE/check.py" edge "$K" --keep "$OUT" >>"$LOG" 2>&1 || rc=1
/usr/bin/python3 "$HERE/check.py" run "$K" $(seq 1 160) --keep "$OUT" >>"$LOG" 2>&1 || rc=1
[ $rc = 0 ] || cat "$LOG"
# "oracle7 edge: 18 agree, 0 mismatch" and "oracle7 run: ..." summed
awk -v rc=$rc '/^oracle7 (edge|run): [0-9]+ agree, [0-9]+ mismatch/ { p += $3; f += $5; n++ }
    END { if (n != 2 && f == 0) f = 1; if (rc && f == 0) f = 1; printf "oracle7: %d passed, %d failed\n", p, f }' "$LOG"
exit $rc
