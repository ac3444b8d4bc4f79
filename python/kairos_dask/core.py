"""The distributed replay: tasks, their results and the merge."""
import os
import shutil
import subprocess
import tempfile


class KairosError(Exception):
    """A kairos run failed: `status` is its exit status, `stderr` its message."""

    def __init__(self, status, stderr):
        super().__init__(stderr.decode("utf-8", "replace").rstrip("\n"))
        self.status = status
        self.stderr = stderr


def find_kairos(explicit=None):
    """The kairos binary: the one named, else the one beside this program, else PATH."""
    if explicit:
        return os.path.abspath(explicit) if os.sep in explicit else (shutil.which(explicit) or explicit)
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "..", "build", "kairos"),      # the repository
                 os.path.join(here, "..", "..", "..", "..", "bin", "kairos")):  # PREFIX/share/kairos/python/kairos_dask
        if os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    found = shutil.which("kairos")
    if not found:
        raise KairosError(2, b"kairos-dask: no kairos binary (use --kairos PATH)\n")
    return found


def run_part(kairos, policy_name, policy_bytes, events, options, shard, out=None):
    """Runs on a worker: one `kairos simulate` over EVENTS for one shard
    (`shard` = (K, N), or None for a whole partition).  Returns a dict: the
    schedule's bytes, or the failed run's status and standard error.  A
    failed run is a value, not an exception, so Dask does not retry a run
    that would fail again; a worker that dies is Dask's to reschedule.
    With OUT (a path on storage the client also sees), the schedule is
    written there and only its path comes back, not its bytes."""
    with tempfile.TemporaryDirectory(prefix="kairos-dask-") as tmp:
        # The policy keeps its file name: a .kai policy's default name (used in
        # variant hashing) is its file name.
        policy = os.path.join(tmp, policy_name)
        with open(policy, "wb") as f:
            f.write(policy_bytes)
        keep = out is not None
        if not keep:
            out = os.path.join(tmp, "schedule.out")
        cmd = [kairos, "simulate", policy, *events, *options, "--no-progress", "-o", out]
        if shard is not None:
            cmd += ["--shard", "%d/%d" % shard]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            return {"ok": False, "status": 2,
                    "stderr": ("kairos-dask: cannot run %s on worker: %s\n" % (kairos, e.strerror)).encode()}
        if p.returncode != 0:
            return {"ok": False, "status": p.returncode, "stderr": p.stderr}
        if keep:
            return {"ok": True, "path": out, "stderr": p.stderr}
        with open(out, "rb") as f:
            return {"ok": True, "data": f.read(), "stderr": p.stderr}


def partitions_of(root):
    """A partitioned input: every subdirectory of ROOT is one partition of the
    customers, holding its event files (.csv, .jsonl, .ndjson, optionally .gz)."""
    parts = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.endswith((".csv", ".jsonl", ".ndjson", ".csv.gz", ".jsonl.gz", ".ndjson.gz")))
        if files:
            parts.append(files)
    if not parts:
        raise KairosError(1, ("%s: error: no partition (a subdirectory with event files)\n" % root).encode())
    return parts


def simulate(client, policy, events, output, shards=None, partitioned=None, kairos=None,
             options=(), work_dir=None):
    """Replays EVENTS (a list of files, read whole by every shard) or the
    partitions under PARTITIONED through POLICY on the Dask CLIENT and writes
    the schedule to OUTPUT (atomically, by `kairos merge -o`).  With
    WORK_DIR (shared storage that workers and client both see), shard
    schedules are written there by the workers instead of travelling
    through the scheduler to the client.  Raises
    KairosError with kairos's own message when a run fails."""
    kairos = find_kairos(kairos)
    with open(policy, "rb") as f:
        policy_bytes = f.read()
    policy_name = os.path.basename(policy)
    options = list(options)
    if partitioned is not None:
        if "--until" not in options:
            raise KairosError(2, b"kairos-dask: a partitioned input needs --until TIME: each partition "
                                 b"sees only its own events, so the default horizon (the latest event "
                                 b"of the whole input) is not known to any one task\n")
        jobs = [(files, None) for files in partitions_of(partitioned)]
    else:
        n = shards or 1
        files = [os.path.abspath(e) for e in events]
        jobs = [(files, (k, n)) for k in range(n)]
    run_id = os.urandom(4).hex()
    if work_dir is not None:
        work_dir = os.path.abspath(work_dir)
        os.makedirs(work_dir, exist_ok=True)
    futures = [client.submit(run_part, kairos, policy_name, policy_bytes, files, options, shard,
                             None if work_dir is None else
                             os.path.join(work_dir, "kairos-%s-part-%05d" % (run_id, i)),
                             pure=False, key="kairos-part-%d-%s" % (i, run_id))
               for i, (files, shard) in enumerate(jobs)]
    try:
        results = client.gather(futures)
    except Exception as e:   # a task lost more workers than Dask allows, a cluster gone
        raise KairosError(1, ("kairos-dask: the cluster failed the run: %s: %s\n"
                              % (type(e).__name__, e)).encode())
    seen = set()
    for r in results:
        if not r["ok"]:
            raise KairosError(r["status"], r["stderr"])
    for r in results:   # warnings, once each, in shard order
        for line in r["stderr"].splitlines(keepends=True):
            if line not in seen:
                seen.add(line)
                os.write(2, line)
    with tempfile.TemporaryDirectory(prefix="kairos-dask-") as tmp:
        paths = []
        for i, r in enumerate(results):
            if "path" in r:
                paths.append(r["path"])
                continue
            p = os.path.join(tmp, "part-%05d" % i)
            with open(p, "wb") as f:
                f.write(r["data"])
            paths.append(p)
        try:
            m = subprocess.run([kairos, "merge", os.path.abspath(policy), *paths, "-o", output],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        finally:
            for r in results:
                if "path" in r:
                    try:
                        os.unlink(r["path"])
                    except OSError:
                        pass
        if m.returncode != 0:
            raise KairosError(m.returncode, m.stderr)
