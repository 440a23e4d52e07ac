'use strict';
// sigstore-kms-plugins/plugin: write a Sigstore KMS plugin program in JavaScript.
//
//   #!/usr/bin/env node
//   const { serve } = require('sigstore-kms-plugins/plugin');
//   serve({ defaultAlgorithm: () => 'ecdsa-p256', ... });
//
// serve() runs the Rust core's plugin SDK (the same code as Rust plugins): it checks argv and
// the protocol version, decodes the request with Go's rules, calls your handler, and writes
// exactly one response to stdout, byte for byte what the Go reference handler writes.

const native = require('./binding.js');
const { dispatcher } = require('./handler.js');

let served = false;

/**
 * Serves the one call this process was started for, then exits (unless `options.exit` is false).
 * Resolves the exit code.
 */
async function serve(handler, options = {}) {
  if (served) throw new Error('serve() can only be called once per process: a plugin process serves one call');
  served = true;
  const dispatch = dispatcher(handler);
  const argv = options.argv ?? process.argv.slice(1);
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string')) {
    const err = new TypeError('options.argv must be an array of strings ([program, "v1", request])');
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  // stdout carries exactly one JSON response, written by the SDK: anything else written there
  // would make it unreadable, so console output goes to stderr (which the host shows its user).
  if (options.redirectConsole !== false) {
    for (const level of ['log', 'info', 'debug']) {
      // eslint-disable-next-line no-console
      console[level] = console.error;
    }
  }
  const code = await native.servePlugin(argv, dispatch);
  process.exitCode = code;
  if (options.exit !== false) process.exit(code);
  return code;
}

module.exports = { serve };
