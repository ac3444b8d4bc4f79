#!/bin/sh
# tests/testyaml/update/run.sh KAIROS -- `kairos test --update` (SPEC.md
# 7.5) on copies of upd.test.yaml and upd-expected.csv: the report
# (update.out), the rewritten files (*.updated: block and flow lists kept in
# their style, comments kept, awkward values quoted, a schedule file
# rewritten), a second run that passes; a schedule file that another,
# passing test also expects is left alone, also when that test is in
# another test file of the run; a CR LF file keeps CR LF in its
# new lines, a file with a byte order mark keeps it; a list's anchor and tag
# are kept (a block list's and a flow list's); ids with characters YAML would not keep are escaped; lists in
# their key's column are rewritten there (indentless.test.yaml); --update
# takes no value.
# Ends with "update: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../lib.sh"
kt_begin update "$1"
same() {    # same LABEL EXPECTED ACTUAL
    if cmp -s "$2" "$3"; then ok; else diff -u "$2" "$3" >"$TMP/diff"; bad "$1" "$TMP/diff"; fi
}
export NO_COLOR=1 TMPDIR="$TMP"
mkdir -p "$TMP/t/update"
cp "$HERE/../policy.kai" "$HERE/../events.csv" "$HERE/../expected.csv" "$HERE/../fail.test.yaml" "$TMP/t/"
cp "$HERE/upd.test.yaml" "$HERE/upd-expected.csv" "$TMP/t/update/"
cd "$TMP/t/update" || exit 1

"$KAIROS" test upd.test.yaml >"$TMP/out" 2>/dev/null
st=$?
if [ "$st" = 1 ] && grep -q '^1 passed, 6 failed$' "$TMP/out"; then ok; else bad "before: exit $st" "$TMP/out"; fi
"$KAIROS" test --update upd.test.yaml >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" = 0 ]; then ok; else bad "--update: exit $st, expected 0" "$TMP/err"; fi
same "report" "$HERE/update.out" "$TMP/out"
same "upd.test.yaml rewritten" "$HERE/upd.test.yaml.updated" upd.test.yaml
same "upd-expected.csv rewritten" "$HERE/upd-expected.csv.updated" upd-expected.csv
"$KAIROS" test upd.test.yaml >"$TMP/out" 2>/dev/null
st=$?
if [ "$st" = 0 ] && grep -q '^7 passed, 0 failed$' "$TMP/out"; then ok; else bad "after: exit $st" "$TMP/out"; fi

# fail.test.yaml: "the schedule differs" and "this one passes" share expected.csv
cd "$TMP/t" || exit 1
cp expected.csv "$TMP/expected.before"
cp fail.test.yaml "$TMP/fail.before"
"$KAIROS" test --update fail.test.yaml >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" = 1 ] && grep -q "error: test 'the schedule differs': expected.csv not updated: test 'this one passes' expects the present schedule there" "$TMP/err" &&
   grep -q '^FAIL fail.test.yaml: the schedule differs$' "$TMP/out" && grep -q '^updated the expected schedule of 0 tests$' "$TMP/out"
then ok; else cat "$TMP/err" >>"$TMP/out"; bad "shared schedule file: exit $st" "$TMP/out"; fi
same "shared schedule file left alone" "$TMP/expected.before" expected.csv
same "fail.test.yaml left alone" "$TMP/fail.before" fail.test.yaml

# two test files of one run expecting one schedule file with different rows:
# the second is not updated (both were rewritten in turn, the last winning,
# and the next run failed the first), in either order
mkdir -p "$TMP/t/two"
cp "$HERE/../policy.kai" "$HERE/../events.csv" "$TMP/t/two/"
cp "$HERE/../expected.csv" "$TMP/t/two/shared.csv"
printf 'policy: policy.kai\ntests:\n  - name: whole log\n    events: events.csv\n    schedule: shared.csv\n' >"$TMP/t/two/x.test.yaml"
printf 'policy: policy.kai\ntests:\n  - name: until April\n    events: events.csv\n    until: 2026-04-30T00:00:00Z\n    schedule: shared.csv\n' >"$TMP/t/two/y.test.yaml"
cd "$TMP/t/two" || exit 1
"$KAIROS" test --update x.test.yaml y.test.yaml >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" = 1 ] && grep -q "^y.test.yaml: error: test 'until April': shared.csv not updated: test 'whole log' of x.test.yaml expects other rows there$" "$TMP/err" &&
   grep -q '^updated the expected schedule of 0 tests$' "$TMP/out" && grep -q '^1 passed, 1 failed$' "$TMP/out"
then ok; else cat "$TMP/err" >>"$TMP/out"; bad "two test files, one schedule file: exit $st" "$TMP/out"; fi
same "two test files: the schedule file left alone" "$HERE/../expected.csv" shared.csv
"$KAIROS" test --update y.test.yaml x.test.yaml >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" = 1 ] && grep -q "^x.test.yaml: error: test 'whole log': shared.csv not updated: test 'until April' of y.test.yaml expects other rows there$" "$TMP/err" &&
   grep -q '^updated the expected schedule of 1 test$' "$TMP/out" && "$KAIROS" test y.test.yaml >/dev/null 2>&1
then ok; else cat "$TMP/err" >>"$TMP/out"; bad "two test files, the other order: exit $st" "$TMP/out"; fi
cd "$TMP/t" || exit 1

# a file with CR LF line ends gets its new schedule lines with CR LF too
mkdir -p "$TMP/t/crlf"
sed 's/$/\r/' "$HERE/upd.test.yaml" >"$TMP/t/crlf/upd.test.yaml"
cp "$HERE/upd-expected.csv" "$TMP/t/crlf/"
(cd "$TMP/t/crlf" && "$KAIROS" test --update upd.test.yaml >/dev/null 2>&1)
sed 's/$/\r/' "$HERE/upd.test.yaml.updated" >"$TMP/crlf.want"
same "CR LF file rewritten with CR LF" "$TMP/crlf.want" "$TMP/t/crlf/upd.test.yaml"

# a file that starts with a byte order mark keeps it, and its edits land
# where they belong (libyaml's character positions do not count the mark)
mkdir -p "$TMP/t/bom"
{ printf '\357\273\277'; cat "$HERE/upd.test.yaml"; } >"$TMP/t/bom/upd.test.yaml"
cp "$HERE/upd-expected.csv" "$TMP/t/bom/"
(cd "$TMP/t/bom" && "$KAIROS" test --update upd.test.yaml >/dev/null 2>&1)
{ printf '\357\273\277'; cat "$HERE/upd.test.yaml.updated"; } >"$TMP/bom.want"
same "a file with a byte order mark rewritten after it" "$TMP/bom.want" "$TMP/t/bom/upd.test.yaml"

# lists in their key's column ("indentless"): rewritten there, an empty one
# as `[]` two columns in (in the key's column it would be read as a key)
mkdir -p "$TMP/t/indentless"
cp "$HERE/indentless.test.yaml" "$TMP/t/indentless/"
(cd "$TMP/t/indentless" && "$KAIROS" test --update indentless.test.yaml >"$TMP/out" 2>&1)
st=$?
if [ "$st" = 0 ] && grep -q '^updated the expected schedule of 3 tests$' "$TMP/out"; then ok; else bad "indentless lists: --update exit $st" "$TMP/out"; fi
same "indentless lists rewritten" "$HERE/indentless.test.yaml.updated" "$TMP/t/indentless/indentless.test.yaml"

# a flow list's anchor and tag are kept, as a block list's are: the new
# list starts at the `[` (the anchor and tag were replaced by it)
mkdir -p "$TMP/t/flow-anchor"
cp "$HERE/../policy.kai" "$HERE/../events.csv" "$TMP/t/flow-anchor/"
printf 'policy: policy.kai\ntests:\n  - name: flow\n    events: events.csv\n    schedule: &rows !!seq []\n' >"$TMP/t/flow-anchor/f.test.yaml"
(cd "$TMP/t/flow-anchor" && "$KAIROS" test --update f.test.yaml >"$TMP/out" 2>&1 && "$KAIROS" test f.test.yaml >>"$TMP/out" 2>&1)
st=$?
if [ "$st" = 0 ] && grep -q '^    schedule: &rows !!seq \[$' "$TMP/t/flow-anchor/f.test.yaml"; then ok
else cat "$TMP/t/flow-anchor/f.test.yaml" >>"$TMP/out"; bad "flow list's anchor and tag: exit $st" "$TMP/out"; fi

"$KAIROS" test --update=yes fail.test.yaml >"$TMP/out" 2>&1
st=$?
if [ "$st" = 2 ] && grep -q 'update takes no value' "$TMP/out"; then ok; else bad "--update=yes: exit $st" "$TMP/out"; fi

kt_end
