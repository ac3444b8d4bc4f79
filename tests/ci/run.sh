#!/bin/sh
# tests/ci/run.sh KAIROS -- the CI formats checked by the tools that read
# them (installed by tools/deps.sh into tools/node/node_modules; a missing
# tool is a failure, never a skip):
#   SARIF  `kairos check --format sarif` on several files (a name with a
#          space, a non-ASCII name, a missing file, a file outside the
#          current directory) is one log that Microsoft's SARIF multitool
#          validates with no error and no warning; tests/ci/sarif_check.js
#          checks rules, URIs, notes and fixes.
# Ends with "ci: N passed, M failed".
set -u
KAIROS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NODE_MODULES=$ROOT/tools/node/node_modules
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: ci/$1"; [ -n "${2:-}" ] && sed 's/^/    /' "$2" | head -30; }

need() {    # need NAME PATH: the tool must be there
    if [ ! -e "$2" ]; then
        echo "$2 is missing (run tools/deps.sh)" >"$TMP/need"
        bad "$1: tool not installed" "$TMP/need"
        return 1
    fi
}

# ---- SARIF ------------------------------------------------------------------
MULTITOOL=$NODE_MODULES/@microsoft/sarif-multitool-linux/Sarif.Multitool
# The multitool is a self-contained .NET program: without libicu it needs
# .NET's invariant globalisation mode.
validate() {    # validate LOG OUT: the multitool's validate; its exit status
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 \
        "$MULTITOOL" validate "$1" >"$2" 2>&1
}

W=$TMP/work
mkdir -p "$W/sub"
printf 'rule x {\n' >"$W/nps policy.kai"
printf 'event ticket_closed\nask NPS after ticket_close + 24h cap 1 per 30d\n' >"$W/café.kai"
printf 'rule x:\n  ask NPS after e cap 1 per 30d\nrule x:\n  ask CSAT after e cap 1 per 30d\nevent e\n' >"$W/sub/dup.kai"
printf 'event e\nask NPS after e cap 1 per 30d\n' >"$TMP/outside.kai"
version=$("$KAIROS" --version | sed 's/^kairos \([^ ]*\).*/\1/')

if need sarif-multitool "$MULTITOOL" && need node "$(command -v node || echo node)"; then
    (cd "$W" && "$KAIROS" check --format sarif "nps policy.kai" café.kai sub/dup.kai missing.kai \
        ../outside.kai) >"$TMP/log.sarif" 2>"$TMP/err"
    st=$?
    if [ "$st" != 1 ]; then bad "sarif: exit status $st, expected 1" "$TMP/err"; else ok; fi
    if [ -s "$TMP/err" ]; then bad "sarif: standard error not empty" "$TMP/err"; else ok; fi
    if (cd "$W" && node "$ROOT/tests/ci/sarif_check.js" "$TMP/log.sarif" "$ROOT/SPEC.md" "$version") >"$TMP/out" 2>&1
    then ok; else bad "sarif: content" "$TMP/out"; fi
    validate "$TMP/log.sarif" "$TMP/out"
    st=$?
    if [ "$st" != 0 ] || ! grep -q 'Done. 1 files scanned' "$TMP/out"; then
        bad "sarif: multitool did not run (exit $st)" "$TMP/out"
    elif grep -Eq '(error|warning) [A-Z]+[0-9]+' "$TMP/out"; then
        bad "sarif: multitool reports problems" "$TMP/out"
    else
        ok
    fi
    # the same validator does see a bad URI (the check above is not vacuous)
    sed 's/"nps%20policy.kai"/"nps policy.kai"/' "$TMP/log.sarif" >"$TMP/bad.sarif"
    validate "$TMP/bad.sarif" "$TMP/out"
    if grep -q 'error SARIF1002' "$TMP/out"; then ok; else bad "sarif: multitool missed an unencoded URI" "$TMP/out"; fi
    # a clean file: a valid log with no results
    (cd "$TMP" && "$KAIROS" check --format sarif outside.kai) >"$TMP/clean.sarif" 2>"$TMP/err"
    st=$?
    validate "$TMP/clean.sarif" "$TMP/out"
    if [ "$st" != 0 ] || ! grep -q '"results": \[\]' "$TMP/clean.sarif" ||
       ! grep -q 'Done. 1 files scanned' "$TMP/out" || grep -Eq '(error|warning) [A-Z]+[0-9]+' "$TMP/out"; then
        cat "$TMP/err" >>"$TMP/out"
        bad "sarif: clean file (exit $st)" "$TMP/out"
    else
        ok
    fi
fi

echo "ci: $pass passed, $fail failed"
