import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tooLarge } from './errors.ts';
import { TarCheck, type TarLimits } from './tar-safety.ts';

/**
 * Write size, and how many such buffers the sink cycles (the most it holds: CHUNK × POOL). 256 KiB writes cost the
 * kernel half the system time of 1 MiB writes here (measured 1.2 s vs 2.5 s per GiB): the buffer is still in cache
 * when the kernel copies it into the page cache.
 */
const CHUNK = 256 * 1024;
const POOL = 8;

export interface ReceiveSinkOptions {
  /** Fail with BODY_TOO_LARGE beyond this many bytes. */
  maxBytes: number;
  tar: TarLimits;
  onBytes?: (total: number) => void;
  /** Run every GC_EVERY bytes (the socket's dead read buffers are freed by a GC only). */
  gc?: () => void;
}

/**
 * Bytes between two forced young-generation GCs. With 8 MiB, V8 often (4 of 6 runs) fell into a full mark-compact
 * every ~16 MiB, 50-63 per GiB, ~0.4 s of CPU per GiB: `--trace-gc` showed incremental marking started "at the
 * allocation limit" while the heap held ~10 MB, so the dead 64 KiB socket buffers' external memory appears to count
 * toward that limit. With 4 MiB: 3-14 per GiB. Much shorter (1 MiB) is worse: a buffer still in flight (2 MiB socket
 * buffer, the pool) survives two scavenges, is promoted, and only a mark-compact frees it (~105 per GiB).
 */
const GC_EVERY = 4 << 20;

/**
 * The end of an upload pipeline, in one stage: counts and size-limits, hashes (sha256), checks the tar headers and
 * writes the body to `path`. The socket's small chunks are copied into a fixed pool of 256 KiB buffers that are
 * written in order, one write at a time while the next fills, and reused: constant memory and few syscalls whatever the
 * size. The file is complete and closed when the stream finishes; any failure destroys it (the caller removes it).
 *
 * @example
 * ```ts
 * const sink = new ReceiveSink(tmp, { maxBytes, tar: DEFAULT_TAR_LIMITS });
 * await pipeline(req, sink);
 * sink.sha256(); // hex
 * ```
 */
export class ReceiveSink extends Writable {
  bytes = 0;
  private nextGc = GC_EVERY;
  private readonly hash = createHash('sha256');
  private readonly tarCheck: TarCheck;
  private fh: FileHandle | undefined;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private cur: Buffer | undefined;
  private fill = 0;
  private pos = 0;
  private readonly queue: { buf: Buffer; len: number; at: number }[] = [];
  private writing = false;
  private writeError: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly path: string,
    private readonly o: ReceiveSinkOptions,
  ) {
    super({ highWaterMark: CHUNK });
    this.tarCheck = new TarCheck(o.tar);
  }

  override _construct(cb: (err?: Error | null) => void): void {
    open(this.path, 'w', 0o600).then((fh) => {
      this.fh = fh;
      cb();
    }, cb);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.bytes += chunk.length;
      if (this.bytes > this.o.maxBytes) throw tooLarge(this.o.maxBytes);
      this.hash.update(chunk);
      this.o.onBytes?.(this.bytes);
      if (this.o.gc && this.bytes >= this.nextGc) {
        this.nextGc = this.bytes + GC_EVERY;
        this.o.gc();
      }
      this.tarCheck.feed(chunk);
      this.copy(chunk, 0, cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Copies `chunk` from `off` into pool buffers, waiting for a free one when all are being written. */
  private copy(chunk: Buffer, off: number, cb: (err?: Error | null) => void): void {
    while (off < chunk.length) {
      if (this.writeError) {
        cb(this.writeError);
        return;
      }
      if (!this.cur) {
        this.cur = this.free.pop() ?? this.allocate();
        if (!this.cur) {
          this.wake = () => this.copy(chunk, off, cb);
          return;
        }
      }
      const n = chunk.copy(this.cur, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === CHUNK) this.flush();
    }
    cb();
  }

  private allocate(): Buffer | undefined {
    if (this.allocated >= POOL) return undefined;
    this.allocated++;
    return Buffer.allocUnsafeSlow(CHUNK);
  }

  /** Queues the current buffer for writing. One write at a time: parallel writes to one file only contend on its lock. */
  private flush(): void {
    this.queue.push({ buf: this.cur as Buffer, len: this.fill, at: this.pos });
    this.pos += this.fill;
    this.cur = undefined;
    this.fill = 0;
    if (!this.writing) this.next();
  }

  private next(): void {
    const fh = this.fh;
    const w = fh ? this.queue.shift() : undefined; // destroyed: the file is closed, nothing more is written
    this.writing = w !== undefined;
    if (!fh || !w) {
      this.queue.length = 0;
      return;
    }
    fh.write(w.buf, 0, w.len, w.at)
      .then(
        () => undefined,
        (err: Error) => (this.writeError ??= err),
      )
      .finally(() => {
        this.free.push(w.buf);
        if (this.writeError) this.queue.length = 0;
        this.next();
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
      });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.fill > 0) this.flush();
    const settled = () =>
      new Promise<void>((r) => {
        const check = () => {
          if (this.writing) this.wake = check;
          else r();
        };
        check();
      });
    settled()
      .then(() => {
        if (this.writeError) throw this.writeError;
        this.tarCheck.end();
      })
      .then(() => (this.fh as FileHandle).close())
      .then(() => {
        this.fh = undefined;
        cb();
      }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) {
      cb(err);
      return;
    }
    fh.close().then(
      () => cb(err),
      () => cb(err),
    );
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}
