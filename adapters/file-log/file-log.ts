import { mkdir, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { type EventEnvelope, keyText, type NewEvent, type StreamKey, storedEnvelope } from '../../machines/envelope.ts';
import { storedForm } from '../event-log/envelope-check.ts';
import type { EventLog } from '../event-log/port.ts';
import { StaleWriterError } from '../event-log/port.ts';
import { isSameEvent } from '../event-log/same-event.ts';
import { fsyncDir } from './atomic-file.ts';
import { removeLeftoverLockFiles, withFileLock } from './file-lock.ts';
import { FileLogReader, type FileLogReaderOptions } from './file-log-reader.ts';
import { parseChunk, type StreamFile } from './jsonl.ts';
import { assertLogDir, readLogFile, unavailable } from './log-files.ts';
import { keepTornTailAside } from './torn-tail.ts';

export interface FileLogOptions extends FileLogReaderOptions {
  /** Created if missing (the writer owns it). */
  dir: string;
  /** fdatasync every append before acknowledging it (default true; tests may turn it off for speed). */
  fsync?: boolean;
}

/** What this process knows about the end of one stream's file; re-validated by size and inode. */
interface TailState {
  ino: number;
  size: number;
  lastSeq: number;
  last: EventEnvelope | undefined;
}

/**
 * Opens the embedded event log for writing: one append-only JSON Lines file per stream under `dir`,
 * `<kind>@<encoded id>.jsonl` (a migration of the legacy layout, `<encoded id>.jsonl`, is continued in its own
 * file and format; see file-log-reader.ts).
 *
 * Appends take an exclusive lock file per stream (`<file>.lock`, stale when its pid is dead), check the
 * last seq (compare-and-set, valid across processes), write one line and fdatasync it. Reads change nothing.
 * Before appending to a file whose last line is torn (no newline, and it is this log's own line: it starts like
 * the envelope the log writes next), the writer moves the torn bytes to `<file>.torn-<timestamp>` and cuts the
 * file back to its last complete line, with a warning naming the file and byte offset; every acknowledged append
 * before it is kept. A complete line that does not validate is corruption: CorruptEventError, never dropped.
 *
 * @example
 * ```ts
 * const log = await openFileLog({ dir: '/var/lib/ms2m/log', logger });
 * const key = { kind: 'StatefulMigration', id: 'default/m1' };
 * const ev = await log.append(key, { type: 'MigrationRequested', at: new Date().toISOString(),
 *   machineVersion: 1, data: {} }, 0); // ev.seq === 1
 * await log.append(key, next, 0); // throws StaleWriterError: seq 1 is taken
 * ```
 */
export async function openFileLog(opts: FileLogOptions): Promise<EventLog> {
  const dir = resolve(opts.dir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
      throw unavailable(dir, err);
    }
  }
  await assertLogDir(dir);
  await removeLeftoverLockFiles(dir);
  return new FileLogWriter(
    dir,
    opts.logger.child({ component: 'file-log' }),
    opts.watchPollMs ?? 1000,
    opts.fsync ?? true,
  );
}

/** The file log's writing side: appends under the lock, and the one place a torn tail is repaired. */
class FileLogWriter extends FileLogReader implements EventLog {
  private readonly tails = new Map<string, TailState>();
  private readonly lockOpts = {
    onStale: (lockPath: string, deadPid: number) =>
      this.logger.warn({ lock: lockPath, pid: deadPid }, `Took over lock ${lockPath} left by dead process ${deadPid}`),
  };

  constructor(
    dir: string,
    logger: Logger,
    watchPollMs: number,
    private readonly fsync: boolean,
  ) {
    super(dir, logger, watchPollMs);
  }

  async append(key: StreamKey, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
    this.assertOpen();
    const stream = this.streamFile(key);
    if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError(`expectSeq must be an integer >= 0`);
    let duplicate = false;
    const stored = await withFileLock(
      `${this.pathOf(stream)}.lock`,
      async () => {
        const tail = await this.syncTail(stream);
        if (tail.lastSeq === expectSeq) {
          const ev = storedEnvelope(key, expectSeq + 1, event);
          await this.writeLine(stream, tail, ev);
          return ev;
        }
        if (expectSeq < tail.lastSeq) {
          const taken = tail.last?.seq === expectSeq + 1 ? tail.last : (await this.read(key))[expectSeq];
          if (taken && isSameEvent(taken, event)) {
            duplicate = true; // a retry whose ack was lost: answer with what is stored
            return taken;
          }
        }
        throw new StaleWriterError(key, expectSeq, tail.lastSeq);
      },
      this.lockOpts,
    );
    if (!duplicate) this.appended.emit('append', stream.name);
    return stored;
  }

  override async close(): Promise<void> {
    await super.close();
    this.tails.clear();
  }

  /**
   * Brings the cached tail of `id` up to date with the file, keeping a torn last line aside and cutting it off.
   * Call only while holding the lock: this is the one place the log repairs anything.
   */
  private async syncTail(stream: StreamFile): Promise<TailState> {
    const file = this.pathOf(stream);
    const k = keyText(stream.key);
    let tail = this.tails.get(k);
    const from = tail && tail.ino !== -1 ? tail.size : 0;
    const got = await readLogFile(file, from);
    if (!got) {
      const empty = { ino: -1, size: 0, lastSeq: 0, last: undefined };
      this.tails.set(k, empty);
      return empty;
    }
    if (tail && tail.ino === got.ino && tail.size === got.size) return tail;
    if (!tail || tail.ino !== got.ino || tail.size > got.size) {
      tail = { ino: got.ino, size: 0, lastSeq: 0, last: undefined };
      if (from > 0) return this.resyncFromStart(stream);
    }
    const parsed = parseChunk(stream, got.buf, tail.lastSeq, { file, offset: tail.size });
    const next: TailState = {
      ino: got.ino,
      size: tail.size + parsed.consumed,
      lastSeq: tail.lastSeq + parsed.events.length,
      last: parsed.events.at(-1) ?? tail.last,
    };
    if (parsed.torn) {
      await keepTornTailAside({
        file,
        key: stream.key,
        offset: parsed.torn.offset,
        bytes: parsed.torn.bytes,
        logger: this.logger,
      });
    }
    this.tails.set(k, next);
    return next;
  }

  /** The file was replaced or shrank under our cached tail: forget it and read the whole file again. */
  private resyncFromStart(stream: StreamFile): Promise<TailState> {
    this.tails.delete(keyText(stream.key));
    return this.syncTail(stream);
  }

  /** Appends `ev` as one line in the file's own format (a legacy file stays legacy to its last line). */
  private async writeLine(stream: StreamFile, tail: TailState, ev: EventEnvelope): Promise<void> {
    const path = this.pathOf(stream);
    const k = keyText(stream.key);
    const line = Buffer.from(`${JSON.stringify(storedForm(ev, stream.format))}\n`);
    const created = tail.ino === -1;
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      fh = await open(path, 'a');
      let written = 0;
      while (written < line.length) {
        written += (await fh.write(line, written, line.length - written)).bytesWritten;
      }
      if (this.fsync) await fh.datasync();
      const st = await fh.stat();
      this.tails.set(k, { ino: st.ino, size: tail.size + line.length, lastSeq: ev.seq, last: ev });
    } catch (err) {
      this.tails.delete(k);
      await fh?.truncate(tail.size).catch(() => undefined); // do not leave a partial line behind
      throw unavailable(path, err);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    if (created && this.fsync) await fsyncDir(this.dir);
  }
}
