// sarif_check.js LOG SPEC.md VERSION -- checks a `kairos check --format sarif`
// log of tests/ci/run.sh's multi-file run beyond what the SARIF schema says:
// one run with every file's results; rules = exactly the codes of SPEC.md,
// each helpUri's fragment a heading of SPEC.md; URIs relative to %SRCROOT%
// and percent-encoded; notes as relatedLocations; the did-you-mean fix,
// applied to the file, gives the corrected text.  Prints one line per
// problem; exit 1 if any.
'use strict';
const fs = require('fs');
const path = require('path');
const [logPath, specPath, version] = process.argv.slice(2);
const problems = [];
const want = (cond, msg) => { if (!cond) problems.push(msg); };

let log;
try {
    log = JSON.parse(fs.readFileSync(logPath, 'utf8'));   // one document, or this throws
} catch (e) {
    console.log(`not one JSON document: ${e.message}`);
    process.exit(1);
}
want(log.version === '2.1.0', 'version is not 2.1.0');
want(Array.isArray(log.runs) && log.runs.length === 1, 'not exactly one run');
const run = log.runs[0];
const driver = run.tool.driver;
want(driver.version === version, `driver.version ${driver.version} != ${version}`);
want(/^(https?|file):\/\//.test(driver.informationUri) && !/example\.invalid/.test(driver.informationUri),
     `informationUri ${driver.informationUri}`);

// rules: exactly the codes of SPEC.md, with a level and an anchor that exists
const spec = fs.readFileSync(specPath, 'utf8');
const specCodes = [...new Set(spec.match(/\bK\d{4}\b/g))].sort();
const ruleIds = driver.rules.map(r => r.id);
want(JSON.stringify([...ruleIds].sort()) === JSON.stringify(specCodes),
     `rules ${ruleIds.join(' ')} != SPEC.md codes ${specCodes.join(' ')}`);
// GitHub's heading anchors: lower case, punctuation removed, spaces to '-'
const anchors = new Set(spec.split('\n').filter(l => /^#+ /.test(l)).map(l =>
    l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
for (const r of driver.rules) {
    want(r.shortDescription && r.shortDescription.text, `${r.id}: no shortDescription`);
    want(['error', 'warning', 'note'].includes(r.defaultConfiguration && r.defaultConfiguration.level),
         `${r.id}: no default level`);
    const frag = (r.helpUri || '').split('#')[1];
    want(frag && anchors.has(frag), `${r.id}: helpUri ${r.helpUri} names no SPEC.md heading`);
    want(r.helpUri.startsWith(driver.informationUri), `${r.id}: helpUri not in ${driver.informationUri}`);
}
want(driver.rules.find(r => r.id === 'K0301').defaultConfiguration.level === 'warning', 'K0301 is a warning');
want(driver.rules.find(r => r.id === 'K0707').defaultConfiguration.level === 'note', 'K0707 is a note');

// results: every file of the run, relative URIs, percent-encoded
const root = run.originalUriBaseIds && run.originalUriBaseIds.SRCROOT;
want(root && root.uri === 'file://' + encodeURI(process.cwd()).replace(/\/?$/, '/'),
     `SRCROOT ${root && root.uri} is not the current directory`);
const uris = new Set();
for (const res of run.results) {
    const al = res.locations[0].physicalLocation.artifactLocation;
    uris.add(al.uri);
    want(!/[ %](?![0-9A-F]{2})/.test(al.uri), `URI not encoded: ${al.uri}`);
    want(res.ruleIndex === undefined || driver.rules[res.ruleIndex].id === res.ruleId,
         `${res.ruleId}: ruleIndex ${res.ruleIndex}`);
    want(res.level !== 'note', `a note is a result: ${res.message.text}`);
}
for (const u of ['nps%20policy.kai', 'caf%C3%A9.kai', 'sub/dup.kai', 'missing.kai'])
    want(uris.has(u), `no result for ${u} (have ${[...uris].join(', ')})`);
for (const u of uris)
    want(!u.startsWith('file:') || u === 'file:///tmp/kairos-ci-outside.kai' || u.includes('outside'),
         `absolute URI for a file under the current directory: ${u}`);

// a note as a related location of its error
const dup = run.results.find(r => r.ruleId === 'K0305');
want(dup && dup.relatedLocations && dup.relatedLocations.length === 1 &&
     dup.relatedLocations[0].message.text === 'the other one is here' &&
     dup.relatedLocations[0].physicalLocation.region.startLine === 1,
     'K0305 has no relatedLocation for its note');

// a note in the standard library: relative to KAIROS_STDLIB
const redecl = run.results.find(r => r.ruleId === 'K0307');
const rl = redecl && redecl.relatedLocations && redecl.relatedLocations[0].physicalLocation.artifactLocation;
want(rl && rl.uri === 'prelude.kai' && rl.uriBaseId === 'KAIROS_STDLIB',
     `K0307's note is not in KAIROS_STDLIB/prelude.kai: ${JSON.stringify(rl)}`);
const stdBase = run.originalUriBaseIds && run.originalUriBaseIds.KAIROS_STDLIB;
want(stdBase && /^file:\/\/\/.*\/$/.test(stdBase.uri), `KAIROS_STDLIB ${JSON.stringify(stdBase)}`);

// the fix: applying it gives the corrected policy
const undecl = run.results.find(r => r.ruleId === 'K0302');   // unknown event `ticket_close`
const fix = undecl && undecl.fixes && undecl.fixes[0];
want(fix, 'K0302 has no fix');
if (fix) {
    const ch = fix.artifactChanges[0];
    const file = decodeURIComponent(ch.artifactLocation.uri);
    const lines = fs.readFileSync(path.join(process.cwd(), file), 'utf8').split('\n');
    const rep = ch.replacements[0], r = rep.deletedRegion;
    want(r.startLine === r.endLine, 'fix spans lines');
    const chars = [...lines[r.startLine - 1]];   // columns count code points
    chars.splice(r.startColumn - 1, r.endColumn - r.startColumn, rep.insertedContent.text);
    lines[r.startLine - 1] = chars.join('');
    want(lines.join('\n').includes('ask NPS after ticket_closed + 24h'),
         `fixed text: ${lines[r.startLine - 1]}`);
}

for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
