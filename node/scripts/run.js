'use strict';
// What the repository's Node scripts (test.js, matrix.js) share: a step banner, and running a
// command that must succeed. Not part of the npm package.

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');

/** Prints a step banner on stderr. */
function step(title) {
  process.stderr.write(`\n==> ${title}\n`);
}

/**
 * Runs `cmd args` in the repository root with inherited stdio; exits this process with a
 * message naming the command when it cannot start or fails. Returns the seconds it took.
 */
function run(cmd, args, options = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) {
    process.stderr.write(`error: cannot run ${cmd}: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) {
    process.stderr.write(`error: ${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
  return (Date.now() - started) / 1000;
}

module.exports = { root, run, step };
