import { describe, expect, it } from 'vitest';
import { MiB, runResize, volumeScenario } from '../support/volume-scenario.ts';

const mutations = (s: ReturnType<typeof volumeScenario>) => s.volumes.journal.entries.filter((e) => e.applied);

describe('VolumeResize validation: each failed check ends Failed, names the check and the fix, changes nothing', () => {
  const cases: Array<{
    name: string;
    setup: () => ReturnType<typeof volumeScenario>;
    check: string;
    says: RegExp[];
  }> = [
    {
      name: 'size not smaller',
      setup: () => volumeScenario({ spec: { volumes: [{ name: 'data', newSize: '2Gi' }] } }),
      check: 'SizeSmaller',
      says: [/newSize 2Gi of volume data is not smaller than its current request 1Gi/, /VolumeResize only shrinks/],
    },
    {
      name: 'size equal to the current request',
      setup: () => volumeScenario({ spec: { volumes: [{ name: 'logs', newSize: '512Mi' }] } }),
      check: 'SizeSmaller',
      says: [/set spec\.volumes\[0\]\.newSize below 512Mi/],
    },
    {
      name: 'used bytes too large (with the margin)',
      // 240 MiB used + 10% = 264 MiB > 256Mi
      setup: () => volumeScenario({ usedBytes: (_n, v) => (v === 'data' ? 240 * MiB : MiB) }),
      check: 'UsedBytesFit',
      says: [/data-db-0 holds 240 MiB/, /10% margin/, /raise spec\.volumes\[0\]\.newSize or free space/],
    },
    {
      name: 'volume not found',
      setup: () => volumeScenario({ spec: { volumes: [{ name: 'cache', newSize: '1Mi' }] } }),
      check: 'VolumeFound',
      says: [
        /volume cache is not a volumeClaimTemplate of StatefulSet default\/db \(it has: data, logs\)/,
        /spec\.volumes\[0\]\.name/,
      ],
    },
    {
      name: 'PodDisruptionBudget blocking',
      setup: () => {
        const s = volumeScenario();
        s.volumes.pdbs.push({
          namespace: 'default',
          name: 'db-pdb',
          selector: { matchLabels: { app: 'db' } },
          disruptionsAllowed: 0,
          currentHealthy: 2,
          desiredHealthy: 2,
        });
        return s;
      },
      check: 'DisruptionBudget',
      says: [/PodDisruptionBudget default\/db-pdb allows 0 disruptions/, /relax the budget/],
    },
    {
      name: 'StatefulSet missing',
      setup: () => volumeScenario({ spec: { statefulSetName: 'nope' } }),
      check: 'StatefulSetExists',
      says: [/StatefulSet default\/nope not found: set spec\.statefulSetName/],
    },
    {
      name: 'storage class missing',
      setup: () => volumeScenario({ spec: { volumes: [{ name: 'data', newSize: '256Mi', storageClass: 'fast' }] } }),
      check: 'StorageClass',
      says: [/StorageClass fast \(volume data\) not found: create it or set spec\.volumes\[0\]\.storageClass/],
    },
    {
      name: 'a static storage class without enough Available volumes',
      setup: () => {
        const s = volumeScenario({ spec: { volumes: [{ name: 'data', newSize: '256Mi', storageClass: 'local' }] } });
        s.volumes.addStorageClass({ name: 'local', provisioner: 'kubernetes.io/no-provisioner' });
        s.volumes.addVolume({ name: 'local-1', capacity: '300Mi', storageClassName: 'local' });
        s.volumes.addVolume({ name: 'local-2', capacity: '100Mi', storageClassName: 'local' });
        return s;
      },
      check: 'StorageClass',
      says: [/has 1 Available PersistentVolume\(s\) of at least 256Mi, 2 needed/],
    },
  ];

  for (const c of cases) {
    it(`${c.name} -> Failed (${c.check})`, async () => {
      const s = c.setup();
      const final = await runResize(s);
      expect(final.value).toBe('Failed');
      expect(final.context.failure).toMatchObject({ reason: 'ValidationFailed', check: c.check, phase: 'Validating' });
      expect(final.context.message).toContain(`Validation failed (${c.check})`);
      for (const re of c.says) expect(final.context.message).toMatch(re);
      expect(final.context.message).toMatch(/nothing was changed$/);
      expect(mutations(s)).toEqual([]);
    });
  }

  it('a PDB that still allows a disruption, or selects other pods, does not block', async () => {
    const s = volumeScenario({ spec: { dryRun: true } });
    s.volumes.pdbs.push(
      {
        namespace: 'default',
        name: 'ok',
        selector: { matchLabels: { app: 'db' } },
        disruptionsAllowed: 1,
        currentHealthy: 2,
        desiredHealthy: 1,
      },
      {
        namespace: 'default',
        name: 'other',
        selector: { matchLabels: { app: 'web' } },
        disruptionsAllowed: 0,
        currentHealthy: 1,
        desiredHealthy: 1,
      },
    );
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
  });

  it('the data just fits: used + margin below newSize passes', async () => {
    const s = volumeScenario({ spec: { dryRun: true }, usedBytes: (_n, v) => (v === 'data' ? 230 * MiB : MiB) });
    const final = await runResize(s);
    expect(final.value).toBe('Completed');
    expect(final.context.units.find((u) => u.volume === 'data')?.usedBytes).toBe(230 * MiB);
  });
});
