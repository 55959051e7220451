import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { HostGroup } from '../../actors/host-group.ts';
import { normalizeSpec } from '../../actors/migration-spec.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { ErrorCode } from '../../adapters/errors.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { natsKvLease, openLeaseBucket } from '../../adapters/nats/kv-lease.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';
import { createFakeWorld, TARGET_NODE } from '../support/fake-world.ts';

const logger = pino({ level: 'silent' });
let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NATS KV lease', () => {
  it('lets exactly one holder acquire, renews, and hands over after release', async () => {
    const kv = await openLeaseBucket(nc, { bucket: 'leases-a', ttlMs: 60_000 });
    const a = natsKvLease({ kv, key: 'leader', holder: 'pod-a', ttlMs: 60_000, logger });
    const b = natsKvLease({ kv, key: 'leader', holder: 'pod-b', ttlMs: 60_000, logger });
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.renew()).toBe(true);
    expect(await a.acquire()).toBe(true);
    expect((await kv.get('leader'))?.string()).toBe('pod-a');
    await a.release();
    expect(await a.renew()).toBe(false);
    expect(await b.acquire()).toBe(true);
    expect((await kv.get('leader'))?.string()).toBe('pod-b');
    await b.release();
  });

  it('re-acquires its own live entry after a restart of the holder process', async () => {
    const kv = await openLeaseBucket(nc, { bucket: 'leases-b', ttlMs: 60_000 });
    const first = natsKvLease({ kv, key: 'leader', holder: 'pod-a', ttlMs: 60_000 });
    expect(await first.acquire()).toBe(true);
    await first.close();
    const again = natsKvLease({ kv, key: 'leader', holder: 'pod-a', ttlMs: 60_000 });
    expect(await again.acquire()).toBe(true);
    expect(await again.renew()).toBe(true);
    await again.release();
  });

  it('expires an unrenewed lease: the holder is told once that it lost it, and another process takes over', async () => {
    const kv = await openLeaseBucket(nc, { bucket: 'leases-c', ttlMs: 1000 });
    const a = natsKvLease({ kv, key: 'leader', holder: 'pod-a', ttlMs: 1000, logger });
    const b = natsKvLease({ kv, key: 'leader', holder: 'pod-b', ttlMs: 1000, logger });
    let lostCalls = 0;
    const lost = new Promise<void>((resolve) =>
      a.onLost(() => {
        lostCalls++;
        resolve();
      }),
    );
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    // a does not renew: it learns of the loss by itself (its TTL timer), whatever b does meanwhile
    await lost;
    expect(await a.renew()).toBe(false);
    // the server removes the entry once its TTL passed; until then b's create is refused
    let taken = false;
    for (let attempt = 0; attempt < 100 && !taken; attempt++) {
      taken = await b.acquire();
      if (!taken) await sleep(100);
    }
    expect(taken).toBe(true);
    expect((await kv.get('leader'))?.string()).toBe('pod-b');
    expect(await a.renew()).toBe(false);
    expect(await a.acquire()).toBe(false);
    expect(lostCalls).toBe(1);
    await b.release();
    await a.close();
  });

  it('reports loss when another process overwrites the entry', async () => {
    const kv = await openLeaseBucket(nc, { bucket: 'leases-d', ttlMs: 60_000 });
    const a = natsKvLease({ kv, key: 'leader', holder: 'pod-a', ttlMs: 60_000, logger });
    const lost = new Promise<void>((resolve) => a.onLost(resolve));
    expect(await a.acquire()).toBe(true);
    await kv.put('leader', 'intruder');
    await lost;
    expect(await a.renew()).toBe(false);
    await a.close();
  });

  it('losing it stops every migration host of the leader at once; none appends afterwards', async () => {
    const kv = await openLeaseBucket(nc, { bucket: 'leases-e', ttlMs: 60_000 });
    const lease = natsKvLease({ kv, key: 'leader', holder: 'operator-a', ttlMs: 60_000, logger });
    expect(await lease.acquire()).toBe(true);
    const clock = systemClock();
    let checkpoints = 0;
    let checkpointing!: () => void;
    const bothCheckpointing = new Promise<void>((r) => {
      checkpointing = r;
    });
    // checkpoints take 2 s: both migrations are mid-flight when the lease goes
    const world = createFakeWorld({
      clock,
      faults: (op) => {
        if (op === 'checkpoint' && ++checkpoints === 2) checkpointing();
        return op === 'checkpoint' ? { kind: 'slow', ms: 2000 } : { kind: 'ok' };
      },
    });
    const pods = [world.seed('pod'), world.seed('deployment')];
    const log = createMemoryEventLog();
    const group = new HostGroup({
      chart: migrationChart,
      deps: { ...world, logger, log, pollMs: 20, sampleHeartbeatMs: 200 },
    });
    group.stopOnLoss(lease);
    const hosts = await Promise.all(pods.map((_, i) => group.open(`default/m${i}`)));
    const halted = new Promise<boolean[]>((resolve) => lease.onLost(() => resolve(hosts.map((h) => h.isStopped))));
    await Promise.all(
      hosts.map((h, i) =>
        h.request({
          spec: normalizeSpec(
            { namespace: 'default', name: `m${i}`, uid: `uid-m${i}` },
            {
              sourcePod: pods[i]!,
              targetNode: TARGET_NODE,
              messageQueueConfig: { queueName: `q${i}`, brokerUrl: 'amqp://127.0.0.1', exchangeName: `x${i}` },
            },
          ),
        }),
      ),
    );
    await bothCheckpointing;
    await kv.put('leader', 'operator-b'); // another process took the lease
    expect(await halted).toEqual([true, true]);
    await group.stopAll('test: already stopping');
    const stored = log.snapshot().length;
    // the slow checkpoints finish after the loss: their facts are not appended
    await new Promise<void>((resolve) => {
      const started = Date.now();
      const check = () =>
        world.journal.applied('checkpoint').length === 2 || Date.now() - started > 10_000
          ? resolve()
          : setTimeout(check, 50);
      check();
    });
    expect(world.journal.applied('checkpoint')).toHaveLength(2);
    expect(log.snapshot()).toHaveLength(stored);
    expect(log.snapshot().some((e) => e.type === 'CheckpointCreated')).toBe(false);
    for (const h of hosts) await expect(h.done()).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });
    await lease.close();
  });
});
