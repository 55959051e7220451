import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import { Ms2mError } from '../errors.ts';

/**
 * The append-only event log: the single source of truth for every migration.
 * Implementations: `adapters/file-log` (embedded default), `adapters/nats` (JetStream), `fake.ts` (memory).
 *
 * Contract (checked by test/adapters/event-log.contract.ts against every implementation):
 * - `append(id, ev, expectSeq)` succeeds only when the last stored seq of `id` is `expectSeq` (0 = none yet);
 *   it stores the event with `seq = expectSeq + 1` and returns the full envelope. Otherwise it throws
 *   {@link StaleWriterError}. Retrying an append whose ack was lost (same id, same seq, same event) succeeds
 *   and returns the stored envelope (idempotent), it never stores a second copy.
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
export interface EventLog {
  append(migrationId: string, event: NewEvent, expectSeq: number): Promise<EventEnvelope>;
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
      'STALE_WRITER',
      `Event log of migration ${migrationId}: expected last seq ${expectSeq} but found ${actualSeq ?? 'a newer one'}; another writer is active, re-read the log before writing`,
      { cause, details: { migrationId, expectSeq, actualSeq, upstreamCode: 10071 } },
    );
  }
}

/** A stored event failed validation (unknown type, wrong shape, seq gap). Names the migration and seq. */
export class CorruptEventError extends Ms2mError {
  constructor(migrationId: string, seq: number | undefined, problem: string, cause?: unknown) {
    super('CORRUPT_EVENT', `Event log of migration ${migrationId} at seq ${seq ?? '?'}: ${problem}`, {
      cause,
      details: { migrationId, seq },
    });
  }
}

/** The log could not be reached or written (server down, disk error). Transient: the caller may retry. */
export class EventLogUnavailableError extends Ms2mError {
  constructor(message: string, cause?: unknown) {
    super('EVENT_LOG_UNAVAILABLE', `Event log unavailable: ${message}`, { cause, transient: true });
  }
}
