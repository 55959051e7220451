import { type EventEnvelope, isKind, KIND_PATTERN, type NewEvent, type StreamKey } from '../../machines/envelope.ts';
import { ErrorCode, InvalidInputError, Ms2mError } from '../errors.ts';

/**
 * The append-only event log: the single source of truth for every chart instance (migrations, volume resizes).
 * A log holds streams keyed by `(kind, id)`: two kinds may use the same id without ever meeting.
 * Implementations: `adapters/file-log` (embedded default), `adapters/nats` (JetStream), `fake.ts` (memory).
 *
 * Contract (checked by test/adapters/event-log.contract.ts against every implementation):
 * - `append(key, ev, expectSeq)` succeeds only when the last stored seq of stream `key` is `expectSeq` (0 = none
 *   yet); it stores the event with `seq = expectSeq + 1` and returns the full envelope (`kind` and `id` from the
 *   key). Otherwise it throws {@link StaleWriterError}. Retrying an append whose ack was lost (same key, same
 *   seq, same event by `isSameEvent` in same-event.ts: equal `{type, at, machineVersion, data}`) succeeds and
 *   returns the stored envelope (idempotent), it never stores a second copy; a different event at a taken seq
 *   is stale. A key whose kind is not a kind name ({@link assertStreamKey}) is refused before anything is stored.
 * - `read(key)` returns the stream's events in seq order (empty array for an unknown key).
 * - `readAll()` streams every stored event of every stream of every kind, each stream's events in seq order.
 * - `list(kind?)` names the streams (of one kind), sorted by kind then id.
 * - `watch()` yields events appended after it started (optionally of one kind, or of one stream) until the
 *   signal aborts.
 * - Streams written before kinds existed (legacy envelopes `{migrationId, ...}`, legacy file names and subjects)
 *   are read as kind `StatefulMigration`, and appends to them continue in their legacy layout.
 *
 * @example
 * ```ts
 * const log = await openFileLog({ dir: '.ms2m/log', logger });
 * const key = { kind: 'StatefulMigration', id: 'default/m1' };
 * const first = await log.append(key, { type: 'MigrationRequested', at: new Date().toISOString(),
 *   machineVersion: 1, data: { spec } }, 0);
 * const events = await log.read(key); // [first]
 * ```
 */
export interface EventLog extends EventLogReader {
  append(key: StreamKey, event: NewEvent, expectSeq: number): Promise<EventEnvelope>;
}

/** What `watch` follows: everything, every stream of one kind, or one stream (`id` needs `kind`). */
export interface WatchOptions {
  kind?: string;
  id?: string;
  signal?: AbortSignal;
}

/**
 * The reading half of {@link EventLog}: what `ms2m timeline`/`status` and other read-only tools get. Reading
 * never changes the store: it creates, locks, truncates and writes nothing (an unterminated last line of a file
 * log is reported and skipped, not repaired; a writer repairs it).
 *
 * @example
 * ```ts
 * const reader = await openFileLogReader({ dir: '.ms2m/log', logger }); // adapters/file-log/file-log-reader.ts
 * for (const key of await reader.list('StatefulMigration')) console.log(key.id, (await reader.read(key)).length);
 * await reader.close();
 * ```
 */
export interface EventLogReader {
  read(key: StreamKey, fromSeq?: number): Promise<EventEnvelope[]>;
  readAll(): AsyncIterable<EventEnvelope>;
  list(kind?: string): Promise<StreamKey[]>;
  watch(opts?: WatchOptions): AsyncIterable<EventEnvelope>;
  /** Human-readable location of one stream's events, shown in `status.eventLog`. */
  locate(key: StreamKey): string;
  close(): Promise<void>;
}

/**
 * Throws InvalidInputError unless `key` names a stream: a kind name (envelope.ts `KIND_PATTERN`) and a
 * non-empty id. Every log checks it first, since the kind becomes part of file names and subjects.
 *
 * @example
 * ```ts
 * assertStreamKey({ kind: 'StatefulMigration', id: 'default/m1' }); // fine
 * assertStreamKey({ kind: 'a.b', id: 'x' }); // throws INVALID_INPUT
 * ```
 */
export function assertStreamKey(key: StreamKey): void {
  assertKind(key?.kind);
  if (typeof key.id !== 'string' || key.id.length === 0) {
    throw new InvalidInputError(`Event log stream of ${key.kind}`, 'has an empty id; name the instance', {
      kind: key.kind,
    });
  }
}

/** Throws InvalidInputError unless `kind` is a kind name. */
export function assertKind(kind: unknown): asserts kind is string {
  if (!isKind(kind)) {
    throw new InvalidInputError(
      `Event log kind ${JSON.stringify(kind)}`,
      `is not a kind name (${KIND_PATTERN.source}): use the chart's kind, e.g. StatefulMigration`,
      { kind: String(kind) },
    );
  }
}

/**
 * Which envelopes a watch with `opts` yields (shared by the logs); `id` without `kind` is refused.
 *
 * @example
 * ```ts
 * const match = watchFilter({ kind: 'StatefulMigration' }); // match(env) for each new envelope
 * ```
 */
export function watchFilter(opts: WatchOptions): (ev: EventEnvelope) => boolean {
  if (opts.id !== undefined) {
    if (opts.kind === undefined) throw new TypeError('watch: an id needs its kind (ids are per kind)');
    assertStreamKey({ kind: opts.kind, id: opts.id });
    return (ev) => ev.kind === opts.kind && ev.id === opts.id;
  }
  if (opts.kind !== undefined) {
    assertKind(opts.kind);
    return (ev) => ev.kind === opts.kind;
  }
  return () => true;
}

/** Sorts keys by kind, then id (the order of `list`). */
export function compareKeys(a: StreamKey, b: StreamKey): number {
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Another writer appended first: the caller's view of the log is stale. JetStream reports it as 10071. */
export class StaleWriterError extends Ms2mError {
  constructor(key: StreamKey, expectSeq: number, actualSeq: number | undefined, cause?: unknown) {
    super(
      ErrorCode.STALE_WRITER,
      `Event log of ${key.kind} ${key.id}: expected last seq ${expectSeq} but found ${actualSeq ?? 'a newer one'}; another writer is active, re-read the log before writing`,
      { cause, details: { kind: key.kind, id: key.id, expectSeq, actualSeq, upstreamCode: 10071 } },
    );
  }
}

/** Where a corrupt event sits and what to do about it (all optional; shown in the message and kept in details). */
export interface CorruptEventOptions {
  cause?: unknown;
  /** The file holding it (file log). */
  file?: string;
  /** Byte offset of its line in `file`. */
  offset?: number;
  /** Stream sequence of its message (JetStream). */
  streamSeq?: number;
  /** What to do; default: restore the log from a backup (ms2m never rewrites a complete event). */
  fix?: string;
}

const DEFAULT_CORRUPT_FIX =
  'the log was changed outside ms2m: restore it from a backup (ms2m never rewrites or drops a complete event)';

/**
 * A stored event failed validation (not JSON, not UTF-8, wrong shape, wrong stream, seq gap, unknown type).
 * Names the stream (kind and id) and seq, and where it is stored when known.
 */
export class CorruptEventError extends Ms2mError {
  constructor(key: StreamKey, seq: number | undefined, problem: string, opts: CorruptEventOptions = {}) {
    const where = [
      opts.file === undefined ? '' : `in ${opts.file}`,
      opts.offset === undefined ? '' : `at byte ${opts.offset}`,
      opts.streamSeq === undefined ? '' : `at stream seq ${opts.streamSeq}`,
    ]
      .filter(Boolean)
      .join(' ');
    super(
      ErrorCode.CORRUPT_EVENT,
      `Event log of ${key.kind} ${key.id} at seq ${seq ?? '?'}: ${problem}${where ? ` (${where})` : ''}; ${opts.fix ?? DEFAULT_CORRUPT_FIX}`,
      {
        cause: opts.cause,
        details: {
          kind: key.kind,
          id: key.id,
          seq,
          ...(opts.file === undefined ? {} : { file: opts.file }),
          ...(opts.offset === undefined ? {} : { offset: opts.offset }),
          ...(opts.streamSeq === undefined ? {} : { streamSeq: opts.streamSeq }),
        },
      },
    );
  }
}

/** The log could not be reached or written (server down, disk error). Transient: the caller may retry. */
export class EventLogUnavailableError extends Ms2mError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.EVENT_LOG_UNAVAILABLE, `Event log unavailable: ${message}`, { cause, transient: true });
  }
}
