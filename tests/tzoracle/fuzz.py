#!/usr/bin/env python3
"""Random differential tester: kairos simulate vs oracle.py (local-time semantics).

usage: fuzz.py KAIROS OUTDIR SEED [SEED...]      (or SEED1-SEED2 ranges)
Each seed deterministically generates a one-rule policy (policy.kai + spec.json) and an
event log (events.csv), runs `KAIROS simulate`, runs the oracle, and compares.  For a
mismatch the case is kept in OUTDIR/seed-N/ and one line is printed; exit 1 if any.
"""
import datetime as dt
import json
import os
import random
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

ZONES = ["Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kolkata", "Pacific/Chatham"]
BAD_TZ = ["Mars/Olympus", "Europe/Osloo", "CET-1", "+02:00", "42", "localtime",
          "posix/Europe/Oslo", "Etc/../Asia/Tokyo"]
DAYN = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCKS = [0, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 210, 225, 240, 480, 540,
          720, 960, 1200, 1320, 1380, 1410, 1425]


def transitions(y0=2026, y1=2027, step=3600):
    """UTC instants of offset changes of ZONES from y0-01-01 to y1-02-01."""
    out = []
    for name in ZONES:
        z = oracle.zone(name)
        t0 = oracle.parse_time("%04d-01-01T00:00:00Z" % y0)
        t1 = oracle.parse_time("%04d-02-01T00:00:00Z" % y1)
        t = t0
        prev = z.off(t)
        while t < t1:
            t += step
            o = z.off(t)
            if o != prev:
                lo, hi = t - step, t
                while hi - lo > 60:
                    mid = (lo + hi) // 120 * 60
                    if z.off(mid) == prev:
                        lo = mid
                    else:
                        hi = mid
                out.append((name, hi))
                prev = o
    return out


TRANS = transitions()
# other eras (whole-minute offsets only: after every zone's LMT era): before 1970 (negative
# Unix times), around 2038 (the 32-bit limit), and the far future (the TZif footer's rules)
OTHER_YEARS = [(1950, 1950), (1963, 1963), (1969, 1969), (1987, 1987), (2037, 2038), (2055, 2055),
               (2099, 2099), (2400, 2400)]
_other = {}


def trans_other(rng):
    y = rng.choice(OTHER_YEARS)
    if y not in _other:
        _other[y] = transitions(y[0], y[1] + 1, 6 * 3600)
    return _other[y] or TRANS


def dur(s):
    if s == 0:
        return "0s"
    out = ""
    for u, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= n:
            out += "%d%s" % (s // n, u)
            s %= n
    return out


def clock(m):
    return "%02d:%02d" % (m // 60, m % 60)


def render_days(days, wrap=False):
    # as a comma list of single days and ranges (wrap: a range like fri-mon when possible)
    ds = sorted(days)
    if wrap and 0 in ds and 6 in ds and len(ds) < 7:
        i = 6
        while i - 1 in ds:
            i -= 1
        j = 0
        while j + 1 in ds:
            j += 1
        rest = [d for d in ds if j < d < i]
        return ", ".join(["%s-%s" % (DAYN[i], DAYN[j])] + ([render_days(rest)] if rest else []))
    parts, i = [], 0
    while i < len(ds):
        j = i
        while j + 1 < len(ds) and ds[j + 1] == ds[j] + 1:
            j += 1
        if j > i:
            parts.append("%s-%s" % (DAYN[ds[i]], DAYN[ds[j]]))
        else:
            parts.append(DAYN[ds[i]])
        i = j + 1
    return ", ".join(parts)


def render_cond(c):
    k = c[0]
    if k in ("and", "or"):
        return "(%s %s %s)" % (render_cond(c[1]), k, render_cond(c[2]))
    if k == "not":
        return "not (%s)" % render_cond(c[1])
    if k == "wdin":
        return "weekday in [%s]" % render_days(c[1], True)
    if k == "hour":
        return "hour %s %d" % (c[1], c[2])
    return "weekday %s %s" % (c[1], DAYN[c[2]])


def gen_cond(rng, depth=0):
    r = rng.random()
    if depth < 1 and r < 0.2:
        return [rng.choice(["and", "or"]), gen_cond(rng, depth + 1), gen_cond(rng, depth + 1)]
    if depth < 1 and r < 0.25:
        return ["not", gen_cond(rng, depth + 1)]
    op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
    r = rng.random()
    if r < 0.5:
        return ["hour", op, rng.randrange(24)]
    if r < 0.75:
        return ["weekday", op, rng.randrange(7)]
    return ["wdin", sorted(rng.sample(range(7), rng.randint(1, 4)))]


def gen_quiet(rng):
    while True:
        s, e = rng.choice(CLOCKS), rng.choice(CLOCKS + [1440])
        if s != e % 1440:
            return s, e


def render_policy(spec):
    L = ['policy "%s"' % spec["policy"]]
    if spec.get("timezone"):
        L.append('timezone "%s"' % spec["timezone"])
    for q in spec["quiet"]:
        s = "quiet %s-%s" % (clock(q["start"]), clock(q["end"]))
        if q["channels"]:
            s += " on " + ", ".join(q["channels"])
        L.append(s)
    r = spec["rule"]
    L.append("rule %s:" % r["name"])
    ch = r["chain"]
    s = "  %s %s via %s" % ("task" if r.get("task") else "ask", r["survey"], ch[0][0])
    for c, d in ch[1:]:
        s += " then %s after %s" % (c, dur(d))
    L.append(s)
    t = r["trigger"]
    if t["kind"] == "after":
        s = "  after %s" % t["event"]
        if t["delay"]:
            s += " + " + dur(t["delay"])
        if t.get("where"):
            s += " where " + render_cond(t["where"])
    else:
        p = t["period"]
        s = "  every %s" % (p if isinstance(p, str) else dur(p))
        if t.get("at") is not None:
            s += " at " + clock(t["at"])
    L.append(s)
    w = r.get("window")
    if w is not None:
        if "best_time" in w:
            L.append("  at best_time(%s)" % w["best_time"])
        else:
            s = "  at "
            if w["start"] == 0 and w["end"] == 1440 and len(w["days"]) < 7:
                L.append(s + render_days(w["days"], w.get("wrap")))
            else:
                if len(w["days"]) < 7:
                    s += render_days(w["days"], w.get("wrap")) + " "
                s += "%s-%s" % (clock(w["start"]), clock(w["end"]))
                L.append(s)
    for v in r.get("variants") or []:
        s = "  variant %s %d%%" % (v["name"], v["pct"])
        body = []
        if v.get("delay") is not None:
            body.append("+ " + dur(v["delay"]))
        if v.get("via"):
            body.append("via " + v["via"])
        if body:
            s += " { " + " ".join(body) + " }"
        L.append(s)
    if r.get("keep"):
        L.append("  on retrigger keep")
    if r.get("if"):
        L.append("  if " + render_cond(r["if"]))
    if r.get("unless"):
        L.append("  unless " + render_cond(r["unless"]))
    return "\n".join(L) + "\n"


def fmt_ev_time(rng, t):
    r = rng.random()
    if r < 0.15:
        return str(t)
    if r < 0.3:
        off = rng.choice([-5 * 3600, 3600, 19800, 45900, -10800])
        d = dt.datetime.fromtimestamp(t + off, tz=dt.timezone.utc)
        sg = "+" if off >= 0 else "-"
        a = abs(off)
        return d.strftime("%Y-%m-%dT%H:%M:%S") + "%s%02d:%02d" % (sg, a // 3600, a % 3600 // 60)
    return oracle.fmt_time(t)


def generate(seed):
    rng = random.Random(seed)
    ptz = rng.choice(ZONES + [None])
    kind = rng.choice(["quiet", "window", "window", "best", "every", "every", "cond", "remind", "long"])
    if kind == "long":
        return generate_long(rng, ptz)
    # anchor: a DST transition, a calendar boundary or a plain day
    r = rng.random()
    if kind == "every" and r < 0.6:
        anchor_zone = rng.choice(ZONES)
        y, m = rng.choice([(2026, 4), (2026, 10), (2027, 1), (2026, 9), (2026, 3), (2026, 11), (2026, 7)])
        anchor = oracle.resolve_local(oracle.zone(anchor_zone), oracle.local_epoch(dt.date(y, m, 1), 0))
    elif r < 0.72:
        anchor_zone, anchor = rng.choice(TRANS)
    elif r < 0.9:
        anchor_zone, anchor = rng.choice(trans_other(rng))
    else:
        anchor_zone = rng.choice(ZONES)
        anchor = oracle.parse_time("2026-06-15T12:00:00Z") + rng.randrange(200) * 86400
    rule = {"name": "r", "survey": rng.choice(["NPS", "CSAT"])}
    spec = {"policy": "tzo", "timezone": ptz, "quiet": [], "rule": rule}
    chans = ["email", "sms", "push"]
    ch0 = rng.choice(chans)
    chain = [[ch0, 0]]
    if kind == "remind" or rng.random() < 0.25:
        for _ in range(rng.randint(1, 2)):
            chain.append([rng.choice(chans), rng.choice([1800, 7200, 86400, 86400, 129600, 3600 * 23])])
    rule["chain"] = chain
    nq = rng.choice([0, 1, 1, 2]) if kind in ("quiet", "remind", "best") else rng.choice([0, 0, 1])
    for _ in range(nq):
        s, e = gen_quiet(rng)
        chs = None
        if rng.random() < 0.6:
            chs = sorted(set(rng.sample(chans, rng.randint(1, 2))))
        spec["quiet"].append({"start": s, "end": e, "channels": chs})
    if kind == "every":
        p = rng.choice(["day", "day", "week", "month", "quarter", "year", 2 * 86400, 3 * 86400, 7 * 86400])
        if p in ("quarter", "year", "month") and r >= 0.6:
            p = rng.choice(["day", "week", 2 * 86400])
        at = rng.choice([None, rng.choice(CLOCKS)])
        rule["trigger"] = {"kind": "every", "period": p, "at": at}
    else:
        delay = rng.choice([0, 0, 1800, 3600, 5400, 7200, 86400, 3600 * 23, 90])
        where = gen_cond(rng) if kind == "cond" and rng.random() < 0.5 else None
        rule["trigger"] = {"kind": "after", "event": "e", "delay": delay, "where": where}
    if kind == "window" or (kind == "every" and rng.random() < 0.3):
        while True:
            s, e = rng.choice(CLOCKS + [1440]), rng.choice(CLOCKS + [1440])
            if s < e:
                break
        days = list(range(7)) if rng.random() < 0.4 else sorted(rng.sample(range(7), rng.randint(1, 6)))
        if rng.random() < 0.15:
            s, e = 0, 1440
        rule["window"] = {"days": days, "start": s, "end": e, "wrap": rng.random() < 0.5}
    elif kind == "best":
        rule["window"] = {"best_time": "open" if rng.random() < 0.8 else "e"}
    if kind == "cond" or rng.random() < 0.15:
        if rng.random() < 0.6:
            rule["if"] = gen_cond(rng)
        else:
            rule["unless"] = gen_cond(rng)

    if rng.random() < 0.12:
        rule["task"] = True
        rule["survey"] = "call"
        rule["chain"] = rule["chain"][:1]
        if rule.get("window") and "best_time" in rule["window"]:
            rule["window"] = None
    elif rng.random() < 0.2:
        vs, left = [], 100
        for i in range(rng.randint(1, 3)):
            pct = rng.randint(0, left)
            left -= pct
            vs.append({"name": "v%d" % i, "pct": pct,
                       "delay": rng.choice([None, None, 0, 3600, 86400, 1800]),
                       "via": rng.choice([None, "sms", "email", "push"])})
        rule["variants"] = vs
    if rng.random() < 0.2:
        rule["keep"] = True
    # ---- events
    rows = []  # (t, cust, event, tz)
    ncust = rng.randint(1, 3)
    zone_names = ZONES + ["UTC", "Etc/GMT-14", "EST5EDT"]
    for ci in range(ncust):
        cust = "c%d" % (ci + 1)
        czone = ptz or "UTC"
        start = anchor - rng.randint(1, 48) * 3600 - rng.randrange(60) * 60
        if rng.random() < 0.6:
            czone = rng.choice(zone_names + [anchor_zone] * 3)
            tzv = czone if rng.random() < 0.85 else rng.choice(BAD_TZ)
            rows.append((start - rng.choice([0, 60, 3600]), cust, "identify", tzv))
        # best-time events: weeks before, at a few hours-of-week
        if kind == "best" or rng.random() < 0.1:
            nb = rng.randint(2, 6)
            base_hours = [rng.randrange(168) for _ in range(rng.randint(1, 3))]
            for _ in range(nb):
                h = rng.choice(base_hours)
                # a time whose local hour-of-week in czone is h, some weeks back
                z = oracle.zone(czone if oracle.valid_zone(czone) else (ptz or "UTC"))
                wk = anchor - rng.randint(1, 3) * oracle.WEEK
                w = z.wall(wk)
                w0 = w - (w - (-3 * 86400)) % oracle.WEEK  # local monday 00:00
                X = w0 + h * 3600 + rng.randrange(60) * 60
                t = oracle.resolve_local(z, X - X % 60) + rng.choice([0, 0, 0, 3600, -3600])
                rows.append((t, cust, "open", ""))
        # trigger events
        ntr = rng.randint(1, 4)
        for _ in range(ntr):
            rr = rng.random()
            if rr < 0.4:
                t = anchor + rng.randint(-6 * 60, 6 * 60) * 60
            elif rr < 0.7:
                # local edge: a clock of CLOCKS on a day near the anchor in czone
                zn = czone if oracle.valid_zone(czone) else (ptz or "UTC")
                z = oracle.zone(zn)
                d = z.wall(anchor) // 86400 + rng.randint(-1, 1)
                X = d * 86400 + rng.choice(CLOCKS) * 60
                t = oracle.resolve_local(z, X) + rng.choice([0, 0, -60, 60, -1, -3600, 3600])
            else:
                t = anchor + rng.randint(-48 * 60, 72 * 60) * 60
            if rng.random() < 0.1:
                t += rng.randrange(1, 60)
            rows.append((t, cust, "e", ""))
        # mid-log zone changes, some at the instant of another row of this customer
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            mine = [x[0] for x in rows if x[1] == cust]
            if mine and rng.random() < 0.3:
                t = rng.choice(mine)
            elif rng.random() < 0.2 and kind == "every":
                # at a local midnight / HH:MM of some zone near the anchor
                z = oracle.zone(rng.choice(ZONES))
                d = z.wall(anchor) // 86400 + rng.randint(-1, 2)
                t = oracle.resolve_local(z, d * 86400 + (rule["trigger"].get("at") or 0) * 60)
            else:
                t = anchor + rng.randint(-12 * 60, 36 * 60) * 60
            tzv = rng.choice(zone_names) if rng.random() < 0.75 else rng.choice(BAD_TZ + [""])
            rows.append((t, cust, "identify", tzv))
        if rng.random() < 0.3:
            rows.append((anchor + rng.randint(-24, 48) * 3600, cust, "noise", ""))
    # horizon
    hz = anchor + rng.choice([1, 2, 3, 5, 8, 12]) * 86400 + rng.randrange(1440) * 60
    if kind == "every" and rule["trigger"]["period"] in ("month", "quarter", "year"):
        hz = anchor + rng.randint(2, 6) * 86400
    rows.append((hz, "c1", "noise", ""))
    rng.shuffle(rows)
    lines = ["time,customer,event,tz"]
    for t, c, e, tz in rows:
        lines.append("%s,%s,%s,%s" % (fmt_ev_time(rng, t), c, e, tz))
    return spec, render_policy(spec), "\n".join(lines) + "\n"


def generate_long(rng, ptz):
    """`every` over a whole year (several DST transitions), zone changes along the way."""
    p = rng.choice(["week", "month", "month", "quarter", "year", 7 * 86400, 30 * 86400, 90 * 86400])
    at = rng.choice([None, rng.choice(CLOCKS)])
    rule = {"name": "r", "survey": "NPS", "chain": [[rng.choice(["email", "sms"]), 0]],
            "trigger": {"kind": "every", "period": p, "at": at}}
    spec = {"policy": "tzo", "timezone": ptz, "quiet": [], "rule": rule}
    if rng.random() < 0.5:
        s, e = gen_quiet(rng)
        spec["quiet"].append({"start": s, "end": e, "channels": None})
    if rng.random() < 0.3:
        rule["if"] = gen_cond(rng)
    t0 = oracle.parse_time("2025-12-20T00:00:00Z")
    t1 = oracle.parse_time("2027-01-10T00:00:00Z")
    rows = []
    for ci in range(rng.randint(1, 3)):
        cust = "c%d" % (ci + 1)
        start = t0 + rng.randrange((t1 - t0) // 2 // 60) * 60
        if rng.random() < 0.7:
            rows.append((start, cust, "identify", rng.choice(ZONES + ["UTC"])))
        else:
            rows.append((start, cust, "noise", ""))
        for _ in range(rng.randint(0, 4)):
            tr, tt = rng.choice(fuzz_trans_or_rand(rng, t0, t1))
            t = tt + rng.randint(-48, 48) * 3600 + rng.choice([0, 0, 1800, 60])
            tzv = rng.choice(ZONES + ["UTC"]) if rng.random() < 0.8 else rng.choice(BAD_TZ)
            rows.append((t, cust, "identify", tzv))
    rows.append((t1 + rng.randrange(-30, 30) * 86400, "c1", "noise", ""))
    rng.shuffle(rows)
    lines = ["time,customer,event,tz"]
    for t, c, e, tz in rows:
        lines.append("%s,%s,%s,%s" % (fmt_ev_time(rng, t), c, e, tz))
    return spec, render_policy(spec), "\n".join(lines) + "\n"


def fuzz_trans_or_rand(rng, t0, t1):
    if rng.random() < 0.6:
        return TRANS
    return [("", t0 + rng.randrange((t1 - t0) // 3600) * 3600)]


def to_jsonl(lines):
    out = []
    for ln in lines:
        t, c, e, tz = ln.split(",")
        o = {"time": int(t) if t.lstrip("-").isdigit() else t, "customer": c, "event": e}
        if tz != "":
            o["tz"] = tz
        out.append(json.dumps(o))
    return "\n".join(out) + "\n"


def split_files(seed, d, evs):
    """the run's files and options: the rows in one or two files (CSV or JSON Lines, one
    of them maybe sorted by time), --jobs, a small --memory; derived from the seed."""
    rng = random.Random(seed * 7919 + 17)
    lines = evs.splitlines()[1:]
    parts = [lines]
    if rng.random() < 0.3:
        k = rng.randint(0, len(lines))
        parts = [lines[:k], lines[k:]]
        if rng.random() < 0.5:
            i = rng.randrange(2)
            parts[i] = sorted(parts[i], key=lambda ln: oracle.parse_time(ln.split(",")[0]))
    files = []
    for i, part in enumerate(parts):
        if rng.random() < 0.25:
            fn = os.path.join(d, "events%s.jsonl" % ("" if i == 0 else "2"))
            text = to_jsonl(part)
        else:
            fn = os.path.join(d, "events%s.csv" % ("" if i == 0 else "2"))
            text = "time,customer,event,tz\n" + "".join(ln + "\n" for ln in part)
        with open(fn, "w") as f:
            f.write(text)
        files.append(fn)
    opts = []
    if rng.random() < 0.3:
        opts += ["--jobs", str(rng.choice([1, 2, 4]))]
    if rng.random() < 0.1:
        opts += ["--memory", "16M"]
    until = None
    if rng.random() < 0.15 and lines:
        until = oracle.parse_time(rng.choice(lines).split(",")[0]) + rng.choice([0, 0, 1, -1, 3600, 86400, 7 * 86400])
        opts += ["--until", fmt_ev_time(rng, until)]
    return files, opts, until


def compare(kairos, d, spec, args, files, until, fail_line):
    """Runs `kairos simulate ARGS` and the oracle over FILES: on agreement removes the
    case's directory d, else keeps kairos.csv (its exit status and standard error too when
    it failed) and oracle.csv there, prints fail_line, and returns False."""
    p = subprocess.run([kairos, "simulate"] + args, capture_output=True, text=True)
    want = oracle.simulate(spec, oracle.read_events(files), until)
    if p.returncode == 0 and p.stdout.splitlines() == want:
        for fn in os.listdir(d):
            os.unlink(os.path.join(d, fn))
        os.rmdir(d)
        return True
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    with open(os.path.join(d, "kairos.csv"), "w") as f:
        f.write(p.stdout + ("\n# rc=%d\n%s" % (p.returncode, p.stderr) if p.returncode else ""))
    with open(os.path.join(d, "oracle.csv"), "w") as f:
        f.write("\n".join(want) + "\n")
    print(fail_line, flush=True)
    return False


def run_case(kairos, outdir, seed):
    spec, pol, evs = generate(seed)
    d = os.path.join(outdir, "seed-%d" % seed)
    os.makedirs(d, exist_ok=True)
    pk = os.path.join(d, "policy.kai")
    with open(pk, "w") as f:
        f.write(pol)
    files, opts, until = split_files(seed, d, evs)
    return compare(kairos, d, spec, [pk] + files + opts, files, until,
                   "FAIL seed %d: %s %s (kairos.csv vs oracle.csv, spec.json)" % (seed, pk, " ".join(files + opts)))


def run_bulk(kairos, outdir, seed, n):
    """one policy (from seed) over the events of n other cases, customers renamed, so that
    kairos replays many customers (and zones) in one run."""
    spec, pol, _ = generate(seed)
    lines = ["time,customer,event,tz"]
    lo, hi = oracle.parse_time("2025-06-01T00:00:00Z"), oracle.parse_time("2027-06-01T00:00:00Z")
    for i in range(n):
        _, _, evs = generate(seed * 100000 + i)
        if not all(lo <= oracle.parse_time(ln.split(",")[0]) <= hi for ln in evs.splitlines()[1:]):
            continue  # other eras: one far horizon would make every case scan for centuries
        for ln in evs.splitlines()[1:]:
            f = ln.split(",")
            f[1] = "k%d-%s" % (i, f[1])
            lines.append(",".join(f))
    body = lines[1:]
    random.Random(seed).shuffle(body)
    lines = lines[:1] + body
    d = os.path.join(outdir, "bulk-%d" % seed)
    os.makedirs(d, exist_ok=True)
    pk, ec = os.path.join(d, "policy.kai"), os.path.join(d, "events.csv")
    with open(pk, "w") as f:
        f.write(pol)
    with open(ec, "w") as f:
        f.write("\n".join(lines) + "\n")
    return compare(kairos, d, spec, [pk, ec], [ec], None, "FAIL bulk %d: %s %s" % (seed, pk, ec))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--bulk":
        # fuzz.py --bulk KAIROS OUTDIR NCASES SEED...
        kairos, outdir, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        bad = sum(0 if run_bulk(kairos, outdir, int(s), n) else 1 for s in sys.argv[5:])
        sys.exit(1 if bad else 0)
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    kairos, outdir = sys.argv[1], sys.argv[2]
    seeds = []
    for a in sys.argv[3:]:
        if "-" in a:
            x, y = a.split("-")
            seeds += range(int(x), int(y) + 1)
        else:
            seeds.append(int(a))
    bad = 0
    for s in seeds:
        if not run_case(kairos, outdir, s):
            bad += 1
    print("%d/%d seeds agree" % (len(seeds) - bad, len(seeds)), file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
