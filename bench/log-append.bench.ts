// JetStream append latency (CAS + msgID dedup, file storage) vs the embedded file log (fsync on), same run.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import { openJetStreamLog } from '../adapters/nats/jetstream-log.ts';
import type { NewEvent } from '../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../machines/migration-chart.ts';
import { startNats } from '../test/harness/nats.ts';
import { percentile, timeEach } from './percentiles.ts';

const APPENDS = 2000;
const MIGRATIONS = 20;
const event = (i: number): NewEvent => ({
  type: 'StepCompleted',
  at: new Date().toISOString(),
  machineVersion: MIGRATION_VERSION,
  data: { step: i, note: 'benchmark event with a realistic small payload', bytes: 123456 },
});

export async function run(): Promise<Record<string, unknown>> {
  const logger = pino({ level: 'warn' });
  const nats = await startNats();
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-bench-filelog-'));
  try {
    const js = await openJetStreamLog({ servers: nats.url, logger });
    const seqs = new Map<string, number>();
    const appendTo = (log: typeof js, prefix: string) => async (i: number) => {
      const id = `${prefix}/m${i % MIGRATIONS}`;
      const seq = seqs.get(id) ?? 0;
      await log.append({ kind: MIGRATION_KIND, id }, event(i), seq);
      seqs.set(id, seq + 1);
    };
    await timeEach(200, appendTo(js, 'js-warmup'));
    process.stderr.write(`log-append: ${APPENDS} JetStream appends\n`);
    const jsMs = await timeEach(APPENDS, appendTo(js, 'js-bench'));
    await js.close();
    const file = await openFileLog({ dir, logger });
    await timeEach(200, appendTo(file as typeof js, 'file-warmup'));
    process.stderr.write(`log-append: ${APPENDS} file-log appends (fsync)\n`);
    const fileMs = await timeEach(APPENDS, appendTo(file as typeof js, 'file-bench'));
    await file.close();
    return {
      appends: APPENDS,
      p50_ms: percentile(jsMs, 50),
      p99_ms: percentile(jsMs, 99),
      file_p50_ms: percentile(fileMs, 50),
      file_p99_ms: percentile(fileMs, 99),
      nats_server: '2.9.10',
    };
  } finally {
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
