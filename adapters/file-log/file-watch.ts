import type { FSWatcher } from 'node:fs';
import { watch as fsWatch, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { parseLines, streamOfFileName } from './jsonl.ts';
import { type LogFileBytes, readLogFile, readLogFileSync } from './log-files.ts';

export interface WatchContext {
  dir: string;
  logger: Logger;
  /** Follow only this file (one stream). */
  only?: string;
  /** Follow only the streams of this kind. */
  kind?: string;
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
 * Yields every event appended (by any process) after this call, each stream's events in seq order.
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
  for (const name of watchedFiles(ctx)) cursors.set(name, startCursor(join(ctx.dir, name)));
  return { [Symbol.asyncIterator]: () => iterate(ctx, cursors) };
}

/** True when `name` is a stream file this watch follows. */
function follows(ctx: WatchContext, name: string): boolean {
  if (ctx.only !== undefined) return name === ctx.only;
  const stream = streamOfFileName(name);
  return stream !== undefined && (ctx.kind === undefined || stream.key.kind === ctx.kind);
}

async function* iterate(ctx: WatchContext, cursors: Map<string, Cursor>) {
  const dirty = new Set<string>(cursors.keys());
  let wake: (() => void) | undefined;
  const poke = (name?: string) => {
    if (name !== undefined) {
      if (!follows(ctx, name)) return;
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
        for (const name of watchedFiles(ctx)) dirty.add(name);
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

/** The files this watch follows now (the one file of `only`, even before it exists). */
function watchedFiles(ctx: WatchContext): string[] {
  if (ctx.only !== undefined) return [ctx.only];
  return readdirSync(ctx.dir).filter((n) => follows(ctx, n));
}

/** Cursor at the end of the last complete line of `path` now (a line being written is read once complete). */
function startCursor(path: string): Cursor {
  let got: LogFileBytes | null;
  try {
    got = readLogFileSync(path);
  } catch {
    return { offset: 0, lastSeq: 0 }; // not readable now: the first poll reports it
  }
  if (!got || got.buf.length === 0) return { offset: 0, lastSeq: 0 };
  return { offset: got.buf.lastIndexOf(0x0a) + 1, lastSeq: undefined };
}

/** Reads the complete lines appended to `name` since `cursor`, advancing it. */
async function readNew(dir: string, name: string, cursor: Cursor): Promise<EventEnvelope[]> {
  const stream = streamOfFileName(name);
  if (!stream) return [];
  const file = join(dir, name);
  const got = await readLogFile(file, cursor.offset);
  if (!got) return [];
  if (got.size < cursor.offset) cursor.offset = got.size; // a torn tail was cut off below our position
  const end = got.buf.lastIndexOf(0x0a) + 1;
  if (end === 0) return [];
  const events = parseLines(stream, got.buf, 0, end, cursor.lastSeq, { file, offset: cursor.offset });
  cursor.lastSeq = events.at(-1)?.seq ?? cursor.lastSeq;
  cursor.offset += end;
  return events;
}
