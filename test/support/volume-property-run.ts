/**
 * One property-test run of a VolumeResize on FakeVolumes: arbitrary adapter outcomes (transient, lost answer,
 * permanent, slow) on any operation, an optional cancel and any number of crashes (crash = stop the host the
 * moment the log committed an event, open a new host on the same log, carry on).
 */
import fc from 'fast-check';
import { VolumeResizeHost } from '../../actors/charts/volume-resize.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import { outcomeArb, runWithCrashes } from './crash-run.ts';
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
  const { final, crashes } = await runWithCrashes<VolumeResizeSnapshot, VolumeResizeHost>({
    log: s.log,
    crashes: cfg.crashes,
    cancelAt: cfg.cancelAt,
    name: 'volume-property-run',
    open: (log, observers) => VolumeResizeHost.open({ id: s.resizeId, deps: { ...s.deps, log }, observers }),
    request: (host) => host.request({ spec: s.spec }),
  });
  return { s, final, crashes, originalPVs };
}
