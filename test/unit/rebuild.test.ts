import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { rebuildAll } from '../../actors/rebuild.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { createMemorySnapshotCache } from '../../adapters/snapshot-cache/memory.ts';
import { type EventEnvelope, keyText, upcastEnvelope } from '../../machines/envelope.ts';
import { fold } from '../../machines/fold.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

const goldenDir = join(import.meta.dirname, '../golden');
const goldens = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.jsonl'))
  .map((f) =>
    readFileSync(join(goldenDir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => upcastEnvelope(JSON.parse(l)) as EventEnvelope),
  );
const charts = [migrationChart];
const kind = migrationChart.kind;

async function logWith(copies: number) {
  const log = createMemoryEventLog();
  for (let c = 0; c < copies; c++) {
    for (const [g, envs] of goldens.entries()) {
      const key = { kind, id: `ns/m-${c}-${g}` };
      for (const e of envs)
        await log.append(key, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, e.seq - 1);
    }
  }
  return log;
}

describe('rebuildAll: every stream of a log folded back through its chart, on worker threads or inline', () => {
  it.each([0, 2])('with %i workers gives exactly what fold gives', async (workers) => {
    const log = await logWith(5);
    const rebuilt = await rebuildAll(log, { charts, workers, batch: 7 });
    expect(rebuilt).toHaveLength(5 * goldens.length);
    for (const m of rebuilt) {
      const envs = await log.read(m);
      const snap = fold(migrationChart, m.id, parseLog(migrationChart, envs, m.id))!;
      expect(m).toEqual({
        kind,
        id: m.id,
        lastSeq: envs.length,
        lastAt: envs.at(-1)!.at,
        status: 'done',
        value: snap.value,
        persisted: JSON.parse(JSON.stringify(migrationChart.machine.getPersistedSnapshot(snap))),
      });
    }
  });

  it.each([0, 1])('a corrupt event fails the rebuild with the stream and seq named (%i workers)', async (workers) => {
    const log = await logWith(1);
    await log.append(
      { kind, id: 'ns/bad' },
      { type: 'MigrationRequested', at: '2026-03-16T09:00:00.000Z', machineVersion: 1, data: {} },
      0,
    );
    await expect(rebuildAll(log, { charts, workers })).rejects.toThrow(
      /Event log of StatefulMigration ns\/bad at seq 1/,
    );
  });

  it('a stream of a kind without a chart fails the rebuild, naming the kind and what to do', async () => {
    const log = await logWith(1);
    await log.append(
      { kind: 'VolumeResize', id: 'ns/data-0' },
      { type: 'X', at: '2026-03-16T09:00:00.000Z', machineVersion: 1, data: {} },
      0,
    );
    await expect(rebuildAll(log, { charts, workers: 0 })).rejects.toMatchObject({
      code: 'CORRUPT_EVENT',
      message: expect.stringMatching(/VolumeResize ns\/data-0 .*no chart of kind VolumeResize.*upgrade ms2m/),
    });
  });
});

describe('rebuildAll with a snapshot cache', () => {
  it('stores finished streams and uses them next time, giving the same result', async () => {
    const log = await logWith(3);
    const cache = createMemorySnapshotCache();
    const first = await rebuildAll(log, { charts, workers: 0, cache });
    expect(cache.entries.size).toBe(3 * goldens.length);
    const second = await rebuildAll(log, { charts, workers: 0, cache });
    const byKey = (ms: typeof first) => Object.fromEntries(ms.map((m) => [keyText(m), m]));
    expect(byKey(second)).toEqual(byKey(first));
  });

  it('never trusts an entry that is not exactly this log and this chart', async () => {
    const log = await logWith(1);
    const cache = createMemorySnapshotCache();
    const [m] = await rebuildAll(log, { charts, workers: 0, cache });
    const wrong = { ...cache.entries.get(keyText(m!))!, value: 'Tampered' };
    for (const stale of [
      { ...wrong, seq: wrong.seq - 1 },
      { ...wrong, chart: 'another-chart' },
      { ...wrong, machineVersion: 0 },
      { ...wrong, lastAt: '2020-01-01T00:00:00.000Z' },
    ]) {
      await cache.put(stale);
      const again = await rebuildAll(log, { charts, workers: 0, cache });
      expect(again.find((x) => x.id === m!.id)!.value).toEqual(m!.value);
    }
    await cache.put(wrong);
    const trusted = await rebuildAll(log, { charts, workers: 0, cache });
    expect(trusted.find((x) => x.id === m!.id)!.value).toBe('Tampered');
  });
});

describe('a host keeps the snapshot of a migration it finished', () => {
  it('and a rebuild serves it from the cache, equal to folding the log', async () => {
    const s = scenario({ workload: 'deployment' });
    const cache = createMemorySnapshotCache();
    s.deps.snapshots = cache;
    await runToEnd(s);
    expect([...cache.entries.keys()]).toEqual([keyText(s.key)]);
    const [m] = await rebuildAll(s.log, { charts, workers: 0, cache });
    const envs = await s.log.read(s.key);
    const folded = fold(migrationChart, s.migrationId, parseLog(migrationChart, envs, s.migrationId))!;
    expect(m).toMatchObject({ kind, value: 'Completed', lastSeq: envs.length, lastAt: envs.at(-1)!.at });
    expect(m!.persisted).toEqual(JSON.parse(JSON.stringify(migrationChart.machine.getPersistedSnapshot(folded))));
  });
});
