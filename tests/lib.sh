# tests/lib.sh -- the start and the end the test scripts share.  A script
# finds the repository and sources this file:
#
#     ROOT=$(cd "$(dirname "$0")/../.." && pwd)
#     . "$ROOT/tests/lib.sh"
#     kt_begin SUITE "$1"            # SUITE: the name its summary line starts with
#     ...; ok; ...; bad "what went wrong" "$TMP/err"; ...
#     kt_end
#
# kt_begin SUITE [KAIROS] -- KAIROS becomes the binary's absolute path (when
#   given: the scripts cd about); TMP is a fresh directory, removed at exit
#   (a script that sets an EXIT trap of its own removes it there); pass and
#   fail start at 0.  SUITE "" for no name.
# Before kt_begin a script may set KT_FAIL (what follows "FAIL: " before the
#   case's name; default "SUITE/") and KT_LINES (how many lines of a failing
#   case's file are shown; default 30).
# ok -- one case passed.
# bad WHAT [FILE] -- one case failed: "FAIL: <KT_FAIL>WHAT", then the first
#   KT_LINES lines of FILE (when it exists), indented.
# kt_end -- the summary line "SUITE: N passed, N failed" (tests/run.sh's
#   sub_suite reads it); its status is 0 when no case failed.

kt_begin() {
    KT_SUITE=$1
    if [ -n "${2:-}" ]; then KAIROS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); fi
    TMP=$(mktemp -d) || { echo "FAIL: ${KT_SUITE:-tests}: cannot make a temporary directory"; exit 1; }
    trap 'rm -rf "$TMP"' EXIT
    [ -n "${KT_FAIL+set}" ] || KT_FAIL=${KT_SUITE:+$KT_SUITE/}
    KT_LINES=${KT_LINES:-30}
    pass=0
    fail=0
}

ok() { pass=$((pass + 1)); }

bad() {
    fail=$((fail + 1))
    echo "FAIL: $KT_FAIL$1"
    if [ -n "${2:-}" ] && [ -e "$2" ]; then sed 's/^/    /' "$2" | head -"$KT_LINES"; fi
}

kt_end() {
    echo "${KT_SUITE:+$KT_SUITE: }$pass passed, $fail failed"
    [ "$fail" = 0 ]
}
