// ESM entry point of sigstore-kms-plugins (the implementation is CommonJS: index.js).
import cjs from './index.js';

export const {
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
  version,
} = cjs;

export default cjs;
