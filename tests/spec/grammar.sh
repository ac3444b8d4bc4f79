#!/bin/sh
# grammar.sh -- SPEC.md's grammar (Appendix B, the one block fenced as
# ```ebnf) is held to the scanner (make check):
#   - every nonterminal used is defined, once, and every one defined but
#     the start symbol `policy` is used;
#   - every word in double quotes is a reserved word (KAIROS_KEYWORDS in
#     lang/clauses.h, printed by tools/keywords.sh) and every reserved word
#     appears; no word in single quotes (a plain name) is reserved;
#   - every other double-quoted terminal is an operator of SPEC.md 1.1, and
#     every CAPITALS terminal a token of 1.1 or DECL_START.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sh "$ROOT/tools/keywords.sh" >"$TMP/words" || { echo "FAIL: grammar: tools/keywords.sh failed"; exit 1; }
python3 - "$ROOT/SPEC.md" "$TMP/words" <<'PY'
import re, sys
spec, words_file = sys.argv[1], sys.argv[2]
reserved = {w for k, w in (l.split() for l in open(words_file)) if k == "keyword"}
blocks = re.findall(r"^```ebnf\n(.*?)^```$", open(spec).read(), re.S | re.M)
fails = []
def fail(msg): fails.append(msg)
if len(blocks) != 1:
    print(f"FAIL: grammar: SPEC.md has {len(blocks)} blocks fenced as ebnf (want exactly one)")
    sys.exit(1)
text = re.sub(r"\(\*.*?\*\)", " ", blocks[0], flags=re.S)          # comments
TOKEN = re.compile(r'\s*(?:("[^"]*")|(\'[^\']*\')|([A-Za-z_][A-Za-z0-9_]*)|(=|;|\||\[|\]|\{|\}|\(|\)))')
defined, used, dq, sq, caps = {}, set(), set(), set(), set()
for prod in [p for p in text.split(";") if p.strip()]:
    m = re.match(r"\s*([a-z_]+)\s*=(.*)$", prod, re.S)
    if not m:
        fail(f"not a production: {prod.strip()[:60]!r}")
        continue
    lhs, rhs = m.group(1), m.group(2)
    defined[lhs] = defined.get(lhs, 0) + 1
    pos = 0
    while pos < len(rhs):
        if not rhs[pos:].strip():
            break
        t = TOKEN.match(rhs, pos)
        if not t:
            fail(f"{lhs}: cannot read {rhs[pos:pos + 20].strip()!r}")
            break
        pos = t.end()
        if t.group(1): dq.add(t.group(1)[1:-1])
        elif t.group(2): sq.add(t.group(2)[1:-1])
        elif t.group(3):
            name = t.group(3)
            if name.isupper(): caps.add(name)
            else: used.add(name)
for n, k in defined.items():
    if k > 1: fail(f"{n} is defined {k} times")
for n in sorted(used - set(defined)): fail(f"nonterminal {n} is used but not defined")
for n in sorted(set(defined) - used - {"policy"}): fail(f"nonterminal {n} is defined but not used")
if "policy" not in defined: fail("no start symbol policy")
words = {t for t in dq if re.fullmatch(r"[a-z_]+", t)}
ops = dq - words
for w in sorted(words - reserved): fail(f'"{w}" is not a reserved word (lang/clauses.h); a plain name goes in single quotes')
for w in sorted(reserved - words): fail(f"the reserved word {w} does not appear in the grammar")
for w in sorted(sq & reserved): fail(f"'{w}' is a reserved word: double quotes")
OPERATORS = set("== != <= >= < > + - * / = ( ) [ ] { } , : . %".split())
for o in sorted(ops - OPERATORS): fail(f'"{o}" is not an operator of SPEC.md 1.1')
TOKENS = {"NAME", "NUMBER", "DURATION", "CLOCK", "WEEKDAY", "DAYRANGE", "STRING", "DECL_START"}
for c in sorted(caps - TOKENS): fail(f"{c} is not a token of SPEC.md 1.1")
if len(reserved) < 30 or len(defined) < 10: fail(f"too little read: {len(reserved)} reserved words, {len(defined)} productions")
for f in fails: print(f"FAIL: grammar: SPEC.md Appendix B: {f}")
print(f"grammar: {len(defined)} productions, {len(words)} quoted words, {len(ops)} operators; "
      f"{0 if fails else 1} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
