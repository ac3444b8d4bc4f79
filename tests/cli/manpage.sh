#!/bin/sh
# tests/cli/manpage.sh KAIROS [MANPAGE] -- keeps the man page (doc/kairos.1)
# complete: run by `make check`; needs no network and no root.
#
# Reads the commands and options from the binary itself:
#   - every command of `kairos --help` (the lines "  kairos NAME ...") must
#     appear in the SYNOPSIS as `.B kairos NAME` and have its own section
#     `.SS "kairos NAME ..."`;
#   - every option the overview prints (`--help`, `--version`) must be in the
#     page;
#   - every long option (`--xxx`) and short option (`-o`, `-w`) printed by
#     `kairos help NAME` must be mentioned in that command's section.
# The roff source is searched after removing font escapes (\fB, \fI, \fR,
# \fP) and turning `\-` into `-`; an option must stand as a whole word
# (`-o` does not match inside `--output`).  If groff is installed, the page
# must also render without warnings (groff -man -ww -z).
#
# Prints one line per failure, then "manpage: N passed, N failed"; exit 1 on
# any failure.
set -u
[ $# -ge 1 ] || { echo "usage: manpage.sh KAIROS [MANPAGE]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
KT_FAIL="manpage: "
kt_begin manpage "$1"
W=$TMP
PAGE=${2:-$ROOT/doc/kairos.1}

if [ ! -r "$PAGE" ]; then
    bad "cannot read $PAGE"
    kt_end
    exit 1
fi

# The page as plain text: no font escapes, `\-` as `-`.
sed -e 's/\\f[BIRP]//g' -e 's/\\f([A-Za-z][A-Za-z]//g' -e 's/\\-/-/g' "$PAGE" >"$W/page"

# options FILE -- the distinct options (--xxx, -x) written in FILE, one a line.
options() {
    tr -c 'A-Za-z0-9-' '\n' <"$1" | grep -E '^(--[A-Za-z][A-Za-z0-9-]*|-[A-Za-z])$' | sort -u
}

# mentions FILE OPT -- FILE holds OPT as a whole word.
mentions() {
    grep -Eq -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)" "$1"
}

if ! "$KAIROS" --help >"$W/overview" 2>&1; then
    bad "kairos --help failed"
fi
cmds=$(sed -n 's/^  kairos \([a-z][a-z]*\).*/\1/p' "$W/overview" | sort -u)
[ -n "$cmds" ] || bad "no command found in the output of kairos --help"

# Options of the overview (--help, --version): anywhere in the page.
for opt in $(options "$W/overview"); do
    if mentions "$W/page" "$opt"; then ok; else bad "kairos $opt is not in the page"; fi
done

for cmd in $cmds; do
    # the synopsis
    if awk '/^\.SH/ { syn = ($2 == "SYNOPSIS") } syn && $0 ~ "^\\.B kairos '"$cmd"'( |$)" { found = 1 }
            END { exit !found }' "$W/page"; then ok
    else bad "command $cmd is not in the SYNOPSIS (.B kairos $cmd)"
    fi
    # its section: from `.SS "kairos CMD` to the next .SS or .SH
    awk '/^\.S[SH]/ { in_sec = ($0 ~ "^\\.SS \"?kairos '"$cmd"'( |\"|$)") } in_sec' "$W/page" >"$W/sec"
    if [ ! -s "$W/sec" ]; then
        bad "command $cmd has no section (.SS \"kairos $cmd ...\")"
        continue
    fi
    ok
    if ! "$KAIROS" help "$cmd" >"$W/help" 2>&1; then
        bad "kairos help $cmd failed"
        continue
    fi
    for opt in $(options "$W/help"); do
        if mentions "$W/sec" "$opt"; then ok
        else bad "option $opt of kairos $cmd is not in the section of $cmd"
        fi
    done
done

# Renders without warnings (when groff is there).
if command -v groff >/dev/null 2>&1; then
    if groff -man -ww -z "$PAGE" >"$W/groff" 2>&1 && [ ! -s "$W/groff" ]; then ok
    else bad "groff -man -ww -z warns:"; sed 's/^/    /' "$W/groff" | head -20
    fi
fi

kt_end
