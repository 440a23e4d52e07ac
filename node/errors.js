'use strict';
// The error class of every failed plugin call, and the stable codes it carries.
//
// Errors are created in exactly one place, the native addon's error module (node/src/error.rs),
// as instances of the class registered here; this file only defines the class.

const native = require('./binding.js');

/** The stable `code` of each error kind. */
const codes = Object.freeze({
  INVALID_KEY_URI: 'ERR_INVALID_KEY_URI',
  PLUGIN_NOT_FOUND: 'ERR_PLUGIN_NOT_FOUND',
  PLUGIN_EXEC: 'ERR_PLUGIN_EXEC',
  PLUGIN_TIMEOUT: 'ERR_PLUGIN_TIMEOUT',
  PLUGIN_RESPONSE: 'ERR_PLUGIN_RESPONSE',
  PLUGIN_RETURNED: 'ERR_PLUGIN_RETURNED',
  OUTPUT_TOO_LARGE: 'ERR_OUTPUT_TOO_LARGE',
});

/**
 * A failed key lookup or plugin call. `code` is stable (see `codes`); `kind` is the Rust core's
 * name for it; `plugin`, `method`, `pluginPath`, `pluginMessage`, `stderrTail`, ... are set when
 * they apply.
 */
class KmsPluginError extends Error {}

Object.defineProperty(KmsPluginError.prototype, 'name', {
  value: 'KmsPluginError',
  writable: true,
  configurable: true,
  enumerable: false,
});

native.setErrorClass(KmsPluginError);

module.exports = { KmsPluginError, codes };
