#!/usr/bin/python3
"""Expression-typing differential fuzzer: random well-typed conditions mixing
untyped attributes (which adapt to their context, SPEC 1.7) with numbers,
durations and times, as `where` of one rule, on a few customers.

usage: exprfuzz.py KAIROS SEED_FROM SEED_TO [--out DIR] [--avoid-known]
Prints MISMATCH lines; rejected policies (type errors) are counted, not failures.
"""
import os
import random
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

AVOID = []


class G:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def e(self, t, d=0):
        r = self.r
        leaf = d >= 3 or r.random() < 0.35
        if t == 'number':
            if leaf:
                return r.choice(['amount', 'trigger.amount', 'customer.level', 'last(purchase).amount',
                                 str(r.randrange(5)), '2.5', 'count(purchase)', 'hour'])
            k = r.randrange(5)
            if k == 0:
                return '%s %s %s' % (self.e('number', d + 1), r.choice('+-*/'), self.e('number', d + 1))
            if k == 1:
                return '%s / %s' % (self.e('duration', d + 1), self.e('duration', d + 1))
            if k == 2:
                return '-%s' % self.e('number', d + 1)
            if k == 3:
                return r.choice(['sum', 'avg', 'min', 'max']) + '(purchase.amount within 3d)'
            return '(%s)' % self.e('number', d + 1)
        if t == 'duration':
            if leaf:
                return r.choice(['1d', '12h', '2d', 'since(purchase)', '0s', '1d12h'])
            k = r.randrange(6)
            if k == 0:
                return '%s %s %s' % (self.e('duration', d + 1), r.choice('+-'), self.e('duration', d + 1))
            if k == 1:
                return '%s * %s' % (self.e('number', d + 1), self.e('duration', d + 1))
            if k == 2:
                return '%s * %s' % (self.e('duration', d + 1), self.e('number', d + 1))
            if k == 3:
                return '%s / %s' % (self.e('duration', d + 1), self.e('number', d + 1))
            if k == 4:
                return '%s - %s' % (self.e('time', d + 1), self.e('time', d + 1))
            return '(%s)' % self.e('duration', d + 1)
        if t == 'time':
            if leaf:
                return r.choice(['now', 'when', 'trigger.when', 'last(purchase).when', 'customer.since'])
            k = r.randrange(4)
            if k == 0:
                return '%s + %s' % (self.e('time', d + 1), self.e('duration', d + 1))
            if k == 1:
                return '%s + %s' % (self.e('duration', d + 1), self.e('time', d + 1))
            if k == 2:
                return '%s - %s' % (self.e('time', d + 1), self.e('duration', d + 1))
            return '(%s)' % self.e('time', d + 1)
        # bool
        if leaf or r.random() < 0.7:
            tt = r.choice(['number', 'duration', 'time'])
            return '%s %s %s' % (self.e(tt, d + 1), r.choice(['==', '!=', '<', '<=', '>', '>=']),
                                 self.e(tt, d + 1))
        return '%s %s %s' % (self.e('bool', d + 1), r.choice(['and', 'or']), self.e('bool', d + 1))

    def events(self):
        r = self.r
        base = 1772323200
        rows = []
        for c in ('c1', 'c2', 'c3'):
            for k in range(r.randrange(1, 4)):
                t = base + r.randrange(8) * 43200
                rows.append((t, c, 'purchase', r.choice(['1', '2', '4', 'x', '']),
                             r.choice([oracle.fmt_time(t - 86400), str(t - 43200), 'soon', ''])))
            if r.random() < 0.7:
                rows.append((base + r.randrange(8) * 43200, c, 'identify', '', ''))
            t = base + 8 * 43200
            rows.append((t, c, 'login', r.choice(['1', '2', '3', 'x', '']),
                         r.choice([oracle.fmt_time(t - r.randrange(5) * 43200), str(t - r.randrange(5) * 43200),
                                   'soon', ''])))
        out = ['time,customer,event,amount,when,level,since']
        for (t, c, e, a, w) in rows:
            lv = str(r.randrange(4)) if e == 'identify' else ''
            sn = oracle.fmt_time(t - 86400 * r.randrange(3)) if e == 'identify' else ''
            out.append('%s,%s,%s,%s,%s,%s,%s' % (oracle.fmt_time(t), c, e, a, w, lv, sn))
        return '\n'.join(out) + '\n'


def main(argv):
    kairos = argv[0]
    lo, hi = int(argv[1]), int(argv[2])
    outdir = argv[argv.index('--out') + 1] if '--out' in argv else '/tmp/kairos-exprfuzz'
    counts = {}
    bad = 0
    for seed in range(lo, hi):
        g = G(seed)
        cond = g.e('bool')
        pol = 'ask CSAT after login where %s cap 1 per 1d\n' % cond
        if '--avoid-known' in argv and ('when +' in cond or 'when -' in cond or '+ when' in cond
                                        or 'since +' in cond or 'since -' in cond or '+ customer.since' in cond
                                        or '+ trigger.when' in cond):
            counts['skipped'] = counts.get('skipped', 0) + 1
            continue
        evs = g.events()
        work = os.path.join(outdir, 'seed-%d' % seed)
        os.makedirs(work, exist_ok=True)
        pp, ep = os.path.join(work, 'policy.kai'), os.path.join(work, 'events.csv')
        with open(pp, 'w') as f:
            f.write(pol)
        with open(ep, 'w') as f:
            f.write(evs)
        res = subprocess.run([kairos, 'simulate', pp, ep], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if res.returncode != 0:
            st = 'rejected'
        else:
            try:
                want = oracle.simulate(pp, [ep]).encode()
            except Exception as ex:  # noqa
                want = repr(ex).encode()
            st = 'ok' if want == res.stdout else 'mismatch'
            if st == 'mismatch':
                bad += 1
                with open(os.path.join(work, 'kairos.csv'), 'wb') as f:
                    f.write(res.stdout)
                with open(os.path.join(work, 'oracle.csv'), 'wb') as f:
                    f.write(want)
                dis = subprocess.run([kairos, 'disasm', pp], stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
                hint = (' [reads an attribute "as duration": known bug bugs/untyped-plus-duration-vs-time]'
                        if b'as duration' in dis else '')
                print('MISMATCH seed %d: %s/{policy.kai,events.csv,kairos.csv,oracle.csv}: %s%s'
                      % (seed, work, cond, hint), flush=True)
        counts[st] = counts.get(st, 0) + 1
        if st != 'mismatch':
            os.unlink(pp)
            os.unlink(ep)
            os.rmdir(work)
    print('summary: ' + ', '.join('%s=%d' % kv for kv in sorted(counts.items())), file=sys.stderr)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
