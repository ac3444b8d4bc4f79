#!/bin/sh
# tests/tzoracle/run.sh KAIROS -- differential test of Kairos's local-time semantics.
#
# oracle.py is an independent Python reference (stdlib zoneinfo, brute force over instants)
# written from LANGUAGE.md sections 2-4 and SPEC.md 4.2-4.11 only.  It covers, for one rule:
#   * `quiet HH:MM-HH:MM [on CH]` (wrapping midnight, start included, end excluded, S-24:00,
#     moving to the window end), several quiet windows, per channel;
#   * `at [DAYS] HH:MM-HH:MM` and `at DAYS` windows (lists, ranges, wrapping ranges like
#     sat-mon, end 24:00), next window start; `at` + quiet combined;
#   * `at best_time(E)` (>= 3 events, hour-of-week mode in the zone at trigger, ties to the
#     earliest hour from Monday 00:00, 1800 s before an instant at which the hour starts,
#     both occurrences of a repeated hour, gap end for a skipped one), then quiet hours;
#   * `every day|week|month|quarter|year [at HH:MM]` and `every Nd [at HH:MM]` per customer
#     zone: first boundary at/after the first event, recomputed when `identify` changes tz
#     (first boundary in the new zone at/after the identify and after the last fired one);
#   * the `tz` trait (mid-log changes, same-instant rows in either order, invalid names and
#     non-strings falling back to the policy `timezone`, missing cell keeps the zone), the
#     policy `timezone` (or UTC), `hour`/`weekday` in `where` (trigger time, current zone)
#     and in `if`/`unless` (send time, the ask's zone at trigger);
#   * DST gaps (nonexistent local time -> next valid instant) and fall-back (ambiguous ->
#     first occurrence; a window/quiet end recurring in the repeated hour is reached at its
#     first occurrence after the due instant);
#   * reminder chains (each attempt out of its own channel's quiet hours, from the previous
#     attempt's moved time, in the zone at trigger), restart/keep retriggers, variants
#     ({ + DUR } and { via CH } moving the first attempt by that channel's quiet hours),
#     tasks (ignore quiet hours, obey `at`), the default horizon.
# Zones: Europe/Oslo, America/New_York, Australia/Lord_Howe, America/Santiago,
# Asia/Kolkata, Pacific/Chatham (+ UTC, Etc/GMT-14, EST5EDT), events near their 2026 DST
# transitions, calendar boundaries and local window edges; 1-3 customers; rows shuffled.
#
# fuzz.py: random cases (deterministic by seed); sweep.py: a fixed sample of a systematic
# sweep (every quiet/at window on a grid around each transition, due instants every 15 min).
# Prints one line per failing case with its directory (policy.kai, events.csv, spec.json,
# kairos.csv, oracle.csv); exit 1 on any mismatch, 0 otherwise.
# It found no kairos bug.  The last line is "tzoracle: N passed, M failed"
# (tests/run.sh counts it as a sub-suite): seeds and sweep policies that agree,
# and those that do not.
KAIROS=${1:?usage: sh tests/tzoracle/run.sh KAIROS}
case $KAIROS in /*) ;; *) KAIROS=$(pwd)/$KAIROS ;; esac
HERE=$(dirname "$0")
PY=${PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tzoracle.XXXXXX")
rc=0
"$PY" "$HERE/fuzz.py" "$KAIROS" "$OUT/fuzz" 1-600 >"$OUT/fuzz.log" 2>&1 || rc=1
"$PY" "$HERE/sweep.py" "$KAIROS" "$OUT/sweep" --sample 40 >"$OUT/sweep.log" 2>&1 || rc=1
grep -h -v 'policies$\|seeds agree$\|policies agree$' "$OUT/fuzz.log" "$OUT/sweep.log" | head -40
# "N/M seeds agree" and "sweep: N/M policies agree"; a part that printed
# neither fails
cat "$OUT/fuzz.log" "$OUT/sweep.log" | awk -v rc=$rc '
    /^[0-9]+\/[0-9]+ seeds agree$/ { split($1, a, "/"); p += a[1]; f += a[2] - a[1]; n++ }
    /^sweep: [0-9]+\/[0-9]+ policies agree$/ { split($2, a, "/"); p += a[1]; f += a[2] - a[1]; n++ }
    END { if (n != 2 || (rc && f == 0)) f++; printf "tzoracle: %d passed, %d failed\n", p, f }'
if [ $rc -eq 0 ]; then
    rm -rf "$OUT"
else
    echo "tzoracle: failures kept in $OUT"
fi
exit $rc
