'use strict';
// The JavaScript examples of README.md and node/README.md marked `<!-- test: node ... -->` run
// as they are: each in a fresh directory holding an app.tar.gz, in its own node process (the
// one running the tests, so the matrix runs them on every Node version), with
// `sigstore-kms-plugins` and the sigstore-js packages under test resolvable from there.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { root, systemPath, tempDir } = require('./helpers.js');

const MARKED = /<!-- test: node[^>]*-->\s*\n```js\n([\s\S]*?)\n```/g;

function examples() {
  const found = [];
  for (const doc of ['README.md', path.join('node', 'README.md')]) {
    const text = fs.readFileSync(path.join(root, doc), 'utf8');
    let i = 0;
    for (const m of text.matchAll(MARKED)) found.push({ name: `${doc}#${++i}`, code: m[1] });
  }
  return found;
}

/** The directory the sigstore-js packages are resolved from (as tests/node/sigstore-js.js). */
function sigstoreJsModules() {
  const dir = process.env.SIGSTORE_JS_DIR;
  return dir ? path.join(dir, 'node_modules', '@sigstore') : path.join(root, 'node_modules', '@sigstore');
}

test('both READMEs have tested examples', () => {
  const names = examples().map((e) => e.name);
  assert.ok(names.some((n) => n.startsWith('README.md')), names.join(', '));
  assert.ok(names.some((n) => n.startsWith('node')), names.join(', '));
});

for (const { name, code } of examples()) {
  test(`example ${name} runs`, (t) => {
    const dir = tempDir(t);
    fs.writeFileSync(path.join(dir, 'app.tar.gz'), Buffer.alloc(10000, 'x'));
    const modules = path.join(dir, 'node_modules');
    fs.mkdirSync(modules);
    fs.symlinkSync(root, path.join(modules, 'sigstore-kms-plugins'));
    fs.symlinkSync(sigstoreJsModules(), path.join(modules, '@sigstore'));
    // The examples use top-level await, as in an ES module; here they are CommonJS (require).
    const script = path.join(dir, 'example.cjs');
    fs.writeFileSync(script, `(async () => {\n${code}\n})().catch((err) => { console.error(err); process.exit(1); });\n`);
    const r = spawnSync(process.execPath, [script], {
      cwd: dir,
      env: { ...process.env, PATH: systemPath },
      encoding: 'utf8',
      timeout: 120000,
    });
    assert.equal(r.status, 0, `${name} failed:\n${r.stdout}\n${r.stderr}`);
  });
}
