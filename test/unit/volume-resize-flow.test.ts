import { describe, expect, it } from 'vitest';
import { volumeResizeChart } from '../../actors/charts/volume-resize.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { scriptedFaults } from '../support/faults.ts';
import { runResize, type VolumeScenario, volumeScenario } from '../support/volume-scenario.ts';

const UNITS = ['data-db-0', 'logs-db-0', 'data-db-1', 'logs-db-1'];
const digest = (claim: string) => `${claim}-original`;

/** After a rollback: every original claim on its original data, no temp claim, the StatefulSet back as it was. */
async function expectRolledBack(s: VolumeScenario): Promise<void> {
  for (const c of UNITS) {
    expect(s.volumes.pv(s.volumes.claimOf('default', c)!.volumeName!)?.data?.digest).toBe(digest(c));
    expect(s.volumes.claimOf('default', `${c}-new`)).toBeUndefined();
  }
  const sts = (await s.volumes.getStatefulSet('default', 'db'))!;
  expect(sts.claimTemplates.map((t) => t.request)).toEqual(['1Gi', '512Mi']);
  expect(sts.readyReplicas).toBe(2);
}

describe('VolumeResize chart on the fake cluster', () => {
  it('shrinks every claim: names unchanged, new PVs with the verified data, old PVs Retained, StatefulSet with the new sizes', async () => {
    const s = volumeScenario();
    const oldPVs = Object.fromEntries(UNITS.map((c) => [c, s.volumes.claimOf('default', c)!.volumeName!]));
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
    for (const c of UNITS) {
      const claim = s.volumes.claimOf('default', c)!;
      expect(claim.phase).toBe('Bound');
      expect(claim.volumeName).not.toBe(oldPVs[c]);
      expect(claim.labels).toEqual({ app: 'db' });
      const pv = s.volumes.pv(claim.volumeName!)!;
      expect(pv.data?.digest).toBe(digest(c));
      expect(pv.verifiedCopyOf).toBe(digest(c));
      expect(pv.capacity).toBe(c.startsWith('data') ? '256Mi' : '64Mi');
      const old = s.volumes.pv(oldPVs[c]!)!;
      expect(old.reclaimPolicy).toBe('Retain');
      expect(old.annotations['storage.ms2m.io/original-reclaim-policy']).toBe('Delete');
      expect(old.data?.digest).toBe(digest(c));
      expect(s.volumes.claimOf('default', `${c}-new`)).toBeUndefined();
    }
    const sts = (await s.volumes.getStatefulSet('default', 'db'))!;
    expect(sts.claimTemplates.map((t) => [t.name, t.request])).toEqual([
      ['data', '256Mi'],
      ['logs', '64Mi'],
    ]);
    expect(sts.readyReplicas).toBe(2);
    expect([...s.volumes.pods.keys()].sort()).toEqual(['default/db-0', 'default/db-1']);
    expect(final.context.units.every((u) => u.bytesCopied === u.bytesTotal && u.bytesTotal > 0)).toBe(true);
    // one copy per claim
    expect([...s.volumes.copiesStarted.values()]).toEqual([1, 1, 1, 1]);
  });

  it('dryRun: Completed with the plan in order, nothing changed', async () => {
    const s = volumeScenario({ spec: { dryRun: true } });
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
    expect(s.volumes.journal.entries.filter((e) => e.applied)).toEqual([]);
    const plan = final.context.plan.map((p) => `${p.action} ${p.kind} ${p.name}`);
    expect(plan.slice(0, 8)).toEqual([
      'Record StatefulSet db',
      'Create PersistentVolumeClaim data-db-0-new',
      'Wait PersistentVolumeClaim data-db-0-new',
      `Patch PersistentVolume ${s.volumes.claimOf('default', 'data-db-0')!.volumeName}`,
      'Create PersistentVolumeClaim logs-db-0-new',
      'Wait PersistentVolumeClaim logs-db-0-new',
      `Patch PersistentVolume ${s.volumes.claimOf('default', 'logs-db-0')!.volumeName}`,
      'Delete StatefulSet db',
    ]);
    expect(plan).toContain('Run Pod vr1-migrator-1-logs');
    expect(plan.at(-2)).toBe('Create StatefulSet db');
    expect(plan.at(-1)).toBe('Wait StatefulSet db');
    // the plan is the order the real run takes
    const real = volumeScenario();
    await runResize(real);
    const ops = real.volumes.journal.entries.filter((e) => e.applied && e.op === 'deleteClaim').map((e) => e.object);
    const planned = final.context.plan
      .filter((p) => p.action === 'Delete' && p.kind === 'PersistentVolumeClaim')
      .map((p) => `default/${p.name}`);
    expect(ops).toEqual(planned);
  });

  it('preSync copies while the app runs, then the final sync after it stops', async () => {
    const s = volumeScenario({ spec: { preSync: true } });
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
    const a = s.volumes.journal.entries.filter((e) => e.applied).map((e) => `${e.op} ${e.object}`);
    const pre = a.indexOf('runMigrator:presync default/vr1-presync-0-data');
    expect(pre).toBeGreaterThanOrEqual(0);
    expect(pre).toBeLessThan(a.indexOf('deletePod default/db-0'));
    expect(a.indexOf('runMigrator:sync default/vr1-migrator-0-data')).toBeGreaterThan(
      a.indexOf('deletePod default/db-0'),
    );
  });

  it('a checksum mismatch fails the copy: rolled back, original claims untouched, StatefulSet restored, temp claims gone', async () => {
    const s = volumeScenario({ fake: { checksumDifferences: 3 } });
    const oldPV = s.volumes.claimOf('default', 'data-db-0')!.volumeName!;
    const final = await runResize(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({
      reason: 'StepFailed',
      step: 'copyVolume',
      code: 'CHECKSUM_MISMATCH',
    });
    expect(final.context.message).toMatch(/3 file\(s\) differ/);
    expect(final.context.message).toMatch(
      new RegExp(`default/data-db-0: bound to PersistentVolume ${oldPV} \\(reclaim policy Retain, was Delete\\)`),
    );
    await expectRolledBack(s);
    expect([...s.volumes.pods.keys()].filter((k) => k.includes('migrator'))).toEqual([]);
  });

  it('a temp claim its provisioner keeps refusing fails Syncing after the grace (not at the 6 h deadline): rolled back, data in place', async () => {
    const s = volumeScenario({
      fake: {
        refuseProvisioning: (c) =>
          c.name === 'logs-db-1-new' ? `not enough free space for ${c.request}: 40Mi free on node-a` : undefined,
      },
    });
    const started = s.clock.now();
    const final = await runResize(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({
      reason: 'StepFailed',
      step: 'awaitTempBound',
      code: 'PROVISIONING_FAILED',
    });
    expect(final.context.message).toMatch(
      /PersistentVolumeClaim default\/logs-db-1-new \(64Mi\) was not provisioned by StorageClass standard, which refused it for 12\d s: not enough free space for 64Mi: 40Mi free on node-a; free capacity or set spec\.volumes\[\]\.storageClass/,
    );
    // the grace and the retries, not the phase deadline
    expect(s.clock.now() - started).toBeLessThan(10 * 60_000);
    // replica 0 was copied before replica 1 waited: the rollback put every original claim back on its data
    expect([...s.volumes.copiesStarted.keys()].sort()).toEqual(['vr1-migrator-0-data', 'vr1-migrator-0-logs']);
    await expectRolledBack(s);
  });

  it('a provisioner still at work (DeadlineExceeded) or one that gets over its refusal within the grace does not fail the resize', async () => {
    let elapsed = () => 0;
    let logsRefusedFrom: number | undefined;
    const s = volumeScenario({
      fake: {
        refuseProvisioning: (c) => {
          const t = elapsed();
          // a slow CSI CreateVolume for 5 minutes: the external-provisioner's own call times out, it retries
          if (c.name === 'data-db-0-new' && t < 5 * 60_000)
            return 'failed to provision volume: rpc error: code = DeadlineExceeded desc = context deadline exceeded';
          // refused for 100 s (under the 120 s grace), then provisioned
          if (c.name === 'logs-db-0-new') {
            logsRefusedFrom ??= t;
            if (t - logsRefusedFrom < 100_000) return 'quota exceeded: waiting for capacity';
          }
          return undefined;
        },
      },
    });
    const t0 = s.clock.now();
    elapsed = () => s.clock.now() - t0;
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
    expect(elapsed()).toBeGreaterThan(5 * 60_000 + 100_000);
  });

  it('a failure after an original claim was deleted rebinds the old PV under the original name', async () => {
    // createClaim #5 is the rebinding of data-db-0 (after the 4 temp claims): it fails for good
    const faults = scriptedFaults([{ op: 'createClaim', nth: 5, outcome: { kind: 'permanent' } }]);
    const s = volumeScenario({ faults, maxAttempts: 1 });
    const oldPV = s.volumes.claimOf('default', 'data-db-0')!.volumeName!;
    const final = await runResize(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure?.step).toBe('bindOriginalClaim');
    expect(final.context.rollback?.reboundClaims).toEqual(['data-db-0']);
    const claim = s.volumes.claimOf('default', 'data-db-0')!;
    expect(claim.volumeName).toBe(oldPV);
    expect(claim.phase).toBe('Bound');
    expect(s.volumes.pv(oldPV)!.data?.digest).toBe(digest('data-db-0'));
    expect(final.context.message).toMatch(/Bound PersistentVolumeClaim data-db-0 to its old PersistentVolume/);
    expect(final.context.message).toMatch(/Left for you: PersistentVolume \S+ \(Retain\) holds a copy of data-db-0/);
    expect((await s.volumes.getStatefulSet('default', 'db'))!.readyReplicas).toBe(2);
  });

  it('cancel mid-copy: rolled back, every replica serves its original data again', async () => {
    const s = volumeScenario();
    const host = await s.open();
    await host.request({ spec: s.spec });
    for (;;) {
      const snap = host.snapshot()!;
      if (snap.context.current?.step === 'copyVolume') break;
      await s.clock.sleepUntil(s.clock.now() + 10);
    }
    await host.cancel('spec.cancel was set');
    const final = await host.done();
    expect(final.value).toBe('Failed');
    expect(final.context.failure?.reason).toBe('Cancelled');
    expect(final.context.message).toMatch(/^Cancelled: spec\.cancel was set\. Rolled back: /);
    for (const c of UNITS)
      expect(s.volumes.pv(s.volumes.claimOf('default', c)!.volumeName!)?.data?.digest).toBe(digest(c));
    expect((await s.volumes.getStatefulSet('default', 'db'))!.readyReplicas).toBe(2);
    const events = parseLog(volumeResizeChart, await s.log.read(s.key), s.resizeId).map((e) => e.type);
    expect(events.at(-1)).toBe('RollbackCompleted');
  });
});
