// Type definitions of sigstore-kms-plugins (the implementation is node/index.js; the native
// addon's own, generated types are in node/native.d.ts).
/// <reference types="node" />

import type { OptionSpec, OptionSpelling, PluginInfo, PublicKeyInfo } from './native';

export type { OptionSpec, OptionSpelling, PluginInfo, PublicKeyInfo };

/**
 * A hash function: a name matched case-insensitively, ignoring `-`, `_`, `/` and `+`
 * (`'sha256'`, `'SHA-384'`, `'sha3-256'`, `'none'`, ...), or Go's `crypto.Hash` number (5 is
 * SHA-256).
 */
export type HashFunc = string | number;

/** Options of {@link getSignerVerifier}. */
export interface SignerVerifierOptions {
  /** The hash function sent to the plugin as `initOptions.hashFunc`. Default `'sha256'` (as cosign). */
  hashFunc?: HashFunc;
  /** The key version sent in every call (`rpcOptions.keyVersion`). Default: none (`""`). */
  keyVersion?: string;
  /** Ask the KMS to verify signatures itself (`rpcOptions.remoteVerification`). Default `false`. */
  remoteVerification?: boolean;
  /**
   * Per-call timeout in milliseconds, also sent to the plugin as `ctxDeadline`; on expiry the
   * plugin's process group is killed and the call rejects with `ERR_PLUGIN_TIMEOUT`.
   * `0` or `Infinity`: no timeout. Default 300000 (5 minutes).
   */
  timeoutMs?: number;
  /** The largest stdout accepted from a plugin, in bytes (`ERR_OUTPUT_TOO_LARGE` beyond). Default 4 MiB. */
  stdoutLimit?: number;
  /** Directories to search for `sigstore-kms-NAME` instead of `$PATH` (`:`-separated, absolute). */
  path?: string;
  /**
   * Where the plugin's stderr goes: `'inherit'` (this process's stderr, as Go does; default),
   * `'capture'` (kept; its last lines are attached to errors as `stderrTail`) or `'ignore'`.
   */
  stderr?: 'inherit' | 'capture' | 'ignore';
}

/** A file to sign or verify, opened and streamed by the native addon. */
export interface FileMessage {
  path: string | URL;
}

/**
 * A message: bytes; a file (`{ path }`, streamed from disk); or a `Readable`, web
 * `ReadableStream`, `Blob` or any async iterable of bytes (streamed with backpressure: memory
 * stays flat whatever its size). Strings are refused: pass `Buffer.from(text)` or `{ path }`.
 */
export type MessageInput =
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | FileMessage
  | Blob
  | NodeJS.ReadableStream
  | AsyncIterable<Uint8Array | string>;

/**
 * A key held by a KMS, reached through a plugin program (`sigstore-kms-NAME` on the search
 * path) or an in-process provider. Every method runs off the JavaScript thread and returns a
 * Promise; each call of a plugin program is one process. Failures reject with a
 * {@link KmsPluginError}.
 */
export declare class SignerVerifier {
  private constructor();
  /** The key URI this signer-verifier was created for. */
  readonly uri: string;
  /** The key reference: the part of the URI after `://`. */
  readonly keyRef: string;
  /** The absolute path of the plugin program, or `null` for an in-process provider. */
  readonly programPath: string | null;
  /** The hash function sent as `initOptions.hashFunc`, by its canonical name (e.g. `'sha256'`). */
  readonly hashFunc: string;
  /** The algorithm the plugin creates keys with by default, e.g. `'ecdsa-p256'`. */
  defaultAlgorithm(): Promise<string>;
  /** The algorithms the plugin can create keys with. */
  supportedAlgorithms(): Promise<string[]>;
  /** Creates the key with `algorithm` (or gets the existing one); resolves its public key PEM. */
  createKey(algorithm: string): Promise<string>;
  /** The public key, as PEM text exactly as the plugin returned it. */
  publicKey(): Promise<string>;
  /** The public key, parsed: SPKI PEM and DER, key type (`'ecdsa-p256'`, `'rsa'`, `'ed25519'`, ...). */
  publicKeyInfo(): Promise<PublicKeyInfo>;
  /** Signs `data` (sent to the plugin on stdin); resolves the signature. */
  signMessage(data: MessageInput): Promise<Buffer>;
  /**
   * Signs a precomputed digest made with `hashFunc` (default: this signer-verifier's
   * `hashFunc`), as Go's `CryptoSigner` does: the digest goes in the request, stdin is empty.
   */
  signDigest(digest: Uint8Array | ArrayBufferView, hashFunc?: HashFunc): Promise<Buffer>;
  /** Verifies `signature` over `data` through the plugin; resolves when valid, rejects otherwise. */
  verifySignature(signature: Uint8Array | ArrayBufferView, data: MessageInput): Promise<void>;
  /** Verifies `signature` over a precomputed digest made with `hashFunc`. */
  verifyDigest(signature: Uint8Array | ArrayBufferView, digest: Uint8Array | ArrayBufferView, hashFunc?: HashFunc): Promise<void>;
}

/**
 * Resolves a key URI `NAME://REF` to a signer-verifier: an in-process provider registered for
 * `NAME://`, else the program `sigstore-kms-NAME`, looked up once on the search path as Go's
 * `exec.LookPath` does (a hit through a relative PATH entry is refused).
 *
 * @throws {KmsPluginError} `ERR_INVALID_KEY_URI`, `ERR_PLUGIN_NOT_FOUND`, or `ERR_PLUGIN_RETURNED`
 *   when a provider's factory failed.
 * @throws {TypeError | RangeError} for a bad argument (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`).
 */
export declare function getSignerVerifier(uri: string, options?: SignerVerifierOptions): SignerVerifier;

/** The stable codes of {@link KmsPluginError}. */
export declare const codes: Readonly<{
  INVALID_KEY_URI: 'ERR_INVALID_KEY_URI';
  PLUGIN_NOT_FOUND: 'ERR_PLUGIN_NOT_FOUND';
  PLUGIN_EXEC: 'ERR_PLUGIN_EXEC';
  PLUGIN_TIMEOUT: 'ERR_PLUGIN_TIMEOUT';
  PLUGIN_RESPONSE: 'ERR_PLUGIN_RESPONSE';
  PLUGIN_RETURNED: 'ERR_PLUGIN_RETURNED';
  OUTPUT_TOO_LARGE: 'ERR_OUTPUT_TOO_LARGE';
}>;

/** A stable error code: one value of {@link codes}. */
export type KmsPluginErrorCode = (typeof codes)[keyof typeof codes];

/** The Rust core's name of an error kind. */
export type KmsPluginErrorKind =
  | 'InvalidKeyUri'
  | 'PluginNotFound'
  | 'Exec'
  | 'Timeout'
  | 'InvalidResponse'
  | 'PluginReturned'
  | 'OutputTooLarge';

/**
 * A failed key lookup or plugin call. Match on `code`; the message names the plugin, its path
 * and the method, and says what went wrong.
 */
export declare class KmsPluginError extends Error {
  /** The stable code, e.g. `'ERR_PLUGIN_TIMEOUT'`. */
  code: KmsPluginErrorCode;
  /** The Rust core's name of the kind, e.g. `'Timeout'`. */
  kind: KmsPluginErrorKind;
  /** The plugin program (`sigstore-kms-NAME`) or provider prefix, for errors of a call. */
  plugin?: string;
  /** The protocol method of the failed call, e.g. `'signMessage'`. */
  method?: string;
  /** The absolute path of the program that ran (`null` for a provider). */
  pluginPath?: string | null;
  /** The plugin's own `errorMessage` (`ERR_PLUGIN_RETURNED`; control characters escaped, length capped). */
  pluginMessage?: string;
  /** The last lines of the plugin's stderr, when `stderr: 'capture'`. */
  stderrTail?: string;
  /** `ERR_INVALID_KEY_URI`: the URI given, and what is wrong with it. */
  uri?: string;
  reason?: string;
  /** `ERR_PLUGIN_NOT_FOUND`: the program looked for and the directories searched. */
  program?: string;
  searched?: string[];
  /** `ERR_PLUGIN_TIMEOUT`: the timeout that expired. */
  timeoutMs?: number;
  /** `ERR_OUTPUT_TOO_LARGE`: the stdout cap that was exceeded. */
  limit?: number;
}

/**
 * Lists every `sigstore-kms-*` file on `path` (default `$PATH`), in PATH order, then those in
 * the plugin directories (`pluginDirs()`), like `kubectl plugin list`: `source` says which
 * (`'path'` or `'bundled'`), `shadowedBy` names the program that wins over a shadowed one.
 */
export declare function listPlugins(path?: string): PluginInfo[];

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** The key reference: the part of the key URI after `://`. */
  readonly keyResourceID: string;
  /** The client's hash function, by canonical name (e.g. `'sha256'`). */
  readonly hashFunc: string;
  /** The requested key version, `""` for the default. */
  readonly keyVersion: string;
  /** Whether the caller asked for verification by the KMS itself. */
  readonly remoteVerification: boolean;
  /** When the caller stops waiting, if it said. */
  readonly deadline: Date | undefined;
}

/** Options about the message of `signMessage` / `verifySignature`. */
export interface MessageOptions {
  /** A precomputed digest to sign or verify instead of the message (then the message is empty). */
  readonly digest: Buffer | undefined;
  /** The hash function of `digest` (or to hash the message with), by canonical name. */
  readonly hashFunc: string | undefined;
}

/** The message of a call, streamed in chunks of at most 64 KiB. Read it at most once. */
export interface HandlerMessage extends AsyncIterable<Buffer> {
  /** The whole message in one Buffer. */
  bytes(): Promise<Buffer>;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * A KMS backend: the six methods of the protocol. Each may be async. A missing method answers
 * `unsupported method: NAME`; a thrown error's message becomes the plugin's `errorMessage`.
 */
export interface KmsHandler {
  defaultAlgorithm?(ctx: CallContext): MaybePromise<string>;
  supportedAlgorithms?(ctx: CallContext): MaybePromise<string[]>;
  /** Creates the key (or returns the existing one): its public key as PEM or a public `KeyObject`. */
  createKey?(ctx: CallContext, algorithm: string): MaybePromise<string | import('node:crypto').KeyObject>;
  /** The public key as PEM (`-----BEGIN PUBLIC KEY-----`) or a public `KeyObject`. */
  publicKey?(ctx: CallContext): MaybePromise<string | import('node:crypto').KeyObject>;
  /** Signs the message (or `opts.digest` when given). */
  signMessage?(ctx: CallContext, message: HandlerMessage, opts: MessageOptions): MaybePromise<Uint8Array>;
  /** Verifies `signature`: throw (or return `false`) when it is invalid. */
  verifySignature?(
    ctx: CallContext,
    signature: Buffer,
    message: HandlerMessage,
    opts: MessageOptions,
  ): MaybePromise<void | boolean>;
}

/** Makes the handler of one key reference; called synchronously by {@link getSignerVerifier}. */
export type ProviderFactory = (keyRef: string) => KmsHandler;

/**
 * Serves key URIs `prefix://...` with handlers implemented in JavaScript, in this process,
 * before any `PATH` lookup (like Go's `kms.AddProvider`). Handler methods are called on the
 * JavaScript thread and may be async; a call that outlives the signer-verifier's timeout
 * fails. Returns the normalised prefix (`'mykms://'`).
 */
export declare function registerProvider(prefix: string, factory: ProviderFactory): string;

/** Removes the provider for `prefix`; returns whether there was one. */
export declare function unregisterProvider(prefix: string): boolean;

/** The registered provider prefixes (`'mykms://'`), in registration order. */
export declare function registeredProviders(): string[];

/** What `sigstoreSigner(...).sign()` resolves: `@sigstore/sign`'s `Signature`. */
export interface SigstoreSignature {
  signature: Buffer;
  key: { $case: 'publicKey'; publicKey: string; hint?: string };
}

/** `@sigstore/sign`'s `Signer` interface, structurally. */
export interface SigstoreSigner {
  sign(data: Buffer): Promise<SigstoreSignature>;
}

/** Options of {@link sigstoreSigner}. */
export interface SigstoreSignerOptions {
  /**
   * How to sign: `'auto'` (default) signs SHA-256(data) as a precomputed digest with ECDSA and
   * RSA keys (what sigstore-js verifies, whatever the curve) and the data itself with Ed25519
   * keys; `'digest'` always signs the SHA-256 digest; `'message'` sends the data to the plugin
   * (which must then hash with SHA-256: set `hashFunc: 'sha256'`).
   */
  mode?: 'auto' | 'digest' | 'message';
  /** Check each signature against the public key before returning it (default `true`). */
  verify?: boolean;
}

/**
 * A KMS key as a `@sigstore/sign` `Signer`: use it with `MessageSignatureBundleBuilder` or
 * `DSSEBundleBuilder` (`{ signer, witnesses: [] }`). The key material is the SPKI public key
 * PEM with the hint cosign writes: base64(SHA-256(SubjectPublicKeyInfo DER)).
 *
 * Ed25519 keys sign DSSE envelopes, but sigstore-js (`@sigstore/verify` 3 and 4) cannot
 * verify Ed25519 *message signature* bundles: it verifies those with an explicit digest, which
 * Ed25519 does not take ({@link verifyBundle} can).
 */
export declare function sigstoreSigner(sv: SignerVerifier, options?: SigstoreSignerOptions): SigstoreSigner;

/** Why a bundle did not verify (`BundleVerificationError.reason`). */
export type BundleVerificationReason =
  | 'malformed' // not a Sigstore bundle: not JSON, wrong types, bad base64, unknown media type, ...
  | 'wrong_content' // a DSSE bundle without data is fine; a message signature needs its data
  | 'hint_mismatch' // the bundle (or its DSSE keyid) names another key
  | 'digest_mismatch' // the data is not the artifact that was signed
  | 'bad_signature' // the signature does not verify with the key
  | 'subject_mismatch' // the data is not a subject of the DSSE envelope's in-toto statement
  | 'unsupported' // a keyless (certificate) bundle, another key type, a non-SHA-2 digest
  | 'invalid_key'; // publicKey is not a PEM public key

/** A bundle that does not verify or cannot be read. */
export declare class BundleVerificationError extends Error {
  /** Always `'ERR_BUNDLE_VERIFICATION'`. */
  code: 'ERR_BUNDLE_VERIFICATION';
  /** Why, as a stable word. */
  reason: BundleVerificationReason;
}

/** What {@link verifyBundle} checked. */
export interface VerifiedBundle {
  /** What the bundle signs. */
  content: 'messageSignature' | 'dsseEnvelope';
  /** Message signature: the digest algorithm the bundle names (`'SHA2_256'`, ...). */
  digestAlgorithm?: string;
  /** Message signature: the data's digest, computed here. */
  digest?: Buffer;
  /** DSSE: the payload type. */
  payloadType?: string;
  /** DSSE: the payload (verified). */
  payload?: Buffer;
  /** DSSE checked against data: the in-toto subject name the data matched. */
  subject?: string;
  /** Transparency-log entries in the bundle that were **not** verified (no trust root). */
  tlogEntriesNotVerified: number;
  /** RFC 3161 timestamps in the bundle that were **not** verified (no trust root). */
  timestampsNotVerified: number;
}

/**
 * Verifies a Sigstore bundle against a public key, offline, in one call (sigstore-js needs a
 * trust root and several calls for that, and cannot verify Ed25519 message signatures).
 *
 * `bundle` is the JSON (the `.sigstore.json` text, a Buffer, the parsed object, or a sigstore-js
 * `Bundle`, converted with `@sigstore/bundle`'s `bundleToJSON`). `data` is the signed artifact:
 * a Buffer/Uint8Array, or `{ path }` (read on the thread pool, never on the JavaScript thread);
 * `null`/`undefined` for a DSSE bundle, whose in-toto statement must otherwise name `data` as a
 * subject. `publicKey` is a PEM public key or a `KeyObject`.
 *
 * Checks that the bundle names the key (its hint), that the data's digest is the bundle's, and
 * the signature (ECDSA P-256/P-384/P-521, RSA PKCS#1 v1.5 or PSS, Ed25519). Transparency-log
 * entries and timestamps are **not** verified. The same Rust code as Python's
 * `verify_artifact`/`verify_dsse` and `sigstore-kms verify --bundle`.
 *
 * Rejects with a {@link BundleVerificationError} (`code` `'ERR_BUNDLE_VERIFICATION'`, `reason`),
 * or with an `fs`-like error (`code` `'ENOENT'`, ...) when `data.path` cannot be read.
 */
export declare function verifyBundle(
  bundle: string | Uint8Array | object,
  data: Uint8Array | ArrayBuffer | { path: string | URL } | null | undefined,
  publicKey: string | Uint8Array | import('node:crypto').KeyObject,
): Promise<VerifiedBundle>;

/** A request as a vector of tests/vectors/requests describes it (`fields`; bytes as base64). */
export interface RequestFields {
  method: 'defaultAlgorithm' | 'supportedAlgorithms' | 'createKey' | 'publicKey' | 'signMessage' | 'verifySignature' | string;
  keyResourceID: string;
  hashFunc: number;
  initCtxDeadline?: string | null;
  initRpcOptions?: RpcOptionsFields | null;
  createKey?: { ctxDeadline?: string | null; algorithm: string };
  rpcOptions?: RpcOptionsFields | null;
  messageOptions?: { digest?: string | null; hashFunc?: number | null };
  signature?: string | null;
}

/** `rpcOptions` of {@link RequestFields}; `null` is "not set". */
export interface RpcOptionsFields {
  ctxDeadline?: string | null;
  keyVersion?: string | null;
  remoteVerification?: boolean | null;
}

/** A method's result as a vector of tests/vectors/responses writes it (`expect.ok`; bytes as base64). */
export type ResponseResult =
  | { defaultAlgorithm: string }
  | { supportedAlgorithms: string[] }
  | { publicKeyPEM: string }
  | { signature: string }
  | Record<string, never>;

/** The wire codec of protocol v1 (the Rust core's), in the language-neutral shapes of tests/vectors. */
export declare const protocol: Readonly<{
  /** The request JSON (argv[2]) for `fields`, byte for byte as the Go client writes it. */
  encodeRequest(fields: RequestFields): string;
  /** Decodes a request with Go's rules (an absent and a `null` digest both decode as absent). */
  decodeRequest(json: string | Uint8Array): RequestFields;
  /** A plugin's response, byte for byte as the Go handler writes it. */
  encodeResponse(method: string, result: ResponseResult | { errorMessage: string }): string;
  /** Reads a plugin's stdout as the host does. */
  decodeResponse(
    method: string,
    stdout: Uint8Array,
  ): { ok: ResponseResult } | { error: 'InvalidResponse' | 'PluginReturned'; message: string };
}>;

/**
 * The directory of the bundled plugin program `sigstore-kms-localkms`: the platform package's
 * `plugins/` (a native program), else `node/bin` (a launcher that needs `node` on PATH). It is
 * already searched after PATH; add it to another program's PATH (cosign's) to share the plugin.
 */
export declare const bundledPluginDir: string;

/**
 * The directories searched after PATH for `sigstore-kms-NAME`: the bundled plugins' and those
 * of the installed provider packages (`sigstore-kms-plugins-awskms`, ...). PATH wins.
 */
export declare function pluginDirs(): string[];

/** The default of `timeoutMs`: 300000 (5 minutes). */
export declare const DEFAULT_TIMEOUT_MS: number;
/** The default of `stdoutLimit`: 4 MiB. */
export declare const DEFAULT_STDOUT_LIMIT: number;
/**
 * Every option of {@link getSignerVerifier}, as every language spells it: the Rust core's table
 * (docs/options.md). The core checks and defaults the options for Node, Python, Rust and the CLI
 * alike; a bad one throws a `TypeError` (`ERR_INVALID_ARG_TYPE`) or `RangeError`
 * (`ERR_OUT_OF_RANGE`, `ERR_INVALID_ARG_VALUE`) naming it and what it accepts.
 */
export declare const options: ReadonlyArray<Readonly<OptionSpec>>;
/** The package version. */
export declare const version: string;
