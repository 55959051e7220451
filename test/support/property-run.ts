/**
 * One property-test run: a migration on the fake world under a fault plan, with an optional cancel and any
 * number of crashes (crash = stop the host at an event, open a new host on the same log, carry on).
 * Records the live snapshot after every event, for the fold-equals-live invariant.
 */
import fc from 'fast-check';
import { MigrationHost } from '../../actors/charts/migration.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import { outcomeArb, runWithCrashes } from './crash-run.ts';
import { type FaultRule, scriptedFaults } from './faults.ts';
import { scenario } from './scenario.ts';

export const FAULT_OPS = [
  'ensureTopology',
  'createReplayQueue',
  'checkpoint',
  'agentSend',
  'agentPush',
  'createPod',
  'deletePod',
  'scaleStatefulSet',
  'setPodDeletionCost',
  'removeOwnerReference',
  'patchDeploymentNodeAffinity',
  'unbindReplayQueue',
  'deleteReplayQueue',
  'control:START_REPLAY',
  'control:STOP_CONSUMING',
  'control:END_REPLAY',
  'control:RESUME_CONSUMING',
  'depth',
] as const;

export const faultRuleArb: fc.Arbitrary<FaultRule> = fc.record({
  op: fc.constantFrom(...FAULT_OPS),
  nth: fc.integer({ min: 1, max: 3 }),
  outcome: outcomeArb,
});

export const runConfigArb = fc.record({
  workload: fc.constantFrom('pod' as const, 'deployment' as const, 'statefulset' as const),
  transferMode: fc.constantFrom('Direct' as const, 'Registry' as const),
  replayMode: fc.constantFrom('Cutoff' as const, 'Drain' as const),
  finalizeDeploymentMode: fc.constantFrom('Adopt' as const, 'PatchAffinity' as const),
  producerRate: fc.integer({ min: 0, max: 40 }),
  consumerRate: fc.integer({ min: 0, max: 80 }),
  faults: fc.array(faultRuleArb, { maxLength: 5 }),
  cancelAt: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
  crashes: fc.uniqueArray(fc.integer({ min: 1, max: 45 }), { maxLength: 3 }),
});
export type RunConfig = typeof runConfigArb extends fc.Arbitrary<infer T> ? T : never;

export interface RunResult {
  s: ReturnType<typeof scenario>;
  final: MigrationSnapshot;
  live: Array<{ seq: number; value: unknown; context: unknown }>;
  crashes: number;
}

export async function execute(cfg: RunConfig): Promise<RunResult> {
  const s = scenario({
    workload: cfg.workload,
    producerRate: cfg.producerRate,
    consumerRate: cfg.consumerRate,
    faults: scriptedFaults(cfg.faults),
    spec: {
      transferMode: cfg.transferMode,
      checkpointImageRepository: '127.0.0.1:5000/ckpt',
      replayMode: cfg.replayMode,
      finalizeDeploymentMode: cfg.finalizeDeploymentMode,
      replayMaxSeconds: 60,
      drainStallSeconds: 10,
      phaseDeadlines: {
        Pending: 60,
        Checkpointing: 60,
        Transferring: 60,
        Restoring: 60,
        Replaying: 120,
        Finalizing: 60,
      },
    },
  });
  const live: RunResult['live'] = [];
  const { final, crashes } = await runWithCrashes<MigrationSnapshot, MigrationHost>({
    log: s.log,
    crashes: cfg.crashes,
    cancelAt: cfg.cancelAt,
    name: 'property-run',
    open: (log, observers) => MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log }, observers }),
    request: (host) => host.request({ spec: s.spec }),
    onLive: (c) => live.push({ seq: c.event.seq, value: c.snapshot.value, context: c.snapshot.context }),
  });
  return { s, final, live, crashes };
}
