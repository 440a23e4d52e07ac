'use strict';
// Loads the native addon (node/sigstore-kms-plugins.node), built from source at install time.

const path = require('node:path');

const ADDON = path.join(__dirname, 'sigstore-kms-plugins.node');

function load() {
  try {
    return require(ADDON);
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(ADDON)) {
      const e = new Error(
        `sigstore-kms-plugins: the native addon is not built (${ADDON} is missing). ` +
          'It is compiled from source when the package is installed, which needs Rust (cargo) 1.88 or newer: ' +
          'install it from https://rustup.rs, then run `npm rebuild sigstore-kms-plugins`.',
      );
      e.code = 'ERR_ADDON_NOT_BUILT';
      e.cause = err;
      throw e;
    }
    throw err;
  }
}

module.exports = load();
