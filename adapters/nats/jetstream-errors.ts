/**
 * Maps nats.js failures to the event-log port's typed errors. Upstream codes are kept in `cause`/`details`.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { EventLogUnavailableError } from '../event-log/port.ts';

/** True for JetStream "wrong last sequence" (10071): another writer appended first. */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/** The stream sequence the server reports in a 10071 message (`wrong last sequence: 42`), if any. */
export function reportedLastSequence(err: unknown): number | undefined {
  const m = err instanceof Error ? /wrong last sequence: (\d+)/.exec(err.message) : null;
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Anything that is not an API answer (timeout, disconnect, no responders) means the log is unreachable. */
export function unavailable(what: string, err: unknown): EventLogUnavailableError {
  const reason = err instanceof Error ? err.message : String(err);
  return new EventLogUnavailableError(`JetStream ${what} failed (${reason}); the server may be restarting, retry`, err);
}
