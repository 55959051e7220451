import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { HostGroup } from '../../actors/host-group.ts';
import { ErrorCode } from '../../adapters/errors.ts';
import { scenario } from '../support/scenario.ts';

describe('HostGroup: one host per migration in a leadership term', () => {
  it('concurrent opens of one migration share its host', async () => {
    const s = scenario();
    const group = new HostGroup({ chart: migrationChart, deps: s.deps });
    const [a, b] = await Promise.all([group.open(s.migrationId), group.open(s.migrationId)]);
    expect(a).toBe(b);
    expect(group.ids()).toEqual([s.migrationId]);
    await group.stopAll('test over');
  });

  it('a log that cannot be opened is not kept: the next open reads it again', async () => {
    const s = scenario();
    await s.log.append(s.key, { type: 'Nonsense', at: '2026-03-16T09:00:00.000Z', machineVersion: 1, data: {} }, 0);
    const group = new HostGroup({ chart: migrationChart, deps: s.deps });
    await expect(group.open(s.migrationId)).rejects.toMatchObject({ code: ErrorCode.CORRUPT_EVENT });
    expect(group.ids()).toEqual([]);
    await expect(group.open(s.migrationId)).rejects.toMatchObject({ code: ErrorCode.CORRUPT_EVENT });
  });

  it('close() stops one host; opening it again resumes from the log to the end', async () => {
    const s = scenario();
    const group = new HostGroup({ chart: migrationChart, deps: s.deps });
    const first = await group.open(s.migrationId);
    await first.request({ spec: s.spec });
    await group.close(s.migrationId);
    expect(first.isStopped).toBe(true);
    expect(group.ids()).toEqual([]);
    const again = await group.open(s.migrationId);
    expect(again).not.toBe(first);
    expect((await again.done()).value).toBe('Completed');
    await group.stopAll('test over');
  });
});
