import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsKvLease, openLeaseBucket } from '../../adapters/nats/kv-lease.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';

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
});
