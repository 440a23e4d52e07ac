'use strict';
// The JavaScript half of a KMS handler written in JavaScript (node/src/handler.rs is the Rust
// half): runs one HandlerCall against a handler object and settles it.
//
// A handler is an object with any of these methods, each may return a value or a Promise:
//   defaultAlgorithm(ctx)                          -> string
//   supportedAlgorithms(ctx)                       -> string[]
//   createKey(ctx, algorithm)                      -> PEM string (or a public KeyObject)
//   publicKey(ctx)                                 -> PEM string (or a public KeyObject)
//   signMessage(ctx, message, opts)                -> Uint8Array
//   verifySignature(ctx, signature, message, opts) -> anything but `false`; throw (or return
//                                                     false) when the signature is invalid
// A missing method answers "unsupported method: NAME", as Go's handler does. A thrown error's
// message becomes the plugin's `errorMessage`.

const { KeyObject } = require('node:crypto');

/** The message of a signMessage/verifySignature call, streamed from Rust in chunks. */
class HandlerMessage {
  #call;
  #used = false;

  constructor(call) {
    this.#call = call;
  }

  /** Yields the message in chunks of at most 64 KiB (once). */
  async *[Symbol.asyncIterator]() {
    if (this.#used) throw new Error('the message can only be read once');
    this.#used = true;
    for (;;) {
      const chunk = await this.#call.read();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** The whole message in one Buffer. */
  async bytes() {
    const chunks = [];
    for await (const chunk of this) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
}

function context(call) {
  const c = call.context;
  return Object.freeze({
    keyResourceID: c.keyResourceID,
    hashFunc: c.hashFunc,
    keyVersion: c.keyVersion,
    remoteVerification: c.remoteVerification,
    deadline: c.deadlineMs === undefined || c.deadlineMs === null ? undefined : new Date(c.deadlineMs),
  });
}

function messageOptions(call) {
  const digest = call.digest;
  const hashFunc = call.messageHashFunc;
  return Object.freeze({
    digest: digest === null ? undefined : digest,
    hashFunc: hashFunc === null ? undefined : hashFunc,
  });
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor ? value.constructor.name : 'no prototype'})`;
  return `a ${typeof value}`;
}

function asString(method, value) {
  if (typeof value !== 'string') throw new TypeError(`handler.${method}() must return a string, got ${describe(value)}`);
  return value;
}

function asPem(method, value) {
  if (value instanceof KeyObject) {
    if (value.type === 'private') throw new TypeError(`handler.${method}() returned a private key; return the public key`);
    return value.export({ type: 'spki', format: 'pem' });
  }
  if (typeof value !== 'string') {
    throw new TypeError(`handler.${method}() must return a PEM string or a public KeyObject, got ${describe(value)}`);
  }
  return value;
}

function asBytes(method, value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`handler.${method}() must return a Buffer or Uint8Array, got ${describe(value)}`);
}

function asStrings(method, value) {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new TypeError(`handler.${method}() must return an array of strings, got ${describe(value)}`);
  }
  return value;
}

function errorMessage(err) {
  if (err instanceof Error) return err.message || err.name || 'error';
  if (typeof err === 'string') return err;
  try {
    return `non-Error thrown: ${String(err)}`;
  } catch {
    return 'non-Error thrown';
  }
}

async function run(handler, call) {
  const method = call.method;
  const fn = handler[method];
  if (typeof fn !== 'function') {
    call.reject(`unsupported method: ${method}`);
    return;
  }
  const ctx = context(call);
  switch (method) {
    case 'defaultAlgorithm':
      call.resolveString(asString(method, await fn.call(handler, ctx)));
      break;
    case 'supportedAlgorithms':
      call.resolveStrings(asStrings(method, await fn.call(handler, ctx)));
      break;
    case 'createKey':
      call.resolveString(asPem(method, await fn.call(handler, ctx, call.algorithm ?? '')));
      break;
    case 'publicKey':
      call.resolveString(asPem(method, await fn.call(handler, ctx)));
      break;
    case 'signMessage':
      call.resolveBytes(asBytes(method, await fn.call(handler, ctx, new HandlerMessage(call), messageOptions(call))));
      break;
    case 'verifySignature': {
      const signature = call.signature ?? Buffer.alloc(0);
      const ok = await fn.call(handler, ctx, signature, new HandlerMessage(call), messageOptions(call));
      if (ok === false) call.reject('invalid signature');
      else call.resolveVoid();
      break;
    }
    default:
      call.reject(`unsupported method: ${method}`);
  }
}

/**
 * The dispatch function given to the addon for `handler`: never throws, always settles the call.
 */
function dispatcher(handler) {
  if (handler === null || (typeof handler !== 'object' && typeof handler !== 'function')) {
    throw new TypeError(`a KMS handler must be an object with the protocol's methods, got ${describe(handler)}`);
  }
  return (call) => {
    run(handler, call).catch((err) => {
      call.reject(errorMessage(err));
    });
  };
}

module.exports = { dispatcher, HandlerMessage, errorMessage };
