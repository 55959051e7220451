/**
 * One property-test run of a VolumeResize on FakeVolumes: arbitrary adapter outcomes (transient, lost answer,
 * permanent, slow) on any operation, an optional cancel and any number of crashes (crash = stop the host the
 * moment the log committed an event, open a new host on the same log, carry on).
 */
import fc from 'fast-check';
import { VolumeResizeHost } from '../../actors/charts/volume-resize.ts';
import type { HostObserver } from '../../actors/observers.ts';
import type { Outcome } from '../../adapters/effect-journal.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import { crashAfter } from './crash-log.ts';
import { type FaultRule, scriptedFaults } from './faults.ts';
import { type VolumeScenario, volumeScenario } from './volume-scenario.ts';

export const VR_FAULT_OPS = [
  'measureUsage',
  'createClaim',
  'deleteClaim',
  'setReclaimPolicy',
  'clearClaimRef',
  'deleteStatefulSetOrphan',
  'recreateStatefulSet',
  'deletePod',
  'runMigrator:sync',
  'runMigrator:presync',
] as const;

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant<Outcome>({ kind: 'transient' }),
  fc.constant<Outcome>({ kind: 'lostAck' }),
  fc.constant<Outcome>({ kind: 'permanent' }),
  fc.integer({ min: 100, max: 90_000 }).map<Outcome>((ms) => ({ kind: 'slow', ms })),
);

export const vrRunConfigArb = fc.record({
  replicas: fc.integer({ min: 1, max: 2 }),
  preSync: fc.boolean(),
  faults: fc.array(
    fc.record({ op: fc.constantFrom(...VR_FAULT_OPS), nth: fc.integer({ min: 1, max: 4 }), outcome: outcomeArb }),
    { maxLength: 5 },
  ),
  cancelAt: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
  crashes: fc.uniqueArray(fc.integer({ min: 1, max: 70 }), { maxLength: 3 }),
});
export type VrRunConfig = typeof vrRunConfigArb extends fc.Arbitrary<infer T> ? T : never;

export interface VrRunResult {
  s: VolumeScenario;
  final: VolumeResizeSnapshot;
  crashes: number;
  /** The PV each claim was bound to before the run. */
  originalPVs: Map<string, string>;
}

export async function executeResize(cfg: VrRunConfig): Promise<VrRunResult> {
  const s = volumeScenario({
    replicas: cfg.replicas,
    spec: { preSync: cfg.preSync },
    faults: scriptedFaults(cfg.faults as FaultRule[]),
  });
  const originalPVs = new Map([...s.volumes.claims.values()].map((c) => [c.name, c.volumeName!]));
  const pending = new Set(cfg.crashes);
  let crashes = 0;
  for (;;) {
    let host: VolumeResizeHost | undefined;
    let onCrash!: () => void;
    const crashed = new Promise<'crash'>((resolve) => {
      onCrash = () => resolve('crash');
    });
    const log = crashAfter(
      s.log,
      (env) => pending.delete(env.seq),
      () => {
        crashes++;
        void host?.stop();
        onCrash();
      },
    );
    const observer: HostObserver<VolumeResizeSnapshot> = {
      name: 'volume-property-run',
      async observe(batch) {
        for (const c of batch) {
          if (!c.replayed && cfg.cancelAt === c.event.seq) await host?.cancel('cancelled by the property test');
        }
      },
    };
    host = await VolumeResizeHost.open({ id: s.resizeId, deps: { ...s.deps, log }, observers: [observer] });
    if (!host.snapshot()) await host.request({ spec: s.spec }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('run did not finish within 10 s of real time')), 10_000);
    });
    const outcome = await Promise.race([
      host.done().then(
        () => 'done' as const,
        () => crashed,
      ),
      crashed,
      stuck,
    ]).finally(() => clearTimeout(timer));
    await host.stop();
    if (log.appendsAfterCrash > 0) throw new Error(`a crashed host appended ${log.appendsAfterCrash} more events`);
    if (outcome === 'done') return { s, final: host.snapshot()!, crashes, originalPVs };
  }
}
