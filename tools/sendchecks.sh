#!/bin/sh
# sendchecks.sh [runtime/replay.c] -- prints the table of SPEC.md 4.6 (the
# order of the checks when an attempt is due) from the one table the engine
# walks, send_checks in runtime/replay.c, so the spec cannot drift from the
# code (tests/spec/run.sh compares them).
F=${1:-$(dirname "$0")/../runtime/replay.c}
echo '| step | check | decision when it decides | check function |'
echo '|---:|---|---|---|'
awk '
    /send-checks:begin/ { on = 1; next }
    /send-checks:end/ { exit }
    on && /\{/ {
        line = $0
        q = index(line, "\""); name = substr(line, q + 1); sub(/".*/, "", name)
        body = substr(line, 1, q - 1); sub(/^[ \t]*\{/, "", body)
        n = split(body, f, ",")
        for (i = 1; i <= n; i++) gsub(/[ \t]/, "", f[i])
        printf "| %d | %s | `%s` | `%s` |\n", ++step, name, f[1], f[2]
    }
' "$F"
