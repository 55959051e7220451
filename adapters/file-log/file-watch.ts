import type { FSWatcher } from 'node:fs';
import { closeSync, fstatSync, watch as fsWatch, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { CorruptEventError } from '../event-log/port.ts';
import { fileNameOf, migrationIdOf, validateEnvelope } from './jsonl.ts';

export interface WatchContext {
  dir: string;
  logger: Logger;
  migrationId?: string;
  signal?: AbortSignal;
  pollMs: number;
  /** Registers a callback for in-process appends (file name); returns the unsubscribe function. */
  onAppend: (cb: (fileName: string) => void) => () => void;
}

interface Cursor {
  offset: number;
  lastSeq: number | undefined;
}

/**
 * Yields every event appended (by any process) after this call, each migration's events in seq order.
 * The start position is taken synchronously, so an append acknowledged after `watchFileLog()` returns is
 * always seen. Wake-ups come from in-process appends, `fs.watch` on the directory and a polling fallback.
 *
 * @example
 * ```ts
 * for await (const ev of watchFileLog({ dir, logger, pollMs: 500, onAppend, signal })) console.log(ev.seq);
 * ```
 */
export function watchFileLog(ctx: WatchContext): AsyncIterable<EventEnvelope> {
  const cursors = new Map<string, Cursor>();
  const only = ctx.migrationId === undefined ? undefined : fileNameOf(ctx.migrationId);
  for (const name of only ? [only] : listLogFiles(ctx.dir)) cursors.set(name, startCursor(join(ctx.dir, name)));
  return { [Symbol.asyncIterator]: () => iterate(ctx, cursors, only) };
}

async function* iterate(ctx: WatchContext, cursors: Map<string, Cursor>, only: string | undefined) {
  const dirty = new Set<string>(cursors.keys());
  let wake: (() => void) | undefined;
  const poke = (name?: string) => {
    if (name !== undefined) {
      if (only !== undefined && name !== only) return;
      if (migrationIdOf(name) === undefined) return;
      dirty.add(name);
    }
    wake?.();
  };
  const onAbort = () => poke();
  ctx.signal?.addEventListener('abort', onAbort);
  const unsubscribe = ctx.onAppend((name) => poke(name));
  let watcher: FSWatcher | undefined;
  try {
    watcher = fsWatch(ctx.dir, { persistent: false }, (_kind, name) => poke(name ?? undefined));
    watcher.on('error', () => undefined);
  } catch (err) {
    ctx.logger.debug({ err, dir: ctx.dir }, 'fs.watch unavailable, event log watch polls');
  }
  let pollDue = false;
  const timer = setInterval(() => {
    pollDue = true;
    poke();
  }, ctx.pollMs);
  timer.unref();
  try {
    while (!ctx.signal?.aborted) {
      if (pollDue) {
        pollDue = false;
        for (const name of only ? [only] : listLogFiles(ctx.dir)) dirty.add(name);
      }
      const batch: EventEnvelope[] = [];
      for (const name of [...dirty]) {
        dirty.delete(name);
        let cursor = cursors.get(name);
        if (!cursor) {
          cursor = { offset: 0, lastSeq: 0 };
          cursors.set(name, cursor);
        }
        batch.push(...(await readNew(ctx.dir, name, cursor)));
      }
      for (const ev of batch) {
        if (ctx.signal?.aborted) return;
        yield ev;
      }
      if (batch.length === 0 && dirty.size === 0 && !pollDue && !ctx.signal?.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    }
  } finally {
    clearInterval(timer);
    watcher?.close();
    unsubscribe();
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

function listLogFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => migrationIdOf(n) !== undefined);
}

/** Cursor at the end of the last complete line of `path` now (a line being written is read once complete). */
function startCursor(path: string): Cursor {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { offset: 0, lastSeq: 0 };
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { offset: 0, lastSeq: 0 };
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return { offset: size, lastSeq: undefined };
    return { offset: readFileSync(path).lastIndexOf(0x0a) + 1, lastSeq: undefined };
  } finally {
    closeSync(fd);
  }
}

/** Reads the complete lines appended to `name` since `cursor`, advancing it. */
async function readNew(dir: string, name: string, cursor: Cursor): Promise<EventEnvelope[]> {
  const migrationId = migrationIdOf(name) as string;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(join(dir, name), 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await fh.stat();
    if (size < cursor.offset) cursor.offset = size; // a torn tail was cut off below our position
    if (size === cursor.offset) return [];
    const buf = Buffer.alloc(size - cursor.offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, cursor.offset);
    const end = buf.lastIndexOf(0x0a, bytesRead - 1) + 1;
    const events: EventEnvelope[] = [];
    let start = 0;
    while (start < end) {
      const nl = buf.indexOf(0x0a, start);
      let value: unknown;
      try {
        value = JSON.parse(buf.toString('utf8', start, nl));
      } catch (err) {
        throw new CorruptEventError(migrationId, undefined, `line at byte ${cursor.offset + start} is not JSON`, err);
      }
      const seq = cursor.lastSeq === undefined ? (value as { seq?: number }).seq : cursor.lastSeq + 1;
      const ev = validateEnvelope(migrationId, value, typeof seq === 'number' ? seq : -1);
      cursor.lastSeq = ev.seq;
      events.push(ev);
      start = nl + 1;
    }
    cursor.offset += end;
    return events;
  } finally {
    await fh.close();
  }
}
