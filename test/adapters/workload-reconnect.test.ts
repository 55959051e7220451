import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerConfig, controlQueueName } from '../../adapters/rabbitmq/port.ts';
import { createRabbitBroker, type RabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { SequenceChecksum } from '../../eval/workloads/checksum.ts';
import type { ConsumerState } from '../../eval/workloads/consumer-app.ts';
import {
  type ConsumerMode,
  MigratableConsumer,
  type ModeCause,
  type PodIdentity,
} from '../../eval/workloads/consumer-lib/index.ts';
import { startWorkloadProcess, type WorkloadProcess } from '../../eval/workloads/local-process.ts';
import type { ProducerState } from '../../eval/workloads/rate-producer.ts';
import { type RabbitServer, startRabbit } from '../harness/rabbitmq.ts';
import { eventually } from '../support/eventually.ts';

// The workloads when the broker connection goes away under them: closed by the broker (management API), the
// broker restarted, and the consumer's identity changing between two connections.

let rabbit: RabbitServer;
let broker: RabbitBroker;
let dir: string;
const procs: WorkloadProcess[] = [];
beforeAll(async () => {
  rabbit = await startRabbit({ statsIntervalMs: 1000 });
  broker = createRabbitBroker({ logger: pino({ level: 'silent' }), managementUrl: rabbit.managementUrl });
  dir = await mkdtemp(join(tmpdir(), 'ms2m-workload-'));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await broker?.close();
  await rabbit?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = () => ({ authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` });

async function nameFile(name: string, file = name): Promise<string> {
  const d = join(dir, file);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'name'), `${name}\n`);
  return join(d, 'name');
}

/**
 * Closes, from the broker's side, every open connection whose client named it `name` (the management API lists
 * a new connection a few seconds late: polls until it shows). Returns how many were closed.
 */
async function closeConnections(name: string): Promise<number> {
  return eventually(
    `a connection named ${name}`,
    async () => {
      const res = await fetch(`${rabbit.managementUrl}/api/connections`, { headers: auth() });
      const all = (await res.json()) as Array<{ name: string; client_properties?: { connection_name?: string } }>;
      let closed = 0;
      for (const c of all.filter((x) => x.client_properties?.connection_name === name)) {
        const del = await fetch(`${rabbit.managementUrl}/api/connections/${encodeURIComponent(c.name)}`, {
          method: 'DELETE',
          headers: { ...auth(), 'x-reason': 'test: forced close' },
        });
        if (del.status === 204) closed++;
      }
      return closed > 0 ? closed : undefined;
    },
    30_000,
  );
}

async function startPair(queue: string, total: number, rate: number, podName: string) {
  const consumer = await startWorkloadProcess({
    kind: 'consumer',
    args: ['--url', rabbit.url, '--queue', queue, '--exchange', `${queue}-fanout`, '--delay-ms', '5'],
    env: { POD_NAME_FILE: await nameFile(podName) },
  });
  procs.push(consumer);
  const producer = await startWorkloadProcess({
    kind: 'producer',
    args: ['--url', rabbit.url, '--queue', queue, '--exchange', `${queue}-fanout`, '--rate', String(rate)],
    env: { MSG_COUNT: String(total) },
  });
  procs.push(producer);
  return { consumer, producer };
}

/** Waits for the producer to finish and the consumer to hold 1..total; returns the consumer's final state. */
async function finish(consumer: WorkloadProcess, producer: WorkloadProcess, total: number): Promise<ConsumerState> {
  await eventually(
    'the producer done',
    async () => ((await producer.state<ProducerState>()).done ? true : undefined),
    90_000,
  );
  expect(await producer.state<ProducerState>()).toMatchObject({ sent: total, lastSeq: total });
  return eventually(
    'the consumer holding every message',
    async () => {
      const s = await consumer.state<ConsumerState>();
      return s.contiguousTo === total ? s : undefined;
    },
    60_000,
  );
}

describe('workloads reconnecting on a real RabbitMQ', () => {
  it('a connection closed by the broker: both reconnect, the consumer continues its counter, every sequence once', async () => {
    const total = 600;
    const { consumer, producer } = await startPair('forced', total, 60, 'consumer-f');
    await eventually('the consumer processing', async () =>
      (await consumer.state<ConsumerState>()).processed > 60 ? true : undefined,
    );
    expect(await closeConnections('ms2m-consumer consumer-f')).toBe(1);
    const afterClose = await consumer.state<ConsumerState>();
    const reconnected = await eventually('the consumer reconnected', async () => {
      const s = await consumer.state<ConsumerState>();
      return s.connects === 2 && s.connected ? s : undefined;
    });
    // the same process: its state survived the reconnect
    expect(reconnected.processed).toBeGreaterThanOrEqual(afterClose.processed);
    expect(reconnected).toMatchObject({ mode: 'primary', consuming: 'forced', restores: 0 });
    const producerName = await eventually('the producer connection', async () => {
      const res = await fetch(`${rabbit.managementUrl}/api/connections`, { headers: auth() });
      const all = (await res.json()) as Array<{ client_properties?: { connection_name?: string } }>;
      return all.map((c) => c.client_properties?.connection_name).find((n) => n?.startsWith('ms2m-producer '));
    });
    expect(await closeConnections(producerName)).toBe(1);

    const final = await finish(consumer, producer, total);
    expect(final).toMatchObject({ processed: total, maxSeq: total, invalid: 0, control: [] });
    expect(final.checksum).toEqual(SequenceChecksum.ofRange(1, total).toJSON());
    expect((await producer.state<ProducerState>()).connects).toBe(2);
    expect(await producer.stop()).toEqual({ code: 0, signal: null });
    expect(await consumer.stop()).toEqual({ code: 0, signal: null });
  });

  it('a broker restart: producer and consumer ride it out with nothing lost or processed twice', async () => {
    const total = 700;
    const { consumer, producer } = await startPair('restart', total, 60, 'consumer-r');
    await eventually('the consumer processing', async () =>
      (await consumer.state<ConsumerState>()).processed > 60 ? true : undefined,
    );
    const before = await consumer.state<ConsumerState>();
    await rabbit.restart();
    const final = await finish(consumer, producer, total);
    expect(final.connects).toBeGreaterThanOrEqual(2);
    expect(final.processed).toBe(total); // counted on from `before`, never reset
    expect(final.processed).toBeGreaterThan(before.processed);
    expect(final.checksum).toEqual(SequenceChecksum.ofRange(1, total).toJSON());
    const produced = await producer.state<ProducerState>();
    expect(produced.connects).toBeGreaterThanOrEqual(2);
    // a publication that lost its confirm in the restart is sent again; the consumer skips the second copy
    expect(final.duplicates.seqs.every((n) => n <= total)).toBe(true);
    expect(await producer.stop()).toEqual({ code: 0, signal: null });
    expect(await consumer.stop()).toEqual({ code: 0, signal: null });
  });

  it('re-reads its identity from the file on reconnect: the control queue follows the new pod name', async () => {
    const file = await nameFile('alpha', 'identity');
    const consumer = await startWorkloadProcess({
      kind: 'consumer',
      args: ['--url', rabbit.url, '--queue', 'ident', '--exchange', 'ident-fanout', '--identity-poll-ms', '0'],
      env: { POD_NAME_FILE: file, POD_NAME: 'from-env' },
    });
    procs.push(consumer);
    const first = await eventually('connected', async () => {
      const s = await consumer.state<ConsumerState>();
      return s.connected ? s : undefined;
    });
    expect(first).toMatchObject({ pod: 'alpha', controlQueue: 'ms2m.control.alpha', mode: 'primary' });

    // the file changes (the process now runs in pod "beta"); without a reconnect nothing changes
    await writeFile(file, 'beta\n');
    await sleep(1500);
    expect((await consumer.state<ConsumerState>()).controlQueue).toBe('ms2m.control.alpha');
    expect(await closeConnections('ms2m-consumer alpha')).toBe(1);
    const second = await eventually('reconnected as beta', async () => {
      const s = await consumer.state<ConsumerState>();
      return s.connected && s.pod === 'beta' ? s : undefined;
    });
    // a new pod without a replay queue: no migration is replaying, so it consumes the primary queue
    expect(second).toMatchObject({ controlQueue: 'ms2m.control.beta', restores: 1, mode: 'primary', connects: 2 });

    // control messages now reach it on beta's queue only
    const cfg: BrokerConfig = { brokerUrl: rabbit.url, exchangeName: 'ident-fanout', queueName: 'ident' };
    await broker.sendControl(cfg, 'alpha', { type: 'STOP_CONSUMING' }, 'ident:to-alpha');
    await broker.sendControl(cfg, 'beta', { type: 'STOP_CONSUMING' }, 'ident:to-beta');
    // the mode changes before the control message is acked and listed: wait for both
    const stopped = await eventually('stopped by beta', async () => {
      const s = await consumer.state<ConsumerState>();
      return s.mode === 'stopped' && s.control.length > 0 ? s : undefined;
    });
    expect(stopped).toMatchObject({ consuming: null, control: ['STOP_CONSUMING'] });
    expect(await broker.consumerCount(cfg, 'ident')).toBe(0);
    expect(await broker.consumerCount(cfg, controlQueueName('alpha'))).toBe(0);
    expect((await broker.depth(cfg, controlQueueName('alpha'))).ready).toBe(1); // left for a pod that is gone
    await broker.sendControl(cfg, 'beta', { type: 'RESUME_CONSUMING' }, 'ident:resume');
    await eventually('resumed', async () =>
      (await consumer.state<ConsumerState>()).consuming === 'ident' ? true : undefined,
    );
    expect(await consumer.stop()).toEqual({ code: 0, signal: null });
  });

  it('notices a new identity while connected (identity poll) and waits for START_REPLAY while a replay queue exists', async () => {
    const cfg: BrokerConfig = { brokerUrl: rabbit.url, exchangeName: 'poll-fanout', queueName: 'poll' };
    await broker.ensureTopology(cfg, 'poll:topology');
    const replay = await broker.createReplayQueue(cfg, 'poll:replay');
    const file = await nameFile('source-pod', 'poll');
    const consumer = new MigratableConsumer({
      url: rabbit.url,
      queue: 'poll',
      exchange: 'poll-fanout',
      identity: { nameFile: file },
      identityPollMs: 100,
      env: {},
      handler: () => {},
    });
    const restored: Array<[PodIdentity['name'], PodIdentity['name']]> = [];
    consumer.on('restored', ({ from, to }) => restored.push([from.name, to.name]));
    const modes: Array<[ConsumerMode['kind'], ModeCause]> = [];
    consumer.on('mode', ({ to, cause }) => modes.push([to.kind, cause]));
    try {
      await consumer.start();
      expect(consumer.mode.kind).toBe('primary');
      await writeFile(file, 'source-pod-shadow\n');
      await eventually('reconnected as the shadow', async () =>
        consumer.connected && consumer.controlQueue === 'ms2m.control.source-pod-shadow' ? true : undefined,
      );
      expect(restored).toEqual([['source-pod', 'source-pod-shadow']]);
      expect(consumer.mode.kind).toBe('awaiting-replay');
      expect(await broker.consumerCount(cfg, 'poll')).toBe(0);
      expect(consumer.stats().connects).toBe(2);
      await broker.sendControl(cfg, 'source-pod-shadow', { type: 'START_REPLAY', payload: { queue: replay } }, 'p:s');
      await eventually('replaying', async () =>
        consumer.mode.kind === 'replay' && (await broker.consumerCount(cfg, replay)) === 1 ? true : undefined,
      );
      // the replay queue deleted under it (a compensation, or END_REPLAY still on its way): it consumes nothing
      // until END_REPLAY, never the primary queue on its own (the source may be serving it again)
      await broker.deleteReplayQueue(cfg, 'poll:delete');
      await eventually('waiting after the cancel', async () =>
        consumer.mode.kind === 'awaiting-replay' ? true : undefined,
      );
      await sleep(500);
      expect(await broker.consumerCount(cfg, 'poll')).toBe(0);
      await broker.sendControl(cfg, 'source-pod-shadow', { type: 'END_REPLAY' }, 'p:e');
      await eventually('back on the primary queue', async () =>
        consumer.mode.kind === 'primary' && (await broker.consumerCount(cfg, 'poll')) === 1 ? true : undefined,
      );
      expect(modes).toEqual([
        ['awaiting-replay', 'restored'],
        ['replay', 'START_REPLAY'],
        ['awaiting-replay', 'replay-queue-deleted'],
        ['primary', 'END_REPLAY'],
      ]);
    } finally {
      await consumer.stop();
    }
  });
});
