#!/bin/sh
# kairos-diff.sh BASE -- the schedule changes of every policy under
# policies/ that differs from git revision BASE, as markdown (one
# `kairos diff --format markdown` section per changed policy, replayed over
# events/sample.csv), on standard output.  Added and deleted policies are
# listed without a diff.  Run by .github/workflows/kairos.yml on a pull
# request; tested by Kairos's tests/ci/run.sh.
set -eu
base=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git diff --name-only "$base" -- 'policies/*.kai' | while IFS= read -r new; do
    if [ ! -e "$new" ]; then
        printf '### `%s`\n\ndeleted\n\n' "$new"
    elif ! git cat-file -e "$base:$new" 2>/dev/null; then
        printf '### `%s`\n\nnew policy\n\n' "$new"
    else
        mkdir -p "$tmp/base/$(dirname "$new")"
        git show "$base:$new" >"$tmp/base/$new"
        (cd "$tmp" && kairos diff "base/$new" "$OLDPWD/$new" "$OLDPWD/events/sample.csv" --format markdown)
        echo
    fi
done
