// lsp_check.cjs KAIROS -- talks to `kairos lsp` over stdio as an editor
// would (JSON-RPC with Content-Length headers) and checks its answers:
// initialize, diagnostics on open and after incremental changes (codes,
// related information), formatting (applied, it gives `kairos fmt`'s
// text), document symbols, go to definition (a let, a prelude survey),
// hover (keywords, declarations), completion (names; attributes after trigger.),
// errors for bad input, 300 random edits without a crash, shutdown/exit.
// Prints one line per problem and "lsp: N passed, M failed".
'use strict';
const { spawn, execFileSync } = require('child_process');
const kairos = process.argv[2];
let pass = 0, fail = 0;
const check = (cond, msg) => { if (cond) pass++; else { fail++; console.log(`FAIL: lsp: ${msg}`); } };

const srv = spawn(kairos, ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = Buffer.alloc(0);
const waiting = [];          // [predicate, resolve]
const seen = [];
srv.stdout.on('data', d => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
        const h = buf.indexOf('\r\n\r\n');
        if (h < 0) break;
        const m = /Content-Length: (\d+)/i.exec(buf.slice(0, h).toString());
        const n = Number(m[1]);
        if (buf.length < h + 4 + n) break;
        const msg = JSON.parse(buf.slice(h + 4, h + 4 + n).toString('utf8'));
        buf = buf.slice(h + 4 + n);
        const i = waiting.findIndex(([p]) => p(msg));
        if (i >= 0) waiting.splice(i, 1)[0][1](msg); else seen.push(msg);
    }
});
const send = obj => {
    const body = Buffer.from(JSON.stringify(obj), 'utf8');
    srv.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    srv.stdin.write(body);
};
const expect = (pred, what) => new Promise((resolve) => {
    const i = seen.findIndex(pred);
    if (i >= 0) return resolve(seen.splice(i, 1)[0]);
    const t = setTimeout(() => { check(false, `timed out waiting for ${what}`); resolve(null); }, 10000);
    waiting.push([pred, m => { clearTimeout(t); resolve(m); }]);
});
let nextId = 1;
const request = (method, params) => {
    const id = nextId++;
    send({ jsonrpc: '2.0', id, method, params });
    return expect(m => m.id === id, method);
};
const diagnostics = uri => expect(m => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri, `diagnostics of ${uri}`);

const uri = 'file:///tmp/kairos-lsp/nps%20policy.kai';
const text = [
    'event ticket_closed',
    'let recent = count(ticket_closed within 7d) > 0',
    'rule a:',
    '  ask NPS after ticket_close + 24h if recent cap 1 per 30d',
    'rule a:',
    '  ask CSAT via emial after ticket_closed cap 1 per 30d',
    '',
].join('\n');

(async () => {
    const init = await request('initialize', { processId: null, rootUri: null, capabilities: {} });
    const caps = init && init.result && init.result.capabilities;
    check(caps && caps.textDocumentSync.change === 2 && caps.documentFormattingProvider &&
          caps.documentSymbolProvider && caps.definitionProvider && caps.hoverProvider && caps.completionProvider,
          `capabilities ${JSON.stringify(caps)}`);
    send({ jsonrpc: '2.0', method: 'initialized', params: {} });

    send({ jsonrpc: '2.0', method: 'textDocument/didOpen',
           params: { textDocument: { uri, languageId: 'kairos', version: 1, text } } });
    let d = await diagnostics(uri);
    const codes = d ? d.params.diagnostics.map(x => x.code).sort() : [];
    check(JSON.stringify(codes) === JSON.stringify(['K0301', 'K0303', 'K0305']), `codes on open: ${codes}`);
    const undecl = d && d.params.diagnostics.find(x => x.code === 'K0301');
    check(undecl && undecl.severity === 2 && undecl.range.start.line === 3 && undecl.range.start.character === 16 &&
          undecl.range.end.character === 28 && /did you mean `ticket_closed`/.test(undecl.message),
          `K0301: ${JSON.stringify(undecl)}`);
    const dup = d && d.params.diagnostics.find(x => x.code === 'K0305');
    check(dup && dup.severity === 1 && dup.relatedInformation && dup.relatedInformation[0].location.uri === uri &&
          dup.relatedInformation[0].location.range.start.line === 2, `K0305 related: ${JSON.stringify(dup)}`);

    // incremental: fix `ticket_close` (insert "d"), rename the second rule, fix `emial`
    send({ jsonrpc: '2.0', method: 'textDocument/didChange', params: {
        textDocument: { uri, version: 2 }, contentChanges: [
            { range: { start: { line: 3, character: 28 }, end: { line: 3, character: 28 } }, text: 'd' },
            { range: { start: { line: 4, character: 5 }, end: { line: 4, character: 6 } }, text: 'b' },
            { range: { start: { line: 5, character: 15 }, end: { line: 5, character: 20 } }, text: 'email' },
        ] } });
    d = await diagnostics(uri);
    check(d && d.params.diagnostics.length === 0, `after the edits: ${JSON.stringify(d && d.params.diagnostics)}`);

    // a non-ASCII line before: UTF-16 columns
    send({ jsonrpc: '2.0', method: 'textDocument/didChange', params: {
        textDocument: { uri, version: 3 }, contentChanges: [
            { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '# café 😀\n' }] } });
    d = await diagnostics(uri);
    check(d && d.params.diagnostics.length === 0, 'a comment with é and an emoji');
    send({ jsonrpc: '2.0', method: 'textDocument/didChange', params: {
        textDocument: { uri, version: 4 }, contentChanges: [
            { range: { start: { line: 0, character: 9 }, end: { line: 0, character: 9 } }, text: ' x' },
            { range: { start: { line: 1, character: 6 }, end: { line: 1, character: 6 } }, text: ' @' }] } });
    d = await diagnostics(uri);
    const at = d && d.params.diagnostics.find(x => x.code === 'K0101');
    check(at && at.range.start.line === 1 && at.range.start.character === 7, `K0101 after an emoji line: ${JSON.stringify(d && d.params.diagnostics)}`);

    // symbols, definition
    const furi = 'file:///tmp/kairos-lsp/fmt.kai';
    const ugly = 'event   e\nlet  busy=count(e within 7d)>2\nrule r:\n    ask NPS after e unless busy cap 1 per 30d\n';
    send({ jsonrpc: '2.0', method: 'textDocument/didOpen',
           params: { textDocument: { uri: furi, languageId: 'kairos', version: 1, text: ugly } } });
    await diagnostics(furi);
    const sym = await request('textDocument/documentSymbol', { textDocument: { uri: furi } });
    const names = sym && sym.result ? sym.result.map(s => `${s.name}:${s.kind}`) : [];
    check(JSON.stringify(names) === JSON.stringify(['e:24', 'busy:14', 'r:12']), `symbols ${names}`);
    const def = await request('textDocument/definition', { textDocument: { uri: furi }, position: { line: 3, character: 27 } });
    check(def && def.result && def.result.uri === furi && def.result.range.start.line === 1 &&
          def.result.range.start.character === 5, `definition of busy: ${JSON.stringify(def && def.result)}`);
    const defStd = await request('textDocument/definition', { textDocument: { uri: furi }, position: { line: 3, character: 9 } });
    check(defStd && defStd.result && /\/prelude\.kai$/.test(defStd.result.uri), `definition of NPS: ${JSON.stringify(defStd && defStd.result)}`);

    // formatting: the edit gives kairos fmt's text
    const fmt = await request('textDocument/formatting', { textDocument: { uri: furi }, options: { tabSize: 2, insertSpaces: true } });
    const want = execFileSync(kairos, ['fmt', '-'], { input: ugly }).toString();
    check(fmt && Array.isArray(fmt.result) && fmt.result.length === 1 && fmt.result[0].newText === want &&
          fmt.result[0].range.start.line === 0 && fmt.result[0].range.end.line === 4, `formatting ${JSON.stringify(fmt && fmt.result)}`);

    // hover and completion
    const curi = 'file:///tmp/kairos-lsp/c.kai';
    const ctext = 'event ticket_closed { kind: string, score: number }\nrule r:\n  ask NPS after ticket_closed\n  if trigger.\n';
    send({ jsonrpc: '2.0', method: 'textDocument/didOpen',
           params: { textDocument: { uri: curi, languageId: 'kairos', version: 1, text: ctext } } });
    await diagnostics(curi);
    let c = await request('textDocument/completion', { textDocument: { uri: curi }, position: { line: 3, character: 13 } });
    let labels = c && c.result ? c.result.items.map(i => i.label) : [];
    check(JSON.stringify(labels) === JSON.stringify(['kind', 'score']), `completion after trigger.: ${labels}`);
    c = await request('textDocument/completion', { textDocument: { uri: curi }, position: { line: 3, character: 2 } });
    labels = c && c.result ? c.result.items.map(i => i.label) : [];
    check(['unless', 'ticket_closed', 'NPS', 'email', 'count'].every(l => labels.includes(l)) && !labels.includes('kind'),
          `completion in a clause: ${labels.join(' ')}`);
    let h = await request('textDocument/hover', { textDocument: { uri: curi }, position: { line: 2, character: 18 } });
    check(h && h.result && h.result.contents.value.includes('event ticket_closed { kind: string, score: number }'),
          `hover on an event: ${JSON.stringify(h && h.result)}`);
    h = await request('textDocument/hover', { textDocument: { uri: curi }, position: { line: 3, character: 3 } });
    check(h && h.result && h.result.contents.value.startsWith('**if** (keyword)'), `hover on if: ${JSON.stringify(h && h.result)}`);
    h = await request('textDocument/hover', { textDocument: { uri: curi }, position: { line: 2, character: 7 } });
    check(h && h.result && h.result.contents.value.includes('survey NPS') && h.result.contents.value.includes('declared in std/prelude'),
          `hover on NPS: ${JSON.stringify(h && h.result)}`);

    // definition into an imported module: the import itself, and one of its lets
    const iuri = 'file:///tmp/kairos-lsp/i.kai';
    const itext = 'import "std/engagement"\nevent login\nask NPS after login if daily_user cap 1 per 30d\n';
    send({ jsonrpc: '2.0', method: 'textDocument/didOpen',
           params: { textDocument: { uri: iuri, languageId: 'kairos', version: 1, text: itext } } });
    await diagnostics(iuri);
    let di = await request('textDocument/definition', { textDocument: { uri: iuri }, position: { line: 0, character: 12 } });
    check(di && di.result && /\/std\/engagement\.kai$/.test(di.result.uri), `definition of the import: ${JSON.stringify(di && di.result)}`);
    di = await request('textDocument/definition', { textDocument: { uri: iuri }, position: { line: 2, character: 25 } });
    check(di && di.result && /\/std\/engagement\.kai$/.test(di.result.uri) && di.result.range.start.line > 0,
          `definition of a module's let: ${JSON.stringify(di && di.result)}`);

    // bad input
    const unknown = await request('textDocument/rename', { textDocument: { uri: furi } });
    check(unknown && unknown.error && unknown.error.code === -32601, 'unknown method: -32601');
    srv.stdin.write('Content-Length: 5\r\n\r\n{bad}');
    const perr = await expect(m => m.error && m.error.code === -32700, 'parse error');
    check(perr !== null, 'bad JSON: -32700');

    // 300 random edits, then the server still answers
    let seed = 42;
    const rnd = n => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    const bits = ['rule', ' ', '\n', 'ask', 'NPS', '(', ')', '"', 'é', '😀', 'after', '+', '24h', 'where', 'x', '#', ':', '{', '}'];
    for (let i = 0; i < 300; i++) {
        const l1 = rnd(12), c1 = rnd(40), l2 = l1 + rnd(2), c2 = rnd(40);
        send({ jsonrpc: '2.0', method: 'textDocument/didChange', params: { textDocument: { uri: furi, version: 10 + i },
               contentChanges: [{ range: { start: { line: l1, character: c1 }, end: { line: l2, character: c2 } },
                                  text: bits[rnd(bits.length)] + (rnd(3) ? '' : bits[rnd(bits.length)]) }] } });
    }
    for (let i = 0; i < 300; i++) await diagnostics(furi);
    const alive = await request('textDocument/documentSymbol', { textDocument: { uri: furi } });
    check(alive && Array.isArray(alive.result), 'alive after 300 random edits');

    const sd = await request('shutdown', null);
    check(sd && sd.result === null, 'shutdown');
    send({ jsonrpc: '2.0', method: 'exit' });
    srv.on('exit', code => {
        check(code === 0, `exit status ${code}`);
        console.log(`lsp: ${pass} passed, ${fail} failed`);
        process.exit(fail ? 1 : 0);
    });
})();
