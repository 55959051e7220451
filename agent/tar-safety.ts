import { open } from 'node:fs/promises';
import { UnsafeTarError } from './errors.ts';
import { type TarEntry, TarHeaderParser } from './tar-header.ts';
import { TarTree } from './tar-tree.ts';

export interface TarLimits {
  /** Largest single entry (bytes). */
  maxEntryBytes: number;
  /** Most entries in one archive (the path map costs memory per entry). */
  maxEntries: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = { maxEntryBytes: 64 * 1024 ** 3, maxEntries: 200_000 };

/**
 * Checks a checkpoint archive while it streams by, without extracting anything: the strict header reader
 * (`tar-header.ts`: allow-listed entry types, unambiguous headers) feeds the path model (`tar-tree.ts`: no
 * escapes, links resolved as chains, no duplicates, no paths through links). Synchronous and bounded: it keeps
 * one path per entry and the current header, never entry contents.
 *
 * @example
 * ```ts
 * const check = new TarCheck(DEFAULT_TAR_LIMITS);
 * for await (const chunk of body) check.feed(chunk); // throws UnsafeTarError
 * check.end(); // throws UnsafeTarError
 * ```
 */
export class TarCheck {
  entries = 0;
  private readonly tree = new TarTree();
  private readonly parser: TarHeaderParser;
  private failure: Error | undefined;

  constructor(
    private readonly limits: TarLimits = DEFAULT_TAR_LIMITS,
    private readonly onEntry?: (e: TarEntry) => void,
  ) {
    this.parser = new TarHeaderParser((e) => this.entry(e), { maxHeaders: limits.maxEntries * 3 });
  }

  private entry(e: TarEntry): void {
    this.entries++;
    if (this.entries > this.limits.maxEntries)
      throw new UnsafeTarError(e.name, `exceeds the limit of ${this.limits.maxEntries} entries`);
    if (e.size > this.limits.maxEntryBytes)
      throw new UnsafeTarError(e.name, `is ${e.size} bytes, over the limit of ${this.limits.maxEntryBytes}`);
    this.tree.add(e);
    this.onEntry?.(e);
  }

  /** Hands the next bytes of the archive to the check; throws the first failure (and every call after it). */
  feed(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    try {
      this.parser.write(chunk);
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
  }

  /** The body is complete: returns when the archive is a safe checkpoint archive, else throws. */
  end(): void {
    if (this.failure) throw this.failure;
    try {
      this.parser.end();
      if (this.entries === 0) throw new UnsafeTarError('(archive)', 'has no entries: not a checkpoint');
      this.tree.finish();
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
  }
}

/** Checks a whole archive in memory (tests, small bodies). Throws UnsafeTarError. */
export function checkTarBuffer(buf: Buffer, limits: TarLimits = DEFAULT_TAR_LIMITS): TarEntry[] {
  const seen: TarEntry[] = [];
  const c = new TarCheck(limits, (e) => seen.push(e));
  c.feed(buf);
  c.end();
  return seen;
}

/** Checks an archive on disk, streaming it in 1 MiB reads. Throws UnsafeTarError. */
export async function checkTarFile(path: string, limits: TarLimits = DEFAULT_TAR_LIMITS): Promise<void> {
  const c = new TarCheck(limits);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      c.feed(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  c.end();
}
