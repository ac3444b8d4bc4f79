// vscode_client.cjs EXTENSION_DIR -- loads the VS Code extension's client
// (editors/vscode/extension.js) with stand-ins for the `vscode` and
// `vscode-languageclient/node` modules (neither runs outside VS Code) and
// checks its wiring: activate() starts a LanguageClient that runs
// `kairos lsp` (or the kairos.path setting) for the kairos language, and
// deactivate() stops it.  Prints "vscode: N passed, M failed".
'use strict';
const Module = require('module');
const path = require('path');
const dir = path.resolve(process.argv[2]);
let pass = 0, fail = 0;
const check = (c, m) => { if (c) pass++; else { fail++; console.log(`FAIL: vscode: ${m}`); } };

const made = [];
let setting;
class LanguageClient {
    constructor(id, name, server, client) { Object.assign(this, { id, name, server, client, started: 0, stopped: 0 }); made.push(this); }
    start() { this.started++; return Promise.resolve(); }
    stop() { this.stopped++; return Promise.resolve(); }
}
const stubs = {
    vscode: { workspace: { getConfiguration: s => ({ get: k => (s === 'kairos' && k === 'path' ? setting : undefined) }) } },
    'vscode-languageclient/node': { LanguageClient },
};
const load = Module._load;
Module._load = function (req, parent, isMain) { return req in stubs ? stubs[req] : load.call(this, req, parent, isMain); };

const pkg = require(path.join(dir, 'package.json'));
check(pkg.main === './extension.js' && pkg.activationEvents.includes('onLanguage:kairos'), 'package.json main and activation');
check(pkg.dependencies && pkg.dependencies['vscode-languageclient'], 'package.json depends on vscode-languageclient');
const ext = require(path.join(dir, pkg.main));
(async () => {
    const ctx = { subscriptions: [] };
    await ext.activate(ctx);
    const c = made[0];
    check(c && c.server.command === 'kairos' && JSON.stringify(c.server.args) === '["lsp"]', `server options ${JSON.stringify(c && c.server)}`);
    check(c && JSON.stringify(c.client.documentSelector) === '[{"scheme":"file","language":"kairos"}]', 'document selector');
    check(c && c.started === 1 && ctx.subscriptions.length === 1, 'started once, disposable registered');
    await ext.deactivate();
    check(c && c.stopped === 1, 'deactivate stops it');
    setting = '/opt/kairos/bin/kairos';
    await ext.activate({ subscriptions: [] });
    check(made[1] && made[1].server.command === setting, 'kairos.path is used');
    console.log(`vscode: ${pass} passed, ${fail} failed`);
    process.exit(fail ? 1 : 0);
})();
