import { posix } from 'node:path';
import tar from 'tar-stream';
import { UnsafeTarError } from './errors.ts';

export interface TarLimits {
  /** Largest single entry (bytes). */
  maxEntryBytes: number;
  /** Most entries in one archive. */
  maxEntries: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = { maxEntryBytes: 64 * 1024 ** 3, maxEntries: 1_000_000 };

const LAG_BYTES = 8 * 1024 * 1024;
const ALLOWED = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link']);

/** A relative path that stays inside the root: no absolute path, no `..`, no NUL, not empty. */
function insideRoot(p: string): boolean {
  if (!p || p.includes('\0') || p.startsWith('/') || p.includes('\\')) return false;
  const n = posix.normalize(p);
  return n !== '..' && !n.startsWith('../') && !p.split('/').includes('..');
}

/**
 * Checks one tar header; throws UnsafeTarError for absolute paths, `..`, links leaving the root, device/fifo
 * entries and entries over the size limit.
 *
 * @example
 * ```ts
 * checkTarEntry({ name: '../etc/passwd', type: 'file', size: 1 }, DEFAULT_TAR_LIMITS); // throws
 * ```
 */
export function checkTarEntry(
  h: { name: string; type?: string | null; size?: number | null; linkname?: string | null },
  limits: TarLimits,
): void {
  const type = h.type ?? 'file';
  if (!ALLOWED.has(type))
    throw new UnsafeTarError(h.name, `has type ${type}: device, fifo and other special entries are not allowed`);
  if (!insideRoot(h.name)) throw new UnsafeTarError(h.name, 'has an absolute path or a ".." component');
  if ((h.size ?? 0) > limits.maxEntryBytes)
    throw new UnsafeTarError(h.name, `is ${h.size} bytes, over the limit of ${limits.maxEntryBytes}`);
  if (type === 'symlink') {
    const target = h.linkname ?? '';
    if (!target || target.startsWith('/') || !insideRoot(posix.join(posix.dirname(h.name), target)))
      throw new UnsafeTarError(h.name, `is a symlink to "${target}" that leaves the archive root`);
  }
  if (type === 'link' && !insideRoot(h.linkname ?? '')) {
    throw new UnsafeTarError(h.name, `is a hardlink to "${h.linkname}" that leaves the archive root`);
  }
}

/**
 * Parses the tar flowing through it (tar-stream) and fails at the first unsafe entry, or when the bytes are not a
 * well-formed tar. Only headers are inspected: entry contents are passed over (sliced, never copied or kept).
 * Nothing is extracted. The parser may lag the caller by at most LAG_BYTES (bounded memory).
 *
 * @example
 * ```ts
 * const check = new TarCheck(DEFAULT_TAR_LIMITS);
 * for await (const chunk of body) await check.feed(chunk);
 * await check.end(); // throws UnsafeTarError
 * ```
 */
export class TarCheck {
  entries = 0;
  private readonly extract = tar.extract();
  private failure: Error | undefined;
  private readonly finished: Promise<void>;
  private lag = 0;

  constructor(private readonly limits: TarLimits = DEFAULT_TAR_LIMITS) {
    this.extract.on('entry', (header, stream, next) => {
      try {
        this.entries++;
        if (this.entries > this.limits.maxEntries)
          throw new UnsafeTarError(header.name, `exceeds the limit of ${this.limits.maxEntries} entries`);
        checkTarEntry(header, this.limits);
      } catch (err) {
        stream.on('error', () => undefined); // the entry stream is destroyed with the extractor
        this.failure = err as Error;
        this.extract.destroy(err as Error);
        return;
      }
      stream.on('error', () => undefined); // surfaces through the extractor
      stream.on('end', () => next());
      stream.resume();
    });
    this.finished = new Promise<void>((resolve) => {
      this.extract.on('finish', () => resolve());
      this.extract.on('close', () => resolve());
      this.extract.on('error', (err: Error) => {
        this.failure ??=
          err instanceof UnsafeTarError ? err : new UnsafeTarError('(archive)', `is not a valid tar: ${err.message}`);
        resolve();
      });
    });
  }

  /** Hands a chunk to the parser; throws the first failure. A promise only when the parser lags too far. */
  feed(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (this.extract.write(chunk)) this.lag = 0;
    else this.lag += chunk.length;
    if (this.lag < LAG_BYTES) return undefined;
    return new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.extract.off('close', onDrain);
        this.extract.off('drain', onDrain);
        this.lag = 0;
        if (this.failure) reject(this.failure);
        else resolve();
      };
      this.extract.once('drain', onDrain);
      this.extract.once('close', onDrain);
    });
  }

  /** The body is complete: resolves when the archive parsed cleanly with at least one entry, else throws. */
  async end(): Promise<void> {
    if (this.failure) throw this.failure;
    (this.extract as unknown as NodeJS.WritableStream).end();
    await this.finished;
    if (!this.failure && this.entries === 0)
      this.failure = new UnsafeTarError('(archive)', 'has no entries: not a checkpoint');
    if (this.failure) throw this.failure;
  }

  destroy(err?: Error): void {
    this.failure ??= err;
    this.extract.destroy(err ?? new Error('tar check closed'));
  }
}
