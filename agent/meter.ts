import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { tooLarge } from './errors.ts';

export interface MeterOptions {
  /** Abort when more than this many bytes pass. */
  maxBytes?: number;
  /** Bytes per second; unset = no cap. */
  bytesPerSecond?: number;
  onBytes?: (total: number) => void;
  now?: () => number;
}

/**
 * A pass-through stream that hashes (sha256), counts, enforces a size limit and an optional bandwidth cap.
 * Constant memory: it never holds more than one chunk.
 *
 * @example
 * ```ts
 * const m = new Meter({ maxBytes: 1 << 30 });
 * await pipeline(req, m, createWriteStream(tmp));
 * m.sha256(); // hex
 * ```
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private readonly started: number;
  private readonly now: () => number;

  constructor(private readonly o: MeterOptions = {}) {
    super({ highWaterMark: 1 << 20 });
    this.now = o.now ?? (() => performance.now());
    this.started = this.now();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.o.maxBytes !== undefined && this.bytes > this.o.maxBytes) return cb(tooLarge(this.o.maxBytes));
    this.hash.update(chunk);
    this.o.onBytes?.(this.bytes);
    const rate = this.o.bytesPerSecond;
    if (!rate) return cb(null, chunk);
    const dueMs = (this.bytes / rate) * 1000 - (this.now() - this.started);
    if (dueMs > 1) setTimeout(() => cb(null, chunk), dueMs);
    else cb(null, chunk);
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}
