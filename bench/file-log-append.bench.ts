// File log throughput: appends per second (with and without fdatasync) and readAll() over 10,000
// migrations x 30 events (the rebuild budget is 3 s including the fold; the read itself should be well under 1 s).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import { fileNameOf } from '../adapters/file-log/jsonl.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../machines/migration-chart.ts';

const MIGRATIONS = 10_000;
const EVENTS = 30;

async function appendRate(dir: string, fsync: boolean, count: number): Promise<number> {
  const log = await openFileLog({ dir, logger: pino({ level: 'silent' }), fsync });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const key = { kind: MIGRATION_KIND, id: `bench/m${i % 10}` };
    await log.append(
      key,
      { type: 'Appended', at: new Date().toISOString(), machineVersion: MIGRATION_VERSION, data: { i } },
      Math.floor(i / 10),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await log.close();
  return Math.round(count / seconds);
}

export async function run(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'ms2m-bench-file-log-'));
  try {
    const appendsPerSecFsync = await appendRate(join(root, 'append-fsync'), true, 1_000);
    const appendsPerSecNoFsync = await appendRate(join(root, 'append-nofsync'), false, 5_000);

    // Written directly in the file format (one envelope per line): 300k appends would only time the setup.
    const dir = join(root, 'read-all');
    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }), fsync: false });
    const at = Date.UTC(2026, 0, 1);
    for (let m = 0; m < MIGRATIONS; m += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, k) => {
          const id = `ns-${(m + k) % 50}/migration-${m + k}`;
          let text = '';
          for (let seq = 1; seq <= EVENTS; seq++) {
            const ev = {
              kind: MIGRATION_KIND,
              id,
              seq,
              type: `Phase${seq}Completed`,
              at: new Date(at + seq * 1000).toISOString(),
              machineVersion: MIGRATION_VERSION,
              data: { step: seq, pod: `${id}-shadow`, bytes: seq * 4096 },
            };
            text += `${JSON.stringify(ev)}\n`;
          }
          return writeFile(join(dir, fileNameOf({ kind: MIGRATION_KIND, id })), text);
        }),
      );
    }
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    let events = 0;
    const lastSeq = new Map<string, number>();
    for await (const ev of log.readAll()) {
      events += 1;
      lastSeq.set(ev.id, ev.seq);
    }
    const readAllMs = Math.round(performance.now() - started);
    const cpu = process.cpuUsage(cpuStarted);
    const readAllCpuMs = Math.round((cpu.user + cpu.system) / 1000); // wall time suffers on a busy machine
    await log.close();
    if (events !== MIGRATIONS * EVENTS || lastSeq.size !== MIGRATIONS)
      throw new Error(`readAll returned ${events} events`);
    return {
      migrations: MIGRATIONS,
      eventsPerMigration: EVENTS,
      readAllMs,
      readAllCpuMs,
      appendsPerSecFsync,
      appendsPerSecNoFsync,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
