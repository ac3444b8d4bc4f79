#!/bin/sh
# tests/report/browser.sh KAIROS [SHOTDIR] -- renders report pages in headless
# Chromium and checks what the browser saw (run by `make check`):
#
#   examples/ab-timing          kairos report (has responses: the readout)
#   examples/sms-quiet-consent  kairos report (quiet hours on SMS, local zones)
#   examples/sms-reminders      kairos diff policy.kai diff/new.kai --format html
#
# For each page: tidy -errors finds nothing (HTML validity), then
# tests/report/browser.py loads it through the DevTools protocol: no console
# error, no network request besides the page itself, every chart's SVG has a
# non-empty bounding box, and numbers computed here by other means (event
# rows counted in the logs, asks counted in `kairos simulate`'s schedule, the
# rows of `kairos readout --format csv`, the quiet hours' empty rows) appear
# in the rendered text.  Screenshots go to SHOTDIR (default build/report-shots);
# `make screenshots` copies them to doc/.
#
# Chromium and tidy are dependencies (tools/deps.sh): when either is missing
# the test FAILS, it is not skipped.  Prints "browser: N passed, N failed".
set -u
[ $# -ge 1 ] || { echo "usage: browser.sh KAIROS [SHOTDIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
KT_FAIL="browser: "
kt_begin browser "$1"
SHOTS=${2:-$ROOT/build/report-shots}
CHROMIUM=${CHROMIUM:-chromium}
PY=/usr/bin/python3
mkdir -p "$SHOTS"

if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
    bad "chromium is not installed (sh tools/deps.sh)"
fi
if ! command -v tidy >/dev/null 2>&1; then
    bad "tidy is not installed (sh tools/deps.sh)"
fi
[ -x "$PY" ] || bad "$PY is missing"

# rows EVENTFILE: the event rows of a CSV (lines after the header) or JSON Lines file.
rows() {
    case $1 in
        *.jsonl) grep -c . "$1" ;;
        *) echo $(($(grep -c . "$1") - 1)) ;;
    esac
}

# check NAME HTML SHOT ARGS... -- tidy, then the browser with ARGS (--expect ...).
check() {
    name=$1 html=$2 shot=$3
    shift 3
    if tidy -errors -q "$html" >"$TMP/tidy" 2>&1; then ok
    else bad "$name: tidy -errors reports problems" "$TMP/tidy"
    fi
    if "$PY" "$ROOT/tests/report/browser.py" "$CHROMIUM" "$html" "$shot" "$@" >"$TMP/br" 2>&1; then ok
    else bad "$name: the browser saw a problem" "$TMP/br"
    fi
}

# expect_common DIR POLICY: --expect arguments for the facts of a replay.
expect_common() {
    dir=$1 pol=$2
    n=0
    for e in "$dir"/events*; do n=$((n + $(rows "$e"))); done
    asks=$(cd "$dir" && "$KAIROS" simulate --no-progress "$pol" $(ls | grep '^events' | sort) | grep -c ',ask,')
    [ "$n" -gt 0 ] && [ "$asks" -gt 0 ] || echo "--expect no-events-or-asks-found"
    printf '%s\n' --expect "events	$n" --expect "$asks asks,"
}

for ex in ab-timing sms-quiet-consent; do
    dir=$ROOT/examples/$ex
    ev=$(cd "$dir" && ls | grep '^events' | sort | tr '\n' ' ')
    # shellcheck disable=SC2086
    if ! (cd "$dir" && "$KAIROS" report policy.kai $ev -o "$TMP/$ex.html") 2>"$TMP/err"; then
        bad "$ex: kairos report failed" "$TMP/err"
        continue
    fi
    set --
    while IFS= read -r a; do set -- "$@" "$a"; done <<EOF
$(expect_common "$dir" policy.kai)
EOF
    if [ "$ex" = ab-timing ]; then
        # the log has responses: the readout's csv rows, as the page's table
        # shows them (cells tab-separated), and a seventh chart
        # shellcheck disable=SC2086
        (cd "$dir" && "$KAIROS" readout policy.kai $ev --format csv) | tail -n +2 >"$TMP/readout.csv"
        [ -s "$TMP/readout.csv" ] || bad "$ex: kairos readout gave no rows"
        while IFS= read -r line; do
            set -- "$@" --expect "$(echo "$line" | tr ',' '\t')"
        done <"$TMP/readout.csv"
        set -- "$@" --charts 7
    else
        set -- "$@" --charts 6 --expect "The logs have no response events: no readout."
        # quiet 20:00-08:00 on sms and every send is an SMS: those local hours are empty
        # quiet 20:00-08:00 on sms and every send is an SMS: those local hours are empty
        for h in 20 21 22 23 00 01 02 03 04 05 06 07; do
            set -- "$@" --expect "$h:00	0	0	0	0	0	0	0"
        done
    fi
    check "$ex report" "$TMP/$ex.html" "$SHOTS/report-$ex.png" "$@"
done

dir=$ROOT/examples/sms-reminders
if (cd "$dir" && "$KAIROS" diff policy.kai diff/new.kai events.csv --format html -o "$TMP/diff.html") 2>"$TMP/err"; then
    set --
    while IFS= read -r a; do set -- "$@" "$a"; done <<EOF
$(expect_common "$dir" policy.kai)
EOF
    # the totals row of "What changes", from kairos diff --format json
    tot=$(cd "$dir" && "$KAIROS" diff policy.kai diff/new.kai events.csv --format json |
          "$PY" -c 'import json,sys; t=json.load(sys.stdin)["totals"]
def c(a, b): return "0" if a == b else ("+%d" % (b - a) if b > a else "\u2212%d" % (a - b))
print("\t".join("%d\t%d\t%s" % (t[k]["before"], t[k]["after"], c(t[k]["before"], t[k]["after"])) for k in ("asks", "reminders", "tasks")))')
    [ -n "$tot" ] || bad "sms-reminders: no totals from kairos diff --format json"
    set -- "$@" --expect "total	$tot"
    check "sms-reminders diff" "$TMP/diff.html" "$SHOTS/diff-sms-reminders.png" --charts 14 "$@" \
        --expect "Before (OLD): policy.kai" --expect "After (NEW): diff/new.kai"
else
    bad "sms-reminders: kairos diff --format html failed" "$TMP/err"
fi

kt_end
