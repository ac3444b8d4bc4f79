#!/bin/sh
# opcodes.sh [lang/bytecode.h] -- prints the instruction-set table of
# doc/internals/bytecode.md from the one list of opcodes, KB_OPCODES, so the
# document cannot drift from the code (tests/spec/run.sh compares them).
H=${1:-$(dirname "$0")/../lang/bytecode.h}
echo '| code | name | operands | pops | pushes | semantics |'
echo '|---:|---|---:|---:|---:|---|'
awk '
    /#define KB_OPCODES/ { on = 1; next }
    on && !/X\(/ { exit }
    on {
        line = $0
        sub(/^[ \t]*X\(/, "", line)
        q = index(line, "\"")
        doc = substr(line, q + 1); sub(/"\)[ \t\\]*$/, "", doc)
        n = split(substr(line, 1, q - 1), f, ",")
        for (i = 1; i <= n; i++) gsub(/[ \t]/, "", f[i])
        if (f[3] == "KB_IN_N") f[3] = "n+1"
        printf "| %d | `%s` | %s | %s | %s | %s |\n", code++, f[1], f[2], f[3], f[4], doc
    }
' "$H"
