# cases.sh -- `kairos fmt` and lint tests; sourced by tests/run.sh (uses its
# KAIROS, ROOT, TMP and the ok/bad counters).  Adding a case is adding files:
#
#   tests/fmt/NAME/input.kai     a policy, and either
#     expected.kai               exactly what `kairos fmt input.kai` prints
#                                (run in that folder); then also: formatting
#                                expected.kai changes nothing, `--check` and
#                                `-w` agree, and input.kai and its formatted
#                                text compile to the same bytecode (disasm
#                                without line numbers and source hash)
#     or expected.err            the diagnostics (exit 1, file unchanged)
#     expected.diff (optional)   exactly what `kairos fmt --diff input.kai` prints
#   tests/fmt/lint/NAME.kai      a policy; NAME.expected is exactly what
#                                `kairos check --color=never NAME.kai` prints
#                                (run in tests/fmt/lint); exit 1 if it holds
#                                ": error:", else 0.
#
# And for every examples/*/policy.kai and tests/golden/*/policy.kai: the
# formatted policy formats to itself, compiles to the same bytecode, and
# (with events and expected.csv) simulates to the same schedule.

# The disassembly of a policy without what may differ after formatting:
# source line numbers, the source file's hash and the source positions of
# the trigger attributes read.
fmt_disasm() {
    "$KAIROS" disasm "$1" 2>/dev/null | sed -e 's/ *; line [0-9][0-9]*$//' \
        -e 's/  at [^ ]*:[0-9][0-9]*:[0-9][0-9]*$//' \
        -e 's/ *(line [0-9][0-9]*)$//' -e '/^source  *fnv1a64/d'
}

# fmt_meaning LABEL ORIGINAL FORMATTED: same bytecode (when ORIGINAL compiles).
fmt_meaning() {
    "$KAIROS" disasm "$2" >/dev/null 2>&1 || { ok; return 0; }
    fmt_disasm "$2" >"$TMP/fmt-a.dis"
    fmt_disasm "$3" >"$TMP/fmt-b.dis"
    if cmp -s "$TMP/fmt-a.dis" "$TMP/fmt-b.dis"; then ok
    else
        diff -u "$TMP/fmt-a.dis" "$TMP/fmt-b.dis" >"$TMP/fmt-diff"
        bad "$1: formatting changed the bytecode" "$TMP/fmt-diff"
        return 1
    fi
}

# --- tests/fmt/NAME/ ---------------------------------------------------------
for fmt_dir in "$ROOT"/tests/fmt/*/; do
    fmt_dir=${fmt_dir%/}
    fmt_name=fmt/$(basename "$fmt_dir")
    [ -e "$fmt_dir/input.kai" ] || continue
    rm -rf "$TMP/fmtcase"
    mkdir -p "$TMP/fmtcase"
    if [ -e "$fmt_dir/expected.err" ]; then
        (cd "$fmt_dir" && "$KAIROS" fmt --color=never input.kai) >"$TMP/fmt-out" 2>"$TMP/fmt-err"
        fmt_status=$?
        cp "$fmt_dir/input.kai" "$TMP/fmtcase/input.kai"
        (cd "$TMP/fmtcase" && "$KAIROS" fmt --color=never -w input.kai) >/dev/null 2>&1
        fmt_wstatus=$?
        if [ "$fmt_status" != 1 ] || [ "$fmt_wstatus" != 1 ]; then
            bad "$fmt_name: exit status $fmt_status (-w: $fmt_wstatus), expected 1" "$TMP/fmt-err"
        elif ! cmp -s "$TMP/fmt-err" "$fmt_dir/expected.err"; then
            diff -u "$fmt_dir/expected.err" "$TMP/fmt-err" >"$TMP/fmt-diff"
            bad "$fmt_name: messages differ" "$TMP/fmt-diff"
        elif [ -s "$TMP/fmt-out" ] || ! cmp -s "$fmt_dir/input.kai" "$TMP/fmtcase/input.kai"; then
            bad "$fmt_name: a file with errors was printed or changed"
        else ok
        fi
        continue
    fi
    if [ ! -e "$fmt_dir/expected.kai" ]; then bad "$fmt_name: no expected.kai or expected.err"; continue; fi
    (cd "$fmt_dir" && "$KAIROS" fmt input.kai) >"$TMP/fmtcase/input.kai" 2>"$TMP/fmt-err"
    fmt_status=$?
    if [ "$fmt_status" != 0 ]; then bad "$fmt_name: exit status $fmt_status" "$TMP/fmt-err"; continue; fi
    if ! cmp -s "$TMP/fmtcase/input.kai" "$fmt_dir/expected.kai"; then
        diff -u "$fmt_dir/expected.kai" "$TMP/fmtcase/input.kai" >"$TMP/fmt-diff"
        bad "$fmt_name: output differs" "$TMP/fmt-diff"
        continue
    fi
    ok
    # idempotent, and --check is silent on formatted text
    (cd "$TMP/fmtcase" && "$KAIROS" fmt --check input.kai) >"$TMP/fmt-out" 2>&1
    fmt_status=$?
    if [ "$fmt_status" != 0 ] || [ -s "$TMP/fmt-out" ]; then
        bad "$fmt_name: formatting the formatted text changes it (--check: $fmt_status)" "$TMP/fmt-out"
    else ok
    fi
    # --check lists a file that changes; -w rewrites it to the expected text
    cp "$fmt_dir/input.kai" "$TMP/fmtcase/w.kai"
    (cd "$TMP/fmtcase" && "$KAIROS" fmt --check w.kai) >"$TMP/fmt-out" 2>&1
    fmt_status=$?
    if cmp -s "$fmt_dir/input.kai" "$fmt_dir/expected.kai"; then fmt_want=0; else fmt_want=1; fi
    if [ "$fmt_status" != "$fmt_want" ] || { [ "$fmt_want" = 1 ] && [ "$(cat "$TMP/fmt-out")" != w.kai ]; }; then
        bad "$fmt_name: --check exit status $fmt_status, expected $fmt_want" "$TMP/fmt-out"
    elif ! (cd "$TMP/fmtcase" && "$KAIROS" fmt -w w.kai) >"$TMP/fmt-out" 2>&1 ||
         ! cmp -s "$TMP/fmtcase/w.kai" "$fmt_dir/expected.kai"; then
        bad "$fmt_name: -w did not write the expected text" "$TMP/fmt-out"
    else ok
    fi
    if [ -e "$fmt_dir/expected.diff" ]; then
        (cd "$fmt_dir" && "$KAIROS" fmt --diff input.kai) >"$TMP/fmt-out" 2>&1
        if ! cmp -s "$TMP/fmt-out" "$fmt_dir/expected.diff"; then
            diff -u "$fmt_dir/expected.diff" "$TMP/fmt-out" >"$TMP/fmt-diff"
            bad "$fmt_name: --diff output differs" "$TMP/fmt-diff"
        else ok
        fi
    fi
    fmt_meaning "$fmt_name" "$fmt_dir/input.kai" "$TMP/fmtcase/input.kai"
done

# --- tests/fmt/lint/ ------------------------------------------------------------
# (skipped until kc_load calls kl_lint: lang/check.c's "lint hook")
for fmt_kai in "$ROOT"/tests/fmt/lint/*.kai; do
    [ -e "$fmt_kai" ] || continue
    [ -n "${FMT_FORCE_LINT:-}" ] || grep -q 'kl_lint(' "$ROOT/lang/check.c" || { echo "SKIP: fmt/lint cases (kc_load does not call kl_lint yet)"; break; }
    fmt_name=$(basename "$fmt_kai" .kai)
    fmt_exp="$ROOT/tests/fmt/lint/$fmt_name.expected"
    if [ ! -e "$fmt_exp" ]; then bad "fmt/lint/$fmt_name: no $fmt_name.expected"; continue; fi
    (cd "$ROOT/tests/fmt/lint" && "$KAIROS" check --color=never "$fmt_name.kai") >"$TMP/fmt-out" 2>&1
    fmt_status=$?
    fmt_want=0
    grep -q ': error: ' "$fmt_exp" && fmt_want=1
    if [ "$fmt_status" != "$fmt_want" ]; then
        bad "fmt/lint/$fmt_name: exit status $fmt_status, expected $fmt_want" "$TMP/fmt-out"
    elif ! cmp -s "$TMP/fmt-out" "$fmt_exp"; then
        diff -u "$fmt_exp" "$TMP/fmt-out" >"$TMP/fmt-diff"
        bad "fmt/lint/$fmt_name: output differs" "$TMP/fmt-diff"
    else ok
    fi
done

# --- every example and golden policy keeps its meaning ------------------------------
for fmt_dir in "$ROOT"/examples/*/ "$ROOT"/tests/golden/*/; do
    fmt_dir=${fmt_dir%/}
    [ -e "$fmt_dir/policy.kai" ] || continue
    fmt_name="fmt $(basename "$(dirname "$fmt_dir")")/$(basename "$fmt_dir")"
    rm -rf "$TMP/fmtcase"
    mkdir -p "$TMP/fmtcase"
    "$KAIROS" fmt --color=never "$fmt_dir/policy.kai" >"$TMP/fmtcase/policy.kai" 2>"$TMP/fmt-err"
    fmt_status=$?
    if [ "$fmt_status" != 0 ]; then
        # only a policy with a syntax error may be refused
        if grep -q K0799 "$TMP/fmt-err" || "$KAIROS" check "$fmt_dir/policy.kai" >/dev/null 2>&1; then
            bad "$fmt_name: kairos fmt failed" "$TMP/fmt-err"
        else ok
        fi
        continue
    fi
    "$KAIROS" fmt "$TMP/fmtcase/policy.kai" >"$TMP/fmt-again" 2>&1
    if ! cmp -s "$TMP/fmtcase/policy.kai" "$TMP/fmt-again"; then
        diff -u "$TMP/fmtcase/policy.kai" "$TMP/fmt-again" >"$TMP/fmt-diff"
        bad "$fmt_name: formatting is not idempotent" "$TMP/fmt-diff"
        continue
    fi
    ok
    fmt_meaning "$fmt_name" "$fmt_dir/policy.kai" "$TMP/fmtcase/policy.kai" || continue
    [ -e "$fmt_dir/expected.csv" ] || continue
    fmt_events=$(ls "$fmt_dir" | grep '^events' | sort | sed "s|^|$fmt_dir/|" | tr '\n' ' ')
    [ -n "$fmt_events" ] || continue
    fmt_args=""
    [ -e "$fmt_dir/args" ] && fmt_args=$(cat "$fmt_dir/args")
    # shellcheck disable=SC2086
    (cd "$fmt_dir" && "$KAIROS" simulate --no-progress "$fmt_dir/policy.kai" $fmt_events $fmt_args) >"$TMP/fmt-s1" 2>/dev/null
    # shellcheck disable=SC2086
    (cd "$fmt_dir" && "$KAIROS" simulate --no-progress "$TMP/fmtcase/policy.kai" $fmt_events $fmt_args) >"$TMP/fmt-s2" 2>/dev/null
    if cmp -s "$TMP/fmt-s1" "$TMP/fmt-s2"; then ok
    else
        diff -u "$TMP/fmt-s1" "$TMP/fmt-s2" >"$TMP/fmt-diff"
        bad "$fmt_name: the formatted policy's schedule differs" "$TMP/fmt-diff"
    fi
done

# --- # kairos:ignore comments keep what they silence ---------------------------------
# tests/fmt/ignores.py: every .kai of the repository and seeded mutants of it
# (layout shaken, ignore comments put before random lines): the same
# diagnostics before and after fmt, a fixed point, the same bytecode.  One
# case per file.
if command -v python3 >/dev/null 2>&1; then
    python3 "$ROOT/tests/fmt/ignores.py" "$KAIROS" "$ROOT" >"$TMP/fmt-ign" 2>&1
    fmt_p=$(sed -n 's/^ignores: \([0-9]*\) passed.*/\1/p' "$TMP/fmt-ign")
    fmt_f=$(sed -n 's/^ignores: [0-9]* passed, \([0-9]*\) failed/\1/p' "$TMP/fmt-ign")
    if [ -z "$fmt_p" ] || [ -z "$fmt_f" ]; then
        bad "fmt/ignores: tests/fmt/ignores.py did not finish" "$TMP/fmt-ign"
    else
        pass=$((pass + fmt_p))
        fail=$((fail + fmt_f))
        grep '^FAIL: ' "$TMP/fmt-ign" | head -40
    fi
else
    bad "fmt/ignores: no python3 (tools/deps.sh installs it)"
fi
