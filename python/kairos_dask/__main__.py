"""kairos-dask simulate POLICY EVENTS... -o OUT [--shards N] [--scheduler ADDRESS | --local WORKERS]
                     [--partitioned DIR] [--work-dir DIR] [--kairos PATH] [--until TIME] [--format csv|jsonl]"""
import argparse
import os
import sys

from .core import KairosError, find_kairos, simulate

USAGE = __doc__.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kairos-dask", usage=USAGE,
                                 description="Replays event logs through a Kairos policy on a Dask "
                                             "cluster; the schedule is byte-identical to one "
                                             "`kairos simulate`.")
    sub = ap.add_subparsers(dest="command")
    sp = sub.add_parser("simulate", usage=USAGE)
    sp.add_argument("policy")
    sp.add_argument("events", nargs="*")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--shards", type=int, default=None,
                    help="number of customer shards, one Dask task each (default: 2 per worker)")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    g.add_argument("--local", type=int, metavar="WORKERS",
                   help="start a LocalCluster of WORKERS processes (default: 2)")
    sp.add_argument("--partitioned", metavar="DIR",
                    help="input already partitioned by customer: one subdirectory per partition")
    sp.add_argument("--work-dir", metavar="DIR",
                    help="shared storage where workers write shard schedules (default: they "
                         "travel to the client through Dask)")
    sp.add_argument("--kairos", help="the kairos binary (default: beside this program, else PATH)")
    sp.add_argument("--until", help="horizon, passed to kairos simulate")
    sp.add_argument("--format", choices=["csv", "jsonl"], help="schedule format")
    sp.add_argument("--skip-bad-rows", action="store_true")
    args = ap.parse_args(argv)
    if args.command != "simulate":
        ap.print_usage(sys.stderr)
        return 2
    if args.partitioned is None and not args.events:
        print("kairos-dask simulate: no event file given", file=sys.stderr)
        return 2
    if args.partitioned is not None and args.events:
        print("kairos-dask simulate: give event files or --partitioned DIR, not both", file=sys.stderr)
        return 2
    if args.shards is not None and args.shards < 1:
        print("kairos-dask simulate: --shards must be at least 1", file=sys.stderr)
        return 2
    options = []
    if args.until:
        options += ["--until", args.until]
    if args.format:
        options += ["--format", args.format]
    if args.skip_bad_rows:
        options.append("--skip-bad-rows")

    cluster = None
    try:
        kairos = find_kairos(args.kairos)       # before any cluster starts
        from distributed import Client, LocalCluster   # imported late: --help stays fast
        if args.scheduler:
            client = Client(args.scheduler)
            workers = max(1, len(client.scheduler_info().get("workers", {})))
        else:
            workers = args.local or 2
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
        try:
            simulate(client, args.policy, args.events, args.output,
                     shards=args.shards or 2 * workers, partitioned=args.partitioned,
                     kairos=kairos, options=options,
                     work_dir=args.work_dir)
        finally:
            client.close()
    except KairosError as e:
        sys.stderr.buffer.write(e.stderr if e.stderr.endswith(b"\n") else e.stderr + b"\n")
        return e.status
    finally:
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
