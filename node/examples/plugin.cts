// A typed plugin written with the JavaScript SDK (CommonJS), checked with `tsc --strict`.
import { createHash } from 'node:crypto';
import { serve, type KmsHandler } from 'sigstore-kms-plugins/plugin';

const handler: KmsHandler = {
  defaultAlgorithm: () => 'toy',
  supportedAlgorithms: () => ['toy'],
  async signMessage(ctx, message, opts) {
    if (opts.digest) return opts.digest;
    const hash = createHash(ctx.hashFunc);
    for await (const chunk of message) hash.update(chunk);
    return hash.digest();
  },
};

void serve(handler, { exit: true });
