/**
 * The pure fold: a migration's log -> its snapshot, through xstate's `transition()` (runs no effects).
 * Used by the host to rebuild after a crash, by the golden tests, and by analysis tools.
 */
import { initialTransition, transition } from 'xstate';
import type { EventEnvelope } from './envelope.ts';
import type { MachineEvent } from './events.ts';
import { migrationMachine } from './migration.ts';

export type MigrationSnapshot = ReturnType<typeof initialTransition<typeof migrationMachine>>[0];

/** Envelope -> the event the machine sees (`at` in epoch ms). */
export function toMachineEvent(env: EventEnvelope): MachineEvent {
  return { type: env.type, at: Date.parse(env.at), data: env.data } as MachineEvent;
}

/** Starts a migration from its first event (MigrationRequested). */
export function initialSnapshot(
  first: MachineEvent & { type: 'MigrationRequested' },
  migrationId: string,
): MigrationSnapshot {
  return initialTransition(migrationMachine, { migrationId, spec: first.data.spec, at: first.at })[0];
}

/** Applies one event. A snapshot that is done absorbs every event unchanged. */
export function step(snapshot: MigrationSnapshot, event: MachineEvent): MigrationSnapshot {
  if (snapshot.status !== 'active') return snapshot;
  return transition(migrationMachine, snapshot, event)[0];
}

/** Folds a whole (validated) log. Returns null for an empty log. */
export function fold(migrationId: string, events: readonly MachineEvent[]): MigrationSnapshot | null {
  const [first, ...rest] = events;
  if (!first) return null;
  if (first.type !== 'MigrationRequested') {
    throw new Error(`Log of migration ${migrationId} starts with ${first.type}, expected MigrationRequested`);
  }
  let snap = initialSnapshot(first, migrationId);
  for (const ev of rest) snap = step(snap, ev);
  return snap;
}
