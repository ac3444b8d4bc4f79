// extension.js -- the Kairos extension's client: starts `kairos lsp`
// (SPEC.md 6.3) for *.kai files through vscode-languageclient.  The
// command is the setting kairos.path (default: kairos on the PATH).
'use strict';
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function activate(context) {
    const command = vscode.workspace.getConfiguration('kairos').get('path') || 'kairos';
    const serverOptions = { command, args: ['lsp'] };
    const clientOptions = { documentSelector: [{ scheme: 'file', language: 'kairos' }] };
    client = new LanguageClient('kairos', 'Kairos', serverOptions, clientOptions);
    context.subscriptions.push({ dispose: () => client && client.stop() });
    return client.start();
}

function deactivate() {
    return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
