"""Tests of kairos_dask against `kairos simulate` (see run.sh)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

KAIROS, BENCH = sys.argv[1], sys.argv[2]
POLICY = os.path.join(ROOT, "bench", "policy.kai")
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: dask/%s %s" % (name, detail))


def simulate(events, out, *opts):
    subprocess.run([KAIROS, "simulate", POLICY, *events, "--no-progress", "-o", out, *opts], check=True)


def same(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    return subprocess.run([sys.executable, "-m", "kairos_dask", *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def main():
    try:
        from distributed import Client, LocalCluster
        import kairos_dask
    except ImportError as e:
        print("FAIL: dask: cannot import Dask (%s); run tools/deps.sh" % e)
        return 1
    tmp = tempfile.mkdtemp(prefix="kairos-dask-test-")
    try:
        log = os.path.join(tmp, "events.csv")
        subprocess.run([BENCH, "gen", "-n", "60000", "-c", "1500", "-d", "40", "-s", "11",
                        "-f", "csv", "-o", log], check=True)
        jlog = os.path.join(tmp, "events.jsonl")
        subprocess.run([BENCH, "gen", "-n", "30000", "-c", "900", "-d", "40", "-s", "12",
                        "-f", "jsonl", "-o", jlog], check=True)
        want = os.path.join(tmp, "want.csv")
        simulate([log], want)
        wantj = os.path.join(tmp, "want.jsonl")
        simulate([jlog], wantj, "--format", "jsonl")

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
        try:
            for n in (4, 7):
                out = os.path.join(tmp, "got-%d.csv" % n)
                kairos_dask.simulate(client, POLICY, [log], out, shards=n, kairos=KAIROS)
                check("shards-%d" % n, same(out, want), "(schedule differs from kairos simulate)")
            wd = os.path.join(tmp, "work")
            out = os.path.join(tmp, "got-wd.csv")
            kairos_dask.simulate(client, POLICY, [log], out, shards=5, kairos=KAIROS, work_dir=wd)
            check("work-dir", same(out, want) and os.listdir(wd) == [],
                  "(schedule differs, or shard files left in the work dir)")
            out = os.path.join(tmp, "got.jsonl")
            kairos_dask.simulate(client, POLICY, [jlog], out, shards=4, kairos=KAIROS,
                                 options=["--format", "jsonl"])
            check("shards-jsonl", same(out, wantj), "(JSON Lines schedule differs)")

            # A partitioned input: customers split over 5 directories by the
            # last digit of their number; the horizon must be given.
            part = os.path.join(tmp, "parts")
            with open(log, "rb") as f:
                header = f.readline()
                rows = f.readlines()
            until = rows[-1].split(b",")[0].decode()
            files = {}
            for r in rows:
                cust = r.split(b",")[1]
                key = int(cust[-1:]) % 5
                files.setdefault(key, []).append(r)
            for key, rs in files.items():
                d = os.path.join(part, "p%d" % key)
                os.makedirs(d)
                with open(os.path.join(d, "events.csv"), "wb") as f:
                    f.write(header)
                    f.writelines(rs)
            wantu = os.path.join(tmp, "want-until.csv")
            simulate([log], wantu, "--until", until)
            out = os.path.join(tmp, "got-parts.csv")
            kairos_dask.simulate(client, POLICY, [], out, partitioned=part, kairos=KAIROS,
                                 options=["--until", until])
            check("partitioned", same(out, wantu), "(partitioned schedule differs)")
            try:
                kairos_dask.simulate(client, POLICY, [], out + "2", partitioned=part, kairos=KAIROS)
                check("partitioned-needs-until", False, "(no error without --until)")
            except kairos_dask.KairosError as e:
                check("partitioned-needs-until", e.status == 2 and not os.path.exists(out + "2"), str(e))

            # A worker killed mid-run: Dask reschedules its task; same bytes.
            slow = os.path.join(tmp, "slow-kairos")
            with open(slow, "w") as f:
                f.write("#!/bin/sh\ncase \"$1\" in simulate) sleep 2;; esac\nexec '%s' \"$@\"\n" % KAIROS)
            os.chmod(slow, 0o755)
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            killer = threading.Timer(1.0, lambda: os.kill(victim, signal.SIGKILL))
            killer.start()
            out = os.path.join(tmp, "got-killed.csv")
            kairos_dask.simulate(client, POLICY, [log], out, shards=4, kairos=slow)
            killer.join()
            alive = True
            try:
                os.kill(victim, 0)
            except ProcessLookupError:
                alive = False
            check("worker-killed", not alive and same(out, want),
                  "(victim alive=%s or schedule differs)" % alive)
        finally:
            client.close()
            cluster.close()

        # The command line: a bad input fails with kairos's own message.
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("time,customer,event\n2026-01-01T00:00:00Z,c1,login\nnot-a-time,c2,login\n")
        ref = subprocess.run([KAIROS, "simulate", POLICY, bad, "-o", os.path.join(tmp, "x")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = os.path.join(tmp, "bad-out.csv")
        p = cli("simulate", POLICY, bad, "-o", out, "--local", "2", "--shards", "3", "--kairos", KAIROS)
        # kairos's message ends standard error (the cluster library may log before it)
        check("bad-input", p.returncode == 1 and ref.stderr and p.stderr.endswith(ref.stderr)
              and not os.path.exists(out)
              and b"Traceback" not in p.stderr,
              "(status %d, stderr %r, want %r)" % (p.returncode, p.stderr, ref.stderr))
        out = os.path.join(tmp, "cli.csv")
        p = cli("simulate", POLICY, log, "-o", out, "--local", "2", "--shards", "3", "--kairos", KAIROS)
        check("cli", p.returncode == 0 and same(out, want), p.stderr.decode(errors="replace"))
        p = cli("simulate", POLICY, log, "-o", out + "3", "--local", "1", "--kairos", "/nonexistent/kairos")
        check("cli-no-binary", p.returncode == 2 and b"cannot run /nonexistent/kairos" in p.stderr
              and b"Traceback" not in p.stderr and not os.path.exists(out + "3"), p.stderr.decode())
        p = cli("simulate", POLICY, "-o", out)
        check("cli-usage", p.returncode == 2 and b"no event file" in p.stderr, p.stderr.decode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("dask: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
