// ESM entry point of sigstore-kms-plugins/plugin (the implementation is CommonJS: plugin.js).
import cjs from './plugin.js';

export const { serve } = cjs;

export default cjs;
