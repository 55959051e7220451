// Rebuild read: 10,000 migrations x ~30 events read back from JetStream with one consumer and grouped by
// migration (the fold itself is the host's). Loading uses async publishes; only the read is timed.
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeEnvelope } from '../adapters/nats/jetstream.wire.ts';
import { openJetStreamLog } from '../adapters/nats/jetstream-log.ts';
import { streamSubject } from '../adapters/nats/subject.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../machines/migration-chart.ts';
import { startNats } from '../test/harness/nats.ts';

const MIGRATIONS = 10_000;
const EVENTS = 30;

export async function run(): Promise<Record<string, unknown>> {
  const logger = pino({ level: 'warn' });
  const nats = await startNats();
  try {
    const log = await openJetStreamLog({ servers: nats.url, logger });
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    process.stderr.write(`log-rebuild: loading ${MIGRATIONS * EVENTS} events\n`);
    const at = new Date().toISOString();
    let pending: Promise<unknown>[] = [];
    for (let seq = 1; seq <= EVENTS; seq++) {
      for (let m = 0; m < MIGRATIONS; m++) {
        const id = `bench/migration-${m}`;
        const env: EventEnvelope = {
          kind: MIGRATION_KIND,
          id,
          seq,
          type: `Event${seq}`,
          at,
          machineVersion: MIGRATION_VERSION,
          data: { m, seq },
        };
        const subject = streamSubject('ms2m.events', env);
        pending.push(js.publish(subject, encodeEnvelope(env, 'current'), { msgID: `${subject}:${seq}` }));
        if (pending.length >= 2000) {
          await Promise.all(pending);
          pending = [];
        }
      }
      if (seq % 10 === 0) process.stderr.write(`log-rebuild: loaded ${seq * MIGRATIONS}\n`);
    }
    await Promise.all(pending);
    await nc.close();
    process.stderr.write('log-rebuild: reading everything back\n');
    const t = process.hrtime.bigint();
    const byMigration = new Map<string, number>();
    let events = 0;
    for await (const e of log.readAll()) {
      const last = byMigration.get(e.id) ?? 0;
      if (e.seq !== last + 1) throw new Error(`out of order: ${e.id} ${e.seq} after ${last}`);
      byMigration.set(e.id, e.seq);
      events++;
    }
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    await log.close();
    return { migrations: byMigration.size, events, seconds: Number(seconds.toFixed(3)) };
  } finally {
    await nats.stop();
  }
}
