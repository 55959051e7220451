import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import { ErrorCode, Ms2mError } from '../errors.ts';

/**
 * The append-only event log: the single source of truth for every migration.
 * Implementations: `adapters/file-log` (embedded default), `adapters/nats` (JetStream), `fake.ts` (memory).
 *
 * Contract (checked by test/adapters/event-log.contract.ts against every implementation):
 * - `append(id, ev, expectSeq)` succeeds only when the last stored seq of `id` is `expectSeq` (0 = none yet);
 *   it stores the event with `seq = expectSeq + 1` and returns the full envelope. Otherwise it throws
 *   {@link StaleWriterError}. Retrying an append whose ack was lost (same id, same seq, same event by
 *   `isSameEvent` in same-event.ts: equal `{type, at, machineVersion, data}`) succeeds and returns the stored
 *   envelope (idempotent), it never stores a second copy; a different event at a taken seq is stale.
 * - `read(id)` returns the events in seq order (empty array for an unknown id).
 * - `readAll()` streams every stored event of every migration, each migration's events in seq order.
 * - `watch()` yields events appended after it started (optionally for one migration) until the signal aborts.
 *
 * @example
 * ```ts
 * const log = await openFileLog({ dir: '.ms2m/log', logger });
 * const first = await log.append('default/m1', { type: 'MigrationRequested', at: new Date().toISOString(),
 *   machineVersion: MACHINE_VERSION, data: spec }, 0);
 * const events = await log.read('default/m1'); // [first]
 * ```
 */
export interface EventLog extends EventLogReader {
  append(migrationId: string, event: NewEvent, expectSeq: number): Promise<EventEnvelope>;
}

/**
 * The reading half of {@link EventLog}: what `ms2m timeline`/`status` and other read-only tools get. Reading
 * never changes the store: it creates, locks, truncates and writes nothing (an unterminated last line of a file
 * log is reported and skipped, not repaired; a writer repairs it).
 *
 * @example
 * ```ts
 * const reader = await openFileLogReader({ dir: '.ms2m/log', logger }); // adapters/file-log/file-log-reader.ts
 * for (const id of await reader.list()) console.log(id, (await reader.read(id)).length);
 * await reader.close();
 * ```
 */
export interface EventLogReader {
  read(migrationId: string, fromSeq?: number): Promise<EventEnvelope[]>;
  readAll(): AsyncIterable<EventEnvelope>;
  list(): Promise<string[]>;
  watch(opts?: { migrationId?: string; signal?: AbortSignal }): AsyncIterable<EventEnvelope>;
  /** Human-readable location of one migration's events, shown in `status.eventLog`. */
  locate(migrationId: string): string;
  close(): Promise<void>;
}

/** Another writer appended first: the caller's view of the log is stale. JetStream reports it as 10071. */
export class StaleWriterError extends Ms2mError {
  constructor(migrationId: string, expectSeq: number, actualSeq: number | undefined, cause?: unknown) {
    super(
      ErrorCode.STALE_WRITER,
      `Event log of migration ${migrationId}: expected last seq ${expectSeq} but found ${actualSeq ?? 'a newer one'}; another writer is active, re-read the log before writing`,
      { cause, details: { migrationId, expectSeq, actualSeq, upstreamCode: 10071 } },
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
 * A stored event failed validation (not JSON, not UTF-8, wrong shape, wrong migration, seq gap, unknown type).
 * Names the migration and seq, and where it is stored when known.
 */
export class CorruptEventError extends Ms2mError {
  constructor(migrationId: string, seq: number | undefined, problem: string, opts: CorruptEventOptions = {}) {
    const where = [
      opts.file === undefined ? '' : `in ${opts.file}`,
      opts.offset === undefined ? '' : `at byte ${opts.offset}`,
      opts.streamSeq === undefined ? '' : `at stream seq ${opts.streamSeq}`,
    ]
      .filter(Boolean)
      .join(' ');
    super(
      ErrorCode.CORRUPT_EVENT,
      `Event log of migration ${migrationId} at seq ${seq ?? '?'}: ${problem}${where ? ` (${where})` : ''}; ${opts.fix ?? DEFAULT_CORRUPT_FIX}`,
      {
        cause: opts.cause,
        details: {
          migrationId,
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
