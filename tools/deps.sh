#!/bin/sh
# deps.sh -- installs Kairos's build and test dependencies when they are
# missing: Debian packages with apt-get when run as root (otherwise it prints
# the exact command to run), then the npm packages that the CI-format tests
# (tests/ci) run the output through and DuckDB, the peer of make bench
# (bench/duckdb.mjs, tests/peer), pinned by tools/node/package-lock.json,
# into tools/node/node_modules (project-local, nothing global).
#
# npm: `npm ci --prefer-offline` uses the npm cache (~/.npm) first, so a
# machine whose cache already holds the packages installs them without the
# network; set npm_config_offline=true to forbid the network altogether.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKGS="gcc make flex bison pkg-config libyaml-dev check libglib2.0-dev libyajl-dev zlib1g-dev libpq-dev libsqlite3-dev postgresql sqlite3 tzdata python3 python3-distributed libxml2-utils pre-commit vim neovim chromium tidy"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
# node and npm may come from Debian (nodejs, npm) or another packaging of node
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing build dependencies; run as root:" >&2
        echo "  apt-get install -y$missing" >&2
        exit 1
    fi
fi

# npm packages: installed again when the lock file is newer than the install.
NODE_DIR="$ROOT/tools/node"
if [ ! -e "$NODE_DIR/node_modules/.package-lock.json" ] ||
   [ "$NODE_DIR/package-lock.json" -nt "$NODE_DIR/node_modules/.package-lock.json" ]; then
    echo "installing npm packages into tools/node/node_modules"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
fi
# The multitool's own install script only sets its execute bit; npm may be
# configured not to run install scripts.
MT="$NODE_DIR/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
[ -e "$MT" ] && [ ! -x "$MT" ] && chmod u+x "$MT"
exit 0
