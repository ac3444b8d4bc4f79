#!/bin/sh
# run.sh KAIROS KAIROS_BENCH -- the Dask scale-out tests (make check): a
# LocalCluster of 2 worker processes replays generated logs with 4 and 7
# shards, a partitioned input, a bad input, and a run during which a worker
# process is killed; every schedule must equal `kairos simulate`'s byte for
# byte.  Needs Debian's python3-distributed (tools/deps.sh installs it): the
# test fails, never skips, when it cannot import Dask.
set -u
KAIROS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${KAIROS_PYTHON:-/usr/bin/python3}
DASK_LOGGING__DISTRIBUTED=error; export DASK_LOGGING__DISTRIBUTED
exec "$PY" "$ROOT/tests/dask/test_dask.py" "$KAIROS" "$2"
