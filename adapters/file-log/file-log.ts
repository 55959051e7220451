import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, truncate } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import type { EventLog } from '../event-log/port.ts';
import { EventLogUnavailableError, StaleWriterError } from '../event-log/port.ts';
import { batchedIterable } from './batched-iterable.ts';
import { removeLeftoverLockFiles, withFileLock } from './file-lock.ts';
import { watchFileLog } from './file-watch.ts';
import { canonicalJson, fileNameOf, migrationIdOf, parseChunk } from './jsonl.ts';

export interface FileLogOptions {
  /** Directory holding one `<encoded id>.jsonl` file per migration; created if missing. */
  dir: string;
  logger: Logger;
  /** fdatasync every append before acknowledging it (default true; tests may turn it off for speed). */
  fsync?: boolean;
  /** Polling fallback period of `watch()` in ms (default 1000); `fs.watch` and in-process appends wake it sooner. */
  watchPollMs?: number;
}

/** What this process knows about the end of one migration's file; re-validated by size and inode. */
interface TailState {
  ino: number;
  size: number;
  lastSeq: number;
  last: EventEnvelope | undefined;
}

/** How many files `readAll()` reads before yielding to the event loop. */
const READ_BATCH = 128;

/**
 * Opens the embedded event log: one append-only JSON Lines file per migration under `dir`.
 *
 * Appends take an exclusive lock file per migration (`<file>.lock`, stale when its pid is dead), check the
 * last seq (compare-and-set, valid across processes), write one line and fdatasync it. A line torn by a
 * crash is dropped (the file is truncated back to the last complete line) with a warning naming the file and
 * byte offset; every acknowledged append before it is kept. Every line read is validated.
 *
 * @example
 * ```ts
 * const log = await openFileLog({ dir: '/var/lib/ms2m/log', logger });
 * const ev = await log.append('default/m1', { type: 'MigrationRequested', at: new Date().toISOString(),
 *   machineVersion: MACHINE_VERSION, data: {} }, 0); // ev.seq === 1
 * await log.append('default/m1', next, 0); // throws StaleWriterError: seq 1 is taken
 * ```
 */
export async function openFileLog(opts: FileLogOptions): Promise<EventLog> {
  const dir = resolve(opts.dir);
  const logger = opts.logger.child({ component: 'file-log' });
  const fsync = opts.fsync ?? true;
  await mkdir(dir, { recursive: true });
  await removeLeftoverLockFiles(dir);
  const tails = new Map<string, TailState>();
  const appended = new EventEmitter();
  appended.setMaxListeners(0);
  const watches = new Set<AbortController>();
  let closed = false;

  const pathOf = (id: string) => join(dir, fileNameOf(id));
  const lockOf = (id: string) => `${pathOf(id)}.lock`;
  const lockOpts = {
    onStale: (lockPath: string, deadPid: number) =>
      logger.warn({ lock: lockPath, pid: deadPid }, `Took over lock ${lockPath} left by dead process ${deadPid}`),
  };
  const assertOpen = () => {
    if (closed) throw new EventLogUnavailableError(`file log ${dir} is closed`);
  };

  /** Brings the cached tail of `id` up to date with the file. Call only while holding the lock. */
  async function syncTail(id: string): Promise<TailState> {
    const path = pathOf(id);
    let st: { ino: number; size: number };
    try {
      st = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unavailable(path, err);
      const empty = { ino: -1, size: 0, lastSeq: 0, last: undefined };
      tails.set(id, empty);
      return empty;
    }
    let tail = tails.get(id);
    if (tail && tail.ino === st.ino && tail.size === st.size) return tail;
    if (!tail || tail.ino !== st.ino || tail.size > st.size)
      tail = { ino: st.ino, size: 0, lastSeq: 0, last: undefined };
    const fh = await open(path, 'r');
    let buf: Buffer;
    try {
      buf = Buffer.alloc(st.size - tail.size);
      const { bytesRead } = await fh.read(buf, 0, buf.length, tail.size);
      buf = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    const parsed = parseChunk(id, buf, tail.lastSeq);
    const next: TailState = {
      ino: st.ino,
      size: tail.size + parsed.consumed,
      lastSeq: tail.lastSeq + parsed.events.length,
      last: parsed.events.at(-1) ?? tail.last,
    };
    if (parsed.tornBytes > 0) await dropTornTail(id, next.size, parsed.tornBytes);
    tails.set(id, next);
    return next;
  }

  async function dropTornTail(id: string, offset: number, bytes: number): Promise<void> {
    const file = pathOf(id);
    await truncate(file, offset);
    logger.warn(
      { file, offset, droppedBytes: bytes, migrationId: id },
      `Dropped torn last line of event log ${file} at byte offset ${offset} (${bytes} bytes, left by an interrupted write)`,
    );
  }

  /** Re-checks a torn tail seen without the lock; truncates it if it is still there once we hold the lock. */
  const repairTail = (id: string) => withFileLock(lockOf(id), () => syncTail(id), lockOpts);

  /** Reads and validates one file; `repair` (not allowed while holding the lock) truncates a torn tail. */
  async function readFileEvents(id: string, repair = true): Promise<EventEnvelope[]> {
    let buf: Buffer;
    try {
      buf = await readFile(pathOf(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw unavailable(pathOf(id), err);
    }
    const parsed = parseChunk(id, buf, 0);
    if (parsed.tornBytes > 0 && repair) await repairTail(id);
    return parsed.events;
  }

  async function writeLine(id: string, tail: TailState, ev: EventEnvelope): Promise<void> {
    const path = pathOf(id);
    const line = Buffer.from(`${JSON.stringify(ev)}\n`);
    const created = tail.ino === -1;
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      fh = await open(path, 'a');
      let written = 0;
      while (written < line.length) {
        written += (await fh.write(line, written, line.length - written)).bytesWritten;
      }
      if (fsync) await fh.datasync();
      const st = await fh.stat();
      tails.set(id, { ino: st.ino, size: tail.size + line.length, lastSeq: ev.seq, last: ev });
    } catch (err) {
      tails.delete(id);
      await fh?.truncate(tail.size).catch(() => undefined); // do not leave a partial line behind
      throw unavailable(path, err);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    if (created && fsync) await syncDir(dir);
  }

  const log: EventLog = {
    async append(id: string, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
      assertOpen();
      if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError(`expectSeq must be an integer >= 0`);
      let duplicate = false;
      const stored = await withFileLock(
        lockOf(id),
        async () => {
          const tail = await syncTail(id);
          if (tail.lastSeq === expectSeq) {
            const ev: EventEnvelope = {
              migrationId: id,
              seq: expectSeq + 1,
              type: event.type,
              at: event.at,
              machineVersion: event.machineVersion,
              data: event.data,
            };
            await writeLine(id, tail, ev);
            return ev;
          }
          if (expectSeq < tail.lastSeq) {
            const taken = tail.last?.seq === expectSeq + 1 ? tail.last : (await readFileEvents(id, false))[expectSeq];
            if (taken && sameEvent(taken, event)) {
              duplicate = true; // a retry whose ack was lost: answer with what is stored
              return taken;
            }
          }
          throw new StaleWriterError(id, expectSeq, tail.lastSeq);
        },
        lockOpts,
      );
      if (!duplicate) appended.emit('append', fileNameOf(id));
      return stored;
    },

    async read(id: string, fromSeq = 1): Promise<EventEnvelope[]> {
      assertOpen();
      const events = await readFileEvents(id);
      return fromSeq <= 1 ? events : events.slice(fromSeq - 1);
    },

    readAll(): AsyncIterable<EventEnvelope> {
      assertOpen();
      let ids: string[] | undefined;
      let next = 0;
      // Reads READ_BATCH files at a time. Synchronous reads of small files are several times faster than
      // fs/promises; one batch blocks the loop for ~2 ms and the I/O queue runs between batches.
      const loadBatch = async (): Promise<EventEnvelope[] | undefined> => {
        ids ??= await log.list();
        if (next >= ids.length) return undefined;
        if (next > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const batch: EventEnvelope[] = [];
        for (const id of ids.slice(next, next + READ_BATCH)) {
          let buf: Buffer;
          try {
            buf = readFileSync(pathOf(id));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
            throw unavailable(pathOf(id), err);
          }
          const parsed = parseChunk(id, buf, 0);
          if (parsed.tornBytes > 0) await repairTail(id);
          for (const ev of parsed.events) batch.push(ev);
        }
        next += READ_BATCH;
        return batch;
      };
      return batchedIterable(loadBatch);
    },

    async list(): Promise<string[]> {
      assertOpen();
      const names = await readdir(dir);
      const ids: string[] = [];
      for (const name of names) {
        const id = migrationIdOf(name);
        if (id !== undefined) ids.push(id);
      }
      return ids.sort();
    },

    watch(watchOpts: { migrationId?: string; signal?: AbortSignal } = {}): AsyncIterable<EventEnvelope> {
      assertOpen();
      const controller = new AbortController();
      watches.add(controller);
      const signal = watchOpts.signal ? AbortSignal.any([watchOpts.signal, controller.signal]) : controller.signal;
      const inner = watchFileLog({
        dir,
        logger,
        signal,
        pollMs: opts.watchPollMs ?? 1000,
        ...(watchOpts.migrationId === undefined ? {} : { migrationId: watchOpts.migrationId }),
        onAppend: (cb) => {
          appended.on('append', cb);
          return () => appended.off('append', cb);
        },
      });
      return {
        async *[Symbol.asyncIterator]() {
          try {
            yield* inner;
          } finally {
            watches.delete(controller);
          }
        },
      };
    },

    locate: (id: string) => pathOf(id),

    async close(): Promise<void> {
      closed = true;
      for (const c of watches) c.abort();
      watches.clear();
      tails.clear();
    },
  };
  return log;
}

function sameEvent(stored: EventEnvelope, ev: NewEvent): boolean {
  return (
    stored.type === ev.type &&
    stored.machineVersion === ev.machineVersion &&
    canonicalJson(stored.data) === canonicalJson(ev.data)
  );
}

function unavailable(path: string, err: unknown): EventLogUnavailableError {
  const code = (err as NodeJS.ErrnoException).code;
  return new EventLogUnavailableError(
    `cannot access ${path}${code ? ` (${code})` : ''}; check the disk and permissions`,
    err,
  );
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the file's own data is already synced
  } finally {
    await fh.close();
  }
}
