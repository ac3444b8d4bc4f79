#!/usr/bin/env python3
"""Independent reference ("oracle") for Kairos's local-time computations.

Written from /work/shared/LANGUAGE.md (sections 2, 3, 4) and SPEC.md 4.2-4.11 only.
It replays ONE rule of a policy described by a JSON spec (fuzz.py writes both the
.kai text and the spec) over an events CSV and prints the schedule CSV that
`kairos simulate` must print.

Everything local-time is done by brute force over *instants*: the allowed-ness of an
instant depends only on its own wall time (zoneinfo), and since all windows are
HH:MM and all UTC offsets are whole minutes, it can only change at a UTC minute
boundary.  So "the first instant u >= t that is allowed" is found by testing t and
then every minute boundary after it.  "The instant at which local X starts" is an
instant whose wall time equals X, or one at which the wall clock jumps over X (a DST
gap: the next valid instant).  A calendar boundary "local date D at HH:MM" is the
first instant whose wall time is >= that wall time (first occurrence if ambiguous,
gap end if nonexistent).

Spec JSON:
{ "policy": "tzo", "timezone": "Europe/Oslo" | null,
  "quiet": [ {"start": MIN, "end": MIN, "channels": ["sms"] | null} ],
  "rule": { "name": "r", "survey": "NPS",
            "chain": [["sms", 0], ["email", SECONDS], ...],
            "trigger": {"kind": "after", "event": "e", "delay": SECONDS, "where": COND|null}
                     | {"kind": "every", "period": "day|week|month|quarter|year" | SECONDS,
                        "at": MIN|null},
            "window": null | {"days": [0..6], "start": MIN, "end": MIN}
                           | {"best_time": "open"},
            "if": COND|null, "unless": COND|null,
            "task": false,            (true: `task NAME`, survey holds the task name)
            "keep": false,            (true: `on retrigger keep`)
            "variants": [ {"name": N, "pct": P, "delay": SECONDS|null, "via": CH|null} ] } }
COND: ["hour", OP, N] | ["weekday", OP, D] | ["wdin", [D...]] |
      ["and", C, C] | ["or", C, C] | ["not", C]      (D: 0=mon .. 6=sun)
"""
import bisect
import csv
import datetime as dt
import json
import os
import re
import sys
from zoneinfo import ZoneInfo

ZONEDIR = os.environ.get("TZDIR", "/usr/share/zoneinfo")
DAY = 86400
WEEK = 7 * DAY

# ---------------------------------------------------------------- zones

_zone_cache = {}


def valid_zone(name):
    """SPEC 1.5: UTC, or an IANA-form name whose file is a TZif zone."""
    if not isinstance(name, str):
        return False
    if name == "UTC":
        return True
    if len(name) > 255 or name in ("localtime", "posixrules"):
        return False
    parts = name.split("/")
    for p in parts:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*", p):
            return False
    if parts[0] in ("right", "posix"):
        return False
    path = os.path.join(ZONEDIR, name)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"TZif"


class Zone:
    """UTC offset per instant, cached per UTC minute."""

    def __init__(self, name):
        self.name = name
        self.zi = ZoneInfo(name)
        self.cache = {}

    def off(self, t):
        m = t // 60
        o = self.cache.get(m)
        if o is None:
            if len(self.cache) > 400000:
                self.cache.clear()
            o = int(dt.datetime.fromtimestamp(m * 60, tz=self.zi).utcoffset().total_seconds())
            self.cache[m] = o
        return o

    def wall(self, t):
        """local wall time as 'local epoch seconds' (naive seconds since 1970-01-01)."""
        return t + self.off(t)


def zone(name):
    z = _zone_cache.get(name)
    if z is None:
        z = _zone_cache[name] = Zone(name)
    return z


def weekday_of(w):  # w: local epoch seconds; 1970-01-01 was a Thursday (3)
    return (w // DAY + 3) % 7


def sod_of(w):
    return w % DAY


# ---------------------------------------------------------------- predicates


def in_window(win, w):
    return weekday_of(w) in win["days"] and win["start"] * 60 <= sod_of(w) < win["end"] * 60


def in_quiet(q, w):
    s, e = q["start"] * 60, (q["end"] % 1440) * 60
    x = sod_of(w)
    if s < e:
        return s <= x < e
    return x >= s or x < e


def first_allowed(z, t, limit, window, quiets):
    """first instant u >= t (u <= limit) allowed by window (dict or None) and quiets."""
    def ok(u):
        w = z.wall(u)
        if window is not None and not in_window(window, w):
            return False
        for q in quiets:
            if in_quiet(q, w):
                return False
        return True

    if ok(t):
        return t
    u = (t // 60 + 1) * 60
    while u <= limit:
        if ok(u):
            return u
        u += 60
    return None


def is_start(z, s, residue, modulus):
    """Is instant s (minute-aligned) an instant at which the local wall time
    X (X = residue mod modulus) starts: wall(s) == X, or the wall clock jumps over X
    at s (a DST gap)."""
    w2 = z.wall(s)
    if (w2 - residue) % modulus == 0:
        return True
    w1 = z.wall(s - 1) + 0  # wall time of the second before
    if w2 - w1 > 1:  # gap: wall jumps from w1 to w2
        x = w1 + 1 + ((residue - (w1 + 1)) % modulus)  # first X > w1
        return x < w2
    return False


def first_start(z, t, limit, residue, modulus):
    """first instant s >= t at which local X (X = residue mod modulus) starts."""
    s = ((t + 59) // 60) * 60
    while s <= limit:
        if is_start(z, s, residue, modulus):
            return s
        s += 60
    return None


def resolve_local(z, X):
    """instant of naive local time X (local epoch seconds, minute-aligned): the first
    instant whose wall time is >= X (ambiguous: first occurrence; gap: gap end)."""
    s = X - 16 * 3600
    s -= s % 60
    while True:
        if z.wall(s) >= X:
            return s
        s += 60


# ---------------------------------------------------------------- every


def local_epoch(d, minutes):
    return (d - dt.date(1970, 1, 1)).days * DAY + minutes * 60


def period_starts(period, d0):
    """calendar period-start dates from the period containing d0 on."""
    if period == "day":
        d = d0
        while True:
            yield d
            d += dt.timedelta(days=1)
    elif period == "week":
        d = d0 - dt.timedelta(days=d0.weekday())
        while True:
            yield d
            d += dt.timedelta(days=7)
    else:
        step = {"month": 1, "quarter": 3, "year": 12}[period]
        y, m = d0.year, d0.month
        m = ((m - 1) // step) * step + 1
        while True:
            yield dt.date(y, m, 1)
            m += step
            if m > 12:
                m -= 12
                y += 1


def first_calendar_boundary_ge(z, period, at_min, L):
    d0 = dt.date(1970, 1, 1) + dt.timedelta(days=z.wall(L) // DAY - 2)
    for d in period_starts(period, d0):
        b = resolve_local(z, local_epoch(d, at_min or 0))
        if b >= L:
            return b


def first_nd_boundary_ge(z, first, n, at_min, L, limit):
    k = 1
    while True:
        b = first + k * n
        if at_min is not None:
            b = first_start(z, b, max(limit, b) + 2 * DAY, at_min * 60, DAY)
        if b >= L:
            return b
        if b > limit + 3 * n:
            return None
        k += 1


# ---------------------------------------------------------------- conditions


def cond_eval(c, z, now):
    if c is None:
        return True
    w = z.wall(now)
    k = c[0]
    if k == "and":
        return cond_eval(c[1], z, now) and cond_eval(c[2], z, now)
    if k == "or":
        return cond_eval(c[1], z, now) or cond_eval(c[2], z, now)
    if k == "not":
        return not cond_eval(c[1], z, now)
    if k == "wdin":
        return weekday_of(w) in c[1]
    v = sod_of(w) // 3600 if k == "hour" else weekday_of(w)
    op, n = c[1], c[2]
    return {"==": v == n, "!=": v != n, "<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op]


# ---------------------------------------------------------------- input


def parse_time(s):
    s = s.strip()
    if re.fullmatch(r"-?[0-9]{1,18}", s):
        return int(s)
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("bad time " + s)
    y, mo, d, h, mi, se = map(int, m.groups()[:6])
    se = min(se, 59)
    t = (dt.date(y, mo, d) - dt.date(1970, 1, 1)).days * DAY + h * 3600 + mi * 60 + se
    o = m.group(7)
    if o not in ("Z", "z"):
        sign = 1 if o[0] == "+" else -1
        t -= sign * (int(o[1:3]) * 3600 + int(o[4:6]) * 60)
    return t


def read_events(paths):
    """rows of the files in order (CSV or JSON Lines), stably sorted by time."""
    if isinstance(paths, str):
        paths = [paths]
    rows = []
    for path in paths:
        if path.endswith(".jsonl"):
            with open(path) as f:
                for ln in f:
                    if ln.strip():
                        o = json.loads(ln)
                        r = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in o.items()}
                        rows.append(r)
        else:
            with open(path, newline="") as f:
                rows += list(csv.DictReader(f))
    evs = []
    for i, r in enumerate(rows):
        evs.append((parse_time(r["time"]), i, r["customer"], r["event"], r))
    evs.sort(key=lambda e: (e[0], e[1]))
    return evs


def cell_value(s):
    """5.4: number if it parses as a number, true/false booleans, else string."""
    if s is None or s == "":
        return None
    if re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", s.strip()):
        return float(s)
    if s in ("true", "false"):
        return s == "true"
    return s


def fmt_time(t):
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- replay


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def variant_of(spec, rule, cust):
    vs = rule.get("variants") or []
    if not vs:
        return {"name": ""}
    b = fnv1a64(("%s/%s/%s" % (spec["policy"], rule["name"], cust)).encode()) % 100
    lo = 0
    for v in vs:
        if lo <= b < lo + v["pct"]:
            return v
        lo += v["pct"]
    return None  # holdout


def simulate(spec, evs, horizon=None):
    pzone = spec.get("timezone") or "UTC"
    rule = spec["rule"]
    trig = rule["trigger"]
    chain = rule["chain"]
    win = rule.get("window")
    if horizon is None:
        horizon = max(e[0] for e in evs) if evs else None
    rows = []
    if horizon is None:
        return rows

    task = rule.get("task", False)

    def quiets_for(ch):
        if task:
            return []
        return [q for q in spec.get("quiet", []) if q.get("channels") is None or ch in q["channels"]]

    per = {}
    for e in evs:
        per.setdefault(e[2], []).append(e)

    for cust, cevs in per.items():
        st = {"zone": pzone, "first": None, "kept": [], "pending": None,
              "nextb": None, "lastb": None}

        def boundary_ge(L):
            z = zone(st["zone"])
            p = trig["period"]
            if isinstance(p, str):
                return first_calendar_boundary_ge(z, p, trig.get("at"), L)
            return first_nd_boundary_ge(z, st["first"], p, trig.get("at"), L, horizon)

        var = variant_of(spec, rule, cust)

        def trigger(T):
            if var is None:  # holdout: nothing becomes pending
                return
            if rule.get("keep") and st["pending"] is not None:
                return
            # restart (default): cancel what is pending
            st["pending"] = None
            z = zone(st["zone"])
            nominal = T + (trig.get("delay", 0) if trig["kind"] == "after" else 0)
            if var.get("delay") is not None:
                nominal = T + var["delay"]
            ch0 = var.get("via") or chain[0][0]
            q = quiets_for(ch0)
            # search far enough past the horizon that "never allowed" (dropped: not pending)
            # is told apart from "allowed after the horizon" (pending, matters for `keep`)
            lim = max(nominal, horizon) + 15 * DAY
            if win is not None and "best_time" in win:
                evt = [t for t in st["kept_bt"]]
                if len(evt) >= 3:
                    counts = {}
                    for t in evt:
                        w = z.wall(t)
                        h = weekday_of(w) * 24 + sod_of(w) // 3600
                        counts[h] = counts.get(h, 0) + 1
                    best = min(counts, key=lambda h: (-counts[h], h))
                    residue = ((best // 24 - 3) % 7) * DAY + (best % 24) * 3600
                    s = first_start(z, nominal + 1800, lim + 1800, residue, WEEK)
                    if s is None:
                        return
                    nominal = s - 1800
                u = first_allowed(z, nominal, lim, None, q)
            else:
                u = first_allowed(z, nominal, lim, win, q)
            if u is None:
                return
            st["pending"] = {"k": 0, "due": u, "zone": st["zone"], "ch": ch0}

        def fire_attempt():
            p = st["pending"]
            z = zone(p["zone"])
            now = p["due"]
            k = p["k"]
            if k == 0:
                if not cond_eval(rule.get("if"), z, now) or (
                        rule.get("unless") is not None and cond_eval(rule["unless"], z, now)):
                    st["pending"] = None
                    return
            act = "task" if task else ("ask" if k == 0 else "remind")
            rows.append((now, cust, act, p["ch"], k + 1))
            if k + 1 < len(chain):
                ch, d = chain[k + 1]
                u = first_allowed(z, now + d, max(now + d, horizon) + 15 * DAY, None, quiets_for(ch))
                st["pending"] = None if u is None else {"k": k + 1, "due": u, "zone": p["zone"], "ch": ch}
            else:
                st["pending"] = None

        def fire_timers(limit, inclusive):
            if limit > horizon:  # nothing due after the horizon fires (--until)
                limit, inclusive = horizon, True
            while True:
                cands = []
                if st["nextb"] is not None:
                    cands.append((st["nextb"], 0))
                if st["pending"] is not None:
                    cands.append((st["pending"]["due"], 1))
                cands = [c for c in cands if (c[0] <= limit if inclusive else c[0] < limit)]
                if not cands:
                    return
                due, kind = min(cands)
                if kind == 0:
                    st["lastb"] = due
                    trigger(due)
                    st["nextb"] = boundary_ge(due + 1)
                    if st["nextb"] is not None and st["nextb"] > horizon:
                        st["nextb"] = None
                else:
                    fire_attempt()

        st["kept_bt"] = []
        i = 0
        while i < len(cevs):
            T = cevs[i][0]
            fire_timers(T, False)
            while i < len(cevs) and cevs[i][0] == T:
                _, _, _, name, row = cevs[i]
                i += 1
                first = st["first"] is None
                if first:
                    st["first"] = T
                zchanged = False
                if name == "identify":
                    v = cell_value(row.get("tz"))
                    if v is not None:
                        nz = v if valid_zone(v) else pzone
                        if nz != st["zone"]:
                            zchanged = True
                        st["zone"] = nz
                if win is not None and "best_time" in win and name == win["best_time"]:
                    st["kept_bt"].append(T)
                if trig["kind"] == "after" and name == trig["event"]:
                    if cond_eval(trig.get("where"), zone(st["zone"]), T):
                        trigger(T)
                if trig["kind"] == "every" and (first or zchanged):
                    L = T if st["lastb"] is None else max(T, st["lastb"] + 1)
                    nb = boundary_ge(L)
                    st["nextb"] = nb if nb is not None and nb <= horizon else None
            fire_timers(T, True)
        fire_timers(horizon, True)

    rows.sort(key=lambda r: (r[0], r[1].encode(), r[4]))
    out = ["time,customer,rule,action,survey,channel,attempt,variant"]
    for t, c, act, ch, a in rows:
        v = variant_of(spec, rule, c) or {"name": ""}
        out.append("%s,%s,%s,%s,%s,%s,%d,%s" % (fmt_time(t), c, rule["name"], act, rule["survey"], ch, a,
                                               v["name"]))
    return out


def main():
    if len(sys.argv) < 3:
        print("usage: oracle.py SPEC.json EVENTS.csv|EVENTS.jsonl...", file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    for line in simulate(spec, read_events(sys.argv[2:])):
        print(line)


if __name__ == "__main__":
    main()
