/**
 * Ways to drive a scenario's migration (besides runToEnd): with a cancel when an event type is committed, or with
 * a crash (the host's process killed the moment the log committed an event type) followed by a fresh host
 * resuming from the log. Shared by the unit tests and scripts/record-golden.ts.
 */

import { MigrationHost } from '../../actors/charts/migration.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import { crashAfter } from './crash-log.ts';
import type { Scenario } from './scenario.ts';

export type Driver = (s: Scenario) => Promise<MigrationSnapshot>;

/** Cancels once an event of `type` is committed (an observer does it, as the controller would on spec.cancel). */
export const cancelAt =
  (type: string, reason = 'spec.cancel set to true'): Driver =>
  async (s) => {
    const host: MigrationHost = await MigrationHost.open({
      id: s.migrationId,
      deps: s.deps,
      observers: [
        {
          name: 'cancel',
          observe: async (batch) => {
            if (batch.some((c) => !c.replayed && c.event.type === type)) await host.cancel(reason);
          },
        },
      ],
    });
    await host.request({ spec: s.spec });
    const final = await host.done();
    await host.stop();
    return final;
  };

/** Kills the host the moment the log committed the first event of `type`, then resumes with `s.open()`. */
export const crashAt =
  (type: string): Driver =>
  async (s) => {
    let first: MigrationHost | undefined;
    let crashed!: () => void;
    const crash = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    const log = crashAfter(
      s.deps.log,
      (e) => e.type === type,
      () => {
        void first?.stop();
        crashed();
      },
    );
    first = await MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log } });
    await first.request({ spec: s.spec });
    await crash;
    await first.stop();
    if (log.appendsAfterCrash > 0) throw new Error(`the crashed host appended ${log.appendsAfterCrash} more events`);
    return (await s.open()).done();
  };
