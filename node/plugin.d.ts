// Type definitions of sigstore-kms-plugins/plugin: write a Sigstore KMS plugin in JavaScript.
/// <reference types="node" />

import type { KmsHandler } from './index';

export type { CallContext, HandlerMessage, KmsHandler, MessageOptions } from './index';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The arguments, `[program, "v1", REQUEST-JSON]`. Default `process.argv.slice(1)`. */
  argv?: string[];
  /** Exit the process once the response is written (default `true`): a plugin process serves one call. */
  exit?: boolean;
  /**
   * Send `console.log`, `console.info` and `console.debug` to stderr (default `true`): stdout
   * carries exactly one JSON response, and anything else written there makes it unreadable.
   */
  redirectConsole?: boolean;
}

/**
 * Serves the one call this plugin process was started for: checks the arguments and the
 * protocol version, decodes the request with Go's rules, calls `handler`, and writes exactly
 * one response to stdout, byte for byte what the Go reference handler writes (it is the Rust
 * core's plugin SDK). Every failure, a thrown error included, is answered as `errorMessage`.
 * Do not read `process.stdin` or write `process.stdout` yourself. Resolves the exit code (when
 * `exit: false`).
 *
 * ```js
 * #!/usr/bin/env node
 * const { serve } = require('sigstore-kms-plugins/plugin');
 * serve({
 *   defaultAlgorithm: () => 'ecdsa-p256',
 *   supportedAlgorithms: () => ['ecdsa-p256'],
 *   publicKey: async (ctx) => fetchPublicKeyPem(ctx.keyResourceID),
 *   signMessage: async (ctx, message, opts) => kmsSign(ctx.keyResourceID, opts.digest ?? (await message.bytes())),
 * });
 * ```
 */
export declare function serve(handler: KmsHandler, options?: ServeOptions): Promise<number>;
