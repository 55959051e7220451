import { Writable } from 'node:stream';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ms2mError } from '../../adapters/errors.ts';
import { BrokerAccessRefusedError, BrokerConnectRefusedError } from '../../adapters/rabbitmq/errors.ts';
import {
  type BrokerConfig,
  type ControlMessage,
  controlQueueName,
  type QueueDepth,
} from '../../adapters/rabbitmq/port.ts';
import { createRabbitBroker, type RabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { freePort } from '../harness/nats.ts';
import { type RabbitServer, startRabbit } from '../harness/rabbitmq.ts';
import { brokerContract } from './broker.contract.ts';

let rabbit: RabbitServer;
let broker: RabbitBroker;
let client: ChannelModel;
const logLines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    logLines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const logger = pino({ level: 'debug' }, sink);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const cfgFor = (label: string, extra: Partial<BrokerConfig> = {}): BrokerConfig => ({
  brokerUrl: rabbit.url,
  exchangeName: `${label}-${++n}.x`,
  queueName: `${label}-${n}`,
  ...extra,
});

beforeAll(async () => {
  rabbit = await startRabbit({ statsIntervalMs: 1000 });
  broker = createRabbitBroker({ logger, managementUrl: rabbit.managementUrl, statsIntervalMs: rabbit.statsIntervalMs });
  client = await connect(rabbit.url);
  client.on('error', () => {});
});
afterAll(async () => {
  await client?.close().catch(() => {});
  await broker?.close();
  await rabbit?.stop();
});

/** Reads and acks every message of a control queue, deduplicating by message id like a consumer does. */
async function drainControl(pod: string): Promise<ControlMessage[]> {
  const ch = await client.createChannel();
  ch.on('error', () => {});
  const seen = new Set<string>();
  const out: ControlMessage[] = [];
  for (;;) {
    const m = await ch.get(controlQueueName(pod));
    if (!m) break;
    ch.ack(m);
    expect(m.properties.deliveryMode).toBe(2);
    if (seen.has(m.properties.messageId)) continue;
    seen.add(m.properties.messageId);
    out.push(JSON.parse(m.content.toString()));
  }
  await ch.close();
  return out;
}

brokerContract('rabbitmq', () => ({ broker, config: (label) => cfgFor(label), controlMessages: drainControl }));

/** Publishes `count` persistent messages and returns once the broker confirmed them all (they are enqueued). */
async function publish(exchange: string, count: number): Promise<void> {
  const ch = await client.createConfirmChannel();
  for (let i = 0; i < count; i++)
    ch.publish(exchange, '', Buffer.from(`m${i}`), { persistent: true, messageId: `m${i}` });
  await ch.waitForConfirms();
  await ch.close();
}

/** Resolves once `n` messages have been delivered to a consumer that holds them unacked. */
function holding(n: number) {
  const held: Parameters<Channel['ack']>[0][] = [];
  let reached!: () => void;
  const all = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const onMessage = (m: Parameters<Channel['ack']>[0] | null) => {
    if (!m) return;
    held.push(m);
    if (held.length === n) reached();
  };
  return { held, all, onMessage };
}

describe('RabbitMQ broker adapter', () => {
  it('writes control bodies exactly as SHADOW consumers expect', async () => {
    const cfg = cfgFor('wire');
    await broker.sendControl(cfg, 'app-0', { type: 'START_REPLAY', payload: { queue: 'q.ms2m-replay' } }, 'ns/m:start');
    await broker.sendControl(cfg, 'app-0', { type: 'END_REPLAY' }, 'ns/m:end');
    const ch = await client.createChannel();
    const a = await ch.get('ms2m.control.app-0');
    const b = await ch.get('ms2m.control.app-0');
    expect(a ? a.content.toString() : null).toBe('{"type":"START_REPLAY","payload":{"queue":"q.ms2m-replay"}}');
    expect(b ? b.content.toString() : null).toBe('{"type":"END_REPLAY"}');
    expect(a ? a.properties.messageId : null).not.toBe(b ? b.properties.messageId : null);
    await ch.close();
  });

  it('counts unacked messages: depth is never a settled 0 while a consumer holds unacked messages', async () => {
    const cfg = cfgFor('depth');
    await broker.ensureTopology(cfg, 'm:topology');
    const replay = await broker.createReplayQueue(cfg, 'm:replay');
    const ch = await client.createChannel();
    await publish(cfg.exchangeName, 10);
    await ch.prefetch(4);
    const first = holding(4);
    await ch.consume(replay, first.onMessage);
    await first.all;
    let reading = await broker.depth(cfg, replay);
    while (reading.unacked !== 4) {
      await sleep(200);
      reading = await broker.depth(cfg, replay);
    }
    expect(reading).toMatchObject({ depth: 10, ready: 6, unacked: 4, settled: true });
    // a second consumer takes the rest: AMQP ready drops to 0 at once while all 10 stay unacked; over two
    // statistics windows no reading may say "drained"
    const greedy = await client.createChannel();
    await greedy.prefetch(20);
    const rest = holding(6);
    await greedy.consume(replay, rest.onMessage);
    await rest.all;
    const start = Date.now();
    const seen: QueueDepth[] = [];
    while (Date.now() - start < 2 * rabbit.statsIntervalMs + 3000 || seen.at(-1)?.unacked !== 10) {
      seen.push(await broker.depth(cfg, replay));
      await sleep(100);
    }
    expect(seen.some((r) => r.depth === 0 && r.settled)).toBe(false);
    expect(seen.at(-1)).toMatchObject({ depth: 10, ready: 0, unacked: 10 });
    greedy.ackAll();
    ch.ackAll();
    let drained = await broker.depth(cfg, replay);
    while (!(drained.depth === 0 && drained.settled)) {
      await sleep(100);
      drained = await broker.depth(cfg, replay);
    }
    expect(drained).toMatchObject({ depth: 0, ready: 0, unacked: 0, settled: true });
    await greedy.close();
    await ch.close();
  });

  it('undeliveredBeforeReplay: the messages queued before the replay queue that the consumer has not received', async () => {
    const cfg = cfgFor('backlog');
    await broker.ensureTopology(cfg, 'm:topology');
    await expect(broker.undeliveredBeforeReplay(cfg)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await publish(cfg.exchangeName, 6); // the primary queue's backlog, older than the replay queue
    await broker.createReplayQueue(cfg, 'm:replay');
    expect(await broker.undeliveredBeforeReplay(cfg)).toBe(6);
    await publish(cfg.exchangeName, 3); // newer: in both queues, the backlog is still 6
    expect(await broker.undeliveredBeforeReplay(cfg)).toBe(6);
    const ch = await client.createChannel();
    await ch.prefetch(4);
    const first = holding(4);
    await ch.consume(cfg.queueName, first.onMessage);
    await first.all; // 4 of the 6 older ones delivered, unacked
    expect(await broker.undeliveredBeforeReplay(cfg)).toBe(2);
    const more = holding(4);
    const rest = await client.createChannel();
    await rest.prefetch(4);
    await rest.consume(cfg.queueName, more.onMessage);
    await more.all; // the last 2 older ones and 2 newer ones delivered: nothing older waits
    expect(await broker.undeliveredBeforeReplay(cfg)).toBe(0);
    await rest.close();
    await ch.close();
  });

  it('trusts a drained 0 only one statistics lag window after the AMQP ready count reached 0', async () => {
    const lagMs = 2 * rabbit.statsIntervalMs + 3000; // the adapter's default for this stats interval
    const cfg = cfgFor('settle');
    await broker.ensureTopology(cfg, 'm:topology');
    const replay = await broker.createReplayQueue(cfg, 'm:replay');
    await publish(cfg.exchangeName, 5);
    let reading = await broker.depth(cfg, replay);
    while (!(reading.ready === 5 && reading.settled)) {
      await sleep(100);
      reading = await broker.depth(cfg, replay);
    }
    // a consumer takes all 5 (AMQP ready drops to 0 now) and acknowledges them at once
    const ch = await client.createChannel();
    const taken = holding(5);
    const readyZeroNoLaterThan = Date.now();
    await ch.consume(replay, taken.onMessage);
    await taken.all;
    for (const m of taken.held) ch.ack(m);
    const zeros: Array<{ at: number; settled: boolean }> = [];
    do {
      reading = await broker.depth(cfg, replay);
      if (reading.depth === 0) zeros.push({ at: Date.now(), settled: reading.settled });
      else expect(reading.settled).toBe(true); // a non-zero depth is always a usable reading
      if (!reading.settled || reading.depth > 0) await sleep(100);
    } while (!(reading.depth === 0 && reading.settled));
    // management samples showed 0/0 within about one interval, but the first trusted 0 came a lag window later
    const firstSettled = zeros.find((z) => z.settled)!;
    expect(firstSettled.at - readyZeroNoLaterThan).toBeGreaterThanOrEqual(lagMs);
    expect(zeros.filter((z) => z.at < firstSettled.at).every((z) => !z.settled)).toBe(true);
    await ch.close();
  });

  it('reports producer (lambda) and consumer (mu) rates from management samples', async () => {
    const cfg = cfgFor('rates');
    await broker.ensureTopology(cfg, 'm:topology');
    const replay = await broker.createReplayQueue(cfg, 'm:replay');
    const ch = await client.createChannel();
    await ch.consume(replay, (m) => m && ch.ack(m));
    let reading = await broker.depth(cfg, replay);
    for (let i = 0; i < 100 && !((reading.producerRate ?? 0) > 0 && (reading.consumerRate ?? 0) > 0); i++) {
      await publish(cfg.exchangeName, 20);
      await sleep(100);
      reading = await broker.depth(cfg, replay);
    }
    expect(reading.producerRate).toBeGreaterThan(0);
    expect(reading.consumerRate).toBeGreaterThan(0);
    await ch.close();
  });

  it('declares quorum queues with x-queue-type and refuses to redeclare them as classic', async () => {
    const cfg = cfgFor('quorum', { queueType: 'quorum' });
    await broker.ensureTopology(cfg, 'm:topology');
    const replay = await broker.createReplayQueue(cfg, 'm:replay');
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const q = (await (await fetch(`${rabbit.managementUrl}/api/queues/%2F/${replay}`, { headers: auth })).json()) as {
      type: string;
    };
    expect(q.type).toBe('quorum');
    await expect(broker.ensureTopology({ ...cfg, queueType: 'classic' }, 'm:topology')).rejects.toMatchObject({
      code: 'BROKER_PRECONDITION_FAILED',
      message: expect.stringContaining(cfg.queueName),
    });
    expect((await broker.depth(cfg, replay)).depth).toBe(0);
  });

  it('fails typed on a refused connection and on bad credentials, never logging the password', async () => {
    const port = await freePort();
    const lone = createRabbitBroker({ logger, connectRetries: 1, opTimeoutMs: 5000 });
    const refused = await lone
      .ensureTopology({ brokerUrl: `amqp://u:hunter2@127.0.0.1:${port}`, exchangeName: 'x', queueName: 'q' }, 'k')
      .catch((e) => e);
    expect(refused).toBeInstanceOf(BrokerConnectRefusedError);
    expect((refused as Ms2mError).transient).toBe(true);
    expect((refused as Error).message).toContain('u:***@');
    const bad = await lone
      .ensureTopology(
        { brokerUrl: rabbit.url.replace('guest:guest', 'guest:hunter2'), exchangeName: 'x', queueName: 'q' },
        'k',
      )
      .catch((e) => e);
    expect(bad).toBeInstanceOf(BrokerAccessRefusedError);
    expect((bad as Ms2mError).transient).toBe(false);
    expect((bad as Error).message).not.toContain('hunter2');
    await lone.close();
    expect(logLines.some((l) => l.includes('hunter2'))).toBe(false);
  });

  it('RabbitMQ restarted mid-replay: reconnects, re-declares, depth resumes, producer/consumer lose 0 messages', async () => {
    const cfg = cfgFor('restart');
    await broker.ensureTopology(cfg, 'm:topology');
    const replay = await broker.createReplayQueue(cfg, 'm:replay');
    const generation = broker.connectionGeneration(cfg.brokerUrl);
    const total = 400;
    const received = new Set<string>();
    const consumer = await connect(rabbit.url, {
      recovery: {
        initialDelay: 100,
        maxDelay: 1000,
        setup: async (m: ChannelModel) => {
          const ch = await m.createChannel();
          ch.on('error', () => {});
          await ch.prefetch(20);
          await ch.consume(replay, (msg) => {
            if (!msg) return;
            received.add(msg.properties.messageId);
            ch.ack(msg);
          });
        },
      },
    });
    consumer.on('error', () => {});
    const producer = await connect(rabbit.url, { recovery: { initialDelay: 100, maxDelay: 1000 } });
    producer.on('error', () => {});
    let restarting: Promise<void> | undefined;
    for (let i = 0; i < total; ) {
      if (i === total / 2 && !restarting) restarting = rabbit.restart();
      try {
        const ch = await producer.createConfirmChannel();
        ch.on('error', () => {});
        for (; i < total && !(i === total / 2 && !restarting); i++) {
          await new Promise<void>((resolve, reject) =>
            ch.publish(
              cfg.exchangeName,
              '',
              Buffer.from(String(i)),
              { persistent: true, messageId: `msg-${i}` },
              (err) => (err ? reject(err) : resolve()),
            ),
          );
        }
        await ch.close().catch(() => {});
      } catch {
        await sleep(200);
      }
    }
    await restarting;
    let reading = await broker.depth(cfg, replay);
    while (!(reading.depth === 0 && reading.settled && received.size === total)) {
      await sleep(200);
      reading = await broker.depth(cfg, replay);
    }
    expect(received.size).toBe(total);
    expect([...received].sort()).toEqual(Array.from({ length: total }, (_, i) => `msg-${i}`).sort());
    expect(broker.connectionGeneration(cfg.brokerUrl)).toBeGreaterThan(generation);
    expect(logLines.some((l) => l.includes('Re-declared topology after reconnect'))).toBe(true);
    expect(reading).toMatchObject({ depth: 0, ready: 0, unacked: 0, settled: true });
    await producer.close().catch(() => {});
    await consumer.close().catch(() => {});
    client = await connect(rabbit.url);
    client.on('error', () => {});
  });
});
