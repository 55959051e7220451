import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

export interface Digested {
  /** `sha256:<hex>` */
  digest: string;
  size: number;
}

/**
 * sha256 and size of a stream in one pass, constant memory.
 *
 * @example
 * ```ts
 * const { digest, size } = await digestStream(createReadStream('/tmp/x.tar'));
 * ```
 */
export async function digestStream(stream: Readable): Promise<Digested> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** sha256 and size of a file (streamed with large reads). */
export function digestFile(path: string): Promise<Digested> {
  return digestStream(createReadStream(path, { highWaterMark: 1 << 20 }));
}

/** sha256 of an in-memory buffer (configs and manifests only). */
export function digestBytes(buf: Buffer): Digested {
  return { digest: `sha256:${createHash('sha256').update(buf).digest('hex')}`, size: buf.length };
}

export const isSha256Digest = (d: string): boolean => /^sha256:[a-f0-9]{64}$/.test(d);
