/**
 * The StatefulMigration chart's pure part (chart.ts): its kind, version, machine, steps, how a log starts and
 * which phase a snapshot is in. actors/charts/migration.ts binds it to the effects and the event schemas.
 */
import type { ChartCore, SnapshotOf } from './chart.ts';
import type { MigrationContext, MigrationInput } from './context.ts';
import { type MachineEvent, STEPS, type Step } from './events.ts';
import { migrationMachine } from './migration.ts';
import type { Phase } from './spec.ts';

/** The kind of migration streams; also the kind of every stream written before kinds existed (envelope.ts). */
export const MIGRATION_KIND = 'StatefulMigration';

/** Version of the migration chart's event schema (written as `machineVersion` into every envelope). */
export const MIGRATION_VERSION = 1;

const TERMINAL: readonly Phase[] = ['Completed', 'Failed'];

export const migrationCore = {
  kind: MIGRATION_KIND,
  version: MIGRATION_VERSION,
  machine: migrationMachine,
  steps: STEPS,
  initialEvent: 'MigrationRequested' as const,
  input(migrationId, first) {
    if (first.type !== 'MigrationRequested') {
      throw new Error(`Log of migration ${migrationId} starts with ${first.type}, expected MigrationRequested`);
    }
    return { migrationId, spec: first.data.spec, at: first.at };
  },
  phaseOf: (s) => (s.status === 'done' ? (s.value === 'Completed' ? 'Completed' : 'Failed') : s.context.phase),
  terminalPhases: TERMINAL,
} satisfies ChartCore<MigrationContext, MachineEvent, Step, MigrationInput>;

/** A migration's snapshot. */
export type MigrationSnapshot = SnapshotOf<typeof migrationCore>;
