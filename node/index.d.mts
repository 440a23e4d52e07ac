// ESM type definitions of sigstore-kms-plugins: the same API as index.d.ts.
export * from './index.js';
import * as sigstoreKmsPlugins from './index.js';
export default sigstoreKmsPlugins;
