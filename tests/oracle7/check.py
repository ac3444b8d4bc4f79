#!/usr/bin/python3
"""Independent oracle for `kairos readout` and `kairos diff` (stdlib only).

Written from /work/shared/LANGUAGE.md section 7 and SPEC.md 6.3 only.  The
schedules written by `kairos simulate` are trusted as input; everything that
readout and diff derive from them and from the event log is recomputed here:

  readout csv : attribution of each response to the latest sent attempt
                (ask/remind, same survey, same customer, at or before it,
                within --window, later in schedule order on a tie), answered
                asks (chains: an `ask` row and the `remind` rows of that
                (customer, rule) up to the next `ask`), Wilson 95 %, %.4f,
                row order, empty variant
  readout json: the csv numbers plus vs_first (Newcombe hybrid score
                interval), score (NPS promoters-detractors / mean), time to
                response (nearest-rank median, p90), by channel (with the
                benchmark band), by attempt, by local hour of the send (zone
                of the customer at the trigger), warnings short_experiment and
                few_asks, responses / attributed counts
  diff csv    : multiset difference and its order
  diff json   : totals, per rule/survey/channel before/after, gaining and
                losing customers, contact pressure 0/1/2/3+ and max in any
                (t-30d, t], moved sends and median shift, only_old/only_new

  diff markdown: the top-10 customers gaining / losing asks (by the size of
                the change, then customer id) and "...and N more", the most
                asks in 30 days, moved sends, the pressure percentages
  diff --fail-if: every `FIELD == oracle value` holds (exit 3, each named),
                no `!=` does (exit 0), short forms (`pressure.max`) included
  invariance (every 4th seed): readout/diff json from a .kbc, with --jobs 1
                and 3, from the log gzip-compressed and on standard input;
                --shard 0..2/3: diff csv rows merged = unsharded, diff json
                counts and readout asks/answered add up

The trigger of a chain (for moved sends and the zone at the trigger) is
inferred from the events: the generated policies use only `after EVENT`
or `every` triggers with `on retrigger restart` (the default) and `where`
clauses this script can evaluate, so a chain's trigger is the latest matching
event (or `every` boundary) at or before any of its rows; policies with an
`every` rule get customers whose zone is set by their first event and kept.

Readings taken where the text leaves room (kairos agrees with each):
  - few_asks is given for every declared variant of a rule with variants (a
    variant without asks: "asks": 0), also when the rule made no ask at all
    (in the group): the tables have no row of it;
  - "the rule's first variant" is the first declared one: if it has no ask,
    every vs_first of the rule is null;
  - NPS: promoters are scores 9..10, detractors 0..6 (6.5 or 8.9: neither);
  - diff surveys/channels: first use by OLD's rules in OLD's order, then by
    NEW's rules in NEW's order (chain channels, then variant `via` channels);
  - with --until, every response of the log is counted and attributed, also
    those after the horizon.

Usage:
  check.py run KAIROS SEED... [--keep DIR]   generate + check random cases
  check.py edge KAIROS [--keep DIR]          the fixed edge cases
  check.py big KAIROS SEED... [--keep DIR]   as run, 1500-3000 customers
  check.py verify KAIROS CASEDIR             check one kept case
"""
import csv
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone, timedelta

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None

Z = 1.959964
DAY = 86400
BENCH = {"email": (0.08, 0.12), "in_app": (0.15, 0.25), "sms": (0.25, 0.35),
         "whatsapp": (0.20, 0.30)}
T0 = 1772323200  # 2026-03-01T00:00:00Z
BIG = False  # `check.py big`: 1500-3000 customers over 90 days

# --------------------------------------------------------------- utilities


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def parse_dur(s):
    units = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
    tot, num = 0, ""
    for ch in s:
        if ch.isdigit():
            num += ch
        else:
            tot += int(num) * units[ch]
            num = ""
    return tot


def f4(x):
    return "%.4f" % x


def wilson(a, n):
    if n == 0:
        return (0.0, 0.0, 0.0)
    p = a / n
    z2 = Z * Z
    den = 1 + z2 / n
    c = p + z2 / (2 * n)
    r = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo = (c - r) / den
    hi = (c + r) / den
    if a == 0:
        lo = 0.0
    if a == n:
        hi = 1.0
    return (p, lo, hi)


def nearest_rank(sorted_vals, q):
    n = len(sorted_vals)
    k = max(1, math.ceil(q * n - 1e-12))
    return sorted_vals[k - 1]


NUMRE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def num(v):
    """A cell as SPEC 5.4 reads it: a decimal number is a number, `true` /
    `false` a boolean, anything else a string."""
    if v is None or v == "":
        return None
    if NUMRE.match(v):
        return float(v)
    if v in ("true", "false"):
        return v == "true"
    return v


def parse_time(t):
    if isinstance(t, int):
        return t
    if t.isdigit():
        return int(t)
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())


def read_events(paths):
    """Events in replay order (time, then the files' order, then row order).
    Attribute values are kept as CSV cells would be (strings)."""
    if isinstance(paths, str):
        paths = [paths]
    rows = []
    for path in paths:
        if path.endswith(".jsonl"):
            with open(path) as f:
                for line in f:
                    o = json.loads(line)
                    rows.append({k: ("" if v is None else (json.dumps(v) if not isinstance(v, str) else v))
                                 for k, v in o.items()})
        else:
            with open(path, newline="") as f:
                rows += list(csv.DictReader(f))
    evs = []
    for i, r in enumerate(rows):
        t = parse_time(r["time"])
        attrs = {k: r[k] for k in r if k not in ("time", "customer", "event") and r[k] != ""}
        evs.append({"t": t, "i": i, "c": r["customer"], "e": r["event"], "a": attrs})
    evs.sort(key=lambda e: (e["t"], e["i"]))
    return evs


def read_schedule(text):
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["time", "customer", "rule", "action", "survey", "channel", "attempt", "variant"], rows[0]
    out = []
    for k, r in enumerate(rows[1:]):
        out.append({"t": parse_iso(r[0]), "c": r[1], "rule": r[2], "action": r[3], "survey": r[4],
                    "ch": r[5], "att": int(r[6]), "var": r[7], "k": k, "raw": r})
    return out


def schedule_text(sched):
    return "time,customer,rule,action,survey,channel,attempt,variant\n" + "".join(csv_line(r["raw"]) for r in sched)


def run(cmd, stdin=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=stdin)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------ policy generation
# A policy is a dict: name, tz, caps, quiet, rules[]; each rule: name, kind
# (ask|task), survey, chain [(ch, delay_after_prev)], trig, delay, where
# (None | (attr, op, value) | "detractor"), variants [(name, pct, delay|None,
# ch|None)], prio, at, cap, cond.

ZONES = ["Europe/Oslo", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC",
         "America/Los_Angeles", "Pacific/Chatham"]
SURVEYS = ["NPS", "CSAT", "CES"]
CHANNELS = ["email", "sms", "whatsapp", "in_app", "push", "phone"]
TRIGS = ["purchase", "ticket_closed", "login", "signup"]


def gen_rule(rnd, name):
    r = {"name": name, "kind": "ask"}
    r["survey"] = rnd.choice(SURVEYS)
    n = rnd.choice([1, 1, 2, 3])
    chain = [(rnd.choice(CHANNELS), 0)]
    for _ in range(n - 1):
        chain.append((rnd.choice(CHANNELS), rnd.choice([3600, 12 * 3600, DAY, 2 * DAY, 3 * DAY])))
    r["chain"] = chain
    r["trig"] = rnd.choice(TRIGS)
    r["delay"] = rnd.choice([0, 0, 3600, 2 * 3600, DAY, 3 * DAY, 90 * 60])
    r["where"] = None
    if rnd.random() < 0.15:
        r["trig"] = "every"
        r["delay"] = 0
        r["every"] = (rnd.choice(["day", "week", "month", 3 * DAY, 10 * DAY]),
                      rnd.choice([None, "10:00", "18:30"]))
    if r["trig"] == "purchase" and rnd.random() < 0.5:
        r["where"] = ("amount", rnd.choice([">", ">=", "<"]), rnd.choice([10, 50, 100]))
    elif r["trig"] == "ticket_closed" and rnd.random() < 0.5:
        r["where"] = ("kind", "==", rnd.choice(["tech", "billing"]))
    r["variants"] = []
    if rnd.random() < 0.5:
        k = rnd.choice([1, 2, 2, 3])
        left = 100
        for j in range(k):
            pct = rnd.randint(1, max(1, left - (k - j - 1)))
            if j == k - 1 and rnd.random() < 0.5:
                pct = left
            pct = min(pct, left)
            if pct <= 0:
                break
            left -= pct
            d = rnd.choice([None, None, 3600 * rnd.choice([1, 24, 72])])
            ch = rnd.choice([None, None, None, rnd.choice(CHANNELS)])
            r["variants"].append(("v%d%s" % (j, rnd.choice(["", "x"])), pct, d, ch))
    r["prio"] = rnd.choice([None, None, 1, 5, -1])
    r["at"] = rnd.choice([None, None, None, "mon-fri 09:00-17:00", "10:00-20:00", "best_time(login)"])
    r["cap"] = rnd.choice([None, None, "1 per 7d", "2 per 30d"])
    r["cond"] = rnd.choice([None, None, "if no login within 24h", "unless responded(%s within 14d)" % r["survey"],
                            "if count(purchase) >= 1"])
    return r


def gen_task(rnd, name):
    return {"name": name, "kind": "task", "survey": rnd.choice(["detractor_call", "followup", "NPS", "CSAT"]),
            "chain": [(rnd.choice(["phone", "email"]), 0)], "trig": "response",
            "delay": rnd.choice([0, 4 * 3600]), "where": "detractor", "variants": [], "prio": None,
            "at": None, "cap": None, "cond": None}


def gen_policy(rnd, name):
    p = {"name": name, "tz": rnd.choice(ZONES), "caps": [], "quiet": [], "rules": []}
    if rnd.random() < 0.6:
        p["caps"].append("cap %d per %dd" % (rnd.choice([1, 2, 3]), rnd.choice([7, 14, 30])))
    if rnd.random() < 0.3:
        p["caps"].append("cap 1 per 2d on sms, whatsapp")
    if rnd.random() < 0.5:
        p["quiet"].append("quiet 21:00-08:00 on sms, whatsapp")
    if rnd.random() < 0.3:
        p["quiet"].append("quiet 22:30-07:15")
    if rnd.random() < 0.4:
        p["quiet"].append("require consent on " + rnd.choice(["sms", "sms, whatsapp", "email", "in_app"]))
    for i in range(rnd.randint(1, 4)):
        p["rules"].append(gen_rule(rnd, "r%d" % i))
    if rnd.random() < 0.3:
        p["rules"].append(gen_task(rnd, "t0"))
    return p


def mutate(rnd, p):
    q = json.loads(json.dumps(p))
    q["rules"] = [dict(r, chain=[tuple(c) for c in r["chain"]], variants=[tuple(v) for v in r["variants"]],
                       where=(tuple(r["where"]) if isinstance(r["where"], list) else r["where"]),
                       **({"every": tuple(r["every"])} if "every" in r else {}))
                  for r in q["rules"]]
    for _ in range(rnd.randint(1, 3)):
        m = rnd.randrange(13)
        rs = [r for r in q["rules"] if r["kind"] == "ask"]
        if not rs:
            q["rules"].append(gen_rule(rnd, "n%d" % rnd.randrange(100)))
            continue
        r = rnd.choice(rs)
        if m == 0:
            r["delay"] = rnd.choice([0, 3600, DAY, 2 * DAY])
        elif m == 1:
            q["caps"] = ["cap %d per %dd" % (rnd.choice([1, 2]), rnd.choice([7, 30]))] if rnd.random() < 0.7 else []
        elif m == 2:
            q["quiet"] = rnd.choice([[], ["quiet 20:00-09:00"], ["quiet 21:00-08:00 on sms, whatsapp"]])
        elif m == 3 and len(q["rules"]) > 1:
            q["rules"].remove(r)
        elif m == 4:
            q["rules"].append(gen_rule(rnd, "n%d" % rnd.randrange(100)))
        elif m == 5:
            r["chain"] = [(rnd.choice(CHANNELS), 0)] + r["chain"][1:]
        elif m == 6:
            r["variants"] = [(v[0], max(1, v[1] - 10), v[2], v[3]) for v in r["variants"]]
        elif m == 7:
            r["prio"] = rnd.choice([None, 3, -2])
        elif m == 8:
            r["at"] = rnd.choice([None, "mon-fri 09:00-17:00", "08:00-18:00"])
        elif m == 9:
            r["cond"] = rnd.choice([None, "if no login within 24h"])
        elif m == 10 and r["trig"] != "every":
            r["where"] = rnd.choice([None, ("amount", ">", 50)]) if r["trig"] == "purchase" else None
            r["trig"] = rnd.choice(TRIGS)
            if r["trig"] != "purchase":
                r["where"] = None
        elif m == 11 and r["trig"] == "every":
            r["every"] = (r["every"][0], rnd.choice([None, "10:00", "18:30"]))
        else:
            r["variants"] = [(v[0] + "n" if rnd.random() < 0.5 else v[0], v[1], v[2], v[3]) for v in r["variants"]]
    if rnd.random() < 0.2:
        q["name"] = p["name"] + "b"  # other buckets
    return q


def dur_s(s):
    if s == 0:
        return "0s"
    out = ""
    for u, n in (("d", DAY), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= n:
            out += "%d%s" % (s // n, u)
            s %= n
    return out


def policy_text(p):
    L = ['policy "%s"' % p["name"], 'timezone "%s"' % p["tz"], "",
         "event purchase { amount: number }", "event ticket_closed { kind: string }", ""]
    L += p["caps"] + p["quiet"] + [""]
    for r in p["rules"]:
        L.append("rule %s:" % r["name"])
        if r["kind"] == "task":
            L.append("  task %s via %s" % (r["survey"], r["chain"][0][0]))
        else:
            via = "via " + r["chain"][0][0] + "".join(" then %s after %s" % (c, dur_s(d)) for c, d in r["chain"][1:])
            L.append("  ask %s %s" % (r["survey"], via))
        if r["trig"] == "every":
            per, at = r["every"]
            L.append("  every %s%s" % (dur_s(per) if isinstance(per, int) else per, " at " + at if at else ""))
        trig = "  after %s" % r["trig"]
        if r["trig"] == "every":
            pass
        elif r["delay"]:
            trig += " + %s" % dur_s(r["delay"])
        w = r["where"]
        if w == "detractor":
            trig += ' where survey == "NPS" and score <= 6'
        elif w:
            val = '"%s"' % w[2] if isinstance(w[2], str) else str(w[2])
            trig += " where %s %s %s" % (w[0], w[1], val)
        if r["trig"] != "every":
            L.append(trig)
        if r["cond"]:
            L.append("  " + r["cond"])
        if r["at"]:
            L.append("  at " + r["at"])
        if r["cap"]:
            L.append("  cap " + r["cap"])
        if r["prio"] is not None:
            L.append("  priority %d" % r["prio"])
        for v in r["variants"]:
            s = "  variant %s %d%%" % (v[0], v[1])
            br = []
            if v[2] is not None:
                br.append("+ " + dur_s(v[2]))
            if v[3] is not None:
                br.append("via " + v[3])
            if br:
                s += " { " + " ".join(br) + " }"
            L.append(s)
        L.append("")
    return "\n".join(L)


SEGS = ["gold", "silver", "Gold", "1", "2.50", "10", "b,c", "1e3", "+3", ".5", "true", "1.0", "9", "-0", "1000"]
CUSTS = ["c1", "c2", "c3", "c10", "C4", "a,b", 'q"x', "z9", "c5", "c6", "b 7", "c11"]


def gen_events(rnd, ncust, days, fixed_tz=False):
    evs = []  # (t, cust, event, attrs)
    custs = rnd.sample(CUSTS, min(ncust, len(CUSTS))) + ["k%d" % i for i in range(max(0, ncust - len(CUSTS)))]
    tzs = ZONES + ["Not/AZone", "Europe/Oslo"]
    for c in custs:
        start = T0 + rnd.randrange(0, 5 * DAY)
        if fixed_tz:  # the zone is set by the customer's first event and stays
            start = T0 + rnd.randrange(0, 5 * DAY) * 0
        if rnd.random() < 0.8:
            a = {"tz": rnd.choice(tzs)}
            if rnd.random() < 0.7:
                a["segment"] = rnd.choice(SEGS)
            evs.append([start | 1, c, "identify", a])
        if rnd.random() < 0.15:  # the segment changes (a missing cell keeps the tz)
            evs.append([(T0 + rnd.randrange(0, days * DAY)) | 1, c, "identify", {"segment": rnd.choice(SEGS)}])
        for _ in range(rnd.randint(1, 10)):
            t = (T0 + rnd.randrange(0, days * DAY)) & ~1
            if fixed_tz:
                t = max(t, T0 + 2)
            e = rnd.choice(TRIGS + ["login", "ticket_opened"])
            a = {}
            if e == "purchase" and rnd.random() < 0.9:
                a["amount"] = rnd.choice([5, 10, 50, 75, 100, 200])
            if e == "ticket_closed" and rnd.random() < 0.9:
                a["kind"] = rnd.choice(["tech", "billing", "other"])
            evs.append([t, c, e, a])
        if rnd.random() < 0.2 and not fixed_tz:
            evs.append([(T0 + rnd.randrange(0, days * DAY)) | 1, c, "identify", {"tz": rnd.choice(tzs)}])
        for _ in range(rnd.choice([0, 0, 1, 2])):  # consent, opt-out, opt-in
            k = rnd.choice(["consent_granted", "consent_revoked", "opt_out", "opt_in", "consent_granted"])
            a = {}
            if k.startswith("consent") or rnd.random() < 0.7:
                a["channel"] = rnd.choice(["sms", "email", "whatsapp", "in_app"])
            evs.append([(T0 + rnd.randrange(0, days * DAY)) & ~1 if not fixed_tz else T0 + 2 + rnd.randrange(0, days * DAY),
                        c, k, a])
        if rnd.random() < 0.05:  # odd responses: no survey, a numeric survey, a boolean score
            evs.append([T0 + 2 + rnd.randrange(0, days * DAY), c, "response",
                        rnd.choice([{"score": 9}, {"survey": "5", "score": 5}, {"survey": "NPS", "score": "true"},
                                    {"survey": "CSAT", "score": "4.5"}, {"survey": "NPS", "score": "-0"}])])
        if rnd.random() < 0.2:  # a response before any ask / random responses
            evs.append([T0 + 2 + rnd.randrange(0, days * DAY), c, "response",
                        {"survey": rnd.choice(SURVEYS + ["XYZ"]), "score": rnd.choice([0, 3, 6, 7, 8, 9, 10, 5, ""])}])
    return evs, custs


def add_responses(rnd, evs, sched, window):
    """Responses placed relative to the sends of a schedule: same second,
    exactly at the window edge, one second past it, one before, inside."""
    for r in sched:
        if r["action"] == "task" or rnd.random() < 0.45:
            continue
        off = rnd.choice([0, window, window + 1, -1, rnd.randrange(1, 3 * DAY), 3600, 2])
        sc = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "", "n/a"])
        evs.append([r["t"] + off, r["c"], "response", {"survey": r["survey"], "score": sc}])
        if rnd.random() < 0.1:  # a second response to the same ask
            evs.append([r["t"] + off + rnd.choice([0, 0, rnd.randrange(0, DAY)]), r["c"], "response",
                        {"survey": r["survey"], "score": rnd.choice([9, 2, 5, ""])}])


def spell_time(t, rnd):
    """A random but equivalent spelling of a time."""
    if rnd is None:
        return iso(t)
    k = rnd.randrange(4)
    if k == 0:
        return str(t)
    if k == 1:
        off = rnd.choice([-5, 1, 2, 5, 9])
        d = datetime.fromtimestamp(t, timezone(timedelta(hours=off)))
        return d.strftime("%Y-%m-%dT%H:%M:%S") + "%+03d:00" % off
    return iso(t)


def write_events(path, evs, rnd=None):
    if rnd:
        rnd.shuffle(evs)  # input need not be sorted
    cols = ["amount", "kind", "tz", "segment", "survey", "score", "channel"]
    if path.endswith(".jsonl"):
        with open(path, "w") as f:
            for t, c, e, a in evs:
                o = {"time": spell_time(t, rnd), "customer": c, "event": e}
                for k in cols:
                    if k in a and a[k] != "":
                        o[k] = a[k]
                f.write(json.dumps(o) + "\n")
        return
    with open(path, "w", newline="") as f:
        f.write(csv_line(["time", "customer", "event"] + cols))
        for t, c, e, a in evs:
            f.write(csv_line([spell_time(t, rnd), c, e] + [a.get(k, "") for k in cols]))


# ---------------------------------------------------------------- readout


def zone_of(pol, evs_by_c, c, t, upto=None):
    """The zone in force at t (with upto, only the rows applied up to the
    row of that input index at the instant t: a trigger event's own row)."""
    tz = None
    for e in evs_by_c.get(c, []):
        if e["t"] > t:
            break
        if upto is not None and e["t"] == t and e["i"] > upto:
            continue
        if e["e"] == "identify" and "tz" in e["a"]:
            tz = e["a"]["tz"]
    if tz:
        try:
            return ZoneInfo(tz)
        except Exception:
            pass
    return ZoneInfo(pol["tz"])


def where_ok(rule, e):
    w = rule["where"]
    if w is None:
        return True
    if w == "detractor":
        s = num(e["a"].get("survey"))
        sc = num(e["a"].get("score"))
        return s == "NPS" and isinstance(sc, float) and sc <= 6
    attr, op, val = w
    x = num(e["a"].get(attr))
    if x is None:
        return False
    if isinstance(val, str):
        return isinstance(x, str) and x == val if op == "==" else False
    if not isinstance(x, float):
        return False
    return {">": x > val, ">=": x >= val, "<": x < val}[op]


def local_at(z, y, m, d, hh, mm):
    return int(datetime(y, m, d, hh, mm, tzinfo=z).timestamp())


def every_boundary(pol, evs_by_c, rule, c, t):
    """The latest boundary of an `every` rule at or before t (and at or after
    the customer's first event).  The generated cases give such customers
    one zone from their first event on and use no nonexistent local times."""
    cev = evs_by_c.get(c, [])
    first = cev[0]["t"]
    z = zone_of(pol, evs_by_c, c, t)
    per, at = rule["every"]
    hh, mm = (int(at[:2]), int(at[3:])) if at else (0, 0)
    if isinstance(per, int):
        k = (t - first) // per
        best = None
        for j in range(1, k + 2):
            b = first + j * per
            if at:
                ld = datetime.fromtimestamp(b, z)
                cand = local_at(z, ld.year, ld.month, ld.day, hh, mm)
                if cand < b:
                    nd = (ld + timedelta(days=1))
                    cand = local_at(z, nd.year, nd.month, nd.day, hh, mm)
                b = cand
            if b <= t:
                best = b
        return best
    ld = datetime.fromtimestamp(t, z).date()
    for back in range(0, 80):
        dd = ld - timedelta(days=back)
        if per == "week" and dd.weekday() != 0:
            continue
        if per == "month" and dd.day != 1:
            continue
        b = local_at(z, dd.year, dd.month, dd.day, hh, mm)
        if b <= t:
            return b if b >= first else None
    return None


def trigger_of(pol, evs_by_c, row, index=False):
    rule = next(r for r in pol["rules"] if r["name"] == row["rule"])
    if rule["trig"] == "every":
        b = every_boundary(pol, evs_by_c, rule, row["c"], row["t"])
        return (b, None) if index else b
    best = bi = None
    for e in evs_by_c.get(row["c"], []):
        if e["t"] > row["t"]:
            break
        if e["e"] == rule["trig"] and where_ok(rule, e):
            best, bi = e["t"], e["i"]
    return (best, bi) if index else best


def chains_of(sched):
    """Group sent attempts into asks: an `ask` row opens a chain of its
    (customer, rule); later `remind` rows join the open one."""
    openc = {}
    chains = []
    for r in sched:
        if r["action"] == "task":
            continue
        key = (r["c"], r["rule"])
        if r["action"] == "ask":
            ch = {"rows": [r], "rule": r["rule"], "var": r["var"], "c": r["c"], "t": r["t"]}
            chains.append(ch)
            openc[key] = ch
        else:
            ch = openc.get(key)
            if ch is None:
                raise RuntimeError("remind without ask: %r" % (r["raw"],))
            ch["rows"].append(r)
        r["chain"] = openc[key]
    return chains


def readout(pol, evs, sched, window, by=None):
    evs_by_c = {}
    for e in evs:
        evs_by_c.setdefault(e["c"], []).append(e)
    chains = chains_of(sched)
    sent = [r for r in sched if r["action"] in ("ask", "remind")]
    by_cs = {}
    for r in sent:
        by_cs.setdefault((r["c"], r["survey"]), []).append(r)
    responses = [e for e in evs if e["e"] == "response"]
    attributed = 0
    for r in sent:
        r["resp"] = []
    for e in responses:
        s = num(e["a"].get("survey"))
        if not isinstance(s, str):
            continue
        best = None
        for r in by_cs.get((e["c"], s), []):
            if r["t"] <= e["t"] and (best is None or r["t"] > best["t"] or (r["t"] == best["t"] and r["k"] > best["k"])):
                best = r
        if best is not None and e["t"] - best["t"] <= window:
            best["resp"].append(e)
            attributed += 1
    for c in chains:
        c["group"] = trait_at(evs_by_c, c["c"], c["t"], by) if by else None
    if by:
        keys = sorted({c["group"] for c in chains if c["group"] is not None}, key=lambda v: v.encode())
        gl = [(k, [c for c in chains if c["group"] == k]) for k in keys]
        rest = [c for c in chains if c["group"] is None]
        if rest:
            gl.append((None, rest))
    else:
        gl = [(None, chains)]
    groups = [tables(pol, evs_by_c, gchains, trait) for trait, gchains in gl]
    return {"responses": len(responses), "attributed": attributed, "groups": groups}


def fmt_trait(v):
    x = num(v)
    if isinstance(x, float):
        return "%.15g" % (x if x != 0 else 0.0)      # -0 is 0: one group (SPEC readout --by)
    return v


def trait_at(evs_by_c, c, t, trait):
    """The trait's value set by the latest identify at or before t."""
    val = None
    for e in evs_by_c.get(c, []):
        if e["t"] > t:
            break
        if e["e"] == "identify" and trait in e["a"]:
            val = fmt_trait(e["a"][trait])
    return val


def tables(pol, evs_by_c, chains, trait):
    sent = [r for c in chains for r in c["rows"]]
    sent.sort(key=lambda r: r["k"])
    arms = []
    for rule in pol["rules"]:
        if rule["kind"] != "ask":
            continue
        vnames = [v[0] for v in rule["variants"]] or [""]
        first = None
        for vi, v in enumerate(vnames):
            cs = [c for c in chains if c["rule"] == rule["name"] and c["var"] == v]
            if not cs:
                continue
            n = len(cs)
            resp_of = []
            for c in cs:
                rs = []
                for r in c["rows"]:
                    for e in r["resp"]:
                        rs.append((e["t"], e["i"], e, r))
                rs.sort(key=lambda x: (x[0], x[1]))
                resp_of.append(rs)
            a = sum(1 for rs in resp_of if rs)
            p, lo, hi = wilson(a, n)
            arm = {"rule": rule["name"], "variant": v, "asks": n, "answered": a, "rate": p, "low": lo,
                   "high": hi, "vidx": vi, "chains": cs}
            if rule["variants"] and vi == 0:
                first = arm
            if rule["variants"] and first is not None and arm is not first:
                d = p - first["rate"]
                arm["vs_first"] = (d, d - math.sqrt((p - lo) ** 2 + (first["high"] - first["rate"]) ** 2),
                                   d + math.sqrt((hi - p) ** 2 + (first["rate"] - first["low"]) ** 2))
            else:
                arm["vs_first"] = None
            scored = []
            for rs in resp_of:
                for (_, _, e, r) in rs:
                    sc = num(e["a"].get("score"))
                    if isinstance(sc, float):
                        scored.append(sc)
                        break
            if not scored:
                arm["score"] = None
            elif rule["survey"] == "NPS":
                pr = sum(1 for s in scored if 9 <= s <= 10)
                de = sum(1 for s in scored if 0 <= s <= 6)
                arm["score"] = {"kind": "nps", "responses": len(scored), "promoters": pr, "detractors": de,
                                "value": 100.0 * (pr - de) / len(scored)}
            else:
                arm["score"] = {"kind": "mean", "responses": len(scored), "value": sum(scored) / len(scored)}
            ttr = sorted(rs[0][0] - rs[0][3]["t"] for rs in resp_of if rs)
            arm["ttr"] = (nearest_rank(ttr, 0.5), nearest_rank(ttr, 0.9)) if ttr else None
            arms.append(arm)
    # by channel / attempt / hour over sent attempts
    bych, byatt, byhr = {}, {}, {}
    chorder = []
    for r in sent:
        ans = 1 if r["resp"] else 0
        if r["ch"] not in bych:
            chorder.append(r["ch"])
        for d, k in ((bych, r["ch"]), (byatt, r["att"])):
            s = d.setdefault(k, [0, 0])
            s[0] += 1
            s[1] += ans
        tt, ti = trigger_of(pol, evs_by_c, r, index=True)
        z = zone_of(pol, evs_by_c, r["c"], tt if tt is not None else r["t"], ti)
        hr = datetime.fromtimestamp(r["t"], z).hour
        s = byhr.setdefault(hr, [0, 0])
        s[0] += 1
        s[1] += ans
    warnings = []
    for rule in pol["rules"]:
        if not rule["variants"]:
            continue
        ra = [a for a in arms if a["rule"] == rule["name"]]
        ts = [c["t"] for a in ra for c in a["chains"]]
        if ts and max(ts) - min(ts) < 28 * DAY:
            warnings.append({"rule": rule["name"], "kind": "short_experiment", "days": (max(ts) - min(ts)) / DAY})
        # "every variant with fewer than 100 asks": every declared variant,
        # one without asks included (0 < 100)
        for v in rule["variants"]:
            n = sum(a["asks"] for a in ra if a["variant"] == v[0])
            if n < 100:
                warnings.append({"rule": rule["name"], "variant": v[0], "kind": "few_asks", "asks": n})
    return {"trait": trait, "arms": arms, "bych": bych, "chorder": chorder,
            "byatt": byatt, "byhr": byhr, "warnings": warnings}



def readout_csv(ro):
    out = "rule,variant,asks,answered,rate,low,high\n"
    for a in ro["groups"][0]["arms"]:
        out += "%s,%s,%d,%d,%s,%s,%s\n" % (a["rule"], a["variant"], a["asks"], a["answered"], f4(a["rate"]),
                                            f4(a["low"]), f4(a["high"]))
    return out


# ------------------------------------------------------------------- diff


def diff_rows(old, new):
    """Multiset difference per (time, customer) group."""
    def groups(s):
        g = {}
        for r in s:
            g.setdefault((r["t"], r["c"].encode()), []).append(r)
        return g
    go, gn = groups(old), groups(new)
    out = []
    for key in sorted(set(go) | set(gn)):
        os_, ns = go.get(key, []), gn.get(key, [])
        used = [False] * len(ns)
        minus = []
        for r in os_:
            for j, q in enumerate(ns):
                if not used[j] and q["raw"][1:] == r["raw"][1:]:
                    used[j] = True
                    break
            else:
                minus.append(r)
        plus = [q for j, q in enumerate(ns) if not used[j]]
        out += [("-", r) for r in minus] + [("+", r) for r in plus]
    return out


def csv_field(x):
    x = str(x)
    if any(ch in x for ch in ',"\r\n'):
        return '"' + x.replace('"', '""') + '"'
    return x


def csv_line(fields):
    """RFC 4180 as SPEC 4.13: quoted when holding a comma, a quote, CR or LF."""
    return ",".join(csv_field(x) for x in fields) + "\n"


def pressure(sched, custs):
    asks = {}
    for r in sched:
        if r["action"] == "ask":
            asks.setdefault(r["c"], []).append(r["t"])
    mx = {}
    for c in custs:
        ts = sorted(asks.get(c, []))
        m = 0
        for i, t in enumerate(ts):
            m = max(m, sum(1 for u in ts if t - 30 * DAY < u <= t))
        mx[c] = m
    n = len(custs)
    res = {}
    for b in ("0", "1", "2", "3+"):
        k = sum(1 for c in custs if (mx[c] >= 3 if b == "3+" else mx[c] == int(b)))
        res[b] = {"customers": k, "share": (k / n if n else 0.0)}
    res["max"] = max(mx.values()) if mx else 0
    return res


def rule_channels(r):
    chs = [c for c, _ in r["chain"]]
    for v in r["variants"]:
        if v[3]:
            chs.append(v[3])
    return chs


def diff_summary(pold, pnew, evs, so, sn, custs):
    d = diff_rows(so, sn)
    res = {"customers": len(custs), "changed": bool(d),
           "rows": {"removed": sum(1 for x in d if x[0] == "-"), "added": sum(1 for x in d if x[0] == "+")}}
    act = {"ask": "asks", "remind": "reminders", "task": "tasks"}

    def count(s, key):
        c = {}
        for r in s:
            c.setdefault(r[key], {"asks": 0, "reminders": 0, "tasks": 0})[act[r["action"]]] += 1
        return c
    res["totals"] = {a: {"before": sum(1 for r in so if act[r["action"]] == a),
                         "after": sum(1 for r in sn if act[r["action"]] == a)} for a in ("asks", "reminders", "tasks")}
    oldn = [r["name"] for r in pold["rules"]]
    newn = [r["name"] for r in pnew["rules"]]
    rules = oldn + [n for n in newn if n not in oldn]
    surveys, chans = [], []
    # "in order of first use by those rules": OLD's rules in its order, then
    # NEW's rules in its order (a rule of both may use other names in NEW)
    for r in pold["rules"] + pnew["rules"]:
        if r["survey"] not in surveys:
            surveys.append(r["survey"])
        for c in rule_channels(r):
            if c not in chans:
                chans.append(c)
    for lst, key, nm in ((rules, "rule", "rules"), (surveys, "survey", "surveys"), (chans, "ch", "channels")):
        bo, bn = count(so, key), count(sn, key)
        z = {"asks": 0, "reminders": 0, "tasks": 0}
        res[nm] = [{"name": x, **{a: {"before": bo.get(x, z)[a], "after": bn.get(x, z)[a]}
                                   for a in ("asks", "reminders", "tasks")}} for x in lst]
        extra = (set(bo) | set(bn)) - set(lst)
        if extra:
            res.setdefault("unlisted", []).append((nm, sorted(extra)))
    ao, an = {}, {}
    for r in so:
        if r["action"] == "ask":
            ao[r["c"]] = ao.get(r["c"], 0) + 1
    for r in sn:
        if r["action"] == "ask":
            an[r["c"]] = an.get(r["c"], 0) + 1
    g = [an.get(c, 0) - ao.get(c, 0) for c in set(ao) | set(an)]
    allc = sorted(set(ao) | set(an), key=lambda x: x.encode())
    ch = [(an.get(x, 0) - ao.get(x, 0), x) for x in allc]
    res["percust"] = {
        "gain": [(x, ao.get(x, 0), an.get(x, 0)) for d_, x in sorted((t for t in ch if t[0] > 0),
                                                                      key=lambda t: (-t[0], t[1].encode()))],
        "lose": [(x, ao.get(x, 0), an.get(x, 0)) for d_, x in sorted((t for t in ch if t[0] < 0),
                                                                      key=lambda t: (t[0], t[1].encode()))]}
    res["gaining"] = {"customers": sum(1 for x in g if x > 0), "asks": sum(x for x in g if x > 0)}
    res["losing"] = {"customers": sum(1 for x in g if x < 0), "asks": -sum(x for x in g if x < 0)}
    res["pressure"] = {"before": pressure(so, custs), "after": pressure(sn, custs)}
    evs_by_c = {}
    for e in evs:
        evs_by_c.setdefault(e["c"], []).append(e)
    mo, mn = {}, {}
    for sign, r in d:
        pol = pold if sign == "-" else pnew
        key = (r["c"], r["rule"], trigger_of(pol, evs_by_c, r), r["att"], r["action"], r["survey"], r["ch"], r["var"])
        (mo if sign == "-" else mn).setdefault(key, []).append(r["t"])
    shifts = []
    for k in mo:
        if k in mn:
            a, b = sorted(mo[k]), sorted(mn[k])
            for i in range(min(len(a), len(b))):
                if a[i] != b[i]:
                    shifts.append(b[i] - a[i])
    shifts.sort()
    res["moved"] = {"sends": len(shifts), "median_shift_seconds": shifts[(len(shifts) - 1) // 2] if shifts else 0}
    res["only_old"] = [n for n in oldn if n not in newn]
    res["only_new"] = [n for n in newn if n not in oldn]
    return d, res


# ------------------------------------------------------------ comparison


class Case:
    def __init__(self, kairos, d):
        self.k = kairos
        self.d = d
        self.errs = []

    def err(self, what, exp, got):
        self.errs.append("%s: expected %s, got %s" % (what, exp, got))

    def eq(self, what, exp, got):
        if exp != got:
            self.err(what, repr(exp), repr(got))

    def fx(self, what, exp, got):
        """A 4-decimal field (kept as text by the JSON parser)."""
        if got is None or exp is None:
            if got is not exp:
                self.err(what, exp, got)
            return
        if f4(exp) != got:
            tag = "" if abs(float(got) - exp) > 0.000051 else " (last-digit rounding)"
            self.err(what + tag, f4(exp), got)


def load_meta(d):
    with open(os.path.join(d, "meta.json")) as f:
        return json.load(f)


def fix_policy(p):
    for r in p["rules"]:
        if "every" in r:
            r["every"] = tuple(r["every"])
        if isinstance(r["where"], list):
            r["where"] = tuple(r["where"])
    return p


def verify(kairos, d):
    c = Case(kairos, d)
    meta = load_meta(d)
    pold, pnew = fix_policy(meta["old"]), fix_policy(meta["new"])
    window = parse_dur(meta.get("window", "7d"))
    ev_paths = [os.path.join(d, f) for f in meta.get("files", ["events.csv"])]
    evs = read_events(ev_paths)
    custs = sorted({e["c"] for e in evs})
    uargs = ["--until", meta["until"]] if "until" in meta else []
    scheds = {}
    for nm in ("old", "new"):
        rc, out, errt = run([kairos, "simulate", os.path.join(d, nm + ".kai")] + ev_paths + uargs)
        if rc != 0:
            c.err("simulate %s" % nm, "exit 0", "exit %d: %s" % (rc, errt.strip()[:300]))
            return c
        scheds[nm] = read_schedule(out)
    wargs = (["--window", meta["window"]] if "window" in meta else []) + uargs
    # readout, both policies
    for nm, pol in (("old", pold), ("new", pnew)):
        try:
            ro = readout(pol, evs, scheds[nm], window)
        except RuntimeError as ex:
            c.err("schedule of %s" % nm, "remind after an ask", str(ex))
            continue
        pk = os.path.join(d, nm + ".kai")
        rc, out, errt = run([kairos, "readout", pk] + ev_paths + ["--format", "csv"] + wargs)
        if rc != 0:
            c.err("readout csv %s" % nm, "exit 0", "exit %d %s" % (rc, errt[:200]))
        else:
            exp = readout_csv(ro)
            if exp != out:
                el, gl = exp.splitlines(), out.splitlines()
                for i in range(max(len(el), len(gl))):
                    a = el[i] if i < len(el) else None
                    b = gl[i] if i < len(gl) else None
                    if a != b:
                        c.err("readout csv %s line %d" % (nm, i + 1), a, b)
        rc, out, errt = run([kairos, "readout", pk] + ev_paths + ["--format", "json"] + wargs)
        if rc != 0:
            c.err("readout json %s" % nm, "exit 0", "exit %d %s" % (rc, errt[:200]))
            continue
        j = json.loads(out, parse_float=str)
        c.eq("readout json %s: policy (the operand as given)" % nm, pk, j.get("policy"))
        cmp_readout_json(c, nm, ro, j, window)
        if "by" in meta:
            rob = readout(pol, evs, read_schedule(schedule_text(scheds[nm])), window, by=meta["by"])
            rob["by"] = meta["by"]
            rc, out, errt = run([kairos, "readout", pk] + ev_paths + ["--format", "json", "--by",
                                                                      "customer." + meta["by"]] + wargs)
            if rc != 0:
                c.err("readout json --by %s" % nm, "exit 0", "exit %d %s" % (rc, errt[:200]))
                continue
            cmp_readout_json(c, nm + " --by", rob, json.loads(out, parse_float=str), window)
    if meta.get("seed", 0) % 4 == 0:
        invariance(c, kairos, d, ev_paths, wargs, uargs)
    # diff
    exp_d, summ = diff_summary(pold, pnew, evs, scheds["old"], scheds["new"], custs)
    rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                        ["--format", "csv"] + uargs)
    exp = "change,time,customer,rule,action,survey,channel,attempt,variant\n" + "".join(
        csv_line([s] + r["raw"]) for s, r in exp_d)
    if rc != 0:
        c.err("diff csv", "exit 0", "exit %d %s" % (rc, errt[:200]))
    elif exp != out:
        el, gl = exp.splitlines(), out.splitlines()
        for i in range(max(len(el), len(gl))):
            a = el[i] if i < len(el) else None
            b = gl[i] if i < len(gl) else None
            if a != b:
                c.err("diff csv line %d" % (i + 1), a, b)
                break
    rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                        ["--format", "json"] + uargs)
    if rc != 0:
        c.err("diff json", "exit 0", "exit %d %s" % (rc, errt[:200]))
    else:
        j = json.loads(out, parse_float=str)
        c.eq("diff json: old, new (the operands as given)", [os.path.join(d, "old.kai"), os.path.join(d, "new.kai")],
             [j.get("old"), j.get("new")])
        cmp_diff_json(c, summ, j)
    if meta.get("seed", 1) % 3 == 0:
        cmp_fail_if(c, kairos, d, ev_paths, uargs, summ)
    rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                        ["--format", "markdown"] + uargs)
    if rc != 0:
        c.err("diff markdown", "exit 0", "exit %d %s" % (rc, errt[:200]))
    else:
        cmp_diff_markdown(c, summ, out)
    return c


def invariance(c, kairos, d, ev_paths, wargs, uargs):
    """The same numbers from a .kbc operand and with other --jobs."""
    kbc = os.path.join(d, "old.kbc")
    rc, _, errt = run([kairos, "compile", os.path.join(d, "old.kai"), "-o", kbc])
    if rc != 0:
        c.err("compile", "exit 0", errt[:200])
        return
    outs = {}
    for tag, pol, extra in (("kai", "old.kai", []), ("kbc", "old.kbc", []), ("jobs1", "old.kai", ["--jobs", "1"]),
                            ("jobs3", "old.kai", ["--jobs", "3"])):
        rc, out, errt = run([kairos, "readout", os.path.join(d, pol)] + ev_paths + ["--format", "json"] + wargs
                            + extra)
        j = json.loads(out) if rc == 0 else "exit %d: %s" % (rc, errt[:200])
        if isinstance(j, dict):
            j.pop("policy")
        outs[tag] = j
        rc, out, errt = run([kairos, "diff", os.path.join(d, pol), os.path.join(d, "new.kai")] + ev_paths +
                            ["--format", "json"] + uargs + extra)
        j = json.loads(out) if rc == 0 else "exit %d: %s" % (rc, errt[:200])
        if isinstance(j, dict):
            j.pop("old")
        outs[tag + "-diff"] = j
    # --shard K/N: the shards' diff rows merged by time and customer are the
    # unsharded difference; the shards' readout counts add up
    rc, full, _ = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                      ["--format", "csv"] + uargs)
    rc2, rfull, _ = run([kairos, "readout", os.path.join(d, "old.kai")] + ev_paths + ["--format", "csv"] + wargs)
    N = 3
    rows, counts, shard_sum = [], {}, {}
    for k in range(N):
        rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                            ["--format", "csv", "--shard", "%d/%d" % (k, N)] + uargs)
        if rc != 0:
            c.err("diff --shard %d/%d" % (k, N), "exit 0", errt[:200])
            return
        rows += list(csv.reader(io.StringIO(out)))[1:]
        rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                            ["--format", "json", "--shard", "%d/%d" % (k, N)] + uargs)
        j = json.loads(out)
        flat = {"customers": j["customers"], "removed": j["rows"]["removed"], "added": j["rows"]["added"],
                "gc": j["gaining"]["customers"], "ga": j["gaining"]["asks"], "lc": j["losing"]["customers"],
                "la": j["losing"]["asks"], "moved": j["moved"]["sends"]}
        for w in ("before", "after"):
            for b in ("0", "1", "2", "3+"):
                flat[w + b] = j["pressure"][w][b]["customers"]
        for a in ("asks", "reminders", "tasks"):
            for w in ("before", "after"):
                flat[a + w] = j["totals"][a][w]
        for key, v in flat.items():
            shard_sum[key] = shard_sum.get(key, 0) + v
        for w in ("before", "after"):
            shard_sum["max" + w] = max(shard_sum.get("max" + w, 0), j["pressure"][w]["max"])
        rc, out, errt = run([kairos, "readout", os.path.join(d, "old.kai")] + ev_paths +
                            ["--format", "csv", "--shard", "%d/%d" % (k, N)] + wargs)
        for r in list(csv.reader(io.StringIO(out)))[1:]:
            x = counts.setdefault((r[0], r[1]), [0, 0])
            x[0] += int(r[2])
            x[1] += int(r[3])
    rows.sort(key=lambda r: (r[1], r[2].encode()))
    c.eq("diff csv: shards merged vs unsharded", full, "change,time,customer,rule,action,survey,channel,attempt,variant\n"
         + "".join(csv_line(r) for r in rows))
    rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths +
                        ["--format", "json"] + uargs)
    j = json.loads(out)
    whole = {"customers": j["customers"], "removed": j["rows"]["removed"], "added": j["rows"]["added"],
             "gc": j["gaining"]["customers"], "ga": j["gaining"]["asks"], "lc": j["losing"]["customers"],
             "la": j["losing"]["asks"], "moved": j["moved"]["sends"]}
    for w in ("before", "after"):
        for b in ("0", "1", "2", "3+"):
            whole[w + b] = j["pressure"][w][b]["customers"]
        whole["max" + w] = j["pressure"][w]["max"]
    for a in ("asks", "reminders", "tasks"):
        for w in ("before", "after"):
            whole[a + w] = j["totals"][a][w]
    c.eq("diff json: shard counts summed vs unsharded", whole, shard_sum)
    exp = {(r[0], r[1]): [int(r[2]), int(r[3])] for r in list(csv.reader(io.StringIO(rfull)))[1:]}
    c.eq("readout csv: asks/answered summed over shards", exp, counts)
    # the same log gzip-compressed, and on standard input
    if len(ev_paths) == 1 and ev_paths[0].endswith(".csv"):
        import gzip
        raw = open(ev_paths[0], "rb").read()
        gz = ev_paths[0] + ".gz"
        with gzip.open(gz, "wb") as f:
            f.write(raw)
        for tag, paths, sin in (("gz", [gz], None), ("stdin", ["-"], raw)):
            rc, out, errt = run([kairos, "readout", os.path.join(d, "old.kai")] + paths + ["--format", "json"] + wargs, sin)
            j = json.loads(out) if rc == 0 else "exit %d: %s" % (rc, errt[:200])
            if isinstance(j, dict):
                j.pop("policy")
            c.eq("readout json from %s vs the file" % tag, outs["kai"], j)
            rc, out, errt = run([kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + paths +
                                ["--format", "json"] + uargs, sin)
            j = json.loads(out) if rc == 0 else "exit %d: %s" % (rc, errt[:200])
            if isinstance(j, dict):
                j.pop("old")
            c.eq("diff json from %s vs the file" % tag, outs["kai-diff"], j)
        os.remove(gz)
    for tag in ("kbc", "jobs1", "jobs3"):
        c.eq("readout json with %s vs .kai" % tag, outs["kai"], outs[tag])
        c.eq("diff json with %s vs .kai" % tag, outs["kai-diff"], outs[tag + "-diff"])


def cmp_readout_json(c, nm, ro, j, window):
    p = "readout json %s: " % nm
    c.eq(p + "window_seconds", window, j.get("window_seconds"))
    c.eq(p + "responses", ro["responses"], j.get("responses"))
    c.eq(p + "attributed", ro["attributed"], j.get("attributed"))
    c.eq(p + "by", ro.get("by"), j.get("by"))
    groups = j.get("groups", [])
    c.eq(p + "groups", [g["trait"] for g in ro["groups"]], [g.get("trait") for g in groups])
    for eg, g in zip(ro["groups"], groups):
        cmp_group(c, p + ("" if eg["trait"] is None else "[%s] " % eg["trait"]), eg, g)


def cmp_group(c, p, ro, g):
    arms = g.get("arms", [])
    c.eq(p + "arms", [(a["rule"], a["variant"]) for a in ro["arms"]], [(a["rule"], a["variant"]) for a in arms])
    for a, b in zip(ro["arms"], arms):
        q = p + "%s/%s " % (a["rule"], a["variant"])
        c.eq(q + "asks", a["asks"], b["asks"])
        c.eq(q + "answered", a["answered"], b["answered"])
        for k in ("rate", "low", "high"):
            c.fx(q + k, a[k], b[k])
        vf = b.get("vs_first")
        if a["vs_first"] is None or vf is None:
            if not (a["vs_first"] is None and vf is None):
                c.err(q + "vs_first", a["vs_first"], vf)
        else:
            for i, k in enumerate(("difference", "low", "high")):
                c.fx(q + "vs_first." + k, a["vs_first"][i], vf[k])
        s, t = a["score"], b.get("score")
        if s is None or t is None:
            if not (s is None and t is None):
                c.err(q + "score", s, t)
        else:
            c.eq(q + "score.kind", s["kind"], t.get("kind"))
            c.eq(q + "score.responses", s["responses"], t.get("responses"))
            if s["kind"] == "nps":
                c.eq(q + "score.promoters", s["promoters"], t.get("promoters"))
                c.eq(q + "score.detractors", s["detractors"], t.get("detractors"))
            c.fx(q + "score.value", s["value"], t.get("value"))
        tr = b.get("time_to_response")
        exp = a["ttr"]
        got = None if tr is None else (tr["median_seconds"], tr["p90_seconds"])
        c.eq(q + "time_to_response", exp, got)
    chs = g.get("channels", [])
    exp_ch = [(k, ro["bych"][k][0], ro["bych"][k][1]) for k in ro["chorder"]]
    got_ch = [(x["channel"], x["sent"], x["answered"]) for x in chs]
    if sorted(exp_ch) != sorted(got_ch):
        c.err(p + "channels", exp_ch, got_ch)
    for x in chs:
        k = x["channel"]
        if k in ro["bych"]:
            s = ro["bych"][k]
            c.fx(p + "channel %s rate" % k, s[1] / s[0], x["rate"])
            bm = BENCH.get(k)
            gb = x.get("benchmark")
            gb = None if gb is None else (float(gb["low"]), float(gb["high"]))
            c.eq(p + "channel %s benchmark" % k, bm, gb)
    got_at = [(x["attempt"], x["sent"], x["answered"]) for x in g.get("attempts", [])]
    c.eq(p + "attempts", [(k, v[0], v[1]) for k, v in sorted(ro["byatt"].items())], got_at)
    got_h = [(x["hour"], x["sent"], x["answered"]) for x in g.get("hours", [])]
    c.eq(p + "hours", [(k, v[0], v[1]) for k, v in sorted(ro["byhr"].items())], got_h)
    for x in g.get("attempts", []) + g.get("hours", []):
        c.fx(p + "rate of %r" % x, x["answered"] / x["sent"], x["rate"])
    exp_w = []
    for w in ro["warnings"]:
        if w["kind"] == "short_experiment":
            tenths = int(round(w["days"] * DAY)) // (DAY // 10)     # cut to a tenth, not rounded (SPEC 6.3)
            exp_w.append((w["rule"], "short_experiment", "%d.%d" % (tenths // 10, tenths % 10)))
        else:
            exp_w.append((w["rule"], w["variant"], "few_asks", w["asks"]))
    got_w = []
    for w in g.get("warnings", []):
        if w.get("kind") == "short_experiment":
            got_w.append((w["rule"], "short_experiment", w["days"]))
        else:
            got_w.append((w.get("rule"), w.get("variant"), w.get("kind"), w.get("asks")))
    c.eq(p + "warnings", exp_w, got_w)


def md_table(md, heading):
    """Rows of the table under a bold heading, unescaped; None if absent."""
    lines = md.split("\n")
    try:
        i = lines.index("**%s**" % heading)
    except ValueError:
        return None, None
    rows, more = [], None
    i += 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    i += 2  # header and rule
    while i < len(lines) and lines[i].startswith("|"):
        cells = re.split(r"(?<!\\)\|", lines[i])[1:-1]
        rows.append([re.sub(r"\\(.)", r"\1", x.strip()) for x in cells])
        i += 1
    while i < len(lines) and lines[i] == "":
        i += 1
    if i < len(lines):
        m = re.match(r"…and (\d+) more\.", lines[i])
        if m:
            more = int(m.group(1))
    return rows, more


def cmp_diff_markdown(c, s, md):
    """Top-10 customers gaining / losing asks (by the size of the change,
    then customer id) and a few numbers of the summary table."""
    p = "diff markdown: "
    for key, head in (("gain", "Top customers gaining asks"), ("lose", "Top customers losing asks")):
        lst = s["percust"][key]
        rows, more = md_table(md, head)
        if rows is None:
            if lst:
                c.err(p + head, "a table of %d" % len(lst), "no table")
            continue
        exp = [[cu, str(b), str(a)] for cu, b, a in lst[:10]]
        c.eq(p + head, exp, rows)
        c.eq(p + head + " (…and N more)", (len(lst) - 10) if len(lst) > 10 else None, more)
    rows, _ = md_table(md, "Contact pressure")  # the heading has a tail
    for line in md.split("\n"):
        m = re.match(r"\| most asks to one customer in 30 days \| (\d+) \| (\d+) \|", line)
        if m:
            c.eq(p + "most asks in 30 days", (s["pressure"]["before"]["max"], s["pressure"]["after"]["max"]),
                 (int(m.group(1)), int(m.group(2))))
        m = re.match(r"\| sends only moved in time \| \| \| (\d+)", line)
        if m:
            c.eq(p + "moved sends", s["moved"]["sends"], int(m.group(1)))
        m = re.match(r"\| (before|after) \| ([0-9.]+)% \| ([0-9.]+)% \| ([0-9.]+)% \| ([0-9.]+)% \| (\d+) \|", line)
        if m:
            e = s["pressure"][m.group(1)]
            exp = ["%.1f" % (100 * e[b]["share"]) for b in ("0", "1", "2", "3+")] + [str(e["max"])]
            c.eq(p + "pressure " + m.group(1), exp, list(m.groups()[1:]))


def cmp_fail_if(c, kairos, d, ev_paths, uargs, s):
    """--fail-if on integer fields of the summary, the short forms included
    (a field with before/after means after): every `==` holds (exit 3), no
    `!=` holds (exit 0)."""
    P = s["pressure"]
    fields = [("customers", s["customers"]), ("changed", int(s["changed"])),
              ("rows.added", s["rows"]["added"]), ("rows.removed", s["rows"]["removed"]),
              ("totals.asks", s["totals"]["asks"]["after"]), ("totals.reminders.before", s["totals"]["reminders"]["before"]),
              ("totals.tasks.after", s["totals"]["tasks"]["after"]),
              ("gaining.customers", s["gaining"]["customers"]), ("gaining.asks", s["gaining"]["asks"]),
              ("losing.customers", s["losing"]["customers"]), ("losing.asks", s["losing"]["asks"]),
              ("pressure.max", P["after"]["max"]), ("pressure.before.max", P["before"]["max"]),
              ("pressure.after.3+.customers", P["after"]["3+"]["customers"]),
              ("pressure.1.customers", P["after"]["1"]["customers"]),
              ("pressure.before.0.customers", P["before"]["0"]["customers"]),
              ("moved.sends", s["moved"]["sends"]), ("moved.median_shift_seconds", s["moved"]["median_shift_seconds"])]
    base = [kairos, "diff", os.path.join(d, "old.kai"), os.path.join(d, "new.kai")] + ev_paths + ["--format", "csv"] + uargs
    args = []
    for f, v in fields:
        args += ["--fail-if", "%s == %d" % (f, v)]
    rc, out, errt = run(base + args)
    c.eq("diff --fail-if FIELD == oracle value: exit", 3, rc)
    holds = [l for l in errt.splitlines() if "holds" in l]
    c.eq("diff --fail-if: conditions named as holding", len(fields), len(holds))
    args = []
    for f, v in fields:
        args += ["--fail-if", "%s != %d" % (f, v)]
    rc, out, errt = run(base + args)
    c.eq("diff --fail-if FIELD != oracle value: exit", 0, rc)


def cmp_diff_json(c, s, j):
    p = "diff json: "
    for k in ("customers", "changed", "rows", "totals", "gaining", "losing", "moved", "only_old", "only_new"):
        c.eq(p + k, s[k], j.get(k))
    for w in ("before", "after"):
        e, g = s["pressure"][w], j.get("pressure", {}).get(w, {})
        c.eq(p + "pressure.%s.max" % w, e["max"], g.get("max"))
        for b in ("0", "1", "2", "3+"):
            c.eq(p + "pressure.%s.%s.customers" % (w, b), e[b]["customers"], g.get(b, {}).get("customers"))
            c.fx(p + "pressure.%s.%s.share" % (w, b), e[b]["share"], g.get(b, {}).get("share"))
    for nm, key in (("rules", "rule"), ("surveys", "survey"), ("channels", "channel")):
        exp = [(x["name"], x["asks"], x["reminders"], x["tasks"]) for x in s[nm]]
        got = [(x.get(key), x.get("asks"), x.get("reminders"), x.get("tasks")) for x in j.get(nm, [])]
        if exp != got:
            # separate order from content
            if sorted(map(repr, exp)) == sorted(map(repr, got)):
                c.err(p + nm + " (order only)", [x[0] for x in exp], [x[0] for x in got])
            else:
                c.err(p + nm, exp, got)
    if "unlisted" in s:
        c.err(p + "rows whose rule/survey/channel is not declared", "none", s["unlisted"])


# ----------------------------------------------------------------- driver


def make_case(kairos, seed, d):
    rnd = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    pold = gen_policy(rnd, "p%d" % seed)
    pnew = mutate(rnd, pold)
    meta = {"seed": seed, "old": pold, "new": pnew}
    if rnd.random() < 0.4:
        meta["window"] = rnd.choice(["2d", "36h", "1h30m", "14d", "1d", "1s", "2w", "1d12h"])
    window = parse_dur(meta.get("window", "7d"))
    with open(os.path.join(d, "old.kai"), "w") as f:
        f.write(policy_text(pold))
    with open(os.path.join(d, "new.kai"), "w") as f:
        f.write(policy_text(pnew))
    fz = any(r["trig"] == "every" for r in pold["rules"] + pnew["rules"])
    if BIG:
        evs, custs = gen_events(rnd, rnd.choice([1500, 3000]), 90, fz)
    elif rnd.random() < 0.08:
        evs, custs = gen_events(rnd, rnd.choice([300, 500]), rnd.choice([45, 90]), fz)
    else:
        evs, custs = gen_events(rnd, rnd.choice([3, 6, 12, 25, 40]), rnd.choice([10, 30, 60]), fz)
    ev_path = os.path.join(d, "events.csv")
    write_events(ev_path, list(evs))
    rc, out, errt = run([kairos, "simulate", os.path.join(d, "old.kai"), ev_path])
    if rc != 0:
        raise RuntimeError("seed %d: simulate failed: %s" % (seed, errt))
    add_responses(rnd, evs, read_schedule(out), window)
    os.remove(ev_path)
    spell = rnd if rnd.random() < 0.5 else None
    if rnd.random() < 0.25:  # several files, CSV and JSON Lines
        rnd.shuffle(evs)
        k = rnd.randint(2, 3)
        files = ["ev%d.%s" % (i, rnd.choice(["csv", "jsonl"])) for i in range(k)]
        parts = [[] for _ in files]
        for e in evs:
            parts[rnd.randrange(k)].append(e)
        for f, part in zip(files, parts):
            write_events(os.path.join(d, f), part, spell)
        meta["files"] = files
    else:
        rnd.shuffle(evs)
        write_events(ev_path, evs, spell)
    if rnd.random() < 0.15:
        mx = max(e[0] for e in evs)
        meta["until"] = iso(rnd.randrange(T0 + DAY, mx))
    if rnd.random() < 0.3:
        meta["by"] = "segment"
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def report(c, keep, name):
    if not c.errs:
        return True
    dst = os.path.join(keep, name)
    if os.path.abspath(c.d) != os.path.abspath(dst):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(c.d, dst)
    print("MISMATCH %s (repro: %s; python3 %s verify KAIROS %s)" % (name, dst, sys.argv[0], dst))
    for e in c.errs[:12]:
        print("   " + e)
    if len(c.errs) > 12:
        print("   ... %d more" % (len(c.errs) - 12))
    return False


def main():
    a = sys.argv[1:]
    keep = "/tmp/oracle7-failures"
    if "--keep" in a:
        i = a.index("--keep")
        keep = a[i + 1]
        del a[i:i + 2]
    if not a:
        print(__doc__)
        sys.exit(2)
    mode, kairos = a[0], os.path.abspath(a[1])
    ok = bad = 0
    if mode == "verify":
        c = verify(kairos, a[2])
        sys.exit(0 if report(c, os.path.dirname(os.path.abspath(a[2])), os.path.basename(a[2])) else 1)
    tmp = tempfile.mkdtemp(prefix="oracle7.")
    try:
        if mode == "big":
            global BIG
            BIG = True
            mode = "run"
        if mode == "run":
            for s in a[2:]:
                d = os.path.join(tmp, "seed%s" % s)
                make_case(kairos, int(s), d)
                c = verify(kairos, d)
                if report(c, keep, "seed%s" % s):
                    ok += 1
                else:
                    bad += 1
        elif mode == "edge":
            sys.dont_write_bytecode = True
            import edge
            for name in edge.CASES:
                d = os.path.join(tmp, name)
                edge.make(name, d)
                c = verify(kairos, d)
                if report(c, keep, "edge-" + name):
                    ok += 1
                else:
                    bad += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("oracle7 %s: %d agree, %d mismatch" % (mode, ok, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
