/**
 * The event envelope every log stores: `{migrationId, seq, type, at, machineVersion, data}`.
 * `seq` is per migration, starts at 1 and has no gaps; `at` is an ISO-8601 timestamp with milliseconds.
 * The machine itself sees {@link MachineEvent}s: `{type, at: epoch ms, data}`.
 */
export interface EventEnvelope<T extends string = string, D = unknown> {
  migrationId: string;
  seq: number;
  type: T;
  at: string;
  machineVersion: number;
  data: D;
}

/** What a writer hands to `EventLog.append`: the envelope without the fields the log stamps. */
export type NewEvent<T extends string = string, D = unknown> = Omit<EventEnvelope<T, D>, 'migrationId' | 'seq'>;

/** Version of the event schema / chart. Bump it (and add an upcaster) when an old log would fold differently. */
export const MACHINE_VERSION = 1;
