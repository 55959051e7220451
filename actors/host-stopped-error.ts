/**
 * The error of a stopped host (lease lost, shutdown, crash test): what it was about to record was not recorded.
 * The host (host.ts), its log writer (stream-writer.ts) and HostGroup (host-group.ts) throw it.
 */
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import type { StreamKey } from '../machines/envelope.ts';

/** The host was stopped (lease lost, shutdown, crash test): it appends nothing more. */
export class HostStoppedError extends Ms2mError {
  constructor(key: StreamKey, what: string) {
    super(
      ErrorCode.HOST_STOPPED,
      `${key.kind} ${key.id}: the host was stopped, ${what} was not recorded; the leader that holds the lease now continues it`,
      { details: { kind: key.kind, id: key.id } },
    );
  }
}
