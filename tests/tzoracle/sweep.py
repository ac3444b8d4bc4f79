#!/usr/bin/env python3
"""Systematic DST sweep: kairos simulate vs oracle.py around every 2026 transition of
fuzz.ZONES.  One policy per window (quiet windows, `at` windows, best_time hours,
`every day|week at HH:MM`, `every 2d at HH:MM`), one customer per due instant (every
15 minutes, optionally with an offset in seconds, from 8 h before to 8 h after).

usage: sweep.py KAIROS OUTDIR [quiet|at|atday|pair|best|every ...] [--zone Z] [--step MIN] [--sample K] [--year Y]
(--year Y: the transitions of year Y instead of 2026)
(--sample K: only every K-th policy, a fixed subset, for run.sh)
"""
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz  # noqa: E402
import oracle  # noqa: E402


def run(kairos, outdir, name, spec, rows):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    pk, ec = os.path.join(d, "policy.kai"), os.path.join(d, "events.csv")
    with open(pk, "w") as f:
        f.write(fuzz.render_policy(spec))
    with open(ec, "w") as f:
        f.write("time,customer,event,tz\n" + "".join("%s,%s,%s,%s\n" % r for r in rows))
    return fuzz.compare(kairos, d, spec, [pk, ec], [ec], None, "FAIL %s" % d)


def main():
    kairos, outdir = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    kinds = [a for a in args if not a.startswith("--") and a in ("quiet", "at", "atday", "pair", "best", "every")]
    zsel = args[args.index("--zone") + 1] if "--zone" in args else None
    step = int(args[args.index("--step") + 1]) if "--step" in args else 15
    sample = int(args[args.index("--sample") + 1]) if "--sample" in args else 1
    trans = fuzz.TRANS
    if "--year" in args:
        y = int(args[args.index("--year") + 1])
        trans = fuzz.transitions(y, y + 1, 6 * 3600)
    total = bad = 0
    counter = [0]

    def pick():
        counter[0] += 1
        return counter[0] % sample == 0
    for zname, tr in trans:
        if zsel and zname != zsel:
            continue
        z = oracle.zone(zname)
        wtr = z.wall(tr - 60) // 60 * 60 + 60  # wall time at the transition (old offset)
        sod = wtr % 86400
        # clocks: every `step` minutes from 2.5 h before to 2.5 h after the transition's wall time
        clocks = sorted(set(((sod // 60 + k * step) % 1440) for k in range(-150 // step, 150 // step + 1)))
        dues = [tr + k * 900 for k in range(-32, 33)]
        base_rows = [(oracle.fmt_time(t), "c%03d" % i, "e", "") for i, t in enumerate(dues)]
        base_rows.append((oracle.fmt_time(tr + 6 * 86400), "zz", "noise", ""))
        specs = []
        if not kinds or "quiet" in kinds:
            for s in clocks:
                for e in clocks:
                    if s != e:
                        specs.append(("quiet-%s-%04d-%04d" % (zname.replace("/", "_"), s, e),
                                      {"quiet": [{"start": s, "end": e, "channels": None}],
                                       "window": None}))
        if not kinds or "at" in kinds:
            for s in clocks + [0]:
                for e in clocks + [1440]:
                    if s < e:
                        specs.append(("at-%s-%04d-%04d" % (zname.replace("/", "_"), s, e),
                                      {"quiet": [], "window": {"days": list(range(7)), "start": s, "end": e}}))
        wd = oracle.weekday_of(wtr)
        if not kinds or "atday" in kinds:
            # windows on the transition's weekday only: a window lost in the gap waits a week
            for s_ in clocks + [0]:
                for e in clocks + [1440]:
                    if s_ < e:
                        specs.append(("atday-%s-%04d-%04d" % (zname.replace("/", "_"), s_, e),
                                      {"quiet": [], "window": {"days": [wd], "start": s_, "end": e}}))
        if not kinds or "pair" in kinds:
            rng = random.Random(tr)
            for i in range(60):
                s_, e = sorted(rng.sample(sorted(set(clocks + [0, 1440])), 2))
                qs, qe = rng.sample(clocks, 2)
                days = [wd] if rng.random() < 0.3 else list(range(7))
                specs.append(("pair-%s-%d" % (zname.replace("/", "_"), i),
                              {"quiet": [{"start": qs, "end": qe, "channels": None}],
                               "window": {"days": days, "start": s_, "end": e}}))
        if not kinds or "best" in kinds:
            for h in sorted(set(c // 60 for c in clocks)):
                specs.append(("best-%s-%d-%02d" % (zname.replace("/", "_"), wd, h),
                              {"quiet": [], "window": {"best_time": "open"}, "besthour": wd * 24 + h}))
        n = 0
        for name, sp in specs:
            if not pick():
                continue
            spec = {"policy": "sweep", "timezone": zname, "quiet": sp["quiet"],
                    "rule": {"name": "r", "survey": "NPS", "chain": [["email", 0]],
                             "trigger": {"kind": "after", "event": "e", "delay": 0, "where": None},
                             "window": sp["window"]}}
            rows = list(base_rows)
            if "besthour" in sp:
                h = sp["besthour"]
                # three opens at that local hour-of-week, 2, 3 and 4 weeks earlier
                w0 = wtr - (wtr + 3 * 86400) % oracle.WEEK  # local Monday 00:00 of that week
                for k, mm in ((2, 5), (3, 10), (4, 20)):
                    X = w0 - k * oracle.WEEK + h * 3600 + mm * 60
                    t = oracle.resolve_local(z, X)
                    rows += [(oracle.fmt_time(t), "c%03d" % i, "open", "") for i in range(len(dues))]
            total += 1
            if not run(kairos, outdir, "%s-%d" % (name, total), spec, rows):
                bad += 1
            n += 1
        print("%s %s: %d policies" % (zname, oracle.fmt_time(tr), n), file=sys.stderr, flush=True)
    # every day/week/2d at HH:MM: customers first seen every 15 min around the transition
    if not kinds or "every" in kinds:
        for zname, tr in trans:
            if zsel and zname != zsel:
                continue
            z = oracle.zone(zname)
            wtr = z.wall(tr - 60) // 60 * 60 + 60
            sod = wtr % 86400
            clocks = sorted(set(((sod // 60 + k * 15) % 1440) for k in range(-10, 11))) + [0]
            for period in ("day", "week", 2 * 86400):
                for c in clocks:
                    if not pick():
                        continue
                    spec = {"policy": "sweep", "timezone": zname, "quiet": [],
                            "rule": {"name": "r", "survey": "NPS", "chain": [["email", 0]],
                                     "trigger": {"kind": "every", "period": period, "at": c},
                                     "window": None}}
                    rows = [(oracle.fmt_time(tr + k * 900), "c%03d" % i, "noise", "")
                            for i, k in enumerate(range(-40 * 4, 8 * 4, 3))]
                    rows.append((oracle.fmt_time(tr + 9 * 86400), "zz", "noise", ""))
                    total += 1
                    if not run(kairos, outdir, "every-%s-%s-%04d" % (zname.replace("/", "_"), period, c), spec, rows):
                        bad += 1
    print("sweep: %d/%d policies agree" % (total - bad, total), file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
