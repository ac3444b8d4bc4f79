#!/bin/sh
# editors.sh -- the editor grammars and the language server's word lists
# are held to the language's own lists (make check): tools/keywords.sh
# prints every reserved word (lang/clauses.h, the scanner's table) and every
# built-in function (lang/check_expr.c, the checker's table); then
#   - editors/vim/syntax/kairos.vim: its `syntax keyword` groups of
#     declarations, clauses, logic and booleans hold exactly the reserved
#     words, its kairosFunction match exactly the functions;
#   - editors/vscode/syntaxes/kairos.tmLanguage.json: its keyword, storage
#     and boolean scopes exactly the reserved words, its builtin function
#     scope exactly the functions;
#   - cli/lsp.c: hover help for every reserved word and function, and every
#     function among the completion words (the reserved words come from
#     lang/clauses.h there directly).
# A word added to the language and not to an editor, or left in an editor
# after it leaves the language, fails here.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sh "$ROOT/tools/keywords.sh" >"$TMP/words" || { echo "FAIL: editors: tools/keywords.sh failed"; exit 1; }
python3 - "$ROOT" "$TMP/words" <<'PY'
import json, re, sys
root, words_file = sys.argv[1], sys.argv[2]
want = {"keyword": set(), "function": set()}
for line in open(words_file):
    kind, word = line.split()
    want[kind].add(word)
passed = failed = 0

def compare(what, kind, got):
    global passed, failed
    missing, extra = sorted(want[kind] - got), sorted(got - want[kind])
    if len(want[kind]) < (30 if kind == "keyword" else 5):
        failed += 1
        print(f"FAIL: editors: tools/keywords.sh found only {len(want[kind])} {kind}s")
    elif missing or extra:
        failed += 1
        print(f"FAIL: editors: {what}: {kind}s missing: {' '.join(missing) or '-'}; not {kind}s: {' '.join(extra) or '-'}")
    else:
        passed += 1

def regex_words(rx):
    rx = re.sub(r"\[[^\]]*\]", " ", rx)        # character classes
    rx = re.sub(r"\\.", " ", rx)               # escapes (\b \s \()
    return set(re.findall(r"[a-z_]{2,}", rx))

# Vim
vim = open(f"{root}/editors/vim/syntax/kairos.vim").read()
got = set()
for m in re.finditer(r"^syntax keyword kairos(?:Declaration|Clause|Logic|Boolean)\s+(.*)$", vim, re.M):
    got |= set(m.group(1).split())
compare("editors/vim/syntax/kairos.vim", "keyword", got)
m = re.search(r'^syntax match\s+kairosFunction\s+"(.*)"$', vim, re.M)
compare("editors/vim/syntax/kairos.vim (kairosFunction)", "function", regex_words(m.group(1)) if m else set())

# TextMate (VS Code)
tm = json.load(open(f"{root}/editors/vscode/syntaxes/kairos.tmLanguage.json"))
KW = re.compile(r"^(keyword\.(control|operator\.logical)|storage\.type|constant\.language\.boolean)")
kw, fn = set(), set()
for key in ("declaration", "keyword", "literal", "builtin"):
    for p in tm["repository"][key]["patterns"]:
        name, rx = p.get("name", ""), p.get("match", "")
        if KW.match(name):
            kw |= regex_words(rx)
        elif name.startswith("support.function"):
            fn |= regex_words(rx)
        elif not name and KW.match(p.get("captures", {}).get("1", {}).get("name", "")):
            g = re.search(r"\(([^()]*)\)", rx)
            kw |= regex_words(g.group(1)) if g else set()
compare("editors/vscode/syntaxes/kairos.tmLanguage.json", "keyword", kw)
compare("editors/vscode/syntaxes/kairos.tmLanguage.json (support.function)", "function", fn)

# Language server
lsp = open(f"{root}/cli/lsp.c").read()
helped = set(re.findall(r'^\s*\{ "([a-z_]+)", "', lsp, re.M))
for kind in ("keyword", "function"):     # help for other words (per, now) is allowed
    compare("cli/lsp.c hover help", kind, helped & want[kind])
m = re.search(r"static const char \*const keywords\[\] = \{(.*?)\};", lsp, re.S)
listed = set(re.findall(r'"([a-z_]+)"', m.group(1))) if m else set()
compare("cli/lsp.c completion words", "function", listed & want["function"])
print(f"editors: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
