'use strict';
// Shared helpers of the node:test suite (tests/node/*.test.js).

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Readable } = require('node:stream');

const root = path.resolve(__dirname, '..', '..');
const api = require(path.join(root, 'node', 'index.js'));

const fixturesDir = path.join(root, 'tests', 'fixtures', 'plugins');
const jsPluginsDir = path.join(__dirname, 'plugins');
const bundledDir = path.join(root, 'node', 'bin');
const systemPath = '/usr/local/bin:/usr/bin:/bin';

/** A search path with the fixture plugins first, then the system directories they need. */
const fixturePath = `${fixturesDir}:${systemPath}`;
/** A search path with the JS-SDK test plugins and the bundled localkms. */
const pluginsPath = `${jsPluginsDir}:${bundledDir}:${systemPath}`;

/** Signer-verifier on the fixture plugins, stderr captured (some flood it). */
function fixture(uri, options = {}) {
  return api.getSignerVerifier(uri, { path: fixturePath, stderr: 'capture', ...options });
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest();
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigstore-kms-node-'));
  if (t) t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A Readable of `size` bytes of `x`, produced lazily in `chunk`-byte pieces. */
function patternStream(size, chunk = 64 * 1024) {
  let left = size;
  const block = Buffer.alloc(chunk, 'x');
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunk);
      left -= n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

/** Whether process `pid` is gone or a zombie. */
function processDead(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const rest = stat.slice(stat.lastIndexOf(') ') + 2);
  return rest.startsWith('Z') || rest.startsWith('X');
}

/** Rejects with the error `promise` rejects with (fails if it resolves). */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an exception');
}

function vectors(kind) {
  const dir = path.join(root, 'tests', 'vectors', kind);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
}

module.exports = {
  api,
  root,
  fixturesDir,
  jsPluginsDir,
  bundledDir,
  systemPath,
  fixturePath,
  pluginsPath,
  fixture,
  sha256,
  tempDir,
  patternStream,
  processDead,
  rejection,
  thrown,
  vectors,
  fixtureKeyPem: fs.readFileSync(path.join(root, 'tests', 'fixtures', 'keys', 'fixture-p256.pem'), 'utf8'),
  fixturePubPem: fs.readFileSync(path.join(root, 'tests', 'fixtures', 'keys', 'fixture-p256.pub.pem'), 'utf8'),
};
