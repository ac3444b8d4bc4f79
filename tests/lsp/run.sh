#!/bin/sh
# run.sh KAIROS -- the language server's tests (make check): the protocol
# tests (test_lsp.py: every capability, malformed input, 400 random edits)
# and Neovim's built-in LSP client driving `kairos lsp` headless.  Fails,
# never skips, when python3 or nvim is missing (tools/deps.sh installs them).
set -u
KAIROS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
status=0
/usr/bin/python3 "$HERE/test_lsp.py" "$KAIROS" || status=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf 'policy "t"\nlet calm = no open_ticket\nrule nps:\n  ask NPS via emial after ticket_closed + 24h\n  if calm\n' > "$TMP/nps.kai"
if ! command -v nvim >/dev/null 2>&1; then
    echo "FAIL: lsp/neovim: nvim not found (run tools/deps.sh)"; exit 1
fi
(cd "$TMP" && KAIROS="$KAIROS" POLICY="$TMP/nps.kai" RESULT="$TMP/result" \
    timeout 60 nvim --headless --clean -n -c "luafile $HERE/nvim_test.lua" >/dev/null 2>&1)
if [ "$(cat "$TMP/result" 2>/dev/null)" = ok ]; then
    echo "lsp: neovim client passed"
else
    echo "FAIL: lsp/neovim:"; sed 's/^/    /' "$TMP/result" 2>/dev/null || echo "    (no result: nvim did not finish)"
    status=1
fi
exit $status
