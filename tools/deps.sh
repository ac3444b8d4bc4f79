#!/bin/sh
# deps.sh -- installs Kairos's build dependencies (Debian packages) when
# they are missing: with apt-get when run as root, otherwise it prints the
# exact command to run.
set -eu
PKGS="gcc make flex bison pkg-config libyaml-dev check libglib2.0-dev libyajl-dev zlib1g-dev libpq-dev libsqlite3-dev postgresql sqlite3 tzdata python3 python3-distributed neovim"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "missing build dependencies; run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
