import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentClient } from '../../adapters/agent-client/agent-client.ts';
import { directCheckpointImage } from '../../adapters/agent-client/port.ts';
import { CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import type { ImageLoader } from '../../agent/loader.ts';
import { type AgentPair, rawPut, startAgentPair, tarOf, writeRandomTar } from '../harness/agent.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const archives = (storeDir: string) => readdirSync(join(storeDir, 'archives')).filter((n) => n.endsWith('.tar'));

/** What the OCI layout of image `<sha>/<ctr>` really holds: its layer digest and the container it restores. */
function layoutHolds(storeDir: string, sha: string, ctr: string): { layer: string; container: string; tags: string[] } {
  const dir = join(storeDir, 'images', sha, ctr);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return {
    layer: m.layers[0].digest,
    container: m.annotations[CHECKPOINT_ANNOTATION],
    tags: index.manifests.map(
      (x: { annotations: Record<string, string> }) => x.annotations['org.opencontainers.image.ref.name'],
    ),
  };
}

/** A checkpoint archive whose content differs by `seed`, with its body and digest. */
async function checkpoint(seed: string) {
  const body = await tarOf([
    { name: 'config.dump', body: `{"seed":"${seed}"}` },
    { name: 'checkpoint/pages-1.img', body: seed.repeat(1000) },
  ]);
  return { body, sha: sha256(body) };
}

describe('checkpoints and images are keyed by content, never by container name alone', () => {
  let pair: AgentPair;
  const put = (body: Buffer, o: { sha?: string; container?: string; migration?: string } = {}) =>
    rawPut(pair.b.url, {
      token: pair.token,
      body,
      headers: {
        'x-checkpoint-sha256': o.sha ?? sha256(body),
        'x-checkpoint-container': o.container ?? 'app',
        'x-migration-id': o.migration ?? 'default/m1',
      },
    });
  beforeAll(async () => {
    pair = await startAgentPair();
  });
  afterAll(async () => pair?.stop());

  it('A, then B, then A again for one container: every answer names the image of the checkpoint it was given', async () => {
    const a = await checkpoint('A');
    const b = await checkpoint('B');
    expect(await put(a.body)).toMatchObject({ status: 201, body: { image: directCheckpointImage('app', a.sha) } });
    expect(await put(b.body)).toMatchObject({ status: 201, body: { image: directCheckpointImage('app', b.sha) } });
    const again = await put(a.body);
    expect(again).toEqual({
      status: 200,
      body: { image: directCheckpointImage('app', a.sha), bytes: a.body.length, sha256: a.sha },
    });
    // and the image of that name holds A, while B's still holds B
    expect(layoutHolds(pair.b.storeDir, a.sha, 'app')).toEqual({
      layer: `sha256:${a.sha}`,
      container: 'app',
      tags: [`sha256-${a.sha}`],
    });
    expect(layoutHolds(pair.b.storeDir, b.sha, 'app').layer).toBe(`sha256:${b.sha}`);
  });

  it("a body announced with A's digest for another container gets that container's image of A, not app's", async () => {
    const a = await checkpoint('A2');
    await put(a.body);
    // the body is not read (the store holds A): even garbage bytes get the true answer for A
    const r = await put(Buffer.alloc(a.body.length, 9), { sha: a.sha, container: 'web', migration: 'default/m2' });
    expect(r).toEqual({
      status: 200,
      body: { image: directCheckpointImage('web', a.sha), bytes: a.body.length, sha256: a.sha },
    });
    expect(layoutHolds(pair.b.storeDir, a.sha, 'web')).toMatchObject({ layer: `sha256:${a.sha}`, container: 'web' });
    expect(layoutHolds(pair.b.storeDir, a.sha, 'app')).toMatchObject({ layer: `sha256:${a.sha}`, container: 'app' });
    const entry = (await pair.client.list('node-b')).find((e) => e.sha256 === a.sha);
    expect(entry?.images).toEqual([
      { container: 'app', image: directCheckpointImage('app', a.sha) },
      { container: 'web', image: directCheckpointImage('web', a.sha) },
    ]);
    expect(entry?.migrationIds).toEqual(['default/m1', 'default/m2']);
    expect(archives(pair.b.storeDir).filter((n) => n === `${a.sha}.tar`)).toHaveLength(1);
  });

  it('a body whose digest is not stored is read and verified, never answered from another archive', async () => {
    const a = await checkpoint('A3');
    await put(a.body);
    const c = await checkpoint('C3');
    const wrong = await put(c.body, { sha: sha256(Buffer.from('never stored')) });
    expect(wrong).toMatchObject({ status: 400, body: { code: 'DIGEST_MISMATCH' } });
    expect(archives(pair.b.storeDir)).not.toContain(`${c.sha}.tar`);
  });

  it('an image whose layout no longer holds its archive is rebuilt before it is named again', async () => {
    const a = await checkpoint('A4');
    const b = await checkpoint('B4');
    await put(a.body);
    await put(b.body);
    const layer = join(pair.b.storeDir, 'images', a.sha, 'app', 'blobs', 'sha256', a.sha);
    rmSync(layer);
    writeFileSync(layer, b.body); // same name, B's bytes: the old bug's state, on disk
    expect(await put(a.body)).toMatchObject({ status: 200, body: { image: directCheckpointImage('app', a.sha) } });
    expect(sha256(readFileSync(layer))).toBe(a.sha);
    expect(statSync(layer).ino).toBe(statSync(join(pair.b.storeDir, 'archives', `${a.sha}.tar`)).ino);
    // a manifest rewritten to name another layer is caught the same way
    const idx = join(pair.b.storeDir, 'images', a.sha, 'app', 'index.json');
    const bIndex = readFileSync(join(pair.b.storeDir, 'images', b.sha, 'app', 'index.json'), 'utf8');
    writeFileSync(idx, bIndex.replaceAll(b.sha, a.sha));
    expect(await put(a.body)).toMatchObject({ status: 200, body: { image: directCheckpointImage('app', a.sha) } });
    expect(layoutHolds(pair.b.storeDir, a.sha, 'app')).toMatchObject({ layer: `sha256:${a.sha}`, container: 'app' });
  });

  it('a layout folder left by a crash (wrong content) is replaced; a right one is reused', async () => {
    const a = await checkpoint('A5');
    const dir = join(pair.b.storeDir, 'images', a.sha, 'app');
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    writeFileSync(join(dir, 'index.json'), '{"manifests":[]}');
    expect(await put(a.body)).toMatchObject({ status: 201, body: { image: directCheckpointImage('app', a.sha) } });
    expect(layoutHolds(pair.b.storeDir, a.sha, 'app').layer).toBe(`sha256:${a.sha}`);
    const before = statSync(join(dir, 'index.json')).ino;
    await pair.client.remove('node-b', a.sha); // removes archive, metadata, images/<sha>
    expect(existsSync(join(pair.b.storeDir, 'images', a.sha))).toBe(false);
    expect(await put(a.body)).toMatchObject({ status: 201 });
    expect(statSync(join(dir, 'index.json')).ino).not.toBe(before);
  });

  it('PUT /v1/checkpoints/{sha}/images/{ctr}: 404 for an archive not here, the verified image otherwise', async () => {
    const a = await checkpoint('A6');
    const call = (sha: string, ctr: string) =>
      fetch(`${pair.b.url}/v1/checkpoints/${sha}/images/${ctr}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${pair.token}`, 'x-migration-id': 'default/m6' },
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await call(a.sha, 'app')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    await put(a.body);
    expect(await call(a.sha, 'other')).toEqual({
      status: 200,
      body: { image: directCheckpointImage('other', a.sha), bytes: a.body.length, sha256: a.sha },
    });
    expect(await call(a.sha, 'Not_A_Name')).toMatchObject({ status: 400 });
    expect(await call('zz', 'app')).toMatchObject({ status: 400 });
  });
});

describe('senders and clients accept only answers that name what was sent', () => {
  let pair: AgentPair;
  let liar: http.Server;
  let liarUrl: string;
  let lie: (body: { image: string; bytes: number; sha256: string }) => object;
  beforeAll(async () => {
    pair = await startAgentPair();
    // a target "agent" that stores nothing and answers with whatever `lie` makes of the honest answer
    liar = http.createServer((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => {
        const sha = h.digest('hex');
        const ctr = String(req.headers['x-checkpoint-container']);
        const answer = lie({ image: directCheckpointImage(ctr, sha), bytes: n, sha256: sha });
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
    pair.nodes.set('liar', {
      name: 'liar',
      url: liarUrl,
      storeDir: '',
      checkpointsDir: '',
      stop: async () => undefined,
    });
  });
  afterAll(async () => {
    liar?.close();
    await pair?.stop();
  });

  const sendTo = async (target: string, name: string, container = 'app') => {
    await writeRandomTar(join(pair.a.checkpointsDir, name), 64 << 10);
    return pair.client
      .send({
        sourceNode: 'node-a',
        targetNode: target,
        checkpointPath: join(pair.a.checkpointsDir, name),
        container,
        migrationId: 'default/m',
        key: 'k',
      })
      .catch((e: Error & { code?: string }) => e);
  };

  it('the source agent rejects a target answering with a reused tag (:latest)', async () => {
    lie = (a) => ({ ...a, image: 'localhost/checkpoint/app:latest' });
    expect(await sendTo('liar', 'l1.tar')).toMatchObject({ code: 'ANSWER_MISMATCH' });
  });
  it('the source agent rejects a target answering for another digest', async () => {
    lie = (a) => ({ ...a, sha256: '0'.repeat(64), image: directCheckpointImage('app', '0'.repeat(64)) });
    expect(await sendTo('liar', 'l2.tar')).toMatchObject({ code: 'ANSWER_MISMATCH' });
  });
  it("the source agent rejects a target answering with another container's image", async () => {
    lie = (a) => ({ ...a, image: a.image.replace('/app:', '/web:') });
    expect(await sendTo('liar', 'l3.tar')).toMatchObject({ code: 'ANSWER_MISMATCH' });
  });
  it('an honest answer passes', async () => {
    lie = (a) => a;
    expect(await sendTo('liar', 'l4.tar')).toMatchObject({
      image: expect.stringMatching(/^localhost\/checkpoint\/app:sha256-[a-f0-9]{64}$/),
    });
  });

  it('the client rejects a source agent whose result names another image', async () => {
    const fakeSource = http.createServer((_q, s) => {
      s.writeHead(200, { 'content-type': 'application/x-ndjson' });
      s.end(
        `${JSON.stringify({ type: 'result', image: 'localhost/checkpoint/app:latest', bytes: 1, sha256: 'a'.repeat(64) })}\n`,
      );
    });
    await new Promise<void>((r) => fakeSource.listen(0, '127.0.0.1', r));
    const client = createAgentClient({
      token: 't',
      resolve: () => `http://127.0.0.1:${(fakeSource.address() as AddressInfo).port}`,
    });
    const err = await client
      .send({ sourceNode: 's', targetNode: 't', checkpointPath: '/x', container: 'app', migrationId: 'm', key: 'k' })
      .catch((e) => e);
    fakeSource.close();
    expect(err).toMatchObject({ code: 'ANSWER_MISMATCH' });
  });

  it('a re-send of a known archive asks the target for its image first; a new container gets its own image', async () => {
    const logs: Record<string, unknown>[] = [];
    const target = await pair.add('node-logged', undefined, { logs });
    const received = () => logs.filter((l) => l.msg === 'Received checkpoint').length;
    await writeRandomTar(join(pair.a.checkpointsDir, 'known.tar'), 1 << 20);
    const req = {
      sourceNode: 'node-a',
      targetNode: 'node-logged',
      checkpointPath: join(pair.a.checkpointsDir, 'known.tar'),
      container: 'app',
      migrationId: 'default/k1',
      key: 'k',
    };
    const first = await pair.client.send(req);
    expect(received()).toBe(1);
    const forWeb = await pair.client.send({ ...req, container: 'web', migrationId: 'default/k2' });
    expect(forWeb).toEqual({ ...first, image: directCheckpointImage('web', first.sha256) });
    expect(received()).toBe(1); // not streamed again
    expect(layoutHolds(target.storeDir, first.sha256, 'web')).toMatchObject({
      layer: `sha256:${first.sha256}`,
      container: 'web',
    });
    // the target lost it (deleted): the source streams it again instead of trusting its memory
    await pair.client.remove('node-logged', first.sha256);
    expect(await pair.client.send(req)).toEqual(first);
    expect(received()).toBe(2);
    expect(archives(target.storeDir)).toEqual([`${first.sha256}.tar`]);
  });
});

describe('GC removes what was not used recently, not what was created long ago and used since', () => {
  it('a re-sent archive is kept by a GC that would have removed it by creation time', async () => {
    let now = Date.parse('2026-12-02T00:00:00Z');
    const pair = await startAgentPair();
    try {
      const node = await pair.add('node-c', undefined, { clock: { now: () => now } });
      const a = await checkpoint('G1');
      const h = { 'x-checkpoint-sha256': a.sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/g' };
      expect(await rawPut(node.url, { token: pair.token, body: a.body, headers: h })).toMatchObject({ status: 201 });
      now += 10 * 3600_000;
      expect(await rawPut(node.url, { token: pair.token, body: a.body, headers: h })).toMatchObject({ status: 200 });
      now += 1 * 3600_000;
      expect(await pair.client.gc('node-c', 6 * 3600_000)).toBe(0);
      now += 6 * 3600_000;
      expect(await pair.client.gc('node-c', 6 * 3600_000)).toBe(1);
      expect(archives(node.storeDir)).toEqual([]);
      expect(readdirSync(join(node.storeDir, 'images'))).toEqual([]);
    } finally {
      await pair.stop();
    }
  });

  it('metadata and per-container layouts of an older agent are not trusted: swept at start, rebuilt on use', async () => {
    const pair = await startAgentPair();
    try {
      const a = await checkpoint('OLD');
      const storeDir = join(pair.root, 'node-old', 'store');
      mkdirSync(join(storeDir, 'archives'), { recursive: true });
      mkdirSync(join(storeDir, 'images', 'app', 'blobs'), { recursive: true });
      writeFileSync(join(storeDir, 'archives', `${a.sha}.tar`), a.body);
      writeFileSync(
        join(storeDir, 'archives', `${a.sha}.json`),
        JSON.stringify({
          id: a.sha,
          container: 'app',
          migrationId: 'm',
          bytes: a.body.length,
          sha256: a.sha,
          createdAt: new Date().toISOString(),
          image: 'localhost/checkpoint/app:latest',
          layoutDir: join(storeDir, 'images', 'app'),
        }),
      );
      writeFileSync(join(storeDir, 'archives', `${'e'.repeat(64)}.tar`), 'orphan without metadata');
      const node = await pair.add('node-old');
      expect(readdirSync(join(storeDir, 'images'))).toEqual([]);
      expect(archives(storeDir)).toEqual([`${a.sha}.tar`]);
      const h = { 'x-checkpoint-sha256': a.sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/o' };
      expect(await rawPut(node.url, { token: pair.token, body: a.body, headers: h })).toMatchObject({
        status: 200,
        body: { image: directCheckpointImage('app', a.sha) },
      });
      expect(layoutHolds(storeDir, a.sha, 'app').layer).toBe(`sha256:${a.sha}`);
    } finally {
      await pair.stop();
    }
  });

  it('a loader that names another image is never answered as success', async () => {
    const pair = await startAgentPair();
    try {
      const wrap = (l: ImageLoader): ImageLoader => ({
        ...l,
        load: async (req) => ({ ...(await l.load(req)), image: 'localhost/checkpoint/app:latest' }),
      });
      const node = await pair.add('node-bad-loader', undefined, { wrapLoader: wrap });
      const a = await checkpoint('BAD');
      const h = { 'x-checkpoint-sha256': a.sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/b' };
      expect(await rawPut(node.url, { token: pair.token, body: a.body, headers: h })).toMatchObject({
        status: 500,
        body: { code: 'IMAGE_VERIFY_FAILED' },
      });
    } finally {
      await pair.stop();
    }
  });
});
