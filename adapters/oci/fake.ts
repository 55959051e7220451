import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { checkpointImage } from './checkpoint-image.ts';
import { digestStream } from './digest.ts';
import type { PushCheckpointImage, PushedImage, Registry } from './port.ts';

export interface FakeRegistryCall {
  op: 'exists' | 'push';
  /** The idempotency key: the image ref. */
  key: string;
  /** True when a push found the same image and did nothing. */
  noop?: boolean;
}

/**
 * In-memory Registry for the pure tiers. Computes real digests (same manifest as the real adapter), keeps pushed
 * images by ref, and records every call; a re-push of the same content is a recorded no-op.
 *
 * @example
 * ```ts
 * const reg = createFakeRegistry();
 * await reg.pushCheckpointImage({ ref: 'r.local/ckpt/p:checkpoint', container: 'c', open: () => Readable.from([Buffer.from('x')]) });
 * reg.images.get('r.local/ckpt/p:checkpoint')?.layerDigest;
 * ```
 */
export function createFakeRegistry(opts: { fail?: (req: PushCheckpointImage) => Error | undefined } = {}): Registry & {
  calls: FakeRegistryCall[];
  images: Map<string, PushedImage & { container: string }>;
} {
  const calls: FakeRegistryCall[] = [];
  const images = new Map<string, PushedImage & { container: string }>();
  return {
    calls,
    images,
    async exists(ref) {
      calls.push({ op: 'exists', key: ref });
      return images.has(ref);
    },
    async pushCheckpointImage(req, onProgress) {
      const err = opts.fail?.(req);
      if (err) throw err;
      const stream: Readable = req.tarPath ? createReadStream(req.tarPath) : (req.open as () => Readable)();
      const { digest, size } = await digestStream(stream);
      const img = checkpointImage({ container: req.container, layerDigest: digest, layerSize: size });
      const pushed = { ref: req.ref, manifestDigest: img.manifest.descriptor.digest, layerDigest: digest, bytes: size };
      const prev = images.get(req.ref);
      const noop = prev?.manifestDigest === pushed.manifestDigest;
      calls.push({ op: 'push', key: req.ref, noop });
      images.set(req.ref, { ...pushed, container: req.container });
      onProgress?.(size, size);
      return pushed;
    },
  };
}

export const fakeDigest = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
