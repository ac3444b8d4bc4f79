#!/bin/sh
# valgrind.sh KAIROS UNIT_TESTS -- the whole test suite under valgrind's
# memcheck (`make valgrind`; slow, so not part of `make check` or CI, which
# run the AddressSanitizer build instead).
#
# The unit tests run under memcheck directly; the data-driven suite
# (tests/run.sh: diagnostics, golden cases, CLI, kairos test, fmt, diff,
# limits, examples) runs with KAIROS replaced by a wrapper that starts every
# kairos process under memcheck with its own log file.  A run is clean when
# the suite passes and every log is empty: no invalid read or write, no use
# of uninitialised memory, no definitely or indirectly lost block (memory
# still reachable at exit, such as GLib's time zone cache, is not a leak).
#
# Prints the suite's own lines, then "valgrind: N processes, M with errors".
set -u
[ $# -ge 2 ] || { echo "usage: valgrind.sh KAIROS UNIT_TESTS" >&2; exit 2; }
KAIROS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
UNIT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null || exit 1
    else
        echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
        exit 1
    fi
fi
VG=$(mktemp -d)
trap 'rm -rf "$VG"' EXIT
mkdir -p "$VG/logs"
OPTS="-q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --track-origins=yes --error-exitcode=97"

cat >"$VG/kairos" <<EOF
#!/bin/sh
exec valgrind $OPTS --log-file="$VG/logs/kairos.%p" "$KAIROS" "\$@"
EOF
chmod +x "$VG/kairos"

status=0
echo "== unit tests under memcheck"
# shellcheck disable=SC2086
CK_FORK=no valgrind $OPTS --log-file="$VG/logs/unit.%p" "$UNIT" || status=1
echo "== tests/run.sh under memcheck"
# valgrind is 20-50 times slower: give the limit cases more time
LIMITS_TIMEOUT=${LIMITS_TIMEOUT:-600} sh "$ROOT/tests/run.sh" "$VG/kairos" || status=1

n=0 bad=0
for f in "$VG"/logs/*; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if [ -s "$f" ]; then
        bad=$((bad + 1))
        [ "$bad" -le 5 ] && { echo "--- $(basename "$f")"; head -40 "$f"; }
    fi
done
echo "valgrind: $n processes, $bad with errors"
[ "$bad" = 0 ] || status=1
exit $status
