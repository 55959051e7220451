/**
 * The StatefulMigration chart, runnable: the pure core (machines/migration-chart.ts) bound to its effects
 * (actors/effects) and its event schemas, and its host. The first user of the generic runtime.
 */
import { migrationCore } from '../../machines/migration-chart.ts';
import { defineChart } from '../chart.ts';
import type { EffectDeps } from '../effects/deps.ts';
import { effects } from '../effects/index.ts';
import { createHost, type Host, type HostDeps } from '../host.ts';
import { migrationEventSchemas } from './migration-schemas.ts';

export const migrationChart = defineChart({
  ...migrationCore,
  effects,
  schemas: migrationEventSchemas,
  // machineVersion 1 is the only one so far; envelopes of the legacy format (no kind) are upcast by the log
  // layer and actors/event-schema.ts, not here: they are not a chart version
  upcasters: {},
  module: { url: import.meta.url, name: 'migrationChart' },
});

/**
 * The migration chart's host: `MigrationHost.open({ id, deps })` opens the host of migration `id` (the stream
 * `(StatefulMigration, id)`), `host.request({ spec })` starts it.
 *
 * @example
 * ```ts
 * const host = await MigrationHost.open({ id: 'default/m1/uid', deps, observers: [status] });
 * if (!host.snapshot()) await host.request({ spec });
 * const final = await host.done();
 * ```
 */
export const MigrationHost = createHost(migrationChart);
export type MigrationHost = Host<typeof migrationChart>;

/** What a migration host needs: the effects' ports, the log and (optionally) a snapshot cache. */
export type MigrationHostDeps = HostDeps<EffectDeps>;

export type { MigrationSnapshot } from '../../machines/migration-chart.ts';
