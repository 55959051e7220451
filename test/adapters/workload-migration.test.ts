import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerConfig, endReplay, startReplay } from '../../adapters/rabbitmq/port.ts';
import { createRabbitBroker, type RabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { SequenceChecksum } from '../../eval/workloads/checksum.ts';
import type { ConsumerState } from '../../eval/workloads/consumer-app.ts';
import { type ConsumerMode, MigratableConsumer, type ModeCause } from '../../eval/workloads/consumer-lib/index.ts';
import { startWorkloadProcess, type WorkloadProcess } from '../../eval/workloads/local-process.ts';
import type { ProducerState } from '../../eval/workloads/rate-producer.ts';
import { RateProducer } from '../../eval/workloads/rate-producer.ts';
import { type RabbitServer, startRabbit } from '../harness/rabbitmq.ts';
import { eventually } from '../support/eventually.ts';

// The workloads through a migration, with the control messages sent by the operator's own broker adapter in the
// operator's order (ARCHITECTURE.md §3): replay queue before the checkpoint, START_REPLAY to the target, cutoff
// (STOP_CONSUMING, wait for the source to stop, unbind), drain, END_REPLAY, delete the replay queue.

let rabbit: RabbitServer;
let broker: RabbitBroker;
let dir: string;
beforeAll(async () => {
  rabbit = await startRabbit({ statsIntervalMs: 1000 });
  broker = createRabbitBroker({
    logger: pino({ level: 'silent' }),
    managementUrl: rabbit.managementUrl,
    statsIntervalMs: 1000,
    statsLagMs: 2500,
  });
  dir = await mkdtemp(join(tmpdir(), 'ms2m-workload-'));
});
afterAll(async () => {
  await broker?.close();
  await rabbit?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function podinfo(name: string, uid: string): Promise<string> {
  const d = join(dir, `${name}-${uid}`);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'name'), `${name}\n`);
  await writeFile(join(d, 'uid'), `${uid}\n`);
  return join(d, 'name');
}

/** Waits until the replay queue is empty with nothing unacknowledged (the operator's "drained"). */
async function drained(cfg: BrokerConfig, queue: string): Promise<void> {
  await eventually(
    `${queue} drained`,
    async () => {
      const d = await broker.depth(cfg, queue);
      return d.depth === 0 && d.settled ? true : undefined;
    },
    60_000,
  );
}

/**
 * Aborts the established TCP connections of process `pid` to the broker, from the process's side (`ss -K`): the
 * process finds its socket closed, as a process restored by CRIU with `tcp-close` does. Returns how many.
 */
function abortBrokerSockets(pid: number): number {
  const list = () =>
    execFileSync('ss', ['-tnpH', 'state', 'established', 'dport', '=', `:${rabbit.amqpPort}`], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(`pid=${pid},`))
      .map((line) => /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+/.exec(line)?.[1])
      .filter((port): port is string => port !== undefined);
  const ports = list();
  for (const port of ports) {
    execFileSync('ss', ['-K', 'state', 'established', 'sport', '=', `:${port}`, 'dport', '=', `:${rabbit.amqpPort}`], {
      stdio: 'ignore',
    });
  }
  expect(list(), 'sockets left after ss -K').toEqual([]);
  return ports.length;
}

describe('workloads through a migration on a real RabbitMQ', () => {
  it('ShadowPod: the target holds every sequence exactly once and skips what the checkpoint already had', async () => {
    const cfg: BrokerConfig = { brokerUrl: rabbit.url, exchangeName: 'shadow-fanout', queueName: 'shadow' };
    await broker.ensureTopology(cfg, 'm1:topology');
    const producer = new RateProducer({ url: rabbit.url, exchange: cfg.exchangeName, queue: cfg.queueName, rate: 60 });
    // handler calls per sequence number across source-before-checkpoint and target: 1 each, or it is a bug
    const calls = new Map<number, number>();
    const sourceSeen: number[] = [];
    const source = new MigratableConsumer({
      url: rabbit.url,
      queue: cfg.queueName,
      exchange: cfg.exchangeName,
      identity: { nameFile: await podinfo('consumer-0', 'uid-a') },
      env: {},
      handler: async ({ seq }) => {
        await sleep(3);
        sourceSeen.push(seq);
      },
    });
    const sourceModes: Array<[ConsumerMode['kind'], ModeCause]> = [];
    source.on('mode', ({ to, cause }) => sourceModes.push([to.kind, cause]));
    await source.start();
    await producer.start();
    await eventually('the source processing', async () => (sourceSeen.length > 30 ? true : undefined));

    // Checkpointing: the replay queue is bound before the checkpoint; the source goes on meanwhile
    const replay = await broker.createReplayQueue(cfg, 'm1:replay-queue');
    const firstInReplay = producer.state().lastSeq + 2; // published after the bind (one may be in flight)
    await sleep(500);
    // the checkpoint: the process's memory at this instant, which the restored target starts from
    const checkpoint = { processed: source.processed.clone(), seen: [...sourceSeen] };
    for (const n of checkpoint.seen) calls.set(n, 1);

    // Restoring: the target starts from the checkpoint, in another pod, waiting for START_REPLAY
    const target = new MigratableConsumer({
      url: rabbit.url,
      queue: cfg.queueName,
      exchange: cfg.exchangeName,
      identity: { nameFile: await podinfo('consumer-0-shadow', 'uid-b') },
      env: { MS2M_RESTORE_MODE: 'true' },
      processed: checkpoint.processed,
      handler: async ({ seq }) => {
        await sleep(3);
        calls.set(seq, (calls.get(seq) ?? 0) + 1);
      },
    });
    const skipped = new Set<number>();
    target.on('duplicate', ({ seq }) => skipped.add(seq));
    const targetModes: Array<[ConsumerMode['kind'], ModeCause]> = [];
    target.on('mode', ({ to, cause }) => targetModes.push([to.kind, cause]));
    const repeats: string[] = [];
    target.on('control', ({ message, repeated }) => repeated && repeats.push(message.type));
    await target.start();
    expect(target.mode.kind).toBe('awaiting-replay');
    expect(target.controlQueue).toBe('ms2m.control.consumer-0-shadow');
    expect(await broker.consumerCount(cfg, cfg.queueName)).toBe(1); // only the source takes from the primary

    // Replaying
    await broker.sendControl(cfg, 'consumer-0-shadow', startReplay(replay), 'm1:start-replay');
    await eventually('the target replaying', async () => (target.mode.kind === 'replay' ? true : undefined));
    await sleep(1000);
    // cutoff: stop the source, wait until it stopped consuming, then unbind
    await broker.sendControl(cfg, 'consumer-0', { type: 'STOP_CONSUMING' }, 'm1:stop-source');
    await eventually('the source stopped', async () =>
      (await broker.consumerCount(cfg, cfg.queueName)) === 0 ? true : undefined,
    );
    await broker.unbindReplayQueue(cfg, 'm1:unbind');
    await drained(cfg, replay);

    // Finalizing: the target switches to the primary queue, the replay queue and the source go
    await broker.sendControl(cfg, 'consumer-0-shadow', endReplay(), 'm1:end-replay');
    await broker.deleteReplayQueue(cfg, 'm1:delete-replay');
    // the operator resends a control message with the same key after a crash: the consumer drops the repeat
    await broker.sendControl(cfg, 'consumer-0-shadow', startReplay(replay), 'm1:start-replay');
    await eventually('the repeat dropped', async () => (repeats.length > 0 ? true : undefined));
    expect(repeats).toEqual(['START_REPLAY']);
    await source.stop();
    await sleep(1000);
    await producer.stop();
    const sent = producer.state().lastSeq;
    await eventually(
      'the target holding every message',
      async () => (target.processed.contiguousTo >= sent ? true : undefined),
      60_000,
    );
    await sleep(300); // nothing more may arrive: a double delivery would show as a second call
    await target.stop();

    const numbers = Array.from({ length: sent }, (_, i) => i + 1);
    const missing = numbers.filter((n) => !calls.has(n));
    const twice = [...calls].filter(([, c]) => c > 1).map(([n]) => n);
    expect({ missing, twice }).toEqual({ missing: [], twice: [] });
    expect(calls.size).toBe(sent);
    expect(SequenceChecksum.of(calls.keys()).toJSON()).toEqual(SequenceChecksum.ofRange(1, sent).toJSON());
    // what the source had processed from the replay queue before the checkpoint came again and was skipped
    const inBoth = checkpoint.seen.filter((n) => n >= firstInReplay);
    expect(inBoth.length).toBeGreaterThan(0);
    expect(inBoth.filter((n) => !skipped.has(n))).toEqual([]);
    expect(targetModes).toEqual([
      ['replay', 'START_REPLAY'],
      ['primary', 'END_REPLAY'],
    ]);
    expect(sourceModes).toEqual([['stopped', 'STOP_CONSUMING']]);
    expect(target.stats()).toMatchObject({ controlMessages: 2, connects: 1, invalid: 0 });
  });

  it('Sequential, as processes: frozen, connection closed, restored into the new pod; /state shows every sequence once', async () => {
    const cfg: BrokerConfig = { brokerUrl: rabbit.url, exchangeName: 'seq-fanout', queueName: 'seq' };
    await broker.ensureTopology(cfg, 'm2:topology');
    const nameFile = await podinfo('consumer-0', 'uid-old');
    const total = 700;
    const procs: WorkloadProcess[] = [];
    try {
      const consumer = await startWorkloadProcess({
        kind: 'consumer',
        args: ['--url', rabbit.url, '--queue', 'seq', '--exchange', 'seq-fanout', '--delay-ms', '5'],
        env: { POD_NAME_FILE: nameFile, PREFETCH: '20' },
      });
      procs.push(consumer);
      const producer = await startWorkloadProcess({
        kind: 'producer',
        args: ['--url', rabbit.url, '--exchange', 'seq-fanout', '--queue', 'seq', '--rate', '50'],
        env: { MSG_COUNT: String(total) },
      });
      procs.push(producer);
      await eventually('the consumer processing', async () =>
        (await consumer.state<ConsumerState>()).processed > 40 ? true : undefined,
      );

      // Checkpointing: replay queue first, then the checkpoint (the process frozen as it is) and the source gone:
      // its socket is closed under it (a restored socket is: CRIU tcp-close); the new pod has the same name
      const replay = await broker.createReplayQueue(cfg, 'm2:replay-queue');
      await sleep(500);
      const atCheckpoint = await consumer.state<ConsumerState>();
      consumer.signal('SIGSTOP');
      await writeFile(join(dir, 'consumer-0-uid-old', 'uid'), 'uid-new\n');
      expect(abortBrokerSockets(consumer.pid)).toBe(1);
      await sleep(1000);
      consumer.signal('SIGCONT'); // restored

      const waiting = await eventually('the restored consumer waiting for START_REPLAY', async () => {
        const s = await consumer.state<ConsumerState>();
        return s.mode === 'awaiting-replay' && s.connected ? s : undefined;
      });
      expect(waiting).toMatchObject({ pod: 'consumer-0', podUid: 'uid-new', restores: 1, consuming: null });
      expect(waiting.connects).toBe(2);
      expect(waiting.processed).toBeGreaterThanOrEqual(atCheckpoint.processed); // memory kept, counter continues

      await broker.sendControl(cfg, 'consumer-0', startReplay(replay), 'm2:start-replay');
      await eventually('replaying', async () =>
        (await consumer.state<ConsumerState>()).consuming === replay ? true : undefined,
      );
      await sleep(1000);
      await broker.unbindReplayQueue(cfg, 'm2:unbind');
      await drained(cfg, replay);
      await broker.sendControl(cfg, 'consumer-0', endReplay(), 'm2:end-replay');
      await broker.deleteReplayQueue(cfg, 'm2:delete-replay');

      await eventually(
        'the producer done',
        async () => ((await producer.state<ProducerState>()).done ? true : undefined),
        60_000,
      );
      const produced = await producer.state<ProducerState>();
      expect(produced).toMatchObject({ sent: total, lastSeq: total, connects: 1 });
      expect(await producer.stop()).toEqual({ code: 0, signal: null });

      const final = await eventually(
        'the consumer holding every message',
        async () => {
          const s = await consumer.state<ConsumerState>();
          return s.contiguousTo === total ? s : undefined;
        },
        60_000,
      );
      expect(final).toMatchObject({
        processed: total,
        maxSeq: total,
        mode: 'primary',
        consuming: 'seq',
        control: ['START_REPLAY', 'END_REPLAY'],
        invalid: 0,
        restores: 1,
      });
      expect(final.checksum).toEqual(SequenceChecksum.ofRange(1, total).toJSON());
      // what was processed after the replay queue was bound and before the checkpoint came back through replay
      expect(final.duplicates.skipped).toBeGreaterThan(0);
      expect(final.duplicates.seqs.every((n) => n >= 1 && n <= total)).toBe(true);
      expect(final.duplicates.seqs.some((n) => n <= atCheckpoint.maxSeq!)).toBe(true);
      expect(await consumer.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
  });
});
