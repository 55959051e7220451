import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationHost, migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { normalizeSpec } from '../../actors/migration-spec.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { openJetStreamLog } from '../../adapters/nats/jetstream-log.ts';
import { createRabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';
import { type RabbitServer, startRabbit } from '../harness/rabbitmq.ts';
import { createFakeWorld, TARGET_NODE } from '../support/fake-world.ts';
import { MigratingConsumer, NumberedProducer } from '../support/mq-workload.ts';

// A whole migration with the real broker adapter and the real JetStream log (the cluster, kubelet and agents
// are fakes until the control-plane issue), through a nats-server crash and a RabbitMQ restart.
let rabbit: RabbitServer;
let nats: NatsServer;
beforeAll(async () => {
  [rabbit, nats] = await Promise.all([startRabbit({ statsIntervalMs: 1000 }), startNats()]);
});
afterAll(async () => {
  await Promise.all([rabbit?.stop(), nats?.stop()]);
});

const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('migration on real RabbitMQ and NATS JetStream', () => {
  it('completes through a nats-server kill and a RabbitMQ restart with 0 messages lost', async () => {
    const lines: Array<{ msg: string; level: number }> = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const clock = systemClock();
    const world = createFakeWorld({ clock, latencies: 'instant' });
    const sourcePod = world.seed('pod');
    const broker = createRabbitBroker({ logger, managementUrl: rabbit.managementUrl, statsIntervalMs: 1000 });
    const log = await openJetStreamLog({ servers: nats.url, logger, timeoutMs: 1000 });
    const cfg = { brokerUrl: rabbit.url, exchangeName: 'orders', queueName: 'orders' };
    await broker.ensureTopology(cfg, 'setup:topology');

    const source = new MigratingConsumer(rabbit.url, sourcePod, 'orders', 'primary');
    const target = new MigratingConsumer(rabbit.url, `${sourcePod}-shadow`, 'orders', 'waiting');
    await Promise.all([source.start(), target.start()]);
    const producer = new NumberedProducer(rabbit.url, 'orders', 50);
    producer.start();
    await until('the source to process messages', () => source.seen.size > 20);

    // the checkpoint is the source's state at that moment; the restored target starts from it
    let checkpointState = new Set<number>();
    const checkpoint = world.kubelet.checkpoint.bind(world.kubelet);
    world.kubelet.checkpoint = async (req) => {
      checkpointState = new Set(source.seen);
      return checkpoint(req);
    };

    const faults: Array<Promise<void>> = [];
    const spec = normalizeSpec(
      { namespace: 'default', name: 'm1', uid: 'uid-m1' },
      { sourcePod, targetNode: TARGET_NODE, replayCutoffSeconds: 3, messageQueueConfig: { ...cfg } },
      { maxAttempts: 10, retryBaseMs: 500 },
    );
    const host = await MigrationHost.open({
      id: 'default/m1',
      deps: { ...world, broker, log, logger, pollMs: 250, sampleHeartbeatMs: 1000 },
      observers: [
        {
          name: 'fault-injection',
          observe(batch) {
            for (const { event } of batch) {
              // nats-server dies right after the checkpoint and comes back 2 s later
              if (event.type === 'CheckpointCreated') {
                faults.push(
                  nats
                    .kill()
                    .then(() => new Promise((r) => setTimeout(r, 2000)))
                    .then(() => nats.start()),
                );
              }
              if (event.type === 'ReplayStarted') faults.push(rabbit.restart());
            }
          },
        },
      ],
    });
    await host.request({ spec });
    const final = await host.done();
    await Promise.all(faults);
    expect(final.value).toBe('Completed');

    // the target now serves from the primary queue: let the producer run on a little, then drain everything
    await new Promise((r) => setTimeout(r, 1000));
    await producer.stop();
    const targetState = () => new Set([...checkpointState, ...target.seen]);
    // on timeout, the assertion below says which messages are missing (and the source's view of them)
    await until('the target to hold every published message', () => targetState().size >= producer.sent, 90_000).catch(
      () => undefined,
    );
    const missing = Array.from({ length: producer.sent }, (_, i) => i + 1).filter((n) => !targetState().has(n));
    expect(
      missing,
      `sent ${producer.sent}; checkpoint ${checkpointState.size}, target ${target.seen.size}; source saw the missing: ${missing.filter((n) => source.seen.has(n)).join(',')}`,
    ).toEqual([]);
    expect(target.control).toEqual(['START_REPLAY', 'END_REPLAY']);
    expect(source.control).toEqual(['STOP_CONSUMING']);

    // the log went through the outage whole: gapless, valid, each fact once
    const events = parseLog(
      migrationChart,
      await log.read({ kind: migrationChart.kind, id: 'default/m1' }),
      'default/m1',
    );
    expect(events.filter((e) => e.type === 'TargetPodCreated')).toHaveLength(1);
    expect(broker.connectionGeneration(rabbit.url)).toBeGreaterThan(1);
    // both outages were felt and ridden out, as the runtime's own log lines say
    const msgs = lines.map((l) => l.msg);
    expect(msgs).toContain('Event log append failed, retrying');
    expect(msgs).toContain('Re-declared topology after reconnect');
    expect(producer.sent).toBeGreaterThan(100);

    await Promise.all([host.stop(), source.stop(), target.stop(), broker.close(), log.close()]);
  });
});
