// lsp_fuzz.cjs KAIROS [STEPS] [SEED] -- random edit sequences against
// `kairos lsp`: starts from an example policy and applies STEPS random
// incremental edits (random ranges, including out-of-range positions, and
// fragments of Kairos, UTF-8, control characters), each followed at random
// by a hover, completion, definition, symbols or formatting request at a
// random position.  The server must answer every request and publish
// diagnostics after every change, then shut down with status 0.
// Prints "lspfuzz: N passed, M failed".
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const [kairos, stepsArg, seedArg] = process.argv.slice(2);
const steps = Number(stepsArg || 200);
let seed = Number(seedArg || 7);
const rnd = n => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };

const srv = spawn(kairos, ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = Buffer.alloc(0), answered = 0, published = 0, pending = new Map();
srv.stdout.on('data', d => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
        const h = buf.indexOf('\r\n\r\n');
        if (h < 0) break;
        const n = Number(/Content-Length: (\d+)/i.exec(buf.slice(0, h).toString())[1]);
        if (buf.length < h + 4 + n) break;
        const m = JSON.parse(buf.slice(h + 4, h + 4 + n).toString('utf8'));
        buf = buf.slice(h + 4 + n);
        if (m.method === 'textDocument/publishDiagnostics') published++;
        else if (m.id !== undefined && pending.has(m.id)) { answered++; pending.get(m.id)(m); pending.delete(m.id); }
    }
});
const send = o => { const b = Buffer.from(JSON.stringify(o)); srv.stdin.write(`Content-Length: ${b.length}\r\n\r\n`); srv.stdin.write(b); };
let id = 0;
const request = (method, params) => new Promise(res => { const i = ++id; pending.set(i, res); send({ jsonrpc: '2.0', id: i, method, params }); });

const root = path.resolve(__dirname, '../..');
const text = fs.readFileSync(path.join(root, 'examples/support-table/policy.kai'), 'utf8');
const uri = 'file:///tmp/kairos-fuzz/policy.kai';
const bits = ['rule ', 'ask ', 'NPS', 'CSAT', ' via ', 'email', ' then sms after ', '2d', ' after ', 'ticket_closed',
    ' + ', '24h', ' where ', 'trigger.', 'kind', ' == ', '"x', '"', '(', ')', '{', '}', '[', ']', ',', ':', '\n', '  ',
    '#', ' kairos:ignore K0701', 'é', '😀', '\t', '\r', '\u0001', 'let ', ' = ', 'count(', ' within ', '7d',
    'every ', 'day', ' at ', '09:00-17:00', 'mon-fri', 'quiet ', '20:00-08:00', 'cap 1 per 30d', 'variant a 50%',
    'event e { a: number }', 'import "std/', '\\', '@', '99999999999999999999w', '', ''];
let problems = 0;
(async () => {
    await request('initialize', { capabilities: {} });
    send({ jsonrpc: '2.0', method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'kairos', version: 1, text } } });
    const methods = ['textDocument/hover', 'textDocument/completion', 'textDocument/definition',
                     'textDocument/documentSymbol', 'textDocument/formatting'];
    for (let i = 0; i < steps; i++) {
        const changes = [];
        for (let k = 1 + rnd(3); k > 0; k--) {
            const l1 = rnd(60), c1 = rnd(80), l2 = rnd(4) ? l1 : l1 + rnd(5), c2 = rnd(80);
            let t = '';
            for (let j = rnd(4); j > 0; j--) t += bits[rnd(bits.length)];
            changes.push(rnd(40) ? { range: { start: { line: l1, character: c1 }, end: { line: l2, character: c2 } }, text: t }
                                 : { text: t + text.slice(rnd(text.length)) });
        }
        send({ jsonrpc: '2.0', method: 'textDocument/didChange', params: { textDocument: { uri, version: i + 2 }, contentChanges: changes } });
        if (rnd(2)) {
            const m = methods[rnd(methods.length)];
            const r = await Promise.race([
                request(m, { textDocument: { uri }, position: { line: rnd(60), character: rnd(80) }, options: { tabSize: 2, insertSpaces: true } }),
                new Promise(res => setTimeout(() => res(null), 20000))]);
            if (!r || r.error) { problems++; console.log(`FAIL: lspfuzz: step ${i}: ${m}: ${JSON.stringify(r)}`); }
        }
    }
    const sd = await request('shutdown', null);
    send({ jsonrpc: '2.0', method: 'exit' });
    srv.on('exit', code => {
        let pass = 0, fail = problems;
        if (sd && sd.result === null && code === 0) pass++; else { fail++; console.log(`FAIL: lspfuzz: exit ${code}`); }
        if (published === steps + 1) pass++; else { fail++; console.log(`FAIL: lspfuzz: ${published} diagnostics for ${steps + 1} versions`); }
        pass += answered - problems;
        console.log(`lspfuzz: ${pass} passed, ${fail} failed`);
        process.exit(fail ? 1 : 0);
    });
})();
