import { EventEmitter } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { EventEnvelope } from '../../machines/envelope.ts';
import type { EventLogReader } from '../event-log/port.ts';
import { EventLogUnavailableError } from '../event-log/port.ts';
import { batchedIterable } from './batched-iterable.ts';
import { watchFileLog } from './file-watch.ts';
import { fileNameOf, migrationIdOf, type ParsedChunk, parseChunk } from './jsonl.ts';
import { assertLogDir, type LogFileBytes, readLogFile, readLogFileSync, unavailable } from './log-files.ts';

export interface FileLogReaderOptions {
  /** Directory holding one `<encoded id>.jsonl` file per migration; it must exist. */
  dir: string;
  logger: Logger;
  /** Polling fallback period of `watch()` in ms (default 1000); `fs.watch` and in-process appends wake it sooner. */
  watchPollMs?: number;
}

/** How many files `readAll()` reads before yielding to the event loop. */
const READ_BATCH = 128;

/**
 * Opens an embedded event log for reading only: it creates, locks, truncates and writes nothing, and works on a
 * directory the user may only read. An unterminated last line (an append in flight, or torn by a crash) is
 * skipped with a warning and left as it is; the next writer repairs it. Every line read is validated.
 *
 * @example
 * ```ts
 * const reader = await openFileLogReader({ dir: '.ms2m/demo/log', logger }); // NotFoundError if it is missing
 * const events = await reader.read('default/m1');
 * await reader.close();
 * ```
 */
export async function openFileLogReader(opts: FileLogReaderOptions): Promise<EventLogReader> {
  const dir = resolve(opts.dir);
  await assertLogDir(dir);
  return new FileLogReader(dir, opts.logger.child({ component: 'file-log' }), opts.watchPollMs ?? 1000);
}

/** The reading half of the file log; the writer (file-log.ts) extends it. */
export class FileLogReader implements EventLogReader {
  protected closed = false;
  protected readonly appended = new EventEmitter();
  private readonly watches = new Set<AbortController>();
  /** Torn tails already reported (`file@offset`), so a poll loop does not warn on every read. */
  private readonly reported = new Set<string>();

  constructor(
    protected readonly dir: string,
    protected readonly logger: Logger,
    private readonly watchPollMs: number,
  ) {
    this.appended.setMaxListeners(0);
  }

  protected pathOf(id: string): string {
    return join(this.dir, fileNameOf(id));
  }

  protected assertOpen(): void {
    if (this.closed) throw new EventLogUnavailableError(`file log ${this.dir} is closed`);
  }

  /** Parses what was read of `id`'s file; an in-flight or torn last line is reported and left alone. */
  protected parse(id: string, got: LogFileBytes | null): ParsedChunk {
    if (!got) return { events: [], consumed: 0, torn: undefined };
    const file = this.pathOf(id);
    const parsed = parseChunk(id, got.buf, 0, { file, offset: 0 });
    if (parsed.torn && !this.reported.has(`${file}@${parsed.torn.offset}`)) {
      if (this.reported.size > 10_000) this.reported.clear();
      this.reported.add(`${file}@${parsed.torn.offset}`);
      this.logger.warn(
        { file, offset: parsed.torn.offset, bytes: parsed.torn.bytes.length, migrationId: id },
        `Ignored the unterminated last line of event log ${file} at byte offset ${parsed.torn.offset} (${parsed.torn.bytes.length} bytes): an append in flight or torn by a crash; the next writer keeps it aside and drops it`,
      );
    }
    return parsed;
  }

  async read(id: string, fromSeq = 1): Promise<EventEnvelope[]> {
    this.assertOpen();
    const { events } = this.parse(id, await readLogFile(this.pathOf(id)));
    return fromSeq <= 1 ? events : events.slice(fromSeq - 1);
  }

  readAll(): AsyncIterable<EventEnvelope> {
    this.assertOpen();
    let ids: string[] | undefined;
    let next = 0;
    // Reads READ_BATCH files at a time. Synchronous reads of small files are several times faster than
    // fs/promises; one batch blocks the loop for ~2 ms and the I/O queue runs between batches.
    const loadBatch = async (): Promise<EventEnvelope[] | undefined> => {
      ids ??= await this.list();
      if (next >= ids.length) return undefined;
      if (next > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch: EventEnvelope[] = [];
      for (const id of ids.slice(next, next + READ_BATCH)) {
        for (const ev of this.parse(id, readLogFileSync(this.pathOf(id))).events) batch.push(ev);
      }
      next += READ_BATCH;
      return batch;
    };
    return batchedIterable(loadBatch);
  }

  async list(): Promise<string[]> {
    this.assertOpen();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw unavailable(this.dir, err);
    }
    const ids: string[] = [];
    for (const name of names) {
      const id = migrationIdOf(name);
      if (id !== undefined) ids.push(id);
    }
    return ids.sort();
  }

  watch(watchOpts: { migrationId?: string; signal?: AbortSignal } = {}): AsyncIterable<EventEnvelope> {
    this.assertOpen();
    const controller = new AbortController();
    this.watches.add(controller);
    const signal = watchOpts.signal ? AbortSignal.any([watchOpts.signal, controller.signal]) : controller.signal;
    const inner = watchFileLog({
      dir: this.dir,
      logger: this.logger,
      signal,
      pollMs: this.watchPollMs,
      ...(watchOpts.migrationId === undefined ? {} : { migrationId: watchOpts.migrationId }),
      onAppend: (cb) => {
        this.appended.on('append', cb);
        return () => this.appended.off('append', cb);
      },
    });
    const watches = this.watches;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          yield* inner;
        } finally {
          watches.delete(controller);
        }
      },
    };
  }

  locate(id: string): string {
    return this.pathOf(id);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.watches) c.abort();
    this.watches.clear();
  }
}
