import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { type EventEnvelope, keyText, LEGACY_KIND, type StreamKey } from '../../machines/envelope.ts';
import type { EventLogReader, WatchOptions } from '../event-log/port.ts';
import {
  assertKind,
  assertStreamKey,
  CorruptEventError,
  compareKeys,
  EventLogUnavailableError,
  watchFilter,
} from '../event-log/port.ts';
import { batchedIterable } from './batched-iterable.ts';
import { watchFileLog } from './file-watch.ts';
import {
  fileNameOf,
  legacyFileNameOf,
  type ParsedChunk,
  parseChunk,
  type StreamFile,
  streamOfFileName,
} from './jsonl.ts';
import { assertLogDir, type LogFileBytes, readLogFile, readLogFileSync, unavailable } from './log-files.ts';

export interface FileLogReaderOptions {
  /**
   * Directory holding one `<kind>@<encoded id>.jsonl` file per stream (and `<encoded id>.jsonl` migrations of
   * the legacy layout); it must exist.
   */
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
 * const events = await reader.read({ kind: 'StatefulMigration', id: 'default/m1' });
 * await reader.close();
 * ```
 */
export async function openFileLogReader(opts: FileLogReaderOptions): Promise<EventLogReader> {
  const dir = resolve(opts.dir);
  await assertLogDir(dir);
  return new FileLogReader(dir, opts.logger.child({ component: 'file-log' }), opts.watchPollMs ?? 1000);
}

/**
 * The reading half of the file log; the writer (file-log.ts) extends it.
 *
 * Layout: a stream's file is `<kind>@<encoded id>.jsonl` (jsonl.ts `fileNameOf`). A StatefulMigration logged
 * before kinds existed sits in `<encoded id>.jsonl` (legacy layout, legacy envelopes): while that file exists it
 * is the stream's file, read and appended to in its own format; a new migration always gets the current layout.
 */
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

  /**
   * The file of stream `key`: the legacy file of a StatefulMigration when it exists, otherwise the current one.
   * Both existing is a CorruptEventError (a log must not hold two streams for one key).
   */
  protected streamFile(key: StreamKey): StreamFile {
    assertStreamKey(key);
    const current: StreamFile = { name: fileNameOf(key), key, format: 'current' };
    if (key.kind !== LEGACY_KIND) return current;
    const legacyName = legacyFileNameOf(key.id);
    if (!existsSync(join(this.dir, legacyName))) return current;
    if (existsSync(join(this.dir, current.name))) throw this.twoFiles(key, [legacyName, current.name]);
    return { name: legacyName, key, format: 'legacy' };
  }

  protected pathOf(stream: StreamFile): string {
    return join(this.dir, stream.name);
  }

  protected assertOpen(): void {
    if (this.closed) throw new EventLogUnavailableError(`file log ${this.dir} is closed`);
  }

  /** Parses what was read of a stream's file; an in-flight or torn last line is reported and left alone. */
  protected parse(stream: StreamFile, got: LogFileBytes | null): ParsedChunk {
    if (!got) return { events: [], consumed: 0, torn: undefined };
    const file = this.pathOf(stream);
    const parsed = parseChunk(stream, got.buf, 0, { file, offset: 0 });
    if (parsed.torn && !this.reported.has(`${file}@${parsed.torn.offset}`)) {
      if (this.reported.size > 10_000) this.reported.clear();
      this.reported.add(`${file}@${parsed.torn.offset}`);
      this.logger.warn(
        { file, offset: parsed.torn.offset, bytes: parsed.torn.bytes.length, kind: stream.key.kind, id: stream.key.id },
        `Ignored the unterminated last line of event log ${file} at byte offset ${parsed.torn.offset} (${parsed.torn.bytes.length} bytes): an append in flight or torn by a crash; the next writer keeps it aside and drops it`,
      );
    }
    return parsed;
  }

  async read(key: StreamKey, fromSeq = 1): Promise<EventEnvelope[]> {
    this.assertOpen();
    const stream = this.streamFile(key);
    const { events } = this.parse(stream, await readLogFile(this.pathOf(stream)));
    return fromSeq <= 1 ? events : events.slice(fromSeq - 1);
  }

  readAll(): AsyncIterable<EventEnvelope> {
    this.assertOpen();
    let streams: StreamFile[] | undefined;
    let next = 0;
    // Reads READ_BATCH files at a time. Synchronous reads of small files are several times faster than
    // fs/promises; one batch blocks the loop for ~2 ms and the I/O queue runs between batches.
    const loadBatch = async (): Promise<EventEnvelope[] | undefined> => {
      streams ??= await this.streamFiles();
      if (next >= streams.length) return undefined;
      if (next > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch: EventEnvelope[] = [];
      for (const stream of streams.slice(next, next + READ_BATCH)) {
        for (const ev of this.parse(stream, readLogFileSync(this.pathOf(stream))).events) batch.push(ev);
      }
      next += READ_BATCH;
      return batch;
    };
    return batchedIterable(loadBatch);
  }

  async list(kind?: string): Promise<StreamKey[]> {
    this.assertOpen();
    if (kind !== undefined) assertKind(kind);
    const keys = (await this.streamFiles({ tolerateTwoFiles: true })).map((s) => s.key);
    return kind === undefined ? keys : keys.filter((k) => k.kind === kind);
  }

  /**
   * Every stream file of the directory, sorted by key. A key held by two files (legacy and current) is listed
   * once with `tolerateTwoFiles` (reading it reports the conflict), and is a CorruptEventError otherwise.
   */
  private async streamFiles(opts: { tolerateTwoFiles?: boolean } = {}): Promise<StreamFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw unavailable(this.dir, err);
    }
    const byKey = new Map<string, StreamFile>();
    for (const name of names) {
      const stream = streamOfFileName(name);
      if (!stream) continue;
      const k = keyText(stream.key);
      const other = byKey.get(k);
      if (other && !opts.tolerateTwoFiles) {
        throw this.twoFiles(stream.key, stream.format === 'legacy' ? [name, other.name] : [other.name, name]);
      }
      if (!other || stream.format === 'legacy') byKey.set(k, stream);
    }
    return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
  }

  watch(watchOpts: WatchOptions = {}): AsyncIterable<EventEnvelope> {
    this.assertOpen();
    watchFilter(watchOpts); // refuses an id without its kind, a bad kind
    const controller = new AbortController();
    this.watches.add(controller);
    const signal = watchOpts.signal ? AbortSignal.any([watchOpts.signal, controller.signal]) : controller.signal;
    const only =
      watchOpts.kind !== undefined && watchOpts.id !== undefined
        ? this.streamFile({ kind: watchOpts.kind, id: watchOpts.id }).name
        : undefined;
    const inner = watchFileLog({
      dir: this.dir,
      logger: this.logger,
      signal,
      pollMs: this.watchPollMs,
      ...(only === undefined ? {} : { only }),
      ...(watchOpts.kind === undefined ? {} : { kind: watchOpts.kind }),
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

  /** The file of the stream (for a key with no events yet: the file its first append creates). */
  locate(key: StreamKey): string {
    return this.pathOf(this.streamFile(key));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.watches) c.abort();
    this.watches.clear();
  }

  /** `names`: the legacy file first, then the current one. */
  private twoFiles(key: StreamKey, names: string[]): CorruptEventError {
    return new CorruptEventError(key, undefined, `two files hold this stream: ${names.join(' and ')}`, {
      file: join(this.dir, names[0]!),
      fix: 'a stream has one file: keep the one with its events (the legacy-layout one, if both have some) and move the other out of the log directory',
    });
  }
}
