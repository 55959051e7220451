/**
 * Ways to drive a scenario's migration (besides runToEnd): with a cancel when an event type is logged, or with a
 * crash (host stopped like a killed process) at an event type followed by a fresh host resuming from the log.
 * Shared by the unit tests and scripts/record-golden.ts.
 */

import { MigrationHost } from '../../actors/host.ts';
import type { MigrationSnapshot } from '../../machines/fold.ts';
import type { Scenario } from './scenario.ts';

export type Driver = (s: Scenario) => Promise<MigrationSnapshot>;

export const cancelAt =
  (type: string, reason = 'spec.cancel set to true'): Driver =>
  async (s) => {
    const host: MigrationHost = await MigrationHost.open({
      migrationId: s.migrationId,
      deps: s.deps,
      onEvent: (e) => {
        if (e.type === type) void host.cancel(reason);
      },
    });
    await host.request(s.spec);
    return host.done();
  };

export const crashAt =
  (type: string): Driver =>
  async (s) => {
    let crashed!: () => void;
    const crash = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    const first: MigrationHost = await MigrationHost.open({
      migrationId: s.migrationId,
      deps: s.deps,
      onEvent: (e) => {
        if (e.type !== type) return;
        first.stop();
        crashed();
      },
    });
    await first.request(s.spec);
    await crash;
    return (await s.open()).done();
  };
