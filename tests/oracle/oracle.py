#!/usr/bin/python3
"""Independent reference implementation ("oracle") of Kairos replay semantics.

Written from /work/shared/LANGUAGE.md and SPEC.md (sections 1, 4, 5) only.
Scope: UTC only (no timezone, tz traits, best_time, calendar `every` periods).
Supports: top-level `quiet HH:MM-HH:MM [on CH,...]` and rule `at [DAYS] HH:MM-HH:MM`
/ `at DAYS` send windows (Engine.send_time; LANGUAGE 4.3, 4.7, 4.12, SPEC 4.5),
per-rule --stats counts (RSTATS), `after EVENT [+ DUR] [where X]`, `every Nd`, if/unless, Kleene logic, count/within/no/since/last/sum/avg/min/max/asked/
responded, trigger./customer. attributes, let, caps (top-level with `on`,
per rule), priority and the priority yield, reminder chains, response
cancellation, opt_out/opt_in, require consent, on retrigger restart|keep,
tasks, variants (FNV-1a), the horizon (--until), equal-timestamp ordering,
declared events (typed attributes), CSV and JSON Lines event files.
Untyped attributes take the type their context needs (SPEC 1.7): `ptypes`
computes the types an expression can take and the evaluator picks the
reading that fits the context.

Usage: oracle.py POLICY.kai EVENTS.csv [--until TIME]   -> schedule CSV on stdout
"""
import csv
import io
import os
import re
import sys

DAY = 86400
UNITS = {'w': 7 * DAY, 'd': DAY, 'h': 3600, 'm': 60, 's': 1}

CLAUSE_KW = {'via', 'then', 'after', 'where', 'every', 'at', 'if', 'unless',
             'priority', 'variant', 'on', 'cap', 'per'}
DECL_KW = {'policy', 'import', 'timezone', 'event', 'survey', 'channel', 'let',
           'cap', 'quiet', 'require', 'rule', 'ask', 'task'}
KEYWORDS = CLAUSE_KW | DECL_KW | {'consent', 'retrigger', 'and', 'or', 'not', 'no',
                                  'in', 'within', 'true', 'false', 'best_time'}
WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']


STATS = {}   # decision counters, for the fuzzer's coverage summary


def stat(k):
    STATS[k] = STATS.get(k, 0) + 1


RSTATS = {}  # (rule name, key) -> count, for --stats; reset by simulate()
AMBIG = set()  # readings the contract leaves open that this run met; reset by simulate()


def rstat(rule, k):
    RSTATS[(rule.name, k)] = RSTATS.get((rule.name, k), 0) + 1


class PolicyError(Exception):
    pass


# ---------------------------------------------------------------- lexer

class Tok:
    __slots__ = ('kind', 'val', 'line', 'col')

    def __init__(self, kind, val, line, col):
        self.kind, self.val, self.line, self.col = kind, val, line, col

    def __repr__(self):
        return '%s:%r@%d:%d' % (self.kind, self.val, self.line, self.col)


TOKEN_RE = re.compile(r'''
  (?P<ws>[ \t\r\f\v]+)
 |(?P<nl>\n)
 |(?P<comment>\#[^\n]*)
 |(?P<clock>[0-9][0-9]:[0-9][0-9](?![A-Za-z0-9_:]))
 |(?P<dur>(?:[0-9]+[wdhms])+(?![A-Za-z0-9_]))
 |(?P<num>[0-9]+(?:\.[0-9]+)?(?![A-Za-z0-9_]))
 |(?P<dayrange>(?:mon|tue|wed|thu|fri|sat|sun)-(?:mon|tue|wed|thu|fri|sat|sun)(?![A-Za-z0-9_]))
 |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
 |(?P<str>"(?:[^"\\\n]|\\.)*")
 |(?P<op>==|!=|<=|>=|[<>+\-*/=()\[\]{},:.%])
''', re.X)


def lex(text):
    toks = []
    pos, line, linestart = 0, 1, 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise PolicyError('lex error at line %d: %r' % (line, text[pos:pos + 10]))
        k = m.lastgroup
        v = m.group(k)
        col = pos - linestart + 1
        if k == 'nl':
            line += 1
            linestart = m.end()
        elif k in ('ws', 'comment'):
            pass
        elif k == 'clock':
            hh, mm = int(v[:2]), int(v[3:])
            if mm > 59 or hh > 24 or (hh == 24 and mm):
                raise PolicyError('bad clock time %r' % v)
            toks.append(Tok('clock', (hh * 60 + mm) * 60, line, col))
        elif k == 'dur':
            total = 0
            for n, u in re.findall(r'([0-9]+)([wdhms])', v):
                total += int(n) * UNITS[u]
            toks.append(Tok('dur', total, line, col))
        elif k == 'num':
            toks.append(Tok('num', float(v), line, col))
        elif k == 'dayrange':
            a, b = (WEEKDAYS.index(x) for x in v.split('-'))
            days = []
            while True:
                days.append(a)
                if a == b:
                    break
                a = (a + 1) % 7
            toks.append(Tok('dayrange', days, line, col))
        elif k == 'name':
            toks.append(Tok('kw' if v in KEYWORDS else 'name', v, line, col))
        elif k == 'str':
            body = v[1:-1]
            out, i = [], 0
            while i < len(body):
                if body[i] == '\\':
                    out.append({'"': '"', '\\': '\\', 'n': '\n', 't': '\t'}[body[i + 1]])
                    i += 2
                else:
                    out.append(body[i])
                    i += 1
            toks.append(Tok('str', ''.join(out), line, col))
        else:
            toks.append(Tok('op', v, line, col))
        pos = m.end()
    return toks


# ---------------------------------------------------------------- AST
# Expression nodes are tuples: (tag, ...)
#  ('num', f) ('str', s) ('bool', b) ('dur', secs) ('wd', i)
#  ('name', n)  ('paren', e)
#  ('bin', op, a, b)  ('not', a)  ('neg', a)  ('no', a)
#  ('within', a, d)  ('in', a, items, window)
#  ('call', fname, args, where, window)   ('dot', base, attr)


class Parser:
    def __init__(self, toks, i, end):
        self.t = toks
        self.i = i
        self.end = end

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < self.end else None

    def at(self, kind, val=None, k=0):
        t = self.peek(k)
        return t is not None and t.kind == kind and (val is None or t.val == val)

    def next(self):
        t = self.peek()
        if t is None:
            raise PolicyError('unexpected end')
        self.i += 1
        return t

    def expect(self, kind, val=None):
        t = self.next()
        if t.kind != kind or (val is not None and t.val != val):
            raise PolicyError('expected %s %s, found %r' % (kind, val, t))
        return t

    def ident(self):
        t = self.next()
        if t.kind == 'name' or (t.kind == 'kw' and t.val in ('survey', 'channel')):
            return t.val
        raise PolicyError('expected name, found %r' % t)

    # expressions
    def expr(self):
        a = self.and_()
        while self.at('kw', 'or'):
            self.next()
            a = ('bin', 'or', a, self.and_())
        return a

    def and_(self):
        a = self.not_()
        while self.at('kw', 'and'):
            self.next()
            a = ('bin', 'and', a, self.not_())
        return a

    def not_(self):
        if self.at('kw', 'not'):
            self.next()
            return ('not', self.not_())
        return self.cmp()

    def cmp(self):
        a = self.add()
        t = self.peek()
        if t is not None and t.kind == 'op' and t.val in ('==', '!=', '<', '<=', '>', '>='):
            self.next()
            return ('bin', t.val, a, self.add())
        if self.at('kw', 'in'):
            self.next()
            self.expect('op', '[')
            items = []
            if not self.at('op', ']'):
                items.append(self.listitem())
                while self.at('op', ','):
                    self.next()
                    items.append(self.listitem())
            self.expect('op', ']')
            win = None
            if self.at('kw', 'within'):
                self.next()
                win = self.primary()
            return ('in', a, items, win)
        return a

    def listitem(self):
        if self.at('dayrange'):
            return ('days', self.next().val)
        return self.expr()

    def add(self):
        a = self.mul()
        while self.at('op', '+') or self.at('op', '-'):
            op = self.next().val
            a = ('bin', op, a, self.mul())
        return a

    def mul(self):
        a = self.unary()
        while self.at('op', '*') or self.at('op', '/'):
            op = self.next().val
            a = ('bin', op, a, self.unary())
        return a

    def unary(self):
        if self.at('op', '-'):
            self.next()
            return ('neg', self.unary())
        if self.at('kw', 'no'):
            self.next()
            return ('no', self.postfix())
        return self.postfix()

    def postfix(self):
        a = self.primary()
        while self.at('kw', 'within'):
            self.next()
            a = ('within', a, self.primary())
        return a

    def primary(self):
        t = self.next()
        if t.kind == 'num':
            a = ('num', t.val)
        elif t.kind == 'dur':
            a = ('dur', t.val)
        elif t.kind == 'str':
            a = ('str', t.val)
        elif t.kind == 'kw' and t.val in ('true', 'false'):
            a = ('bool', t.val == 'true')
        elif t.kind == 'op' and t.val == '(':
            e = self.expr()
            self.expect('op', ')')
            a = ('paren', e)
        elif t.kind == 'name' and t.val in WEEKDAYS:
            a = ('wd', WEEKDAYS.index(t.val))
        elif t.kind == 'name' or (t.kind == 'kw' and t.val in ('survey', 'channel')):
            if self.at('op', '('):
                self.next()
                fname = t.val
                arg = self.expr()
                where = None
                win = None
                if self.at('kw', 'where'):
                    self.next()
                    where = self.expr()
                    where, win = take_within(where)
                else:
                    arg, win = take_within(arg)
                self.expect('op', ')')
                a = ('call', fname, arg, where, win)
            else:
                a = ('name', t.val)
        else:
            raise PolicyError('unexpected token %r' % t)
        while self.at('op', '.'):
            self.next()
            a = ('dot', a, self.ident())
        return a


def take_within(e):
    """Walk the right spine of unparenthesised binary/unary operators; a trailing
    `within D` there belongs to the enclosing call (SPEC 1.7)."""
    if e[0] == 'within':
        return e[1], e[2]
    if e[0] == 'in' and e[3] is not None:
        return ('in', e[1], e[2], None), e[3]
    if e[0] == 'bin':
        r, w = take_within(e[3])
        if w is not None:
            return ('bin', e[1], e[2], r), w
        return e, None
    if e[0] in ('not', 'neg', 'no'):
        # `no` too: "a `within DUR` right before the closing parenthesis is
        # always the count's window" (LANGUAGE 3, fixed)
        r, w = take_within(e[1])
        if w is not None:
            return (e[0], r), w
        return e, None
    return e, None


# ---------------------------------------------------------------- policy

class Rule:
    def __init__(self):
        self.name = None
        self.kind = None       # 'ask' | 'task'
        self.target = None     # survey or task name
        self.line = 0
        self.channels = ['email']   # chain channels
        self.delays = []            # delays between attempts
        self.trigger = None         # event name
        self.every = None           # duration
        self.delay = 0
        self.where = None
        self.if_ = None
        self.unless = None
        self.cap = None             # (n, d)
        self.priority = 0
        self.variants = []          # (name, pct, delay or None, channel or None)
        self.keep = False
        self.index = 0
        self.at = None              # send window: (weekday set, start s, end s)


class Policy:
    def __init__(self):
        self.name = None
        self.lets = {'open_ticket': ('bin', '>', ('call', 'count', ('name', 'ticket_opened'), None, None),
                                     ('call', 'count', ('name', 'ticket_closed'), None, None))}
        self.caps = []      # (n, d, channels or None)
        self.quiet = []     # (start s, end s, channels or None); start > end wraps midnight
        self.consent = set()
        self.rules = []
        self.channels = ['email', 'sms', 'whatsapp', 'in_app', 'push', 'phone']
        # declared (closed) events: attribute -> type; the reserved ones predeclared
        self.decl = {'response': {'survey': 'string', 'score': 'number'}}
        for e in ('opt_out', 'opt_in', 'consent_granted', 'consent_revoked'):
            self.decl[e] = {'channel': 'string'}


def parse_policy(text, fname):
    toks = lex(text)
    pol = Policy()
    pol.name = os.path.splitext(os.path.basename(fname))[0]
    # split into declarations at column-1 tokens
    starts = [i for i, t in enumerate(toks) if t.col == 1]
    if not starts or starts[0] != 0:
        if toks:
            raise PolicyError('first token not in column 1')
    bounds = list(zip(starts, starts[1:] + [len(toks)]))
    # a declaration may hold several rules on one line: handled by rule parser stopping at decl kw
    for s, e in bounds:
        i = s
        while i < e:
            i = parse_decl(pol, toks, i, e)
    for k, r in enumerate(pol.rules):
        r.index = k
    return pol


def on_channels(p):
    """`on CH, CH...` after a cap or quiet window: the channels, or None."""
    if not p.at('kw', 'on'):
        return None
    p.next()
    chans = [p.ident()]
    while p.at('op', ','):
        p.next()
        chans.append(p.ident())
    return chans


def parse_decl(pol, toks, i, e):
    p = Parser(toks, i, e)
    t = p.next()
    if t.kind != 'kw':
        raise PolicyError('declaration expected, found %r' % t)
    if t.val == 'policy':
        pol.name = p.expect('str').val
    elif t.val == 'let':
        n = p.ident()
        p.expect('op', '=')
        pol.lets[n] = p.expr()
    elif t.val == 'event':
        name = p.ident()
        d = pol.decl.setdefault(name, {})
        if p.at('op', '{'):
            p.next()
            while not p.at('op', '}'):
                an = p.ident()
                p.expect('op', ':')
                d[an] = p.ident()
                if p.at('op', ','):
                    p.next()
            p.next()
    elif t.val == 'channel':
        pol.channels.append(p.ident())
    elif t.val == 'cap':
        n = int(p.expect('num').val)
        p.expect('kw', 'per')
        d = p.expect('dur').val
        pol.caps.append((n, d, on_channels(p)))
    elif t.val == 'quiet':
        a = p.expect('clock').val
        p.expect('op', '-')
        b = p.expect('clock').val
        if b == DAY:
            b = 0               # `quiet S-24:00` ends at 00:00 (SPEC 1.5)
        if a == b or a == DAY:
            raise PolicyError('bad quiet window')
        pol.quiet.append((a, b, on_channels(p)))
    elif t.val == 'require':
        p.expect('kw', 'consent')
        p.expect('kw', 'on')
        pol.consent.add(p.ident())
        while p.at('op', ','):
            p.next()
            pol.consent.add(p.ident())
    elif t.val == 'rule':
        name = p.ident()
        p.expect('op', ':')
        r = parse_rule(p)
        r.name = name
        pol.rules.append(r)
    elif t.val in ('ask', 'task'):
        p.i -= 1
        r = parse_rule(p)
        r.name = '%s@%d' % (r.target, r.line)
        pol.rules.append(r)
    else:
        raise PolicyError('unsupported declaration %r' % t)
    return p.i


def parse_rule(p):
    r = Rule()
    t = p.next()
    r.kind = t.val
    r.line = t.line
    r.target = p.ident()
    via_set = False
    while p.peek() is not None:
        t = p.peek()
        if t.kind != 'kw' or (t.val in DECL_KW and t.val != 'cap'):
            break
        p.next()
        v = t.val
        if v == 'via':
            r.channels = [p.ident()]
            via_set = True
        elif v == 'then':
            ch = p.ident()
            p.expect('kw', 'after')
            d = p.expect('dur').val
            r.channels.append(ch)
            r.delays.append(d)
        elif v == 'after':
            r.trigger = p.ident()
            if p.at('op', '+'):
                p.next()
                r.delay = p.expect('dur').val
            if p.at('kw', 'where'):
                p.next()
                r.where = p.expr()
        elif v == 'every':
            r.every = p.expect('dur').val
        elif v == 'at':
            # `at [DAYS] HH:MM-HH:MM` or `at DAYS` (whole days); no days: every day
            days = None
            while p.at('dayrange') or (p.at('name') and p.peek().val in WEEKDAYS):
                x = p.next()
                days = (days or set()) | (set(x.val) if x.kind == 'dayrange' else {WEEKDAYS.index(x.val)})
                if p.at('op', ',') and (p.at('dayrange', None, 1) or
                                        (p.at('name', None, 1) and p.peek(1).val in WEEKDAYS)):
                    p.next()
                else:
                    break
            if p.at('clock'):
                a = p.next().val
                p.expect('op', '-')
                b = p.expect('clock').val
                if not a < b or a == DAY:
                    raise PolicyError('bad send window')
            elif days is not None:
                a, b = 0, DAY
            else:
                raise PolicyError('unsupported at clause')
            r.at = (days if days is not None else set(range(7)), a, b)
        elif v == 'if':
            r.if_ = p.expr()
        elif v == 'unless':
            r.unless = p.expr()
        elif v == 'cap':
            n = int(p.expect('num').val)
            p.expect('kw', 'per')
            r.cap = (n, p.expect('dur').val)
        elif v == 'priority':
            neg = False
            if p.at('op', '-'):
                p.next()
                neg = True
            n = int(p.expect('num').val)
            r.priority = -n if neg else n
        elif v == 'variant':
            name = p.ident()
            pct = int(p.expect('num').val)
            p.expect('op', '%')
            d = ch = None
            if p.at('op', '{'):
                p.next()
                while not p.at('op', '}'):
                    x = p.next()
                    if x.kind == 'op' and x.val == '+':
                        d = p.expect('dur').val
                    elif x.kind == 'kw' and x.val == 'via':
                        ch = p.ident()
                    else:
                        raise PolicyError('bad variant body')
                p.next()
            r.variants.append((name, pct, d, ch))
        elif v == 'on':
            p.expect('kw', 'retrigger')
            w = p.ident()
            r.keep = (w == 'keep')
        else:
            raise PolicyError('unsupported clause %r' % t)
    return r


# ---------------------------------------------------------------- events

NUM_RE = re.compile(r'[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?')
RFC_RE = re.compile(r'(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)')


def days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def parse_time(s):
    if re.fullmatch(r'-?[0-9]{1,18}', s):
        return int(s)
    m = RFC_RE.fullmatch(s)
    if not m:
        raise ValueError('bad time %r' % s)
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    if ss == 60:
        ss = 59
    t = days_from_civil(y, mo, d) * DAY + hh * 3600 + mi * 60 + ss
    off = m.group(8)
    if off not in ('Z', 'z'):
        sign = 1 if off[0] == '+' else -1
        t -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    return t


def fmt_time(t):
    d, s = divmod(t, DAY)
    y, m, dd = civil_from_days(d)
    return '%04d-%02d-%02dT%02d:%02d:%02dZ' % (y, m, dd, s // 3600, s // 60 % 60, s % 60)


def cell_value(c):
    if c == '':
        return None
    if NUM_RE.fullmatch(c):
        return float(c)
    if c == 'true':
        return True
    if c == 'false':
        return False
    return c


def json_value(v):
    if v is None:
        return None
    if type(v) is bool:
        return v
    if type(v) in (int, float):
        return float(v)
    if type(v) is str:
        return cell_value(v)    # a JSON string is typed like a CSV cell (SPEC 5.4)
    raise ValueError('unsupported JSON value %r' % (v,))


def read_jsonl(path):
    import json
    out = []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            obj = json.loads(line)
            t = obj['time']
            t = int(t) if type(t) is int else parse_time(t)
            attrs = {}
            for k, v in obj.items():
                if k in ('time', 'customer', 'event'):
                    continue
                v = json_value(v)
                if v is not None:
                    attrs[k] = v
            out.append((t, n, obj['customer'], obj['event'], attrs))
    return out


def read_events(path):
    if path.endswith(('.jsonl', '.ndjson')):
        return read_jsonl(path)
    with open(path, 'rb') as f:
        data = f.read().decode('utf-8')
    if data.startswith('\ufeff'):
        data = data[1:]
    rows = list(csv.reader(io.StringIO(data, newline='')))
    hdr = rows[0]
    ti, ci, ei = hdr.index('time'), hdr.index('customer'), hdr.index('event')
    out = []
    for n, row in enumerate(rows[1:]):
        if not row:
            continue
        attrs = {}
        for k, h in enumerate(hdr):
            if k in (ti, ci, ei):
                continue
            v = cell_value(row[k]) if k < len(row) else None
            if v is not None:
                attrs[h] = v
        out.append((parse_time(row[ti]), n, row[ci], row[ei], attrs))
    return out


# ---------------------------------------------------------------- values

class Dur:
    __slots__ = ('s',)

    def __init__(self, s):
        self.s = s

    def __eq__(self, o):
        return isinstance(o, Dur) and o.s == self.s

    def __repr__(self):
        return 'Dur(%d)' % self.s


class Time:
    __slots__ = ('s',)

    def __init__(self, s):
        self.s = s

    def __eq__(self, o):
        return isinstance(o, Time) and o.s == self.s


class WD:
    __slots__ = ('i',)

    def __init__(self, i):
        self.i = i

    def __eq__(self, o):
        return isinstance(o, WD) and o.i == self.i


def tyof(v):
    if v is None:
        return None
    if type(v) is bool:
        return 'bool'
    if type(v) is float:
        return 'number'
    if type(v) is str:
        return 'string'
    if type(v) is Dur:
        return 'duration'
    if type(v) is Time:
        return 'time'
    if type(v) is WD:
        return 'weekday'
    raise TypeError(v)


def coerce(raw, want):
    """An attribute read takes the type its context needs (SPEC 4.12)."""
    if raw is None:
        return None
    if want in (None, 'untyped'):
        return raw
    if want == 'number':
        return raw if type(raw) is float else None
    if want == 'string':
        return raw if type(raw) is str else None
    if want == 'bool':
        return raw if type(raw) is bool else None
    if want == 'time':
        if type(raw) is float:
            import math
            return Time(math.floor(raw))
        if type(raw) is str:
            try:
                return Time(parse_time(raw)) if RFC_RE.fullmatch(raw) else None
            except ValueError:
                return None
        return None
    return None


# ---------------------------------------------------------------- replay

class Pending:
    __slots__ = ('rule', 'pos', 'due', 'channel', 'variant', 'tattrs', 'sent', 'ttime', 'is_every',
                 'qmoved', 'skip')

    def __init__(self):
        self.sent = False
        self.is_every = False
        self.qmoved = False     # quiet hours moved this attempt (past where `at` alone puts it)
        self.skip = None        # why the first attempt was skipped, while none was sent


class Cust:
    def __init__(self, cid):
        self.id = cid
        self.first = None
        self.events = []      # (time, name, attrs)
        self.traits = {}
        self.optout = set()
        self.consent = set()
        self.sends = []       # (time, rule_index, survey, channel)
        self.pending = {}     # rule index -> Pending
        self.boundary = {}    # rule index -> next every boundary


class Ctx:
    __slots__ = ('cust', 'now', 'tattrs', 'cattrs', 'tevent', 'cevent')

    def __init__(self, cust, now, tattrs, cattrs=None, tevent=None, cevent=None):
        self.cust, self.now, self.tattrs, self.cattrs = cust, now, tattrs, cattrs
        self.tevent, self.cevent = tevent, cevent


class Engine:
    def __init__(self, pol, horizon):
        self.pol = pol
        self.horizon = horizon
        self.rows = []

    # ---- static types
    def stype(self, e, ctx=None):
        tag = e[0]
        if tag == 'num':
            return 'number'
        if tag == 'str':
            return 'string'
        if tag == 'bool':
            return 'bool'
        if tag == 'dur':
            return 'duration'
        if tag == 'wd':
            return 'weekday'
        if tag == 'paren':
            return self.stype(e[1], ctx)
        if tag == 'name':
            n = e[1]
            if n in self.pol.lets:
                return self.stype(self.pol.lets[n], ctx)
            if n == 'now':
                return 'time'
            if n == 'hour':
                return 'number'
            if n == 'weekday':
                return 'weekday'
            if ctx is not None:
                ev = ctx.cevent if ctx.cattrs is not None else ctx.tevent
                return self.pol.decl.get(ev, {}).get(n, 'untyped')
            return 'untyped'
        if tag == 'dot':
            return self.dot_type(e, ctx) or 'untyped'
        if tag in ('not', 'no', 'within', 'in'):
            return 'bool'
        if tag == 'neg':
            t = self.stype(e[1], ctx)
            return 'untyped' if t == 'untyped' else t
        if tag == 'call':
            f = e[1]
            if f in ('count', 'sum', 'avg', 'min', 'max'):
                return 'number'
            if f == 'since':
                return 'duration'
            if f in ('asked', 'responded'):
                return 'bool'
            raise PolicyError('unknown function %s' % f)
        if tag == 'bin':
            op = e[1]
            if op in ('and', 'or', '==', '!=', '<', '<=', '>', '>='):
                return 'bool'
            a, b = self.stype(e[2], ctx), self.stype(e[3], ctx)
            if a == 'untyped' and b == 'untyped':
                return 'number'
            res = set(r for (x, y, r) in arith_readings(op, a, b))
            if len(res) == 1:
                return res.pop()
            return 'untyped'
        raise PolicyError('stype %r' % (e,))

    def ptypes(self, e, ctx):
        """the set of types an expression can take (untyped attributes adapt)"""
        tag = e[0]
        if tag == 'paren':
            return self.ptypes(e[1], ctx)
        if tag == 'name' and e[1] in self.pol.lets:
            return self.ptypes(self.pol.lets[e[1]], ctx)
        if tag == 'neg':
            return self.ptypes(e[1], ctx) & {'number', 'duration'}
        if tag == 'bin' and e[1] in ('+', '-', '*', '/'):
            pa, pb = self.ptypes(e[2], ctx), self.ptypes(e[3], ctx)
            if len(pa) > 1 and len(pb) > 1 and is_attr(e[2]) and is_attr(e[3]):
                return {'number'}     # SPEC 1.7: untyped op untyped -> number
            return set(arith_type(e[1], x, y) for x in pa for y in pb) - {None}
        t = self.stype(e, ctx)
        if t == 'untyped':
            # an attribute is never read as a duration (SPEC 4.12 lists number,
            # string, boolean, time): prefer the readings that can give a value
            return set(ALL_TYPES) - {'duration'}
        return {t}

    def dot_type(self, e, ctx):
        base, attr = e[1], e[2]
        if base[0] == 'name' and base[1] == 'trigger' and ctx is not None:
            return self.pol.decl.get(ctx.tevent, {}).get(attr)
        if base[0] == 'call' and base[1] == 'last':
            return self.pol.decl.get(base[2][1], {}).get(attr)
        return None

    # ---- evaluation
    def ev(self, e, ctx, want=None):
        tag = e[0]
        if tag == 'num' or tag == 'str' or tag == 'bool':
            return e[1]
        if tag == 'dur':
            return Dur(e[1])
        if tag == 'wd':
            return WD(e[1])
        if tag == 'paren':
            return self.ev(e[1], ctx, want)
        if tag == 'name':
            n = e[1]
            if n in self.pol.lets:
                return self.ev(self.pol.lets[n], ctx, want)
            if n == 'now':
                return Time(ctx.now)
            if n == 'hour':
                return float(ctx.now % DAY // 3600)
            if n == 'weekday':
                return WD((ctx.now // DAY + 3) % 7)
            src = ctx.cattrs if ctx.cattrs is not None else ctx.tattrs
            if src is None:
                return None
            ev = ctx.cevent if ctx.cattrs is not None else ctx.tevent
            return coerce(src.get(n), self.pol.decl.get(ev, {}).get(n) or want)
        if tag == 'dot':
            base, attr = e[1], e[2]
            want = self.dot_type(e, ctx) or want
            if base[0] == 'name' and base[1] == 'trigger':
                return coerce((ctx.tattrs or {}).get(attr), want)
            if base[0] == 'name' and base[1] == 'customer':
                return coerce(ctx.cust.traits.get(attr), want)
            if base[0] == 'call' and base[1] == 'last':
                ename = base[2][1]
                for (t, n, a) in reversed(ctx.cust.events):
                    if n == ename and t <= ctx.now:
                        return coerce(a.get(attr), want)
                return None
            raise PolicyError('bad dot %r' % (e,))
        if tag == 'not':
            return k_not(self.ev(e[1], ctx, 'bool'))
        if tag == 'no':
            x = e[1]
            if x[0] == 'name' and x[1] not in self.pol.lets:
                return self.count(ctx, x[1], None, None) == 0
            if x[0] == 'within' and x[1][0] == 'name':
                return self.count(ctx, x[1][1], None, self.ev(x[2], ctx)) == 0
            return k_not(self.ev(x, ctx, 'bool'))
        if tag == 'within':
            if e[1][0] != 'name':
                raise PolicyError('within on non-event')
            return self.count(ctx, e[1][1], None, self.ev(e[2], ctx)) > 0
        if tag == 'neg':
            v = self.ev(e[1], ctx, (want if want in ('number', 'duration') else 'number')
                        if self.stype(e[1], ctx) == 'untyped' else None)
            if v is None:
                return None
            if type(v) is float:
                return -v
            if type(v) is Dur:
                return Dur(-v.s)
            return None
        if tag == 'in':
            items = e[2]
            it = ('weekday' if items[0][0] == 'days' else self.stype(items[0], ctx)) if items else 'untyped'
            a = self.ev(e[1], ctx, it if self.stype(e[1], ctx) == 'untyped' else None)
            if a is None:
                return None
            res = False
            flat = []
            for x in items:
                if x[0] == 'days':
                    flat.extend(('wd', d) for d in x[1])
                else:
                    flat.append(x)
            for x in flat:
                b = self.ev(x, ctx)
                r = k_eq(a, b)
                if r is True:
                    return True
                if r is None:
                    res = None
            return res
        if tag == 'call':
            return self.call(e, ctx)
        if tag == 'bin':
            op = e[1]
            if op == 'and':
                return k_and(self.ev(e[2], ctx, 'bool'), lambda: self.ev(e[3], ctx, 'bool'))
            if op == 'or':
                return k_or(self.ev(e[2], ctx, 'bool'), lambda: self.ev(e[3], ctx, 'bool'))
            pa, pb = self.ptypes(e[2], ctx), self.ptypes(e[3], ctx)
            if op in ('==', '!=', '<', '<=', '>', '>='):
                if len(pa) > 1 and len(pb) > 1 and is_attr(e[2]) and is_attr(e[3]):
                    # two untyped attributes: not stated by the contract; both
                    # read as they are, different types compare unknown (4.12)
                    wa = wb = None
                else:
                    common = pa & pb
                    if len(pa) == 1:
                        common = pa & pb
                    elif len(pb) == 1:
                        common = pb & pa
                    t = pick_type(common)
                    wa = wb = t
                a = self.ev(e[2], ctx, wa)
                b = self.ev(e[3], ctx, wb)
                return k_cmp(op, a, b)
            if len(pa) > 1 and len(pb) > 1 and is_attr(e[2]) and is_attr(e[3]):
                pa = pb = {'number'}
            combos = [(x, y, arith_type(op, x, y)) for x in pa for y in pb]
            combos = [c for c in combos if c[2] is not None]
            if want in ('number', 'duration', 'time'):
                c2 = [c for c in combos if c[2] == want]
                if c2:
                    combos = c2
            combos.sort(key=lambda c: (TYPE_PREF.index(c[2]), TYPE_PREF.index(c[0]), TYPE_PREF.index(c[1])))
            wa, wb = (combos[0][0], combos[0][1]) if combos else (None, None)
            a = self.ev(e[2], ctx, wa)
            b = self.ev(e[3], ctx, wb)
            return arith(op, a, b)
        raise PolicyError('ev %r' % (e,))

    def window(self, ctx, win):
        if win is None:
            return None
        d = self.ev(win, ctx)
        if type(d) is not Dur:
            return 'unknown'
        return d.s

    def count(self, ctx, ename, where, dval):
        if isinstance(dval, Dur):
            lo = ctx.now - dval.s
        elif dval is None:
            lo = None
        else:
            lo = None
        n = 0
        for (t, name, a) in ctx.cust.events:
            if name != ename or t > ctx.now:
                continue
            if lo is not None and t <= lo:
                continue
            if where is not None:
                c2 = Ctx(ctx.cust, ctx.now, ctx.tattrs, a, ctx.tevent, ename)
                if self.ev(where, c2, 'bool') is not True:
                    continue
            n += 1
        return n

    def call(self, e, ctx):
        _, f, arg, where, win = e
        d = self.ev(win, ctx) if win is not None else None
        lo = ctx.now - d.s if isinstance(d, Dur) else None
        if f == 'count':
            return float(self.count(ctx, arg[1], where, d))
        if f == 'since':
            for (t, n, a) in reversed(ctx.cust.events):
                if n == arg[1] and t <= ctx.now:
                    return Dur(ctx.now - t)
            return None
        if f in ('sum', 'avg', 'min', 'max'):
            ename, attr = arg[1][1], arg[2]
            vals = []
            for (t, n, a) in ctx.cust.events:
                if n != ename or t > ctx.now or (lo is not None and t <= lo):
                    continue
                v = a.get(attr)
                if type(v) is float:
                    vals.append(v)
            # SPEC 4.12: sum and avg add the doubles from the newest to the
            # oldest, one after the other (an explicit loop: Python 3.12's
            # sum() of floats compensates its rounding)
            acc = 0.0
            for v in reversed(vals):
                acc += v
            if f == 'sum':
                return acc
            if not vals:
                return None
            if f == 'avg':
                return acc / len(vals)
            return min(vals) if f == 'min' else max(vals)
        if f == 'asked':
            s = arg[1]
            for (t, ri, surv, ch) in ctx.cust.sends:
                if surv == s and t <= ctx.now and (lo is None or t > lo):
                    return True
            return False
        if f == 'responded':
            s = arg[1]
            for (t, n, a) in ctx.cust.events:
                if n == 'response' and a.get('survey') == s and t <= ctx.now and (lo is None or t > lo):
                    return True
            return False
        if f == 'last':
            raise PolicyError('last without .attr')
        raise PolicyError('unknown function %s' % f)

    # ---- replay
    def run(self, events):
        events = sorted(events, key=lambda x: (x[0], x[1]))
        bycust = {}
        order = []
        for ev in events:
            if ev[2] not in bycust:
                bycust[ev[2]] = []
                order.append(ev[2])
            bycust[ev[2]].append(ev)
        for cid in order:
            self.run_customer(cid, bycust[cid])
        pri = {r.index: r.priority for r in self.pol.rules}
        self.rows.sort(key=lambda r: (r[0], r[1].encode('utf-8'), -pri[r[2]], r[2], r[6]))
        return self.rows

    def run_customer(self, cid, evs):
        c = Cust(cid)
        i = 0
        while i < len(evs):
            T = evs[i][0]
            self.fire(c, T, strict=True)
            while i < len(evs) and evs[i][0] == T:
                self.apply(c, evs[i])
                i += 1
            self.fire(c, T, strict=False)
        self.fire(c, self.horizon, strict=False)
        for ri, p in c.pending.items():
            if not p.sent:
                rstat(self.pol.rules[ri], 'horizon')   # --stats: nothing sent yet at the end

    def fire(self, c, T, strict):
        lim = min(T - 1, self.horizon) if strict else min(T, self.horizon)
        while True:
            best = None
            for ri, b in c.boundary.items():
                if b <= lim:
                    k = (b, 0, 0, ri, 'b')
                    if best is None or k < best:
                        best = k
            for ri, p in c.pending.items():
                if p.due <= lim:
                    k = (p.due, 1, -self.pol.rules[ri].priority, ri, 'p')
                    if best is None or k < best:
                        best = k
            if best is None:
                return
            ri = best[3]
            if best[4] == 'b':
                b = c.boundary[ri]
                r = self.pol.rules[ri]
                c.boundary[ri] = b + r.every
                stat('boundary')
                self.trigger(c, r, b, None)
            else:
                self.fire_attempt(c, c.pending[ri])

    def apply(self, c, ev):
        t, _, cid, name, attrs = ev
        first = c.first is None
        if first:
            c.first = t
        pol = self.pol
        ch = attrs.get('channel', None)
        if name in ('opt_out', 'opt_in', 'consent_granted', 'consent_revoked'):
            if 'channel' not in attrs:
                targets = set(pol.channels)
            elif type(ch) is str and ch in pol.channels:
                targets = {ch}
            else:
                targets = set()
            if name == 'opt_out':
                c.optout |= targets
            elif name == 'opt_in':
                c.optout -= targets
            elif name == 'consent_granted':
                c.consent |= targets
            else:
                c.consent -= targets
        elif name == 'identify':
            for k, v in attrs.items():
                c.traits[k] = v
        elif name == 'response':
            s = attrs.get('survey')
            if type(s) is str:
                for ri in list(c.pending):
                    p = c.pending[ri]
                    r = pol.rules[ri]
                    if r.kind == 'ask' and r.target == s and p.sent:
                        stat('response-cancel')
                        del c.pending[ri]
        c.events.append((t, name, attrs))
        for r in pol.rules:
            if r.trigger == name:
                if r.where is not None:
                    if self.ev(r.where, Ctx(c, t, attrs, None, name), 'bool') is not True:
                        continue
                self.trigger(c, r, t, attrs)
        if first:
            for r in pol.rules:
                if r.every is not None:
                    c.boundary[r.index] = t + r.every

    def trigger(self, c, r, T, attrs):
        variant = ''
        delay = r.delay
        ch0 = r.channels[0]
        if r.variants:
            b = fnv1a64(('%s/%s/%s' % (self.pol.name, r.name, c.id)).encode('utf-8')) % 100
            lo = 0
            chosen = None
            for v in r.variants:
                if lo <= b < lo + v[1]:
                    chosen = v
                    break
                lo += v[1]
            if chosen is None:
                stat('holdout')
                rstat(r, 'holdout')
                return          # holdout
            variant = chosen[0]
            if chosen[2] is not None:
                delay = chosen[2]
            if chosen[3] is not None:
                ch0 = chosen[3]
        if r.index in c.pending:
            if r.keep:
                stat('keep-ignored')
                rstat(r, 'keep_ignored')
                return
            stat('restart-cancel')
            if not c.pending[r.index].sent:
                rstat(r, 'restart_cancelled')
            del c.pending[r.index]
        final = self.send_time(T + delay, r, ch0, True)
        if final is None:
            stat('no-allowed-time')
            rstat(r, 'no_allowed_time')
            return
        if final != T + delay:
            stat('moved-first')
        p = Pending()
        p.rule = r.index
        p.pos = 0
        p.due = final
        p.qmoved = final != self.send_time(T + delay, r, ch0, True, quiet=False)
        p.channel = ch0
        p.variant = variant
        p.tattrs = attrs
        p.ttime = T
        c.pending[r.index] = p

    def send_time(self, t, r, channel, first, quiet=True):
        """LANGUAGE 4.3, SPEC 4.5 (UTC: wall time = instant): the first instant u >= t
        allowed by the rule's `at` window (first attempt only) and, for asks, by every
        quiet window covering `channel`; None when no instant of a whole week is."""
        win = r.at if first else None
        quiets = [] if r.kind == 'task' or not quiet else \
            [(a, b) for (a, b, ch) in self.pol.quiet if ch is None or channel in ch]
        u = t
        while u < t + 7 * DAY + 1:
            day0 = u - u % DAY
            tod = u - day0
            wd = (u // DAY + 3) % 7          # 1970-01-01 was a Thursday
            moved = False
            if win is not None:
                days, a, b = win
                if not (wd in days and a <= tod < b):
                    if wd in days and tod < a:
                        u = day0 + a
                    else:
                        k = 1
                        while (wd + k) % 7 not in days:
                            k += 1
                        u = day0 + k * DAY + a
                    continue
            for (a, b) in quiets:
                if a < b:
                    if a <= tod < b:
                        u = day0 + b
                        moved = True
                        break
                else:
                    if tod >= a:
                        u = day0 + DAY + b
                        moved = True
                        break
                    if tod < b:
                        u = day0 + b
                        moved = True
                        break
            if not moved:
                return u
        return None

    def advance(self, c, p):
        r = self.pol.rules[p.rule]
        if p.pos + 1 < len(r.channels):
            # each attempt's clock counts from the previous attempt's actual, moved
            # time (also when that one was skipped); reminders obey quiet hours only
            nominal = p.due + r.delays[p.pos]
            p.pos += 1
            p.channel = r.channels[p.pos]
            p.due = self.send_time(nominal, r, p.channel, False)
            p.qmoved = p.due is not None and p.due != nominal
            if p.due != nominal:
                stat('moved-reminder')
            if p.due is None:
                stat('reminder-no-allowed-time')
                # no allowed instant for this attempt: the chain ends here (the
                # contract does not say; kairos reads it so too); an ask that sent
                # nothing is spared for its first attempt's skip reason
                if not p.sent and p.skip is not None:
                    rstat(r, p.skip)
                del c.pending[p.rule]
        else:
            if not p.sent and p.skip is not None:
                rstat(r, p.skip)      # every attempt skipped: the first one's reason
            del c.pending[p.rule]

    def fire_attempt(self, c, p):
        r = self.pol.rules[p.rule]
        now = p.due
        ctx = Ctx(c, now, p.tattrs, None, r.trigger)
        if p.pos == 0:
            if r.if_ is not None and self.ev(r.if_, ctx, 'bool') is not True:
                stat('if-failed')
                rstat(r, 'if_unless_false')
                del c.pending[p.rule]
                return
            if r.unless is not None and self.ev(r.unless, ctx, 'bool') is not False:
                stat('unless-failed')
                rstat(r, 'if_unless_false')
                del c.pending[p.rule]
                return
        if r.kind == 'task':
            self.emit(c, p, 'task', now)
            self.advance(c, p)
            return
        if p.channel in c.optout or (p.channel in self.pol.consent and p.channel not in c.consent):
            stat('skip-optout' if p.channel in c.optout else 'skip-consent')
            if p.sent:
                rstat(r, 'blocked')
            elif p.skip is None:
                p.skip = 'opt_out' if p.channel in c.optout else 'consent'
            self.advance(c, p)
            return
        if p.sent:
            self.emit(c, p, 'remind', now)
            self.advance(c, p)
            return
        # caps
        for (n, d, chans) in self.pol.caps:
            if chans is not None and p.channel not in chans:
                continue
            cnt = sum(1 for (t, ri, s, ch) in c.sends
                      if t > now - d and t <= now and (chans is None or ch in chans))
            if cnt >= n:
                stat('capped-top')
                rstat(r, 'cap')
                del c.pending[p.rule]
                return
        if r.cap is not None:
            n, d = r.cap
            cnt = sum(1 for (t, ri, s, ch) in c.sends if ri == r.index and t > now - d and t <= now)
            if cnt >= n:
                stat('capped-rule')
                rstat(r, 'cap')
                del c.pending[p.rule]
                return
        # priority yield
        for ri2, p2 in c.pending.items():
            if ri2 == p.rule:
                continue
            r2 = self.pol.rules[ri2]
            if r2.kind != 'ask' or p2.sent or r2.priority <= r.priority:
                continue
            t2, c2 = p2.due, p2.channel
            for (n, d, chans) in self.pol.caps:
                if chans is not None and (p.channel not in chans or c2 not in chans):
                    continue
                cnt = sum(1 for (t, ri, s, ch) in c.sends
                          if t > t2 - d and t <= t2 and (chans is None or ch in chans))
                if t2 - d < now <= t2:
                    cnt += 1
                if cnt >= n:
                    stat('yielded')
                    rstat(r, 'yielded')
                    del c.pending[p.rule]
                    return
        p.sent = True
        c.sends.append((now, r.index, r.target, p.channel))
        self.emit(c, p, 'ask', now)
        self.advance(c, p)

    def emit(self, c, p, action, now):
        stat(action)
        r = self.pol.rules[p.rule]
        rstat(r, action)
        if p.qmoved:
            rstat(r, 'moved')
        if p.pos > 0 and action == 'ask':
            stat('ask-at-later-attempt')
        r = self.pol.rules[p.rule]
        self.rows.append((now, c.id, r.index, action, r.target, p.channel, p.pos + 1, p.variant))


ALL_TYPES = ('number', 'string', 'bool', 'duration', 'time', 'weekday')
TYPE_PREF = ('number', 'time', 'duration', 'string', 'bool', 'weekday')


def pick_type(ts):
    for t in TYPE_PREF:
        if t in ts:
            return t
    return None


def is_attr(e):
    while e[0] == 'paren':
        e = e[1]
    return e[0] == 'name' or e[0] == 'dot'


def arith_type(op, a, b):
    if op in ('+', '-'):
        if a == b == 'number':
            return 'number'
        if a == b == 'duration':
            return 'duration'
        if a == 'time' and b == 'duration':
            return 'time'
        if a == 'duration' and b == 'time' and op == '+':
            return 'time'
        if a == b == 'time' and op == '-':
            return 'duration'
        return None
    if op == '*':
        if a == b == 'number':
            return 'number'
        if {a, b} == {'number', 'duration'}:
            return 'duration'
        return None
    if op == '/':
        if a == b == 'number':
            return 'number'
        if a == 'duration' and b == 'number':
            return 'duration'
        if a == b == 'duration':
            return 'number'
        return None


def arith_readings(op, a, b):
    """valid (left type, right type, result type) readings, untyped operands adapting"""
    TS = ('number', 'duration', 'time')
    out = []
    for x in (TS if a == 'untyped' else (a,)):
        for y in (TS if b == 'untyped' else (b,)):
            r = arith_type(op, x, y)
            if r is not None:
                out.append((x, y, r))
    if a == 'untyped' and b == 'untyped':
        out = [o for o in out if o[0] == o[1] == 'number']
    return out


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def k_not(a):
    if type(a) is not bool:
        return None
    return not a


def k_and(a, bf):
    if a is False:
        return False
    b = bf()
    if b is False:
        return False
    if a is True and b is True:
        return True
    return None


def k_or(a, bf):
    if a is True:
        return True
    b = bf()
    if b is True:
        return True
    if a is False and b is False:
        return False
    return None


def k_eq(a, b):
    if a is None or b is None:
        return None
    ta, tb = tyof(a), tyof(b)
    if ta != tb:
        return None
    if ta in ('duration', 'time'):
        return a.s == b.s
    if ta == 'weekday':
        return a.i == b.i
    return a == b


def k_cmp(op, a, b):
    if a is None or b is None:
        return None
    ta, tb = tyof(a), tyof(b)
    if ta != tb:
        return None
    if ta in ('duration', 'time'):
        a, b = a.s, b.s
    elif ta == 'weekday':
        a, b = a.i, b.i
    elif ta == 'bool':
        if op in ('==', '!='):
            return (a == b) if op == '==' else (a != b)
        return None
    elif ta == 'string':
        a, b = a.encode('utf-8'), b.encode('utf-8')
    if a != a or b != b:
        return None
    return {'==': a == b, '!=': a != b, '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b}[op]


def arith(op, a, b):
    import math
    if a is None or b is None:
        return None
    ta, tb = tyof(a), tyof(b)
    if ta == tb == 'number':
        if op == '+':
            r = a + b
        elif op == '-':
            r = a - b
        elif op == '*':
            r = a * b
        else:
            if b == 0:
                return None
            r = a / b
        return None if math.isnan(r) else r
    if ta == tb == 'duration':
        if op == '+':
            return Dur(a.s + b.s)
        if op == '-':
            return Dur(a.s - b.s)
        if op == '/':
            if b.s == 0:
                return None
            return a.s / b.s
        return None
    if ta == 'time' and tb == 'duration' and op in ('+', '-'):
        return Time(a.s + b.s if op == '+' else a.s - b.s)
    if ta == 'duration' and tb == 'time' and op == '+':
        return Time(a.s + b.s)
    if ta == tb == 'time' and op == '-':
        return Dur(a.s - b.s)
    if op == '*' and {ta, tb} == {'number', 'duration'}:
        n, d = (a, b) if ta == 'number' else (b, a)
        x = n * d.s
        if math.isnan(x) or math.isinf(x) or abs(x) > 2.0 ** 63 - 1:
            return None   # "overflows a duration is unknown" (SPEC 4.12)
        return Dur(int(x))
    if op == '/' and ta == 'duration' and tb == 'number':
        if b == 0:
            return None
        x = a.s / b
        if math.isnan(x) or math.isinf(x) or abs(x) > 2.0 ** 63 - 1:
            return None
        return Dur(int(x))
    return None


def csv_field(s):
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def simulate(policy_path, events_paths, until=None):
    with open(policy_path, encoding='utf-8') as f:
        pol = parse_policy(f.read(), policy_path)
    events = []
    base = 0
    for p in events_paths:
        evs = read_events(p)
        events.extend((t, base + n, cid, name, a) for (t, n, cid, name, a) in evs)
        base += len(evs)
    if not events:
        return 'time,customer,rule,action,survey,channel,attempt,variant\n'
    horizon = parse_time(until) if until is not None else max(e[0] for e in events)
    RSTATS.clear()
    AMBIG.clear()
    eng = Engine(pol, horizon)
    rows = eng.run(events)
    out = ['time,customer,rule,action,survey,channel,attempt,variant\n']
    for (t, cid, ri, action, surv, ch, att, var) in rows:
        out.append(','.join([fmt_time(t), csv_field(cid), csv_field(pol.rules[ri].name), action,
                             csv_field(surv), ch, str(att), csv_field(var)]) + '\n')
    return ''.join(out)


def main(argv):
    until = None
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == '--until':
            until = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    sys.stdout.write(simulate(args[0], args[1:], until))


if __name__ == '__main__':
    main(sys.argv[1:])
