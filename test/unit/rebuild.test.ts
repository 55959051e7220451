import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLog } from '../../actors/event-schema.ts';
import { rebuildAll } from '../../actors/rebuild.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { createMemorySnapshotCache } from '../../adapters/snapshot-cache/memory.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { fold } from '../../machines/fold.ts';
import { migrationMachine } from '../../machines/migration.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

const goldenDir = join(import.meta.dirname, '../golden');
const goldens = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.jsonl'))
  .map((f) =>
    readFileSync(join(goldenDir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EventEnvelope),
  );

async function logWith(copies: number) {
  const log = createMemoryEventLog();
  for (let c = 0; c < copies; c++) {
    for (const [g, envs] of goldens.entries()) {
      const id = `ns/m-${c}-${g}`;
      for (const e of envs)
        await log.append(id, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, e.seq - 1);
    }
  }
  return log;
}

describe('rebuildAll: every migration of a log folded back, on worker threads or inline', () => {
  it.each([0, 2])('with %i workers gives exactly what fold gives', async (workers) => {
    const log = await logWith(5);
    const rebuilt = await rebuildAll(log, { workers, batch: 7 });
    expect(rebuilt).toHaveLength(5 * goldens.length);
    for (const m of rebuilt) {
      const envs = await log.read(m.migrationId);
      const snap = fold(m.migrationId, parseLog(envs, m.migrationId))!;
      expect(m).toEqual({
        migrationId: m.migrationId,
        lastSeq: envs.length,
        lastAt: envs.at(-1)!.at,
        status: 'done',
        value: snap.value,
        persisted: JSON.parse(JSON.stringify(migrationMachine.getPersistedSnapshot(snap))),
      });
    }
  });

  it('a corrupt event fails the rebuild with the migration and seq named', async () => {
    const log = await logWith(1);
    await log.append(
      'ns/bad',
      { type: 'MigrationRequested', at: '2026-03-16T09:00:00.000Z', machineVersion: 1, data: {} },
      0,
    );
    await expect(rebuildAll(log, { workers: 1 })).rejects.toThrow(/Event log of migration ns\/bad at seq 1/);
  });
});

describe('rebuildAll with a snapshot cache', () => {
  it('stores finished migrations and uses them next time, giving the same result', async () => {
    const log = await logWith(3);
    const cache = createMemorySnapshotCache();
    const first = await rebuildAll(log, { workers: 0, cache });
    expect(cache.entries.size).toBe(3 * goldens.length);
    const second = await rebuildAll(log, { workers: 0, cache });
    const byId = (ms: typeof first) => Object.fromEntries(ms.map((m) => [m.migrationId, m]));
    expect(byId(second)).toEqual(byId(first));
  });

  it('never trusts an entry that is not exactly this log and this chart', async () => {
    const log = await logWith(1);
    const cache = createMemorySnapshotCache();
    const [m] = await rebuildAll(log, { workers: 0, cache });
    const wrong = { ...cache.entries.get(m!.migrationId)!, value: 'Tampered' };
    for (const stale of [
      { ...wrong, seq: wrong.seq - 1 },
      { ...wrong, chart: 'another-chart' },
      { ...wrong, machineVersion: 0 },
      { ...wrong, lastAt: '2020-01-01T00:00:00.000Z' },
    ]) {
      await cache.put(stale);
      const again = await rebuildAll(log, { workers: 0, cache });
      expect(again.find((x) => x.migrationId === m!.migrationId)!.value).toEqual(m!.value);
    }
    await cache.put(wrong);
    const trusted = await rebuildAll(log, { workers: 0, cache });
    expect(trusted.find((x) => x.migrationId === m!.migrationId)!.value).toBe('Tampered');
  });
});

describe('a host keeps the snapshot of a migration it finished', () => {
  it('and a rebuild serves it from the cache, equal to folding the log', async () => {
    const s = scenario({ workload: 'deployment' });
    const cache = createMemorySnapshotCache();
    s.deps.snapshots = cache;
    await runToEnd(s);
    expect([...cache.entries.keys()]).toEqual([s.migrationId]);
    const [m] = await rebuildAll(s.log, { workers: 0, cache });
    const envs = await s.log.read(s.migrationId);
    const folded = fold(s.migrationId, parseLog(envs, s.migrationId))!;
    expect(m).toMatchObject({ value: 'Completed', lastSeq: envs.length, lastAt: envs.at(-1)!.at });
    expect(m!.persisted).toEqual(JSON.parse(JSON.stringify(migrationMachine.getPersistedSnapshot(folded))));
  });
});
