// Analysis: 10,000 migrations of ~24 events each (a real 22-event migration log of the analysis golden set plus
// its EvaluationRun measurement, under 10,000 ids) read back from JetStream (a real nats-server on loopback)
// through the read-only reader, validated, folded, joined and written as SHADOW's CSV (target <= 5 s). Keys:
// migrations, seconds (read + fold + CSV written), events, events_per_s; `cpu_seconds` the CPU time of this
// process meanwhile (nats-server's is not in it), `read_seconds` the read alone (a separate pass before),
// `csv_bytes` the file written, `loadavg` the 1-minute load average at the end (the machine is shared).
// Loading uses async publishes; only the analysis is timed.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { fileNameOf } from '../adapters/file-log/jsonl.ts';
import { encodeEnvelope } from '../adapters/nats/jetstream.wire.ts';
import { openJetStreamLog, openJetStreamLogReader } from '../adapters/nats/jetstream-log.ts';
import { streamSubject } from '../adapters/nats/subject.ts';
import { EVALUATION_RUN_KIND, readRecords, toShadowCsv } from '../eval/analysis/index.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { MIGRATION_KIND } from '../machines/migration-chart.ts';
import { startNats } from '../test/harness/nats.ts';

const MIGRATIONS = 10_000;
const GOLDEN = join(import.meta.dirname, '..', 'test', 'golden', 'analysis', 'log');
const TEMPLATE_ID = 'default/smig-03/00000000-0000-4000-8000-000000000003';
const TEMPLATE_RUN = 'golden/statefulset-sequential/10/1';

const lines = (file: string): EventEnvelope[] =>
  readFileSync(join(GOLDEN, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EventEnvelope);

/** Migration `m`'s events: the template's under a new id, and the run measurement that names it. */
function eventsOf(m: number, migration: EventEnvelope[], run: EventEnvelope): EventEnvelope[] {
  const id = `bench-${m % 50}/smig-${m}/uid-${m}`;
  const runData = run.data as { migration: { kind: string; id: string }; repetition: number };
  return [
    ...migration.map((e) => ({ ...e, id })),
    {
      ...run,
      id: `bench/statefulset-sequential/10/${m + 1}`,
      data: { ...runData, migration: { kind: MIGRATION_KIND, id }, repetition: m + 1 },
    },
  ];
}

export async function run(): Promise<Record<string, unknown>> {
  const migration = lines(fileNameOf({ kind: MIGRATION_KIND, id: TEMPLATE_ID }));
  const [measured] = lines(fileNameOf({ kind: EVALUATION_RUN_KIND, id: TEMPLATE_RUN }));
  const logger = pino({ level: 'warn' });
  const nats = await startNats();
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-bench-analyze-'));
  try {
    // creates the stream as the operator would; the analysis then opens it read-only
    await (await openJetStreamLog({ servers: nats.url, logger })).close();
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const perMigration = migration.length + 1;
    process.stderr.write(`analyze: loading ${MIGRATIONS} migrations x ${perMigration} events into JetStream\n`);
    let pending: Promise<unknown>[] = [];
    for (let m = 0; m < MIGRATIONS; m++) {
      for (const env of eventsOf(m, migration, measured!)) {
        const subject = streamSubject('ms2m.events', env);
        pending.push(js.publish(subject, encodeEnvelope(env, 'current'), { msgID: `${subject}:${env.seq}` }));
      }
      if (pending.length >= 2000) {
        await Promise.all(pending);
        pending = [];
      }
      if ((m + 1) % 2500 === 0) process.stderr.write(`analyze: loaded ${m + 1} migrations\n`);
    }
    await Promise.all(pending);
    await nc.close();
    // the read alone (JetStream to validated envelopes), for where the time goes
    const r0 = process.hrtime.bigint();
    const plain = await openJetStreamLogReader({ servers: nats.url, logger });
    let read = 0;
    for await (const _ of plain.readAll()) read++;
    await plain.close();
    const readSeconds = Number(process.hrtime.bigint() - r0) / 1e9;
    process.stderr.write('analyze: analysing (read-only reader, fold, join, CSV)\n');
    const csvFile = join(dir, 'results.csv');
    const t = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const reader = await openJetStreamLogReader({ servers: nats.url, logger });
    const records = await readRecords(reader);
    await reader.close();
    await writeFile(csvFile, toShadowCsv(records));
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const used = process.cpuUsage(cpu);
    const completed = records.filter((r) => r.status === 'Completed' && r.downtimeMs !== null).length;
    if (records.length !== MIGRATIONS || completed !== MIGRATIONS)
      throw new Error(`analysed ${records.length} migrations, ${completed} completed with a measurement`);
    const events = MIGRATIONS * perMigration;
    return {
      migrations: records.length,
      seconds: Number(seconds.toFixed(3)),
      events,
      events_per_s: Math.round(events / seconds),
      cpu_seconds: Number(((used.user + used.system) / 1e6).toFixed(3)),
      read_seconds: Number(readSeconds.toFixed(3)),
      read_events: read,
      csv_bytes: (await stat(csvFile)).size,
      loadavg: Number(loadavg()[0]!.toFixed(1)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await nats.stop();
  }
}
