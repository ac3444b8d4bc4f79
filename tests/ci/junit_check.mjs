// junit_check.mjs NODE_MODULES REPORT T0 T1 -- reads a `kairos test --format junit`
// report of tests/ci/run.sh with junit2json (a JUnit consumer) and checks
// what CI test views show: counts, a duration on every suite and case (a
// suite's at least the sum of its cases'), a start time within [T0, T1]
// (Unix seconds around the run), a failure's text, and the cause of an
// unusable test file in its <error>.  Prints one line per problem; exit 1.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [modules, report, t0, t1] = process.argv.slice(2);
const entry = createRequire(modules + '/').resolve('junit2json');
const { parse } = await import(pathToFileURL(entry).href);
const problems = [];
const want = (cond, msg) => { if (!cond) problems.push(msg); };
const out = await parse(readFileSync(report, 'utf8'));
const suites = out.testsuite || [];
want(out.tests === 19 && out.failures === 7 && out.errors === 3,
     `totals tests=${out.tests} failures=${out.failures} errors=${out.errors}`);
want(typeof out.time === 'number' && out.time > 0, `testsuites time ${out.time}`);
let sum = 0;
for (const s of suites) {
    want(typeof s.time === 'number' && s.time >= 0, `${s.name}: time ${s.time}`);
    const ts = Date.parse(s.timestamp + 'Z') / 1000;
    want(ts >= Number(t0) && ts <= Number(t1), `${s.name}: timestamp ${s.timestamp} not in the run`);
    let cases = 0;
    for (const c of s.testcase || []) {
        want(typeof c.time === 'number' && c.time >= 0, `${s.name} / ${c.name}: time ${c.time}`);
        cases += c.time || 0;
    }
    want(s.time + 0.0015 * (s.testcase || []).length >= cases, `${s.name}: time ${s.time} < its cases' ${cases}`);
    sum += s.time;
}
want(out.time + 0.0015 * suites.length >= sum, `testsuites time ${out.time} < its suites' ${sum}`);
const names = suites.map(s => s.name);
for (const n of ['pass.test.yaml', 'fail.test.yaml', 'malformed/badpolicy.test.yaml', '(operands)'])
    want(names.includes(n), `no suite ${n} (have ${names.join(', ')})`);
const bad = suites.find(s => s.name === 'malformed/badpolicy.test.yaml');
const err = bad && bad.testcase[0].error && bad.testcase[0].error[0];
want(err && /cannot be used/.test(err.message) && /unknown survey `NOPE`/.test(err.inner),
     `badpolicy: the error does not carry its cause: ${JSON.stringify(err)}`);
const fail = suites.find(s => s.name === 'fail.test.yaml');
const diff = fail && fail.testcase.find(c => c.name === 'the schedule differs');
want(diff && diff.failure && /\+2026-03-31T13:00:00Z,c3,review,ask,NPS,sms,1,/.test(diff.failure[0].inner),
     'the schedule diff is not in its failure');
for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
