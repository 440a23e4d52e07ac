'use strict';
// The plugin programs a source checkout builds into node/plugins, as the platform package of
// `make dist` ships them: the bundled localkms, then the programs of the base providers in
// packaging/providers.json (the provider table `make dist` reads; packaging/README.md).

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const TABLE = path.join(root, 'packaging', 'providers.json');

/** [{ crate, program }] for every program of the base packages, the bundled localkms first. */
function basePrograms() {
  const out = [{ crate: 'sigstore-kms-localkms', program: 'sigstore-kms-localkms' }];
  let table;
  try {
    table = JSON.parse(fs.readFileSync(TABLE, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the provider table ${TABLE}: ${err.message}`);
  }
  for (const p of table.providers || []) {
    if (!p.base) continue;
    for (const plugin of p.plugins || [p.name]) out.push({ crate: p.crate, program: `sigstore-kms-${plugin}` });
  }
  return out;
}

/** cargo arguments selecting those programs (with `--lib` for the addon's package). */
function cargoArgs(programs) {
  const args = [];
  for (const { crate, program } of programs) args.push('-p', crate, '--bin', program);
  return args;
}

module.exports = { basePrograms, cargoArgs };
