#!/bin/sh
# run.sh KAIROS -- the policies quoted in SPEC.md are checked (make check),
# and so are the opcode table of doc/internals/bytecode.md and the table of
# send-time checks in SPEC.md 4.6:
# every code block fenced as ```kairos must pass `kairos check` (exit 0;
# warnings allowed), so the reference cannot drift from the binary.  Blocks
# that show an error on purpose, or a fragment, are fenced without a tag.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
kt_begin spec "$1"
awk -v dir="$TMP" '
    /^```kairos$/ { n++; f = sprintf("%s/spec-%03d-line-%d.kai", dir, n, NR); inb = 1; next }
    /^```/ && inb { inb = 0; close(f); next }
    inb { print > f }
' "$ROOT/SPEC.md"
for f in "$TMP"/spec-*.kai; do
    [ -e "$f" ] || continue
    if "$KAIROS" check --color=never "$f" >"$TMP/out" 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: spec: the policy at SPEC.md line $(basename "$f" .kai | sed 's/.*-line-//') does not check:"
        sed 's/^/    /' "$TMP/out" | head -20
    fi
done
# The instruction set in doc/internals/bytecode.md is generated from KB_OPCODES.
sh "$ROOT/tools/opcodes.sh" "$ROOT/lang/bytecode.h" >"$TMP/gen.md"
sed -n '/opcodes:begin/,/opcodes:end/p' "$ROOT/doc/internals/bytecode.md" | sed '1d;$d' >"$TMP/doc.md"
if cmp -s "$TMP/gen.md" "$TMP/doc.md"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: spec: doc/internals/bytecode.md's opcode table differs from KB_OPCODES (run sh tools/opcodes.sh and paste it):"
    diff "$TMP/doc.md" "$TMP/gen.md" | head -20 | sed 's/^/    /'
fi
# The order of the send-time checks in SPEC.md 4.6 is the engine's table
# (send_checks in runtime/replay.c), printed by tools/sendchecks.sh.
sh "$ROOT/tools/sendchecks.sh" "$ROOT/runtime/replay.c" >"$TMP/checks-gen.md"
sed -n '/send-checks:begin/,/send-checks:end/p' "$ROOT/SPEC.md" | sed '1d;$d' >"$TMP/checks-spec.md"
if [ "$(grep -c '^| [0-9]' "$TMP/checks-gen.md")" -lt 1 ]; then
    fail=$((fail + 1))
    echo "FAIL: spec: tools/sendchecks.sh found no row of send_checks in runtime/replay.c"
elif cmp -s "$TMP/checks-gen.md" "$TMP/checks-spec.md"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: spec: SPEC.md 4.6's table of send-time checks differs from send_checks in runtime/replay.c (run sh tools/sendchecks.sh and paste it):"
    diff "$TMP/checks-spec.md" "$TMP/checks-gen.md" | head -20 | sed 's/^/    /'
fi
# doc/internals/replay.md: the VM and best_time reach the customer only
# through runtime/hist.h (kr_hist_*), never the engine's record layout.
if grep -nE -e '(cust|cu)->' -e '->(hist|sent|nsent|sent_head|slots)\b' -e 'kr_cust_totals|KR_COUNTED|KrHist\b' \
        "$ROOT/runtime/vm.c" "$ROOT/runtime/sendtime.c" >"$TMP/vm-layout"; then
    fail=$((fail + 1))
    echo "FAIL: spec: runtime/vm.c or runtime/sendtime.c reads the engine's customer layout; use kr_hist_* (runtime/hist.h):"
    sed 's/^/    /' "$TMP/vm-layout" | head -10
else
    pass=$((pass + 1))
fi
[ "$pass" -eq 0 ] && { echo "FAIL: spec: no \`\`\`kairos block found in SPEC.md"; fail=$((fail + 1)); }
kt_end
