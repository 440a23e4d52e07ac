'use strict';
// sigstore-kms-plugins: sign with any KMS through Sigstore KMS plugins (protocol v1).
// The types and documentation of this API are in index.d.ts.

const path = require('node:path');
const { fileURLToPath } = require('node:url');

const native = require('./binding.js');
const { KmsPluginError, codes } = require('./errors.js');
const { dispatcher, errorMessage } = require('./handler.js');
const { sigstoreSigner, verifyBundle, BundleVerificationError } = require('./sigstore.js');

/** The defaults of the Rust core, which checks and defaults every option (docs/options.md). */
const DEFAULT_TIMEOUT_MS = native.defaultTimeoutMs();
const DEFAULT_STDOUT_LIMIT = native.defaultStdoutLimit();
/** Every option, as every language spells it: the Rust core's table. */
const options = Object.freeze(native.optionTable().map((o) => Object.freeze(o)));
/** Chunks pushed into a stream's queue are cut to this size, so the queue's memory is bounded. */
const MAX_CHUNK = 256 * 1024;

function argError(code, message) {
  const err = code === 'ERR_INVALID_ARG_TYPE' ? new TypeError(message) : new RangeError(message);
  err.code = code;
  return err;
}

function describe(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${value.constructor ? value.constructor.name : 'Object'}`;
  return `type ${typeof value} (${String(value).slice(0, 40)})`;
}

function expectType(name, value, type, what) {
  // eslint-disable-next-line valid-typeof
  if (typeof value !== type) {
    throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${what}. Received ${describe(value)}`);
  }
}

function isBytes(value) {
  return value instanceof Uint8Array;
}

function toBytes(name, value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be a Buffer or Uint8Array. Received ${describe(value)}`);
}

/** The options object; each property is checked (and an unknown one refused) by the core. */
function nativeOptions(given) {
  if (given === undefined || given === null) return undefined;
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw argError('ERR_INVALID_ARG_TYPE', `The "options" argument must be an object. Received ${describe(given)}`);
  }
  return given;
}

// ----- in-process providers ----------------------------------------------------------------

/**
 * prefix ("mykms://") -> factory(keyRef) => handler. The factory's handler is given to the core
 * for one signer-verifier (no registry in the core, no hand-off through native state).
 */
const providers = new Map();

function registerProvider(prefix, factory) {
  expectType('prefix', prefix, 'string', 'of type string');
  expectType('factory', factory, 'function', 'a function (keyRef) => handler');
  const normalized = native.normalizeProviderPrefix(prefix);
  // A later registration of the same prefix replaces the earlier one (and moves it last).
  providers.delete(normalized);
  providers.set(normalized, factory);
  return normalized;
}

function unregisterProvider(prefix) {
  expectType('prefix', prefix, 'string', 'of type string');
  const name = prefix.endsWith('://') ? prefix.slice(0, -3) : prefix;
  return providers.delete(`${name}://`);
}

function registeredProviders() {
  return [...new Set([...native.coreProviders(), ...providers.keys()])];
}

/**
 * The JavaScript provider for `uri` and the key reference its factory is given, matched as the
 * core matches its own: by the plugin name the URI parses to (so a provider registered as
 * `pkcs11` serves RFC 7512 URIs `pkcs11:...` too), not by the URI's text.
 */
function providerFor(uri) {
  if (providers.size === 0) return undefined;
  const parts = native.keyUriParts(uri);
  if (parts === null) return undefined; // not a key URI: getSignerVerifier says why
  const factory = providers.get(`${parts.name}://`);
  return factory === undefined ? undefined : { factory, keyRef: parts.keyRef };
}

// ----- streaming -----------------------------------------------------------------------------

function isAsyncIterable(value) {
  return value !== null && typeof value === 'object' && typeof value[Symbol.asyncIterator] === 'function';
}

/**
 * Feeds `source` into `sink` with backpressure. Never rejects: resolves the source's error, if
 * any (the sink is then aborted, which fails the call), or undefined.
 */
async function pump(source, sink) {
  try {
    for await (let chunk of source) {
      if (typeof chunk === 'string') chunk = Buffer.from(chunk);
      else if (!(chunk instanceof Uint8Array)) {
        throw argError('ERR_INVALID_ARG_TYPE', `a message stream must yield Buffers, Uint8Arrays or strings; got ${describe(chunk)}`);
      }
      for (let offset = 0; offset < chunk.length; offset += MAX_CHUNK) {
        const piece = offset === 0 && chunk.length <= MAX_CHUNK ? chunk : chunk.subarray(offset, offset + MAX_CHUNK);
        while (!sink.push(piece)) {
          // The plugin stopped reading (it answered, or the call failed): stop feeding it.
          if (sink.closed || !(await sink.writable())) return undefined;
        }
      }
    }
    sink.end();
    return undefined;
  } catch (err) {
    sink.abort(errorMessage(err));
    return err;
  }
}

async function streamed(source, call) {
  const sink = new native.MessageSink();
  const result = call(sink);
  const fed = pump(source, sink);
  try {
    return await result;
  } catch (err) {
    // A failed source fails the call; keep the source's error as the cause.
    const sourceError = await Promise.race([fed, Promise.resolve(undefined)]);
    if (sourceError !== undefined && err && typeof err === 'object' && err.cause === undefined) err.cause = sourceError;
    throw err;
  }
}

// ----- the signer-verifier -------------------------------------------------------------------

const CONSTRUCT = Symbol('construct');

/** A key held by a KMS, reached through a plugin program or an in-process provider. */
class SignerVerifier {
  #native;
  #uri;

  constructor(token, nativeSv, uri) {
    if (token !== CONSTRUCT) throw new TypeError('use getSignerVerifier(uri, options) to create a SignerVerifier');
    this.#native = nativeSv;
    this.#uri = uri;
  }

  /** The key URI this signer-verifier was created for. */
  get uri() {
    return this.#uri;
  }

  /** The key reference: the part of the URI after `://`. */
  get keyRef() {
    return this.#native.keyRef;
  }

  /** The absolute path of the plugin program, or null for an in-process provider. */
  get programPath() {
    return this.#native.programPath;
  }

  /** The hash function sent to the plugin as initOptions.hashFunc (e.g. "sha256"). */
  get hashFunc() {
    return this.#native.hashFunc;
  }

  defaultAlgorithm() {
    return this.#native.defaultAlgorithm();
  }

  supportedAlgorithms() {
    return this.#native.supportedAlgorithms();
  }

  async createKey(algorithm) {
    expectType('algorithm', algorithm, 'string', 'of type string');
    return this.#native.createKey(algorithm);
  }

  publicKey() {
    return this.#native.publicKey();
  }

  publicKeyInfo() {
    return this.#native.publicKeyInfo();
  }

  async signMessage(data) {
    const n = this.#native;
    return message('data', data, {
      bytes: (b) => n.signBytes(b),
      file: (p) => n.signFile(p),
      stream: (s) => streamed(s, (sink) => n.signStream(sink)),
    });
  }

  async signDigest(digest, hashFunc) {
    const d = toBytes('digest', digest);
    if (hashFunc !== undefined && typeof hashFunc !== 'string' && typeof hashFunc !== 'number') {
      throw argError('ERR_INVALID_ARG_TYPE', `The "hashFunc" argument must be a string or number. Received ${describe(hashFunc)}`);
    }
    return this.#native.signDigest(d, hashFunc);
  }

  async verifySignature(signature, data) {
    const sig = toBytes('signature', signature);
    const n = this.#native;
    return message('data', data, {
      bytes: (b) => n.verifyBytes(sig, b),
      file: (p) => n.verifyFile(sig, p),
      stream: (s) => streamed(s, (sink) => n.verifyStream(sig, sink)),
    });
  }

  async verifyDigest(signature, digest, hashFunc) {
    const sig = toBytes('signature', signature);
    const d = toBytes('digest', digest);
    if (hashFunc !== undefined && typeof hashFunc !== 'string' && typeof hashFunc !== 'number') {
      throw argError('ERR_INVALID_ARG_TYPE', `The "hashFunc" argument must be a string or number. Received ${describe(hashFunc)}`);
    }
    return this.#native.verifyDigest(sig, d, hashFunc);
  }

  get [Symbol.toStringTag]() {
    return 'SignerVerifier';
  }

  /** What `console.log` and `util.inspect` show: the program and the key, a PIN in it hidden. */
  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    const shown = { programPath: this.programPath, keyRef: native.redactKeyUri(this.keyRef), hashFunc: this.hashFunc };
    return `SignerVerifier ${inspect(shown, options)}`;
  }
}

/** Dispatches a message argument to the right native call. */
function message(name, data, calls) {
  if (isBytes(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return calls.bytes(toBytes(name, data));
  if (typeof data === 'string') {
    throw argError(
      'ERR_INVALID_ARG_TYPE',
      `The "${name}" argument must be a Buffer, Uint8Array, Readable or { path }; to sign a string, pass Buffer.from(text), ` +
        'to sign a file, pass { path }',
    );
  }
  if (isAsyncIterable(data)) return calls.stream(data);
  if (typeof Blob === 'function' && data instanceof Blob) return calls.stream(data.stream());
  if (data !== null && typeof data === 'object' && 'path' in data) {
    let p = data.path;
    if (p instanceof URL) p = fileURLToPath(p);
    if (typeof p !== 'string') {
      throw argError('ERR_INVALID_ARG_TYPE', `The "${name}.path" property must be a string or file: URL. Received ${describe(p)}`);
    }
    return calls.file(p);
  }
  throw argError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be a Buffer, Uint8Array, Readable (or async iterable of bytes) or { path }. Received ${describe(data)}`,
  );
}

function getSignerVerifier(uri, options) {
  expectType('uri', uri, 'string', 'of type string (a key URI such as "mykms://key")');
  const opts = nativeOptions(options);
  const provider = providerFor(uri);
  let dispatch;
  let factoryError;
  if (provider) {
    try {
      const handler = provider.factory(provider.keyRef);
      if (handler && typeof handler.then === 'function') {
        factoryError = 'the factory returned a Promise; it must return the handler itself (do async work in the handler methods)';
      } else {
        dispatch = dispatcher(handler);
      }
    } catch (err) {
      factoryError = errorMessage(err);
    }
  }
  return new SignerVerifier(CONSTRUCT, native.getSignerVerifier(uri, opts, dispatch, factoryError), uri);
}

function listPlugins(searchPath) {
  if (searchPath !== undefined) expectType('path', searchPath, 'string', 'of type string');
  return native.listPlugins(searchPath);
}

/**
 * The directory of the bundled plugin program sigstore-kms-localkms: the platform package's
 * `plugins/` (a native program), else node/bin (a launcher that needs `node` on PATH). It is
 * searched after PATH already; add it to another program's PATH (cosign's) to share it.
 */
const bundledPluginDir = native.bundledPluginDir ?? path.join(__dirname, 'bin');

/** The directories searched after PATH: the bundled plugins' and the installed provider packages'. */
function pluginDirs() {
  return native.pluginDirs();
}

const protocol = Object.freeze({
  encodeRequest: native.encodeRequest,
  decodeRequest: native.decodeRequest,
  encodeResponse: native.encodeResponse,
  decodeResponse: native.decodeResponse,
});

module.exports = {
  getSignerVerifier,
  SignerVerifier,
  sigstoreSigner,
  verifyBundle,
  BundleVerificationError,
  listPlugins,
  registerProvider,
  unregisterProvider,
  registeredProviders,
  KmsPluginError,
  codes,
  protocol,
  bundledPluginDir,
  pluginDirs,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_STDOUT_LIMIT,
  options,
  version: native.nativeVersion(),
};
