// tmgrammar_scan.cjs NODE_MODULES GRAMMAR FILE... -- tokenizes Kairos files
// with the TextMate grammar (vscode-textmate, the engine VS Code uses) and
// prints every token scoped invalid.* : valid policies must have none.
// Prints "tmgrammar: N files, M invalid tokens"; exit 1 if M > 0.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, grammarPath, ...files] = process.argv.slice(2);
const vsctm = require(path.resolve(modules, 'vscode-textmate'));
const onig = require(path.resolve(modules, 'vscode-oniguruma'));
(async () => {
    const wasm = fs.readFileSync(path.resolve(modules, 'vscode-oniguruma/release/onig.wasm')).buffer;
    await onig.loadWASM(wasm);
    const registry = new vsctm.Registry({
        onigLib: Promise.resolve({
            createOnigScanner: p => new onig.OnigScanner(p),
            createOnigString: s => new onig.OnigString(s),
        }),
        loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
    });
    const grammar = await registry.loadGrammar('source.kairos');
    let bad = 0;
    for (const f of files) {
        let stack = vsctm.INITIAL;
        fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
            const r = grammar.tokenizeLine(line, stack);
            for (const t of r.tokens)
                if (t.scopes.some(s => s.startsWith('invalid.'))) {
                    console.log(`${f}:${i + 1}:${t.startIndex + 1}: ${line.slice(t.startIndex, t.endIndex)}: ${t.scopes.join(' ')}`);
                    bad++;
                }
            stack = r.ruleStack;
        });
    }
    console.log(`tmgrammar: ${files.length} files, ${bad} invalid tokens`);
    process.exit(bad ? 1 : 0);
})().catch(e => { console.log(String(e && e.stack || e)); process.exit(2); });
