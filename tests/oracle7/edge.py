"""Fixed edge cases for check.py (imported by `check.py edge`).

Each case writes old.kai, new.kai, events.csv and meta.json into a dir;
check.verify then compares kairos's readout (csv, json) and diff (csv, json)
with the oracle.
"""
import json
import os

import check
from check import DAY, T0

H = 3600


def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h % 100


def rule(name, survey="NPS", chain=(("email", 0),), trig="purchase", delay=0, variants=(), prio=None,
         where=None, kind="ask", cond=None, at=None, cap=None):
    return {"name": name, "kind": kind, "survey": survey, "chain": list(chain), "trig": trig, "delay": delay,
            "where": where, "variants": list(variants), "prio": prio, "at": at, "cap": cap, "cond": cond}


def pol(name, rules, tz="UTC", caps=(), quiet=()):
    return {"name": name, "tz": tz, "caps": list(caps), "quiet": list(quiet), "rules": rules}


def resp(t, c, survey, score=""):
    return [t, c, "response", {"survey": survey, "score": score}]


def ev(t, c, e, **a):
    return [t, c, e, a]


def pick(policy, rname, lo, hi, n, prefix="u"):
    """n customer ids whose bucket for policy/rule lies in [lo, hi)."""
    out, i = [], 0
    while len(out) < n:
        c = "%s%d" % (prefix, i)
        if lo <= fnv("%s/%s/%s" % (policy, rname, c)) < hi:
            out.append(c)
        i += 1
    return out


def case_window_edge():
    p = pol("we", [rule("nps", delay=H)])
    T = T0 + 10 * H
    evs = []
    for c in ("c1", "c2", "c3", "c4", "c5", "c6"):
        evs.append(ev(T, c, "purchase"))
    S = T + H
    evs += [resp(S + 7 * DAY, "c1", "NPS", 9),        # exactly at the edge: attributed
            resp(S + 7 * DAY + 1, "c2", "NPS", 9),    # one second past: not
            resp(S, "c3", "NPS", 3),                  # the same second as the send: attributed
            resp(S - 1, "c4", "NPS", 10),             # before any ask: not
            resp(S - 1, "c5", "NPS", 10), resp(S + 60, "c5", "NPS", 0),   # first before, then after
            resp(S + 5, "c6", "NPS"), resp(S + 9, "c6", "NPS", 7),          # first has no score
            resp(S, "c7", "NPS", 9)]                  # never asked
    evs.append(ev(S + 8 * DAY, "c8", "login"))
    return p, p, evs, None


def case_window_arg():
    p = pol("wa", [rule("nps")])
    T = T0 + 3 * H
    evs = [ev(T, c, "purchase") for c in ("c1", "c2", "c3")]
    evs += [resp(T + 5400, "c1", "NPS", 9), resp(T + 5401, "c2", "NPS", 9), resp(T + 60, "c3", "NPS", 1)]
    return p, p, evs, "1h30m"


def case_two_rules_one_survey():
    # a and b ask NPS at the same instant; b has the higher priority, so it
    # comes first in the schedule and a (later in schedule order) wins.
    p = pol("tr", [rule("a"), rule("b", prio=5), rule("c", survey="CSAT")])
    q = pol("tr", [rule("a", prio=5), rule("b"), rule("c", survey="CSAT")])
    T = T0 + 5 * H
    evs = [ev(T, c, "purchase") for c in ("c1", "c2", "c3")]
    evs += [resp(T, "c1", "NPS", 9), resp(T + 100, "c2", "NPS", 5), resp(T + 100, "c2", "CSAT", 4)]
    return p, q, evs, None


def case_reminders():
    # a response to a reminder answers the ask; a response at the same instant
    # as a reminder goes to the reminder; a later reminder after the response
    # is cancelled by kairos (the schedule shows it)
    p = pol("rm", [rule("r", survey="CES", chain=(("email", 0), ("sms", DAY), ("push", DAY)), delay=H)])
    T = T0 + 2 * DAY
    evs = [ev(T, c, "purchase") for c in ("c1", "c2", "c3", "c4")]
    S = T + H
    evs += [resp(S + DAY + 30, "c1", "CES", 6), resp(S + DAY, "c2", "CES", 2), resp(S + 2 * DAY + 7, "c3", "CES", 7)]
    evs.append(ev(S + 20 * DAY, "zz", "login"))
    q = pol("rm", [rule("r", survey="CES", chain=(("email", 0), ("sms", 2 * DAY)), delay=H)])
    return p, q, evs, None


def case_zero_asks():
    p = pol("za", [rule("nps", trig="never_happens")])
    evs = [ev(T0 + 100, "c1", "purchase"), resp(T0 + 200, "c1", "NPS", 9)]
    return p, p, evs, None


def case_rates_0_1_and_vs_first():
    # variant a: every ask answered; b: none answered; holdout 20%
    P = "rv"
    p = pol(P, [rule("x", variants=[("a", 40, None, None), ("b", 40, 24 * H, None)])])
    ca = pick(P, "x", 0, 40, 5, "a")
    cb = pick(P, "x", 40, 80, 4, "b")
    ch = pick(P, "x", 80, 100, 2, "h")
    T = T0 + 12 * H
    evs = [ev(T, c, "purchase") for c in ca + cb + ch]
    evs += [resp(T + 600, c, "NPS", 10) for c in ca] + [resp(T + 600, c, "NPS", 10) for c in ch]
    q = pol(P, [rule("x", variants=[("a", 30, None, None), ("b", 50, 24 * H, None)])])
    return p, q, evs, None


def case_first_variant_no_asks():
    # the first declared variant has no ask: vs_first of the others?
    P = "fv"
    p = pol(P, [rule("x", survey="CSAT", variants=[("a", 10, None, None), ("b", 45, None, None), ("c", 45, None, None)])])
    cb = pick(P, "x", 10, 55, 3, "b")
    cc = pick(P, "x", 55, 100, 3, "c")
    T = T0 + 12 * H
    evs = [ev(T, c, "purchase") for c in cb + cc]
    evs += [resp(T + 60, cb[0], "CSAT", 5), resp(T + 60, cc[0], "CSAT", 2), resp(T + 60, cc[1], "CSAT", 3)]
    return p, p, evs, None


def case_nps_fractional():
    # scores that are not integers: 6.5 and 8.9 are neither 0-6 nor 9-10
    p = pol("nf", [rule("n")])
    T = T0
    cs = ["c%d" % i for i in range(6)]
    evs = [ev(T, c, "purchase") for c in cs]
    for c, s in zip(cs, [6.5, 8.9, 9, 10, 0, 6]):
        evs.append(resp(T + 10, c, "NPS", s))
    return p, p, evs, None


def case_task_name_response():
    # a response whose survey is a task's name: tasks are not contacts
    p = pol("tk", [rule("n"), rule("t", kind="task", survey="followup", chain=(("phone", 0),), trig="purchase")])
    evs = [ev(T0, "c1", "purchase"), resp(T0 + 5, "c1", "followup", 3), resp(T0 + 6, "c1", "NPS", 8)]
    return p, p, evs, None


def case_pressure_30d():
    p = pol("pr", [rule("n")])
    q = pol("pr", [rule("n", delay=H)])
    evs = [ev(T0, "c1", "purchase"), ev(T0 + 30 * DAY, "c1", "purchase"),        # 30 d apart: max 1
           ev(T0, "c2", "purchase"), ev(T0 + 30 * DAY - 1, "c2", "purchase"),    # 2
           ev(T0, "c3", "purchase"), ev(T0 + DAY, "c3", "purchase"), ev(T0 + 2 * DAY, "c3", "purchase"),
           ev(T0 + 3 * DAY, "c3", "purchase"),
           ev(T0 + 5, "c4", "login")]                                              # 0
    return p, q, evs, None


def case_tz_change():
    # the hour of the send is taken in the zone in force at the trigger
    p = pol("tz", [rule("n", delay=DAY)], tz="Europe/Oslo")
    evs = [ev(T0 + 1, "c1", "identify", tz="Asia/Kolkata", segment="2.50"), ev(T0 + 10 * H, "c1", "purchase"),
           ev(T0 + 12 * H + 1, "c1", "identify", tz="America/New_York", segment="gold"),
           ev(T0 + 1, "c3", "identify", segment="-0"),
           ev(T0 + 1, "c2", "identify", tz="Bogus/Zone"), ev(T0 + 10 * H, "c2", "purchase"),
           ev(T0 + 10 * H, "c3", "purchase"),
           resp(T0 + 34 * H + 5, "c1", "NPS", 9)]
    q = pol("tz", [rule("n", delay=DAY + H)], tz="Europe/Oslo")
    return p, q, evs, None


def case_byte_order():
    p = pol("bo", [rule("n", chain=(("email", 0), ("sms", H)))])
    q = pol("bo", [rule("n", chain=(("sms", 0), ("sms", H)))])
    cs = ["b", "B", "a,b", 'a"q', "\u00e91", "a", "A1", "a b", "n\nl", "c\r", "t\tab"]
    evs = [ev(T0 + 100, c, "purchase") for c in cs]
    return p, q, evs, None


def case_identical():
    p = pol("id", [rule("n", chain=(("email", 0), ("sms", H)), variants=[("v", 50, None, None)])])
    evs = [ev(T0 + 100 * i, "c%d" % i, "purchase") for i in range(20)]
    return p, p, evs, None


def case_moved_even():
    # four sends moved by different amounts: median = lower middle
    p = pol("mv", [rule("n", delay=H)])
    q = pol("mv", [rule("n", delay=H)], quiet=["quiet 20:00-09:00"])
    evs = [ev(T0 + h * H, "c%d" % h, "purchase") for h in (19, 20, 21, 23)]
    evs.append(ev(T0 + 12 * H, "c9", "purchase"))
    return p, q, evs, None


def case_window_zero():
    # known kairos bug (bugs/readout-window-zero): --window 0s is refused
    p = pol("wz", [rule("nps")])
    evs = [ev(T0 + 10, "c1", "purchase"), resp(T0 + 10, "c1", "NPS", 9),
           ev(T0 + 11, "c2", "purchase"), resp(T0 + 12, "c2", "NPS", 9)]
    return p, p, evs, "0s"


def case_task_named_like_survey():
    # a task called NPS: its rows are not contacts (no attribution), and in
    # the diff they count under the name NPS with the survey NPS
    p = pol("ts", [rule("n", delay=H), rule("t", kind="task", survey="NPS", chain=(("phone", 0),), trig="purchase",
                                             delay=2 * H)])
    q = pol("ts", [rule("n", delay=3 * H), rule("t", kind="task", survey="NPS", chain=(("phone", 0),),
                                                 trig="purchase", delay=2 * H)])
    evs = [ev(T0, "c1", "purchase"), resp(T0 + 2 * H + 5, "c1", "NPS", 9),
           ev(T0, "c2", "purchase"), resp(T0 + 3 * H, "c2", "NPS", 9)]
    return p, q, evs, None


def case_reminder_0s_tie():
    # the ask and a later attempt at one instant (rule order/attempt order):
    # the later in schedule order takes the response
    p = pol("rz", [rule("r", chain=(("email", 0), ("sms", 1)), delay=H)], quiet=["quiet 00:00-09:00 on sms"])
    evs = [ev(T0 + 7 * H, "c1", "purchase"), resp(T0 + 9 * H, "c1", "NPS", 10),
           ev(T0 + 7 * H, "c2", "purchase"), resp(T0 + 9 * H + 5, "c2", "NPS", 3)]
    return p, p, evs, None


def case_tz_same_instant():
    # an identify at the trigger's instant: before the trigger row it sets the
    # zone of the ask, after it it does not (rows apply in input order)
    p = pol("ts2", [rule("n", delay=DAY)], tz="UTC")
    T = T0 + 10 * H
    evs = [ev(T, "c1", "identify", tz="Asia/Kolkata"), ev(T, "c1", "purchase"),
           ev(T, "c2", "purchase"), ev(T, "c2", "identify", tz="Asia/Kolkata"),
           ev(T0, "c3", "identify", tz="America/New_York"), ev(T, "c3", "purchase"),
           ev(T, "c3", "identify", tz="Asia/Tokyo"), ev(T0 + 5 * DAY, "zz", "login")]
    return p, p, evs, None


CASES = {
    "tz-same-instant": case_tz_same_instant,
    "window-zero": case_window_zero,
    "task-named-like-survey": case_task_named_like_survey,
    "reminder-tie": case_reminder_0s_tie,
    "window-edge": case_window_edge,
    "window-arg": case_window_arg,
    "two-rules-one-survey": case_two_rules_one_survey,
    "reminders": case_reminders,
    "zero-asks": case_zero_asks,
    "rates-0-1": case_rates_0_1_and_vs_first,
    "first-variant-no-asks": case_first_variant_no_asks,
    "nps-fractional": case_nps_fractional,
    "task-name-response": case_task_name_response,
    "pressure-30d": case_pressure_30d,
    "tz-change": case_tz_change,
    "byte-order": case_byte_order,
    "identical": case_identical,
    "moved-even": case_moved_even,
}


def make(name, d):
    p, q, evs, window = CASES[name]()
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "old.kai"), "w") as f:
        f.write(check.policy_text(p))
    with open(os.path.join(d, "new.kai"), "w") as f:
        f.write(check.policy_text(q))
    check.write_events(os.path.join(d, "events.csv"), evs)
    meta = {"case": name, "old": p, "new": q}
    if window:
        meta["window"] = window
    if name in ("zero-asks", "tz-change", "rates-0-1"):
        meta["by"] = "segment"
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
