/**
 * One property-test run: a migration on the fake world under a fault plan, with an optional cancel and any
 * number of crashes (crash = stop the host at an event, open a new host on the same log, carry on).
 * Records the live snapshot after every event, for the fold-equals-live invariant.
 */
import fc from 'fast-check';
import { MigrationHost } from '../../actors/charts/migration.ts';
import type { HostObserver } from '../../actors/observers.ts';
import type { Outcome } from '../../adapters/effect-journal.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import { crashAfter } from './crash-log.ts';
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

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant<Outcome>({ kind: 'transient' }),
  fc.constant<Outcome>({ kind: 'lostAck' }),
  fc.constant<Outcome>({ kind: 'permanent' }),
  fc.integer({ min: 100, max: 90_000 }).map<Outcome>((ms) => ({ kind: 'slow', ms })),
);

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
  const pendingCrashes = new Set(cfg.crashes);
  const live: RunResult['live'] = [];
  let crashes = 0;
  for (;;) {
    let host: MigrationHost | undefined;
    let onCrash!: () => void;
    const crashed = new Promise<'crash'>((resolve) => {
      onCrash = () => resolve('crash');
    });
    // a crash kills the host the moment the log committed that seq: it applies nothing after it
    const log = crashAfter(
      s.log,
      (env) => pendingCrashes.delete(env.seq),
      () => {
        crashes++;
        void host?.stop();
        onCrash();
      },
    );
    const observer: HostObserver<MigrationSnapshot> = {
      name: 'property-run',
      async observe(batch) {
        for (const c of batch) {
          if (c.replayed) continue;
          live.push({ seq: c.event.seq, value: c.snapshot.value, context: c.snapshot.context });
          if (cfg.cancelAt === c.event.seq) await host?.cancel('cancelled by the property test');
        }
      },
    };
    host = await MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log }, observers: [observer] });
    if (!host.snapshot()) await host.request({ spec: s.spec }).catch(() => undefined); // a crash at seq 1 stops it
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('run did not finish within 10 s of real time')), 10_000);
    });
    const outcome = await Promise.race([
      host.done().then(
        () => 'done' as const,
        () => crashed, // stopped by the crash
      ),
      crashed,
      stuck,
    ]).finally(() => clearTimeout(timer));
    await host.stop();
    if (log.appendsAfterCrash > 0) throw new Error(`a crashed host appended ${log.appendsAfterCrash} more events`);
    if (outcome === 'done') return { s, final: host.snapshot()!, live, crashes };
  }
}
