import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directCheckpointImage } from '../../adapters/agent-client/port.ts';
import { CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import { KeyedMutex } from '../../agent/keyed-mutex.ts';
import type { ImageLoader } from '../../agent/loader.ts';
import {
  type AgentNode,
  type AgentPair,
  type RawAnswer,
  rawPut,
  runningTransfers,
  startAgentPair,
  tarOf,
  waitFor,
} from '../harness/agent.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function checkpoint(seed: string) {
  const body = await tarOf([
    { name: 'config.dump', body: `{"seed":"${seed}"}` },
    { name: 'checkpoint/pages-1.img', body: seed.repeat(20_000) },
  ]);
  return { body, sha: sha256(body) };
}

/** The store of `node` is consistent: every recorded image's layout holds its archive for its container. */
function checkStore(node: AgentNode): void {
  const dir = node.storeDir;
  expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  const metas = readdirSync(join(dir, 'archives')).filter((n) => n.endsWith('.json'));
  const tars = readdirSync(join(dir, 'archives')).filter((n) => n.endsWith('.tar'));
  expect(tars.map((t) => t.slice(0, -4)).sort()).toEqual(metas.map((m) => m.slice(0, -5)).sort());
  for (const m of metas) {
    const e = JSON.parse(readFileSync(join(dir, 'archives', m), 'utf8'));
    expect(sha256(readFileSync(join(dir, 'archives', `${e.id}.tar`)))).toBe(e.id);
    for (const img of e.images) {
      expect(img.image).toBe(directCheckpointImage(img.container, e.id));
      const index = JSON.parse(readFileSync(join(img.layoutDir, 'index.json'), 'utf8'));
      const manifest = JSON.parse(
        readFileSync(join(img.layoutDir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'),
      );
      expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual([`sha256:${e.id}`]);
      expect(manifest.annotations[CHECKPOINT_ANNOTATION]).toBe(img.container);
    }
  }
  for (const d of readdirSync(join(dir, 'images'))) expect(metas).toContain(`${d}.json`);
}

/**
 * A loader that counts loads running at once per digest, and can hold the first load until the test releases it
 * (so that the other requests pile up behind the digest's lock: a real overlap, not a hoped-for one).
 */
function instrumented() {
  const active = new Map<string, number>();
  let maxPerDigest = 0;
  let loads = 0;
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  return {
    hold() {
      gate = new Promise<void>((r) => (open = r));
    },
    release: () => open(),
    get maxPerDigest() {
      return maxPerDigest;
    },
    get loads() {
      return loads;
    },
    wrap: (l: ImageLoader): ImageLoader => ({
      ...l,
      async load(req) {
        loads++;
        const n = (active.get(req.sha256) ?? 0) + 1;
        active.set(req.sha256, n);
        maxPerDigest = Math.max(maxPerDigest, n);
        try {
          const g = gate;
          gate = undefined;
          await g;
          return await l.load(req);
        } finally {
          active.set(req.sha256, (active.get(req.sha256) ?? 1) - 1);
        }
      },
    }),
  };
}

describe('concurrent loads: every upload ends well, the store is never mixed', () => {
  let pair: AgentPair;
  beforeAll(async () => {
    pair = await startAgentPair({ maxConcurrentTransfers: 64 });
  });
  afterAll(async () => pair?.stop());

  /** Announces the digest as a header, or (announce false) sends it as a trailer after a chunked body. */
  const put = (node: AgentNode, c: { body: Buffer; sha: string }, container = 'app', announce = true) =>
    rawPut(node.url, {
      token: pair.token,
      body: c.body,
      headers: {
        ...(announce ? { 'x-checkpoint-sha256': c.sha } : {}),
        'x-checkpoint-container': container,
        'x-migration-id': 'default/c',
      },
      ...(announce ? {} : { trailerSha256: c.sha }),
    }) as Promise<RawAnswer>;

  it('eight uploads of one checkpoint for one container at once: one 201, seven 200, one archive, one image', async () => {
    const probe = instrumented();
    const node = await pair.add('same', { maxConcurrentTransfers: 64 }, { wrapLoader: probe.wrap });
    const a = await checkpoint('same');
    probe.hold();
    const all = Array.from({ length: 8 }, () => put(node, a));
    await waitFor('all eight uploads to hold a slot', async () => (await runningTransfers(node.url, pair.token)) === 8);
    probe.release();
    const answers = await Promise.all(all);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    for (const r of answers)
      expect(r.body).toEqual({ image: directCheckpointImage('app', a.sha), bytes: a.body.length, sha256: a.sha });
    expect(probe.maxPerDigest).toBe(1);
    expect(probe.loads).toBe(1);
    checkStore(node);
  });

  it('different checkpoints for one container at once each get their own image', async () => {
    const probe = instrumented();
    const node = await pair.add('many', { maxConcurrentTransfers: 64 }, { wrapLoader: probe.wrap });
    const cs = await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map(checkpoint));
    probe.hold();
    const all = cs.map((c, i) => put(node, c, 'app', i % 2 === 0)); // half announce the digest, half send a trailer
    await waitFor('all uploads to hold a slot', async () => (await runningTransfers(node.url, pair.token)) === 6);
    probe.release();
    const answers = await Promise.all(all);
    answers.forEach((r, i) => {
      const c = cs[i] as { sha: string; body: Buffer };
      expect(r).toEqual({
        status: 201,
        body: { image: directCheckpointImage('app', c.sha), bytes: c.body.length, sha256: c.sha },
      });
    });
    expect(probe.maxPerDigest).toBe(1);
    checkStore(node);
  });

  it('one checkpoint for several containers at once: an image per container, one archive', async () => {
    const probe = instrumented();
    const node = await pair.add('ctrs', { maxConcurrentTransfers: 64 }, { wrapLoader: probe.wrap });
    const a = await checkpoint('ctrs');
    probe.hold();
    const ctrs = ['app', 'web', 'db', 'app', 'web'];
    const all = ctrs.map((c) => put(node, a, c));
    await waitFor('all uploads to hold a slot', async () => (await runningTransfers(node.url, pair.token)) === 5);
    probe.release();
    const answers = await Promise.all(all);
    answers.forEach((r, i) => {
      expect(r.status === 200 || r.status === 201).toBe(true);
      expect(r.body.image).toBe(directCheckpointImage(ctrs[i] as string, a.sha));
    });
    expect(probe.maxPerDigest).toBe(1);
    expect(probe.loads).toBe(3);
    checkStore(node);
  });

  it('random mixes of uploads, image requests, deletes and GCs never answer 5xx nor leave a mixed store (seeded)', async () => {
    const cs = await Promise.all(['R1', 'R2', 'R3'].map(checkpoint));
    let run = 0;
    const op = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          k: fc.constant('put' as const),
          c: fc.nat(2),
          ctr: fc.constantFrom('app', 'web'),
          announce: fc.boolean(),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ k: fc.constant('image' as const), c: fc.nat(2), ctr: fc.constantFrom('app', 'web') }),
      },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), c: fc.nat(2) }) },
      { weight: 1, arbitrary: fc.constant({ k: 'gc' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 12 }), async (ops) => {
        const node = await pair.add(`mix-${run++}`, { maxConcurrentTransfers: 64 });
        const auth = { authorization: `Bearer ${pair.token}` };
        const results = await Promise.all(
          ops.map(async (o) => {
            if (o.k === 'put') {
              const c = cs[o.c] as { body: Buffer; sha: string };
              const r = await put(node, c, o.ctr, o.announce);
              return { o, c, ...r };
            }
            if (o.k === 'image') {
              const c = cs[o.c] as { body: Buffer; sha: string };
              const r = await fetch(`${node.url}/v1/checkpoints/${c.sha}/images/${o.ctr}`, {
                method: 'PUT',
                headers: { ...auth, 'x-migration-id': 'default/mix' },
              });
              return { o, c, status: r.status, body: (await r.json()) as Record<string, unknown> };
            }
            if (o.k === 'delete') {
              const c = cs[o.c] as { body: Buffer; sha: string };
              const r = await fetch(`${node.url}/v1/checkpoints/${c.sha}`, { method: 'DELETE', headers: auth });
              return { o, c, status: r.status, body: {} };
            }
            const r = await fetch(`${node.url}/v1/gc`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/json' },
              body: JSON.stringify({ olderThanMs: 0 }),
            });
            return { o, c: undefined, status: r.status, body: (await r.json()) as Record<string, unknown> };
          }),
        );
        for (const r of results) {
          expect(r.status).toBeLessThan(500);
          if ((r.o.k === 'put' || r.o.k === 'image') && r.status < 300 && r.c)
            expect(r.body).toEqual({
              image: directCheckpointImage(r.o.ctr, r.c.sha),
              bytes: r.c.body.length,
              sha256: r.c.sha,
            });
          if (r.o.k === 'put') expect([200, 201]).toContain(r.status);
          if (r.o.k === 'image') expect([200, 404]).toContain(r.status);
        }
        checkStore(node);
        await node.stop();
        pair.nodes.delete(node.name);
      }),
      { seed: 4242, numRuns: 15 },
    );
  });
});

describe('KeyedMutex', () => {
  it('runs one section per key at a time, in order; keys in parallel; a failure releases the key', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    let releaseA!: () => void;
    const a1 = m.run('a', async () => {
      log.push('a1 start');
      await new Promise<void>((r) => (releaseA = r));
      log.push('a1 end');
    });
    const a2 = m.run('a', async () => {
      log.push('a2');
      throw new Error('boom');
    });
    const a3 = m.run('a', async () => log.push('a3'));
    const b1 = m.run('b', async () => log.push('b1'));
    await b1;
    expect(log).toEqual(['a1 start', 'b1']);
    expect(m.busy).toBe(1);
    releaseA();
    await a1;
    await expect(a2).rejects.toThrow('boom');
    await a3;
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2', 'a3']);
    expect(m.busy).toBe(0);
  });
});
