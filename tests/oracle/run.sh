#!/bin/sh
# tests/oracle -- differential testing of `kairos simulate` against an
# independent reference implementation of the replay semantics.
#
#   sh tests/oracle/run.sh KAIROS [FROM TO]
#
# oracle.py  A Python 3 (stdlib only) re-implementation of the replay, written
#            from /work/shared/LANGUAGE.md sections 2-5 and SPEC.md sections 1,
#            4 and 5 without reading runtime/*.c.  It parses the subset of the
#            language the generator writes and prints the schedule CSV:
#              python3 tests/oracle/oracle.py POLICY.kai EVENTS.csv... [--until T]
# fuzz.py    Generates, deterministically per seed, a small random policy and
#            event log (1-4 customers, 6-44 rows on a 12-hour grid over up to
#            15 days, or 40-120 rows over up to 70 days; rows shuffled or
#            time-ordered, sometimes split over 2-3 files, some of them JSON
#            Lines), runs both, and compares the schedules byte for byte.  One
#            seed in ten runs kairos with --jobs 3, one with --memory 16M
#            --jobs 2, one as --shard 0/2 + 1/2 joined by `kairos merge`.
#            A mismatch whose policy kairos reads with an attribute "as
#            duration" (kairos disasm) is tagged with the (fixed) bug
#            bugs/untyped-plus-duration-vs-time; --avoid-known leaves that
#            pattern out of the generator.
#            About one seed in three (drawn apart from the rest, so the other
#            seeds are unchanged; --timed P sets the share) moves sends: 0-3
#            top-level `quiet HH:MM-HH:MM [on CH,...]` (wrapping midnight, ending
#            at 24:00, overlapping, sometimes covering a channel's whole day),
#            rule `at [DAYS] HH:MM-HH:MM` / `at DAYS` windows (tasks too), on a
#            30-180 minute grid with some times a second or a minute off, and
#            reminder and trigger delays of 30m-3d.  Those seeds also run
#            `--stats-format json` and compare per rule: asks, reminders, tasks,
#            "moved by quiet hours" (a sent attempt quiet hours put later than
#            the `at` window alone would), reminders blocked, and the spared
#            reasons (no allowed time, if/unless, cap, yielded, opt-out, consent,
#            holdout, horizon, keep-ignored, restart-cancelled).  A mismatch in
#            a run where the oracle met a reading the contract leaves open (an
#            order-dependent floating-point sum, 1e300 + 1 - 1e300) is printed
#            as AMBIGUOUS and not counted as a failure.
# exprfuzz.py  Random well-typed `where` conditions mixing untyped attributes
#            with numbers, durations and times (how an untyped attribute takes
#            the type its context needs, SPEC 1.7), on 3 customers; seeds
#            FROM..FROM+(TO-FROM)/3.  A policy kairos rejects is counted, not
#            a failure.
# bugs/      Minimal repros of kairos bugs the oracle found (policy.kai,
#            events.csv, expected.csv as the contract demands, note.txt);
#            each is checked here too.  Both are fixed (0e79533, 0ae0916,
#            and untyped sides of a comparison taking a time from the other
#            side); they stay as regression cases.
#
# The last line is "oracle: N passed, M failed" (tests/run.sh counts it as a
# sub-suite): seeds and repros that agree, and those that do not.
#            (with a file accept-check-error, a FILE:LINE:COL error from
#            `check` and a clean exit 1 from `simulate` pass as well).
#
# Covered (UTC only: no timezone, tz traits, best_time or calendar `every`
# periods; tests/tzoracle covers those, one rule at a time):
#   quiet hours and `at` windows with the multi-rule semantics (LANGUAGE 4.3,
#   4.5, 4.7, 4.12; SPEC 4.4-4.7): the first attempt moved by the rule's
#   window and its (or the variant's) channel's quiet hours, reminders by
#   their own channel's quiet hours only, each from the previous attempt's
#   moved time (skipped ones too), tasks by `at` only; if/unless, now/hour/
#   weekday, opt-out, consent, caps and asked() at the moved time; the
#   priority yield at the moved due time of the higher-priority ask; firing
#   order among sends moved to the same instant; restart/keep while an ask
#   waits for its window; sends moved past the horizon; no allowed time (at
#   window inside quiet hours, quiet hours covering the day: dropped, and a
#   reminder with no allowed time ends its chain);
#   triggers `after E [+ D] [where X]` and `every Nd`; `if`/`unless` with
#   and/or/not (Kleene), comparisons, `in [...]` (weekday ranges too),
#   + - * / on numbers, durations and times (division by zero, duration
#   overflow: unknown); untyped attributes taking the type of their context;
#   declared events with typed attributes (number/string/bool/time);
#   count(E [where X] [within D]) with the trailing-`within` rule, E within D,
#   no E [within D], open_ticket, since, last(E).attr, sum/avg/min/max,
#   asked/responded [within D], trigger.attr, bare attrs, customer.attr
#   (identify), let (bare names bound at the use site), now/hour/weekday;
#   top-level `cap N per D [on CH,...]`, per-rule cap, priority and the
#   priority yield; reminder chains; response cancelling later attempts;
#   opt_out/opt_in and require consent (channel absent = all, unknown or
#   non-string channel ignored); on retrigger restart|keep; tasks (also named
#   like a survey); variants with FNV-1a buckets (policy name given or from the
#   file name), variant delay/channel overrides, holdout; the horizon (latest
#   event, or --until); equal timestamps (input order across files); output
#   order and RFC 4180 quoting; CSV cells (numbers in all forms of SPEC 5.4,
#   booleans, quoted cells with commas, quotes and line breaks, CRLF, BOM,
#   shuffled columns), JSON Lines values (numbers, strings typed like cells,
#   true/false, null), RFC 3339 times with offsets, fractions, lower-case z /
#   space separator, integer Unix seconds; policy layout (named and one-liner
#   rules over indented lines, tabs, comments, CRLF, column-1 caps after a
#   rule, default names SURVEY@LINE).
#
# Readings of the contract the oracle had to choose (see the report / notes):
#   a trailing `within` moves out of `no E within D` too (`count(t where no
#   login within 2d)` is count(t within 2d where no login)); two untyped
#   attributes compared are read as they are (different types: unknown);
#   untyped op untyped (both attributes) is a number; otherwise an untyped
#   attribute takes the reading that fits the context, never a duration.
#
# Exit status: 0 when every seed and every bugs/ repro agrees; 1 otherwise,
# with one line per failing seed naming the repro files (kept under a
# temporary directory).  Seeds: 0..1999 by default (20-50 s, depending on load).
set -u
KAIROS=${1:?usage: sh tests/oracle/run.sh KAIROS [FROM TO]}
FROM=${2:-0}
TO=${3:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
case $KAIROS in /*) ;; *) KAIROS=$(pwd)/$KAIROS ;; esac
OUT=$(mktemp -d "${TMPDIR:-/tmp}/kairos-oracle.XXXXXX")
rc=0
/usr/bin/python3 -B "$HERE/fuzz.py" "$KAIROS" "$FROM" "$TO" --out "$OUT" >"$OUT/fuzz.log" 2>&1 || rc=1
/usr/bin/python3 -B "$HERE/exprfuzz.py" "$KAIROS" "$FROM" "$((FROM + (TO - FROM) / 3))" --out "$OUT/expr" \
    >"$OUT/expr.log" 2>&1 || rc=1
grep -v '^summary:' "$OUT/fuzz.log" "$OUT/expr.log" | head -40
repro_ok=0 repro_bad=0
for d in "$HERE"/bugs/*/; do
    [ -f "$d/policy.kai" ] || continue
    args=""
    [ -f "$d/args" ] && args=$(cat "$d/args")
    # shellcheck disable=SC2086
    if "$KAIROS" simulate "$d/policy.kai" "$d/events.csv" $args 2>/dev/null | cmp -s - "$d/expected.csv"; then
        repro_ok=$((repro_ok + 1)); continue
    fi
    if [ -f "$d/accept-check-error" ] &&
       "$KAIROS" check "$d/policy.kai" 2>&1 | grep -q "policy.kai:[0-9]*:[0-9]*: error:" &&
       ! "$KAIROS" simulate "$d/policy.kai" "$d/events.csv" >/dev/null 2>"$OUT/err" &&
       ! grep -q "internal error" "$OUT/err"; then
        repro_ok=$((repro_ok + 1)); continue
    fi
    echo "BUG REPRO FAILS: $d (policy.kai, events.csv, expected.csv, note.txt)"
    repro_bad=$((repro_bad + 1))
    rc=1
done
# "summary: ok=N[, ...]" and "summary: mismatch=M, ok=N, rejected=R" of the two
# generators, plus the repros; a generator that printed no summary fails
cat "$OUT/fuzz.log" "$OUT/expr.log" | awk -v rc=$rc -v ro=$repro_ok -v rb=$repro_bad '
    /^summary:/ { n++; for (i = 2; i <= NF; i++) { split($i, kv, "="); gsub(",", "", kv[2])
                  if (kv[1] == "ok") p += kv[2]; else if (kv[1] == "mismatch") f += kv[2] } }
    END { p += ro; f += rb; if (n != 2 || (rc && f == 0)) f++; printf "oracle: %d passed, %d failed\n", p, f }'
[ $rc -eq 0 ] && rm -rf "$OUT"
exit $rc
