'use strict';
// The PKCS#11 plugin is a base provider (packaging/providers.json): the platform package ships
// its native program in plugins/ next to localkms (node/plugins in a source checkout), so
// `pkcs11:` key URIs work after `npm install sigstore-kms-plugins` with no PATH change.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { api, systemPath, rejection } = require('./helpers.js');

const program = path.join(api.bundledPluginDir, 'sigstore-kms-pkcs11');

test('pkcs11: key URIs run the bundled native program, found after PATH', async () => {
  // An ELF program, not a script needing an interpreter on PATH.
  assert.deepEqual([...fs.readFileSync(program).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  // The plugin inherits this process's environment: no module from there either (node --test
  // runs each file in a process of its own).
  for (const k of Object.keys(process.env)) if (k.includes('PKCS11')) delete process.env[k];
  const sv = api.getSignerVerifier('pkcs11:token=ci;object=release', { path: systemPath, stderr: 'capture' });
  assert.equal(sv.programPath, program);
  assert.equal(await sv.defaultAlgorithm(), 'ecdsa-p256');
  assert.ok((await sv.supportedAlgorithms()).includes('ecdsa-p256'));
  // The program's own answer: no module was named (nothing is loaded without one).
  const err = await rejection(sv.publicKey());
  assert.equal(err.code, 'ERR_PLUGIN_RETURNED');
  assert.match(err.message, /no PKCS#11 module/);
  const listed = api.listPlugins(systemPath).filter((p) => p.name === 'pkcs11');
  assert.deepEqual(listed.map((p) => [p.path, p.source]), [[program, 'bundled']]);
});
