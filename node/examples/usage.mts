// A typed tour of the API, checked with `tsc --strict` by `npm test` (not run).
import { createReadStream } from 'node:fs';
import { MessageSignatureBundleBuilder, DSSEBundleBuilder, type Signer } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';

import {
  getSignerVerifier,
  sigstoreSigner,
  verifyBundle,
  BundleVerificationError,
  listPlugins,
  registerProvider,
  KmsPluginError,
  codes,
  protocol,
  type KmsHandler,
  type SignerVerifier,
  type PluginInfo,
  type VerifiedBundle,
} from 'sigstore-kms-plugins';
import defaultExport from 'sigstore-kms-plugins';

export async function tour(): Promise<void> {
  const sv: SignerVerifier = getSignerVerifier('localkms:///tmp/key.pem', {
    hashFunc: 'sha256',
    timeoutMs: 30_000,
    stderr: 'capture',
  });
  const pem: string = await sv.createKey(await sv.defaultAlgorithm());
  const algorithms: string[] = await sv.supportedAlgorithms();
  const info = await sv.publicKeyInfo();
  const der: Buffer = info.spkiDer;

  const sig1: Buffer = await sv.signMessage(Buffer.from('hello'));
  const sig2: Buffer = await sv.signMessage({ path: '/etc/hostname' });
  const sig3: Buffer = await sv.signMessage(createReadStream('/etc/hostname'));
  const sig4: Buffer = await sv.signDigest(new Uint8Array(32), 'sha256');
  await sv.verifySignature(sig1, new TextEncoder().encode('hello'));
  await sv.verifyDigest(sig4, new Uint8Array(32));

  try {
    await sv.verifySignature(sig2, Buffer.from('tampered'));
  } catch (err) {
    if (err instanceof KmsPluginError && err.code === codes.PLUGIN_RETURNED) {
      const said: string | undefined = err.pluginMessage;
      const tail: string | undefined = err.stderrTail;
      void [said, tail];
    }
  }

  // sigstore-js: Sigstore bundles signed by the KMS key.
  const signer: Signer = sigstoreSigner(sv);
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({ data: Buffer.from('x') });
  const envelope = await new DSSEBundleBuilder({ signer: sigstoreSigner(sv, { mode: 'auto' }), witnesses: [] }).create({
    data: Buffer.from('{}'),
    type: 'application/vnd.in-toto+json',
  });
  // ...checked offline against the public key, in one call.
  const verified: VerifiedBundle = await verifyBundle(bundleToJSON(bundle), Buffer.from('x'), pem);
  const digestAlgorithm: string | undefined = verified.digestAlgorithm;
  const { payload } = await verifyBundle(JSON.stringify(bundleToJSON(envelope)), null, info.spkiPem);
  try {
    await verifyBundle(bundleToJSON(bundle), { path: '/etc/hostname' }, pem);
  } catch (err) {
    if (err instanceof BundleVerificationError && err.reason === 'digest_mismatch') void err.code;
  }

  // An in-process provider written in JavaScript.
  const handler: KmsHandler = {
    defaultAlgorithm: () => 'ecdsa-p256',
    supportedAlgorithms: async () => ['ecdsa-p256'],
    publicKey: (ctx) => `key for ${ctx.keyResourceID}`,
    signMessage: async (_ctx, message, opts) => opts.digest ?? (await message.bytes()),
    verifySignature: (_ctx, signature) => signature.length > 0,
  };
  const prefix: string = registerProvider('mykms', () => handler);

  const plugins: PluginInfo[] = listPlugins();
  const request: string = protocol.encodeRequest({ method: 'defaultAlgorithm', keyResourceID: 'k', hashFunc: 5 });
  const decoded = protocol.decodeResponse('defaultAlgorithm', Buffer.from('{}'));
  if ('error' in decoded) void decoded.message;

  void [pem, algorithms, der, sig3, bundle, envelope, digestAlgorithm, payload, prefix, plugins, request, defaultExport.version];
}
