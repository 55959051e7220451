import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueOptions as adapterQueueOptions } from '../../adapters/rabbitmq/connection.ts';
import { endReplay, startReplay } from '../../adapters/rabbitmq/port.ts';
import { SequenceChecksum } from '../../eval/workloads/checksum.ts';
import { parseConsumerConfig, parseProducerConfig } from '../../eval/workloads/config.ts';
import { DeliveryProcessor } from '../../eval/workloads/consumer-lib/deliveries.ts';
import {
  ConsumerErrorCode,
  type ConsumerMode,
  dataQueueOf,
  IdentityUnavailableError,
  InvalidOptionsError,
  isOtherPod,
  MigratableConsumer,
  nextMode,
  parseControlMessage,
  queueOptions,
  readIdentity,
  SequenceSet,
  sequenceOfMessage,
  withHeartbeat,
} from '../../eval/workloads/consumer-lib/index.ts';
import { silentLogger } from '../../eval/workloads/consumer-lib/logger.ts';
import type { ConsumerStats } from '../../eval/workloads/consumer-lib/options.ts';
import type { Session } from '../../eval/workloads/consumer-lib/session.ts';
import { startWorkloadProcess } from '../../eval/workloads/local-process.ts';
import {
  consumerDeployment,
  consumerPod,
  consumerService,
  consumerStatefulSet,
  producerPod,
} from '../../eval/workloads/manifests.ts';
import { decodeMessage, encodeMessage } from '../../eval/workloads/message.ts';

// The pure parts of the workloads (no broker): dedup state, wire formats, modes, identity, checksum, manifests.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms2m-workload-lib-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('SequenceSet', () => {
  it('keeps every number once, compacting a contiguous run into a watermark', () => {
    const s = new SequenceSet();
    expect([5, 1, 3, 2, 3].map((n) => s.add(n))).toEqual([true, true, true, true, false]);
    expect(s.toJSON()).toEqual({ first: 1, contiguousTo: 3, sparse: [5], size: 4 });
    expect(s.add(4)).toBe(true);
    expect(s.toJSON()).toEqual({ first: 1, contiguousTo: 5, sparse: [], size: 5 });
    expect([0, 1, 5, 6].map((n) => s.has(n))).toEqual([false, true, true, false]);
    expect([...s.values()]).toEqual([1, 2, 3, 4, 5]);
  });

  it('counts from another first number (SHADOW starts at 0) and keeps numbers below it', () => {
    const s = new SequenceSet(0);
    for (const n of [0, 1, 2]) s.add(n);
    expect(s.contiguousTo).toBe(2);
    const t = new SequenceSet(10);
    t.add(3);
    t.add(10);
    expect([...t.values()]).toEqual([3, 10]);
    expect(t.has(3) && t.has(10) && !t.has(4)).toBe(true);
  });

  it('clones independently (a checkpoint does not follow the source)', () => {
    const s = new SequenceSet();
    s.add(1);
    s.add(3);
    const copy = s.clone();
    s.add(2);
    s.add(4);
    expect(copy.toJSON()).toEqual({ first: 1, contiguousTo: 1, sparse: [3], size: 2 });
    expect(s.size).toBe(4);
  });
});

describe('wire formats', () => {
  it('reads the sequence of the producer message, of a bare integer, and refuses anything else', () => {
    const body = encodeMessage({ seq: 42, id: 'run-42', ts: 1767225600.5 });
    expect(sequenceOfMessage(body)).toBe(42);
    expect(decodeMessage(body)).toEqual({ seq: 42, id: 'run-42', ts: 1767225600.5 });
    expect(sequenceOfMessage(Buffer.from('7'))).toBe(7);
    expect(sequenceOfMessage(Buffer.from('{"seq":0,"id":"x","ts":1}'))).toBe(0); // SHADOW's first
    for (const bad of ['', 'x', '{"seq":"1"}', '{"seq":1.5}', '{"seq":-1}', 'null', '[1]'])
      expect(() => sequenceOfMessage(Buffer.from(bad)), bad).toThrow();
  });

  it('parses every control message exactly as the operator serialises it', () => {
    const wire = (m: unknown) => Buffer.from(JSON.stringify(m));
    expect(parseControlMessage(wire(startReplay('orders.ms2m-replay')))).toEqual(startReplay('orders.ms2m-replay'));
    expect(parseControlMessage(wire(endReplay()))).toEqual({ type: 'END_REPLAY' });
    expect(parseControlMessage(wire({ type: 'STOP_CONSUMING' }))).toEqual({ type: 'STOP_CONSUMING' });
    expect(parseControlMessage(wire({ type: 'RESUME_CONSUMING' }))).toEqual({ type: 'RESUME_CONSUMING' });
    expect(() => parseControlMessage(wire({ type: 'START_REPLAY' }))).toThrow('payload.queue');
    expect(() => parseControlMessage(wire({ type: 'REBOOT' }))).toThrow('unknown type "REBOOT"');
    expect(() => parseControlMessage(wire({ type: 'toString' }))).toThrow('unknown type');
    expect(() => parseControlMessage(Buffer.from('{'))).toThrow('not JSON');
  });

  it('declares queues with the operator adapter arguments to the letter (else 406 PRECONDITION_FAILED)', () => {
    expect(queueOptions('classic')).toEqual(adapterQueueOptions('classic'));
    expect(queueOptions('quorum')).toEqual(adapterQueueOptions('quorum'));
  });

  it('adds a heartbeat to the URL unless it has one', () => {
    expect(withHeartbeat('amqp://u:p@h:5672/%2F', 5)).toBe('amqp://u:p@h:5672/%2F?heartbeat=5');
    expect(withHeartbeat('amqp://h?heartbeat=30', 5)).toBe('amqp://h?heartbeat=30');
  });
});

describe('modes', () => {
  const primary: ConsumerMode = { kind: 'primary' };
  const replay: ConsumerMode = { kind: 'replay', queue: 'q.ms2m-replay' };
  const all: ConsumerMode[] = [primary, replay, { kind: 'stopped' }, { kind: 'awaiting-replay' }];

  it('follows the control table from every mode, and a repeated message changes nothing', () => {
    for (const from of all) {
      expect(nextMode(from, startReplay('q.ms2m-replay'))).toEqual(replay);
      expect(nextMode(from, endReplay())).toEqual(primary);
      expect(nextMode(from, { type: 'STOP_CONSUMING' })).toEqual({ kind: 'stopped' });
      expect(nextMode(from, { type: 'RESUME_CONSUMING' })).toEqual(primary);
      for (const m of [startReplay('x'), endReplay(), { type: 'STOP_CONSUMING' as const }]) {
        const once = nextMode(from, m);
        expect(nextMode(once, m)).toEqual(once);
      }
    }
    expect(all.map((m) => dataQueueOf(m, 'q'))).toEqual(['q', 'q.ms2m-replay', null, null]);
  });
});

describe('identity', () => {
  it('reads the downward-API file first, then the environment, then the hostname, on every call', async () => {
    const d = join(dir, 'podinfo');
    await mkdir(d, { recursive: true });
    const nameFile = join(d, 'name');
    const opts = { nameFile, env: { POD_NAME: 'from-env' }, hostname: () => 'from-host' };
    expect(await readIdentity(opts)).toEqual({ name: 'from-env', source: 'env' });
    expect(await readIdentity({ ...opts, env: {} })).toEqual({ name: 'from-host', source: 'hostname' });
    await writeFile(nameFile, 'consumer-0\n');
    await writeFile(join(d, 'uid'), 'uid-1\n');
    expect(await readIdentity(opts)).toEqual({ name: 'consumer-0', uid: 'uid-1', source: 'file' });
    await writeFile(nameFile, 'consumer-0-shadow');
    expect((await readIdentity(opts)).name).toBe('consumer-0-shadow');
    const err = await readIdentity({ nameFile: join(dir, 'none'), env: {}, hostname: () => ' ' }).catch((e) => e);
    expect(err).toBeInstanceOf(IdentityUnavailableError);
    expect(err.code).toBe(ConsumerErrorCode.IDENTITY_UNAVAILABLE);
  });

  it('tells another pod by its name, or by its UID when the name is the same (Sequential)', () => {
    const a = { name: 'c-0', uid: 'u1', source: 'file' as const };
    expect(isOtherPod(a, { ...a })).toBe(false);
    expect(isOtherPod(a, { ...a, name: 'c-0-shadow' })).toBe(true);
    expect(isOtherPod(a, { ...a, uid: 'u2' })).toBe(true);
    expect(isOtherPod(a, { name: 'c-0', source: 'env' })).toBe(false);
  });
});

describe('MigratableConsumer options', () => {
  it('refuses bad options with a typed error and starts waiting when MS2M_RESTORE_MODE=true', () => {
    const base = { url: 'amqp://127.0.0.1', queue: 'q', handler: () => {} };
    const bad = [
      { ...base, queue: '' },
      { ...base, url: 'not a url' },
      { ...base, prefetch: 0 },
    ];
    for (const o of bad) {
      const err = (() => {
        try {
          new MigratableConsumer(o);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect((err as InvalidOptionsError).code).toBe('MS2M_CONSUMER_INVALID_OPTIONS');
    }
    expect(new MigratableConsumer({ ...base, env: { MS2M_RESTORE_MODE: 'true' } }).mode).toEqual({
      kind: 'awaiting-replay',
    });
    expect(new MigratableConsumer({ ...base, env: {} }).mode).toEqual({ kind: 'primary' });
  });
});

describe('SequenceChecksum', () => {
  it('does not depend on order, and shows a missing, an extra or a repeated number', () => {
    const range = SequenceChecksum.ofRange(1, 100).toJSON();
    const shuffled = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    expect(SequenceChecksum.of(shuffled).toJSON()).toEqual(range);
    expect(range).toMatchObject({ count: 100, sum: 5050 });
    const missing = SequenceChecksum.of(shuffled.filter((n) => n !== 50)).toJSON();
    const twice = SequenceChecksum.of([...shuffled, 50]).toJSON();
    const swapped = SequenceChecksum.of([...shuffled.filter((n) => n !== 3 && n !== 6), 2, 7]).toJSON(); // same sum
    for (const other of [missing, twice, swapped]) expect(other.hash).not.toBe(range.hash);
    expect(swapped.sum).toBe(range.sum - 3 - 6 + 2 + 7);
  });
});

describe('configuration', () => {
  it('takes flags over environment variables over defaults', () => {
    const saved = { ...process.env };
    try {
      process.env.RABBITMQ_URL = 'amqp://env-host';
      process.env.PROCESSING_DELAY_MS = '20';
      process.env.MSG_RATE = '40';
      const c = parseConsumerConfig(['node', 'consumer', '--delay-ms', '7', '--queue', 'app.events']);
      expect(c).toMatchObject({ url: 'amqp://env-host', delayMs: 7, queue: 'app.events', prefetch: 10, firstSeq: 1 });
      expect(parseConsumerConfig(['node', 'consumer'])).toMatchObject({
        delayMs: 20,
        podNameFile: '/etc/podinfo/name',
        podUidFile: undefined,
        exchange: 'orders-fanout',
        httpPort: 8080,
      });
      expect(parseProducerConfig(['node', 'producer', '--count', '5'])).toMatchObject({
        url: 'amqp://env-host',
        rate: 40,
        count: 5,
        exchange: 'orders-fanout',
        queue: 'orders',
      });
    } finally {
      process.env = saved;
    }
  });
});

describe('manifests', () => {
  const amqpUrl = 'amqp://guest:guest@10.210.0.1:5672';

  it('the consumer pod: node entry point, downward API at /etc/podinfo, no service links, readiness on /healthz', () => {
    const pod = consumerPod({ name: 'consumer-0', namespace: 'ev', nodeName: 'node-a', amqpUrl, delayMs: 10 });
    expect(pod.metadata).toMatchObject({ name: 'consumer-0', namespace: 'ev', labels: { app: 'consumer-0' } });
    const spec = pod.spec!;
    expect(spec).toMatchObject({ nodeName: 'node-a', enableServiceLinks: false, restartPolicy: 'Always' });
    const c = spec.containers[0]!;
    expect(c).toMatchObject({
      name: 'consumer',
      image: 'ms2m/workloads:latest',
      command: ['/usr/bin/node', '/app/consumer.mjs'],
      volumeMounts: [{ name: 'podinfo', mountPath: '/etc/podinfo', readOnly: true }],
      readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
    });
    expect(c.livenessProbe).toBeUndefined();
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      RABBITMQ_URL: amqpUrl,
      QUEUE_NAME: 'orders',
      EXCHANGE_NAME: 'orders-fanout',
      PROCESSING_DELAY_MS: '10',
      POD_NAME_FILE: '/etc/podinfo/name',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const items = spec.volumes?.find((v) => v.name === 'podinfo')?.downwardAPI?.items ?? [];
    expect(items.map((i) => [i.path, i.fieldRef?.fieldPath])).toEqual([
      ['name', 'metadata.name'],
      ['uid', 'metadata.uid'],
      ['namespace', 'metadata.namespace'],
      ['labels', 'metadata.labels'],
    ]);
  });

  it('Deployment and StatefulSet select their own template; the broker URL may come from a Secret', () => {
    const amqp = { secretName: 'rabbitmq-url', key: 'url' };
    const d = consumerDeployment({ name: 'consumer', amqpUrl: amqp, replicas: 2, labels: { tier: 'eval' } });
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.template.metadata?.labels).toMatchObject({ ...d.spec?.selector.matchLabels, tier: 'eval' });
    expect(d.spec?.template.spec?.containers[0]?.env?.[0]).toEqual({
      name: 'RABBITMQ_URL',
      valueFrom: { secretKeyRef: { name: 'rabbitmq-url', key: 'url' } },
    });
    const sts = consumerStatefulSet({
      name: 'consumer',
      amqpUrl,
      annotations: { 'org.criu.config': '/etc/criu/tcp.conf' },
    });
    const svc = consumerService({ name: 'consumer' });
    expect(sts.spec?.serviceName).toBe(svc.metadata?.name);
    expect(svc.spec).toMatchObject({ clusterIP: 'None', selector: sts.spec?.selector.matchLabels });
    expect(sts.spec?.template.metadata?.annotations).toEqual({ 'org.criu.config': '/etc/criu/tcp.conf' });
    expect(sts.spec?.template.spec).toMatchObject({ enableServiceLinks: false });
  });

  it('the producer pod', () => {
    const pod = producerPod({ amqpUrl, nodeName: 'node-b', rate: 40, count: 1000, image: 'reg:5000/ms2m/workloads:x' });
    const c = pod.spec!.containers[0]!;
    expect(pod.spec).toMatchObject({ nodeName: 'node-b', enableServiceLinks: false });
    expect(c).toMatchObject({ image: 'reg:5000/ms2m/workloads:x', command: ['/usr/bin/node', '/app/producer.mjs'] });
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      RABBITMQ_URL: amqpUrl,
      MSG_RATE: '40',
      MSG_COUNT: '1000',
      EXCHANGE_NAME: 'orders-fanout',
    });
  });
});

describe('consumer process without a broker', () => {
  it('holds its ballast resident, answers unready on /healthz while it retries, and stops cleanly on SIGTERM', async () => {
    const consumer = await startWorkloadProcess({
      kind: 'consumer',
      args: ['--url', 'amqp://guest:guest@127.0.0.1:1', '--ballast-mib', '64'],
      env: { POD_NAME_FILE: join(dir, 'absent', 'name'), POD_NAME: 'ballast-0' },
    });
    try {
      const health = await consumer.get<{ status: string; connected: boolean }>('/healthz');
      expect(health).toEqual({
        status: 503,
        body: expect.objectContaining({ status: 'unavailable', connected: false }),
      });
      expect(await consumer.state()).toMatchObject({ ballastMib: 64, processed: 0, connected: false, mode: 'primary' });
      const status = await readFile(`/proc/${consumer.pid}/status`, 'utf8');
      const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
      expect(rssKiB).toBeGreaterThan(64 * 1024);
      expect((await consumer.get('/nowhere')).status).toBe(404);
      expect(await consumer.stop()).toEqual({ code: 0, signal: null });
      expect(consumer.output()).toContain('MS2M_CONSUMER_CONNECT_FAILED');
    } finally {
      await consumer.stop();
    }
  });
});

describe('DeliveryProcessor', () => {
  /** A session stand-in: the processor only reads `alive` and settles through ack/requeue/reject. */
  const session = (alive: boolean) => {
    const acked: number[] = [];
    return {
      acked,
      s: {
        alive,
        ack: (m: { content: Buffer }) => {
          if (alive) acked.push(Number(m.content.toString()));
        },
        requeue: () => {},
        reject: () => {},
      } as unknown as Session,
    };
  };
  const msg = (seq: number) =>
    ({ content: Buffer.from(String(seq)), properties: {}, fields: { redelivered: false } }) as unknown as Parameters<
      DeliveryProcessor['push']
    >[0]['msg'];

  it('processes what a session delivered before it died (a restored checkpoint holds the only copy), acks only on a live one', async () => {
    const handled: number[] = [];
    const processed = new SequenceSet();
    const p = new DeliveryProcessor({
      handler: async ({ seq }) => {
        handled.push(seq);
      },
      sequenceOf: sequenceOfMessage,
      processed,
      counters: { processed: 0, duplicates: 0, invalid: 0, handlerFailures: 0, controlMessages: 0 } as ConsumerStats,
      retryDelayMs: 1,
      log: silentLogger,
      onProcessed() {},
      onDuplicate() {},
      onFailure() {},
    });
    const dead = session(false);
    const live = session(true);
    p.push({ session: dead.s, msg: msg(1), queue: 'q' });
    p.push({ session: dead.s, msg: msg(2), queue: 'q' });
    p.push({ session: live.s, msg: msg(2), queue: 'q' }); // the broker's redelivery after a reconnect: a skip
    p.push({ session: live.s, msg: msg(3), queue: 'q' });
    await p.idle(5000);
    expect(handled).toEqual([1, 2, 3]);
    expect(dead.acked).toEqual([]);
    expect(live.acked).toEqual([2, 3]);
  });
});
