#!/usr/bin/python3
"""Random differential tester: kairos simulate vs tests/oracle/oracle.py.

usage: fuzz.py KAIROS SEED_FROM SEED_TO [--out DIR] [--keep] [-v]

For each seed (deterministic), generates a small policy and event log, runs
`KAIROS simulate` and the oracle, and compares the schedules byte for byte.
A mismatch writes DIR/seed-N/{policy.kai,events.csv,kairos.csv,oracle.csv,cmd}
and prints one line `MISMATCH seed N: DIR/seed-N`.  Exit 1 if any mismatch.
--timed P: the share of seeds with quiet hours and `at` windows (default 0.3),
which also compare `--stats-format json` counts (compare_stats).
"""
import os
import csv
import json
import random
import re
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

BASE = 1772323200  # 2026-03-01T00:00:00Z
GRID = 43200       # 12h
CHANNELS = ['email', 'sms', 'push']
SURVEYS = ['NPS', 'CSAT', 'CES']
PLAIN = ['purchase', 'login', 'ticket_opened', 'ticket_closed']
DURS = ['12h', '1d', '2d', '3d', '5d']
WDURS = ['12h', '1d', '2d', '3d', '4d', '5d', '7d']
# patterns of known kairos bugs (tests/oracle/bugs/) to leave out with --avoid-known
KNOWN = ['untyped-plus-duration']
KNOWN_RX = [('untyped-plus-duration-vs-time', r'when [-+] [0-9]|[0-9][dh] \+ (trigger\.|customer\.)?when')]
AVOID = []
TIMED_SHARE = 0.3
QUIETS = ['20:00-08:00', '22:00-07:00', '21:30-09:15', '12:00-14:00', '00:00-06:00',
          '18:00-24:00', '23:00-23:30', '08:00-20:00', '09:00-17:00', '06:00-00:00']
TDURS = ['30m', '90m', '5h', '7h30m', '12h', '1d', '2d', '3d']


def clock(sec):
    return '%02d:%02d' % (sec // 3600, sec // 60 % 60)


class Gen:
    def __init__(self, seed):
        # about one seed in three moves sends (quiet hours, `at` windows) on a finer
        # time grid; decided apart from self.r so the other seeds stay as they were
        self.timed = random.Random(seed * 31 + 7).random() < TIMED_SHARE
        self.r = random.Random(seed)
        self.lets = []          # (name, uses_bare)
        self.trig_ok = True     # trigger.attr allowed (not in `every` rules)
        self.trig_reserved = None  # trigger event is reserved: its attributes
        self.declared = self.chance(0.2)
        self.dense = self.chance(0.2)

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    # ---- expressions
    def ev_name(self):
        return self.pick(PLAIN + ['response', 'opt_out'])

    def attr_cond(self, prefix=''):
        """a condition on an attribute; prefix '' (bare), 'trigger.', 'customer.'"""
        k = self.r.randrange(7)
        if prefix == 'customer.':
            return self.pick(['customer.segment == "gold"', 'customer.segment != "gold"',
                              'customer.level > %d' % self.r.randrange(4),
                              'customer.segment in ["gold", "silver"]', 'customer.vip'])
        if k == 0:
            return '%samount %s %d' % (prefix, self.pick(['>', '>=', '<', '==', '!=']), self.r.randrange(8))
        if k == 1:
            return '%skind %s' % (prefix, self.pick(['== "a"', '== "b"', '== "c"', '== "a,b"', '== "q\\"x"', '== "a\\nb"', '== "t\\tx"',
                                                       '< "b"', '>= "B"', '!= "a"']))
        if k == 2:
            return '%skind in ["a", "b"]' % prefix
        if k == 3:
            return '%sflag' % prefix if prefix == '' else '%sflag == true' % prefix
        if k == 4:
            return '%samount / %d > 1' % (prefix, self.r.randrange(3))
        if k == 5:
            return self.pick(['%samount * 2 - %d >= %d' % (prefix, self.r.randrange(3), self.r.randrange(9)),
                              '%samount in [1, 2.5, 5]' % prefix, '-%samount < %d' % (prefix, self.r.randrange(-2, 2)),
                              '%samount + 1 == %d' % (prefix, self.r.randrange(4)),
                              '(%samount - 3) / (%samount - 2) >= 0' % (prefix, prefix),
                              'not %sflag' % prefix, '%sflag != false' % prefix])
        if self.chance(0.3):
            forms = ['%swhen <= now', 'now - %swhen > 1d', '%swhen < now - 12h', 'now - 1d > %swhen',
                     'now - %swhen >= 2d', '%swhen - now < 0s']
            if 'untyped-plus-duration' not in AVOID or self.declared:
                forms += ['%swhen + 2d > now', '%swhen + 1d <= now', 'now > 1d + %swhen',
                          '%swhen - 12h < now']
            return self.pick(forms) % prefix
        return '%sscore <= %d' % (prefix, self.r.randrange(11))

    def count_where(self):
        parts = [self.attr_cond('')]
        if self.chance(0.2):
            parts.append(self.pick(['and', 'or']) + ' ' + self.attr_cond(''))
        if self.trig_ok and self.trig_reserved is None and self.chance(0.15):
            parts.append('and trigger.amount > %d' % self.r.randrange(5))
        if self.trig_ok and self.trig_reserved is None and self.chance(0.2):
            parts.append('and %s' % self.pick(['amount >= trigger.amount', 'amount < trigger.amount',
                                               'kind == trigger.kind', 'flag != trigger.flag',
                                               'trigger.kind <= kind', 'when < trigger.when']))
        if self.chance(0.1):
            parts.append('and no %s' % self.pick(PLAIN))
        if self.chance(0.08):
            parts.append(self.pick(['and hour >= 12', 'or weekday == sat', 'and now - 1d > when']))
        for n, bare in self.lets:
            if bare and self.chance(0.2):
                parts.append('and ' + n)
                break
        return ' '.join(parts)

    def atom(self, bare_ok):
        k = self.r.randrange(21)
        E = self.ev_name()
        D = self.pick(WDURS)
        if k == 0:
            return '%s within %s' % (E, D)
        if k == 1:
            return 'no %s' % E if self.chance(0.5) else 'no %s within %s' % (E, D)
        if k == 2:
            return 'count(%s) %s %d' % (E, self.pick(['>', '>=', '==', '<']), self.r.randrange(3))
        if k == 3:
            w = ' within %s' % D if self.chance(0.6) else ''
            return 'count(%s where %s%s) %s %d' % (self.pick(PLAIN), self.count_where(), w,
                                                   self.pick(['>', '>=', '==']), self.r.randrange(3))
        if k == 4:
            return 'count(%s within %s) >= %d' % (E, D, self.r.randrange(1, 3))
        if k == 5:
            return self.pick(['open_ticket', 'not open_ticket'])
        if k == 6:
            return 'since(%s) %s %s' % (E, self.pick(['>', '>=', '<', '<=']), D)
        if k == 7:
            if self.chance(0.3):
                return 'last(response).%s' % self.pick(['score >= 5', 'survey == "NPS"'])
            return 'last(%s).%s' % (self.pick(PLAIN), self.pick(['amount > 2', 'kind == "a"', 'flag', 'score >= 5']))
        if k == 8:
            f = self.pick(['sum', 'avg', 'min', 'max'])
            w = ' within %s' % D if self.chance(0.6) else ''
            return '%s(%s.amount%s) %s %d' % (f, self.pick(PLAIN), w, self.pick(['>', '>=', '<', '==']), self.r.randrange(8))
        if k == 9:
            s = self.pick(SURVEYS)
            return self.pick(['asked(%s within %s)' % (s, D), 'asked(%s)' % s, 'not asked(%s within %s)' % (s, D)])
        if k == 10:
            s = self.pick(SURVEYS)
            return self.pick(['responded(%s within %s)' % (s, D), 'responded(%s)' % s])
        if k == 11 and bare_ok and self.trig_ok:
            if self.trig_reserved == 'response':
                return self.pick(['', 'trigger.']) + self.pick(['score <= 6', 'survey == "NPS"', 'score > 3'])
            if self.trig_reserved in ('opt_in', 'opt_out', 'consent_granted'):
                return self.pick(['', 'trigger.']) + 'channel == "sms"'
            return self.attr_cond(self.pick(['', 'trigger.']))
        if k == 12:
            return self.attr_cond('customer.')
        if k == 13 and self.lets:
            n, bare = self.pick(self.lets)
            if (bare_ok and self.trig_ok and self.trig_reserved is None) or not bare:
                return n
        if k == 14:
            if self.chance(0.5):
                return self.pick(['weekday in [mon-fri]', 'weekday >= sat', 'weekday == tue',
                                  'weekday in [sun, wed-thu]', 'weekday < wed', 'weekday in [fri-mon]'])
            if self.timed and self.chance(0.6):
                return self.pick(['hour %s %d' % (self.pick(['>=', '<', '==', '!=']), self.r.randrange(24)),
                                  'weekday in [sat, sun]', 'weekday == mon and hour < 10',
                                  'hour >= 8 and hour < 20', 'not (hour in [8, 9, 20])'])
            return 'hour %s %d' % (self.pick(['>=', '<', '==']), self.pick([0, 6, 12, 18]))
        if k == 15:
            return self.pick(['since(%s) / 1d > %d' % (E, self.r.randrange(4)),
                              'since(%s) > 1d12h' % E, 'since(%s) + 12h >= 2d' % E,
                              'since(%s) * 2 < 3d' % E, 'since(%s) == 0s' % E])
        if k == 17:
            return self.pick(['since(%s) * last(%s).amount > 1d' % (E, self.pick(PLAIN)),
                              'since(%s) / 7 < 12h' % E, 'since(%s) * 0.5 >= 1d' % E,
                              '-since(%s) < -1d' % E, 'since(%s) - 1d >= 0s' % E])
        if k == 16:
            return '(%s within %s)' % (E, D)
        return '%s within %s' % (E, D)

    def cond(self, bare_ok, depth=0):
        if depth >= 2 or self.chance(0.5):
            return self.atom(bare_ok)
        k = self.r.randrange(4)
        a = self.cond(bare_ok, depth + 1)
        b = self.cond(bare_ok, depth + 1)
        if k == 0:
            return '%s and %s' % (a, b)
        if k == 1:
            return '%s or %s' % (a, b)
        if k == 2:
            return 'not (%s)' % a
        return '(%s or %s) and %s' % (a, b, self.atom(bare_ok))

    # ---- policy
    def policy(self):
        L = []
        if self.chance(0.6):
            L.append('policy "p%d"' % self.r.randrange(100))
        for i in range(self.r.randrange(3)):
            if self.chance(0.5):
                L.append('let l%d = %s' % (i, self.attr_cond('')))
                self.lets.append(('l%d' % i, True))
            else:
                self.trig_ok = False
                L.append('let l%d = %s' % (i, self.atom(False)))
                self.trig_ok = True
                self.lets.append(('l%d' % i, False))
        if self.declared:
            for e in PLAIN:
                L.append('event %s { amount: number, kind: string, flag: bool, score: number, when: time }' % e)
        self.pressure = self.chance(0.4)
        for i in range(self.r.choice([1, 1, 2, 2] if self.pressure else [0, 1, 1, 1, 2])):
            s = 'cap %d per %s' % (self.r.randrange(1, 3), self.pick(WDURS))
            if self.chance(0.35):
                s += ' on ' + ', '.join(self.r.sample(CHANNELS, self.r.randrange(1, 3)))
            L.append(s)
        if self.chance(0.3):
            L.append('require consent on ' + self.pick(['sms', 'push', 'sms, push']))
        nrules = self.r.randrange(3, 7) if self.dense else self.r.randrange(1, 5)
        for i in range(nrules):
            if self.chance(0.2):
                L.append(self.pick(['', '# a comment', '   # indented comment']))
            L.extend(self.rule(i))
            if self.chance(0.1):
                L.append('cap %d per %s' % (self.r.randrange(1, 3), self.pick(WDURS)))
        if self.timed:
            for k in range(self.pick([0, 1, 1, 1, 2, 2, 3])):
                # only where a declaration starts (a line in column 1), or at the end
                at = [j for j, x in enumerate(L) if x[:1] not in ('', ' ', '\t')] + [len(L)]
                L.insert(self.pick(at), self.quiet())
        nl = '\r\n' if self.chance(0.15) else '\n'
        if self.chance(0.2):
            L = [x + '   # trailing comment' if x and not x.lstrip().startswith('#') else x for x in L]
        return nl.join(L) + nl

    def quiet(self):
        if self.chance(0.5):
            w = self.pick(QUIETS)
        else:
            a = self.r.randrange(96) * 900
            b = self.r.randrange(1, 97) * 900
            while b == a or (a == 0 and b == 86400):
                b = self.r.randrange(1, 97) * 900
            w = '%s-%s' % (clock(a), clock(b))
        if self.chance(0.65):
            w += ' on ' + ', '.join(self.r.sample(CHANNELS, self.pick([1, 1, 2])))
        return 'quiet ' + w

    def window(self):
        k = self.r.randrange(8)
        if k == 0:
            return 'at mon-fri 09:00-16:00'
        days = self.pick(['mon-fri', 'sat', 'sun', 'fri-mon', 'tue', 'wed-thu', 'mon, wed, fri',
                          'sat, sun', 'thu-tue', 'mon-sun', 'sun, tue-wed'])
        if k == 1:
            return 'at ' + days
        a = self.r.randrange(96) * 900
        b = self.r.randrange(a // 900 + 1, 97) * 900
        w = '%s-%s' % (clock(a), clock(b))
        if k == 2:
            w = self.pick(['09:00-16:00', '22:00-24:00', '00:00-06:00', '08:00-08:15', '12:00-13:00'])
        if k in (3, 4):
            return 'at ' + w
        return 'at %s %s' % (days, w)

    def rule(self, i):
        task = self.chance(0.15)
        every = self.chance(0.1)
        clauses = []
        if task:
            head = 'task %s' % (self.pick(SURVEYS) if self.chance(0.3) else 't%d' % i)
        else:
            head = 'ask %s' % self.pick(SURVEYS)
        # chain
        if task:
            if self.chance(0.5):
                clauses.append('via %s' % self.pick(CHANNELS + ['phone']))
        else:
            n = self.pick([1, 1, 2, 2, 3])
            if n > 1 or self.chance(0.6):
                s = 'via %s' % self.pick(CHANNELS)
                for k in range(n - 1):
                    s += ' then %s after %s' % (self.pick(CHANNELS), self.pick(TDURS if self.timed else DURS))
                clauses.append(s)
        self.trig_ok = not every
        self.trig_reserved = None
        if every:
            clauses.append('every %s' % self.pick(['2d', '3d', '4d']))
        else:
            te = self.pick(PLAIN[:2] * 3 + PLAIN + ['response', 'identify', 'opt_in', 'opt_out',
                                                      'consent_granted', 'noise'])
            if te in ('response', 'opt_in', 'opt_out', 'consent_granted'):
                self.trig_reserved = te
            trig = 'after %s' % te
            if self.chance(0.5):
                trig += ' + %s' % self.pick(['12h', '1d', '2d', '3d'] + (['1h', '7h', '30m'] if self.timed else []))
            if self.chance(0.25):
                trig += ' where %s' % self.cond(True)
            clauses.append(trig)
        if self.chance(0.35):
            clauses.append('if %s' % self.cond(not every))
        if self.chance(0.2):
            clauses.append('unless %s' % self.cond(not every))
        if self.timed and self.chance(0.4):
            clauses.append(self.window())
        if not task and self.chance(0.35):
            clauses.append('cap %d per %s' % (self.r.randrange(1, 3), self.pick(WDURS)))
        if self.chance(0.6 if self.pressure else 0.4):
            clauses.append('priority %d' % self.r.randrange(-1, 4))
        if not task and self.chance(0.25):
            left = 100
            for k in range(self.r.randrange(1, 4)):
                p = self.r.randrange(0, left + 1)
                left -= p
                body = []
                if self.chance(0.4):
                    body.append('+ %s' % self.pick(['12h', '1d', '2d']))
                if self.chance(0.3):
                    body.append('via %s' % self.pick(CHANNELS))
                v = 'variant v%d %d%%' % (k, p)
                if body:
                    v += ' { %s }' % ' '.join(body)
                clauses.append(v)
        if self.chance(0.3):
            clauses.append('on retrigger %s' % self.pick(['keep', 'restart']))
        self.r.shuffle(clauses)
        if self.chance(0.5):
            ind = self.pick(['  ', '  ', '\t', ' '])
            if self.chance(0.2):
                return ['rule r%d: %s' % (i, head)] + [ind + c for c in clauses]
            return ['rule r%d:' % i, ind + head] + [ind + c for c in clauses]
        if clauses and self.chance(0.3):
            # a one-liner going on over indented lines
            k = self.r.randrange(len(clauses))
            ind = self.pick(['  ', '\t', ' '])
            return [' '.join([head] + clauses[:k])] + [ind + c for c in clauses[k:]]
        return [' '.join([head] + clauses)]

    def json_line(self, vals, t, cid, intt):
        obj = []
        obj.append(('time', str(t) if intt else json_str(vals['time'])))
        obj.append(('customer', json_str(cid)))
        obj.append(('event', json_str(vals['event'])))
        for key, cell in vals.items():
            if key in ('time', 'customer', 'event'):
                continue
            v = next(csv.reader([cell])) if cell else ['']
            v = v[0] if v else ''
            if v == '':
                r = self.pick(['omit', 'null', '""'])
                if r != 'omit':
                    obj.append((key, r))
                continue
            if v in ('true', 'false') and self.chance(0.5):
                obj.append((key, v))
            elif re.fullmatch(r'-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?', v) and abs(float(v)) < 1e300 \
                    and self.chance(0.5):
                obj.append((key, v))
            else:
                obj.append((key, json_str(v)))
        self.r.shuffle(obj)
        return '{' + ', '.join('%s: %s' % (json_str(k), x) for k, x in obj) + '}'

    # ---- events
    def events(self):
        ncust = 1 if self.dense else self.r.randrange(1, 5)
        ids = self.r.sample(['c1', 'c2', 'c10', 'C3', 'a,b', 'x"y', 'b', '\u00e91', 'z', 'c 1'], ncust)
        long = self.chance(0.15)
        span = self.r.randrange(40, 140) if long else self.r.randrange(6, 30)
        grid = GRID
        if self.timed:
            # a finer grid: times of day all round the clock, sends inside quiet hours
            grid = self.pick([1800, 3600, 5400, 7200, 10800])
            span = span * GRID // grid
        rows = []
        for n in range(self.r.randrange(40, 120) if long else self.r.randrange(6, 45)):
            t = BASE + self.r.randrange(span) * grid
            if self.timed and self.chance(0.1):
                t += self.pick([-1, 1, 59, -60])
            cid = self.pick(ids)
            e = self.pick(PLAIN * 3 + ['response', 'response', 'opt_out', 'opt_in',
                                       'consent_granted', 'consent_revoked', 'identify', 'noise'])
            a = {}
            if e in PLAIN or e == 'noise':
                if self.chance(0.7):
                    a['amount'] = self.pick(['0', '1', '2', '3', '5', '7', '-1', 'x', '2.5'] * 3 +
                                            ['-0', '1e1', '.5', '+3', '1.', '" 5"', 'inf', 'nan',
                                             '0x10', '"4"', '1E0', '5e-1', '-.5', 'true', '007',
                                             '1e300', '-1e300', '1e400', '1_000'])
                if self.chance(0.3):
                    a['when'] = self.pick([oracle.fmt_time(t - 86400), oracle.fmt_time(t + 43200),
                                           str(t - 100000), str(t) + '.7', 'soon', '2026-03-05T00:00:00+01:00'])
                if self.chance(0.5):
                    a['kind'] = self.pick(['a', 'b', 'c', '3', '"a"', 'A', '"a,b"', '"q""x"', '\u00e9', 'B', '"a\nb"', '"t\tx"'])
                if self.chance(0.3):
                    a['flag'] = self.pick(['true', 'false', 'yes', '"true"', 'TRUE', 'False'])
            elif e == 'response':
                if self.chance(0.9):
                    a['survey'] = self.pick(SURVEYS + ['nps'])
                if self.chance(0.8):
                    a['score'] = str(self.r.randrange(11))
            elif e in ('opt_out', 'opt_in', 'consent_granted', 'consent_revoked'):
                if self.chance(0.7):
                    a['channel'] = self.pick(CHANNELS + ['fax', '5', 'SMS'])
            elif e == 'identify':
                if self.chance(0.7):
                    a['segment'] = self.pick(['gold', 'silver', 'bronze'])
                if self.chance(0.5):
                    a['level'] = str(self.r.randrange(5))
                if self.chance(0.3):
                    a['vip'] = self.pick(['true', 'false'])
            rows.append((t, cid, e, a))
        self.r.shuffle(rows)
        cols = ['amount', 'kind', 'flag', 'survey', 'score', 'channel', 'segment', 'level', 'vip', 'when']
        intt = self.chance(0.2)
        odd = self.chance(0.3)
        nfiles = self.pick([1, 1, 1, 2, 3])
        files = [[] for _ in range(nfiles)]
        hdrs = []
        for k in range(nfiles):
            h = ['time', 'customer', 'event'] + cols
            if odd and self.chance(0.5):
                self.r.shuffle(h)
            hdrs.append(h)
        for (t, cid, e, a) in rows:
            if intt:
                ts = str(t)
            elif odd:
                ts = self.pick([oracle.fmt_time(t), oracle.fmt_time(t - 3600)[:-1] + '-01:00',
                                oracle.fmt_time(t + 7200)[:-1] + '+02:00', oracle.fmt_time(t)[:-1] + '.999Z',
                                oracle.fmt_time(t).replace('T', ' ').replace('Z', 'z')])
            else:
                ts = oracle.fmt_time(t)
            q = oracle.csv_field(cid)
            if odd and q[0] != '"' and self.chance(0.3):
                q = '"' + q + '"'
            k = self.r.randrange(nfiles)
            vals = dict(a)
            vals.update({'time': ts, 'customer': q, 'event': e})
            files[k].append((vals, t, cid))
        texts = []
        for k, f in enumerate(files):
            if self.chance(0.4):
                # a time-ordered file (streamed by kairos, SPEC 5.7); ties keep their order
                f.sort(key=lambda x: x[1])
            if self.chance(0.2):
                texts.append(('jsonl', ''.join(self.json_line(v, t, cid, intt) + '\n' for (v, t, cid) in f)))
                continue
            nl = '\r\n' if odd and self.chance(0.5) else '\n'
            bom = '\ufeff' if odd and self.chance(0.3) else ''
            lines = [','.join(v.get(c, '') for c in hdrs[k]) for (v, t, cid) in f]
            texts.append(('csv', bom + nl.join([','.join(hdrs[k])] + lines) + nl))
        until = None
        if self.chance(0.2):
            ut = BASE + self.r.randrange(span + 4) * grid + self.pick([0, 0, 0, -1, 1])
            until = self.pick([oracle.fmt_time(ut), oracle.fmt_time(ut), str(ut)])
        return texts, until


def json_str(x):
    return json.dumps(x, ensure_ascii=False)


STATS_KEYS = [('asks_sent', 'ask'), ('reminders_sent', 'remind'), ('tasks', 'task'),
              ('moved_by_quiet_hours', 'moved')]
SPARED_KEYS = [(k, k) for k in ('no_allowed_time', 'if_unless_false', 'cap', 'yielded', 'opt_out', 'consent',
                                 'holdout', 'horizon', 'keep_ignored', 'restart_cancelled')]


def compare_stats(stderr):
    """kairos --stats-format json (the last line of standard error) against the
    oracle's per-rule counts: asks, reminders, tasks, sends moved by quiet hours
    (a sent attempt that quiet hours put later than the `at` window alone would)
    and asks dropped for no allowed time; '' when they agree"""
    lines = [x for x in stderr.decode('utf-8', 'replace').splitlines() if x.startswith('{')]
    if not lines:
        return 'no JSON stats line on standard error'
    doc = json.loads(lines[-1])
    out = []
    for rule in doc['rules']:
        for key, ok in STATS_KEYS:
            got, want = rule[key], oracle.RSTATS.get((rule['name'], ok), 0)
            if got != want:
                out.append('rule %s %s: kairos %d, oracle %d' % (rule['name'], key, got, want))
        for key, ok in SPARED_KEYS:
            got, want = rule['spared'][key], oracle.RSTATS.get((rule['name'], ok), 0)
            if got != want:
                out.append('rule %s spared.%s: kairos %d, oracle %d' % (rule['name'], key, got, want))
        got, want = rule['reminders_not_sent']['blocked'], oracle.RSTATS.get((rule['name'], 'blocked'), 0)
        if got != want:
            out.append('rule %s reminders_not_sent.blocked: kairos %d, oracle %d' % (rule['name'], got, want))
    return '\n'.join(out)


def run_case(kairos, seed, outdir, verbose=False):
    g = Gen(seed)
    pol = g.policy()
    evs, until = g.events()
    work = os.path.join(outdir, 'seed-%d' % seed)
    os.makedirs(work, exist_ok=True)
    pp = os.path.join(work, random.Random(seed * 7 + 1).choice(['policy.kai'] * 3 + ['my-pol.kai', 'a.b.kai']))
    with open(pp, 'w') as f:
        f.write(pol)
    eps = []
    for k, (fmt, text) in enumerate(evs):
        ep = os.path.join(work, ('events.' if k == 0 else 'events%d.' % (k + 1)) + fmt)
        with open(ep, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
        eps.append(ep)
    mode = random.Random(seed * 13 + 5).randrange(10)
    extra = []
    if mode == 0:
        extra = ['--jobs', '3']
    elif mode == 1:
        extra = ['--memory', '16M', '--jobs', '2']
    stats = g.timed and mode != 2
    if stats:
        extra = extra + ['--stats-format', 'json']
    sim = pp
    if g.timed and mode == 3:
        # the compiled image carries the quiet hours and windows (and the policy
        # name from the .kai's file name, whatever the .kbc is called)
        sim = os.path.join(work, 'compiled.kbc')
        subprocess.run([kairos, 'compile', pp, '-o', sim], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    cmd = [kairos, 'simulate', sim] + eps + (['--until', until] if until else []) + extra
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if mode == 2 and res.returncode == 0:
        # shards 0/2 and 1/2, merged by `kairos merge`, must give the same schedule
        parts = []
        for k in range(2):
            sp = os.path.join(work, 'shard%d.csv' % k)
            subprocess.run(cmd + ['--shard', '%d/2' % k, '-o', sp], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
            parts.append(sp)
        cmd = [kairos, 'merge', pp] + parts
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        for sp in parts:
            if os.path.exists(sp):
                os.unlink(sp)
        cmd = cmd[:2] + ['(simulate --shard k/2 for k=0,1, then merge)']
    try:
        want = oracle.simulate(pp, eps, until).encode('utf-8')
        oerr = None
    except Exception as ex:  # noqa
        want = b''
        oerr = repr(ex)
    status = 'ok'
    if res.returncode != 0:
        status = 'rejected'
    elif oerr is not None:
        status = 'oracle-error'
    elif res.stdout != want:
        status = 'mismatch'
    elif stats:
        diff = compare_stats(res.stderr)
        if diff:
            status = 'stats-mismatch'
            with open(os.path.join(work, 'stats.diff'), 'w') as f:
                f.write(diff + '\n')
    if status in ('mismatch', 'stats-mismatch') and oracle.AMBIG:
        # the oracle met a reading the contract leaves open (oracle.AMBIG): not a failure
        status = 'ambiguous'
    if status == 'ok' or (status == 'rejected' and not verbose):
        if status == 'ok':
            for fn in [pp] + eps + ([sim] if sim != pp and os.path.exists(sim) else []):
                os.unlink(fn)
            os.rmdir(work)
        return status, res.stdout.count(b'\n') - 1, work, res.stderr
    with open(os.path.join(work, 'kairos.csv'), 'wb') as f:
        f.write(res.stdout)
    with open(os.path.join(work, 'kairos.err'), 'wb') as f:
        f.write(res.stderr)
    with open(os.path.join(work, 'oracle.csv'), 'wb') as f:
        f.write(want if oerr is None else oerr.encode())
    with open(os.path.join(work, 'cmd'), 'w') as f:
        f.write(' '.join(cmd) + '\n')
    return status, 0, work, res.stderr


def main(argv):
    kairos = argv[0]
    lo, hi = int(argv[1]), int(argv[2])
    outdir = '/tmp/kairos-oracle'
    verbose = '-v' in argv
    if '--avoid-known' in argv:
        AVOID.extend(KNOWN)
    if '--timed' in argv:
        # share of seeds with quiet hours and `at` windows (default 0.3)
        global TIMED_SHARE
        TIMED_SHARE = float(argv[argv.index('--timed') + 1])
    if '--out' in argv:
        outdir = argv[argv.index('--out') + 1]
    counts = {}
    rows = 0
    bad = 0
    for seed in range(lo, hi):
        st, n, work, err = run_case(kairos, seed, outdir, verbose)
        counts[st] = counts.get(st, 0) + 1
        if st == 'ok':
            rows += n
        elif st in ('mismatch', 'oracle-error', 'stats-mismatch'):
            bad += 1
            files = sorted(f for f in os.listdir(work) if f.endswith(('.kai', '.csv', '.jsonl')))
            hint = ''
            pol = [f for f in files if f.endswith('.kai')]
            if pol:
                with open(os.path.join(work, pol[0])) as f:
                    text = f.read()
                for name, rx in KNOWN_RX:
                    if re.search(rx, text):
                        hint = ' [policy has the pattern of known bug bugs/%s]' % name
                dis = subprocess.run([kairos, 'disasm', os.path.join(work, pol[0])], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE).stdout
                if b'as duration' in dis:
                    hint = (' [reads an attribute "as duration": known bug'
                            ' bugs/untyped-plus-duration-vs-time]')
            print('MISMATCH seed %d (%s): %s/{%s}%s' % (seed, st, work, ','.join(files), hint), flush=True)
        elif st == 'ambiguous':
            print('AMBIGUOUS seed %d (%s): %s (not counted as a failure)' % (
                seed, '; '.join(sorted(oracle.AMBIG)), work), flush=True)
        elif st == 'rejected':
            bad += 1
            print('REJECTED seed %d: %s: %s' % (seed, work, err.decode(errors='replace').strip().splitlines()[-1:]), flush=True)
    print('summary: %s, %d schedule rows agreed' % (
        ', '.join('%s=%d' % kv for kv in sorted(counts.items())), rows), file=sys.stderr)
    if '--coverage' in argv:
        print('oracle decisions: ' + ', '.join('%s=%d' % kv for kv in sorted(oracle.STATS.items())),
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
