// ESM type definitions of sigstore-kms-plugins/plugin: the same API as plugin.d.ts.
export * from './plugin.js';
import * as plugin from './plugin.js';
export default plugin;
