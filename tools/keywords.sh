#!/bin/sh
# keywords.sh [lang/clauses.h [lang/check_expr.c]] -- prints the words the
# editor grammars (editors/) and the language server's hover help (cli/lsp.c)
# must know, from the one list of each: "keyword WORD" for every reserved
# word of KAIROS_KEYWORDS (lang/clauses.h, which the scanner reads), then
# "function NAME" for every built-in function of the checker's table
# (lang/check_expr.c).  tests/spec/editors.sh holds the grammars to it.
D=$(dirname "$0")/..
H=${1:-$D/lang/clauses.h}
C=${2:-$D/lang/check_expr.c}
awk '
    /#define KAIROS_KEYWORDS/ { on = 1; next }
    on {
        line = $0
        while (match(line, /X\([A-Z_]+, "[a-z_]+"/)) {
            w = substr(line, RSTART, RLENGTH); sub(/^[^"]*"/, "", w); sub(/"$/, "", w)
            print "keyword " w
            line = substr(line, RSTART + RLENGTH)
        }
        if ($0 !~ /\\$/) exit
    }
' "$H"
awk '
    /static const char \*const functions\[\] = \{/ { on = 1; next }
    on {
        line = $0
        while (match(line, /"[a-z_]+"/)) {
            print "function " substr(line, RSTART + 1, RLENGTH - 2)
            line = substr(line, RSTART + RLENGTH)
        }
        if ($0 ~ /\};/) exit
    }
' "$C"
