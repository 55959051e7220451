import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransferProgress } from '../../adapters/agent-client/port.ts';
import { digestFile } from '../../adapters/oci/digest.ts';
import { ociRegistry } from '../../adapters/oci/registry.ts';
import {
  type AgentPair,
  putHead,
  rawPut,
  rawSocket,
  runningTransfers,
  startAgentPair,
  startAgentProcess,
  tarOf,
  waitFor,
  writeRandomTar,
  writeSparseTar,
} from '../harness/agent.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';

/** Every path under `dir` (files and folders), relative. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      out.push(relative(dir, p));
      if (statSync(p).isDirectory() && !p.includes(`${join('store', 'archives')}`)) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

const archives = (storeDir: string) => readdirSync(join(storeDir, 'archives')).filter((n) => n.endsWith('.tar'));
const tmpFiles = (storeDir: string) => readdirSync(join(storeDir, 'tmp'));
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await cond()).toBe(true);
}

describe('node agents A and B over real sockets', () => {
  let pair: AgentPair;
  const send = (name: string, extra: Partial<{ migrationId: string; key: string }> = {}) =>
    pair.client.send({
      sourceNode: 'node-a',
      targetNode: 'node-b',
      checkpointPath: join(pair.a.checkpointsDir, name),
      container: 'app',
      migrationId: 'default/m1',
      key: 'default/m1:transfer',
      ...extra,
    });

  beforeAll(async () => {
    pair = await startAgentPair();
  });
  afterAll(async () => pair?.stop());

  for (const [label, bytes] of [
    ['1 MiB', 1 << 20],
    ['256 MiB', 256 << 20],
  ] as const) {
    it(`sends ${label} node to node, verified and loaded as localhost/checkpoint/app:sha256-<digest>`, async () => {
      const name = `ckpt-${bytes}.tar`;
      await writeRandomTar(join(pair.a.checkpointsDir, name), bytes);
      const progress: TransferProgress[] = [];
      const r = await send(name).then(
        (x) => x,
        (e) => {
          throw e;
        },
      );
      const again = await pair.client.send(
        {
          sourceNode: 'node-a',
          targetNode: 'node-b',
          checkpointPath: join(pair.a.checkpointsDir, name),
          container: 'app',
          migrationId: 'default/m1',
          key: 'k',
        },
        (p) => progress.push(p),
      );
      const { digest, size } = await digestFile(join(pair.a.checkpointsDir, name));
      expect(r).toEqual({
        image: `localhost/checkpoint/app:sha256-${digest.slice(7)}`,
        bytes: size,
        sha256: digest.slice(7),
      });
      expect(again).toEqual(r); // re-send is a no-op with the same answer
      expect(progress.at(-1)).toEqual({ bytesTransferred: size, bytesTotal: size });
      expect(archives(pair.b.storeDir).filter((n) => n === `${r.sha256}.tar`)).toHaveLength(1);
      expect((await digestFile(join(pair.b.storeDir, 'archives', `${r.sha256}.tar`))).digest).toBe(digest);
      const layout = join(pair.b.storeDir, 'images', r.sha256, 'app');
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
      expect(index.manifests).toHaveLength(1);
      expect(existsSync(join(layout, 'blobs', 'sha256', r.sha256))).toBe(true);
      expect(tmpFiles(pair.b.storeDir)).toEqual([]);
    });
  }

  it('sends a sparse 2 GiB checkpoint (file removed afterwards)', async () => {
    const path = join(pair.a.checkpointsDir, 'sparse.tar');
    await writeSparseTar(path, 2 * 1024 ** 3);
    try {
      const r = await send('sparse.tar');
      expect(r.bytes).toBe(statSync(path).size);
      expect(r.sha256).toBe((await digestFile(path)).digest.slice(7));
      await pair.client.remove('node-b', r.sha256);
      expect(archives(pair.b.storeDir)).not.toContain(`${r.sha256}.tar`);
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('a sender aborted mid-transfer leaves no partial image; the retry stores exactly one', async () => {
    const name = 'abort.tar';
    await writeRandomTar(join(pair.a.checkpointsDir, name), 8 << 20);
    const body = readFileSync(join(pair.a.checkpointsDir, name));
    const sha = (await digestFile(join(pair.a.checkpointsDir, name))).digest.slice(7);
    const before = archives(pair.b.storeDir);
    const res = await rawPut(pair.b.url, {
      token: pair.token,
      body,
      abortAfterBytes: 3 << 20,
      headers: { 'x-checkpoint-sha256': sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'm' },
    });
    expect(res).toBe('aborted');
    await until(() => tmpFiles(pair.b.storeDir).length === 0);
    expect(archives(pair.b.storeDir)).toEqual(before);
    const r = await send(name);
    expect(r.sha256).toBe(sha);
    expect(archives(pair.b.storeDir).filter((n) => n.startsWith(sha))).toHaveLength(1);
  });

  it('a killed sender process leaves no partial image; the retry after restart succeeds once', async () => {
    const name = 'killed.tar';
    await writeRandomTar(join(pair.a.checkpointsDir, name), 64 << 20);
    const sha = (await digestFile(join(pair.a.checkpointsDir, name))).digest.slice(7);
    const opts = {
      storeDir: join(pair.root, 'proc-a', 'store'),
      checkpointsDir: pair.a.checkpointsDir,
      token: pair.token,
    };
    const slow = await startAgentProcess({ ...opts, env: { MS2M_AGENT_BYTES_PER_SECOND: String(8 << 20) } });
    pair.nodes.set('proc-a', {
      name: 'proc-a',
      url: slow.url,
      storeDir: opts.storeDir,
      checkpointsDir: opts.checkpointsDir,
      stop: () => slow.stop(),
    });
    const req = {
      sourceNode: 'proc-a',
      targetNode: 'node-b',
      checkpointPath: join(pair.a.checkpointsDir, name),
      container: 'app',
      migrationId: 'default/m2',
      key: 'default/m2:transfer',
    };
    let seen = 0;
    const sending = pair.client.send(req, (p) => (seen = p.bytesTransferred)).catch((e) => e);
    await until(() => seen > 4 << 20);
    await slow.stop('SIGKILL');
    expect(await sending).toBeInstanceOf(Error);
    await until(() => tmpFiles(pair.b.storeDir).length === 0);
    expect(archives(pair.b.storeDir)).not.toContain(`${sha}.tar`);
    const fast = await startAgentProcess(opts);
    pair.nodes.set('proc-a', {
      name: 'proc-a',
      url: fast.url,
      storeDir: opts.storeDir,
      checkpointsDir: opts.checkpointsDir,
      stop: () => fast.stop(),
    });
    const r = await pair.client.send(req);
    expect(r.sha256).toBe(sha);
    expect(archives(pair.b.storeDir).filter((n) => n.startsWith(sha))).toHaveLength(1);
  });

  it('rejects a body whose sha256 differs from the announced one and stores nothing', async () => {
    const body = await tarOf([{ name: 'config.dump', body: '{}' }]);
    const before = archives(pair.b.storeDir);
    const r = await rawPut(pair.b.url, {
      token: pair.token,
      body,
      headers: { 'x-checkpoint-sha256': '0'.repeat(64), 'x-checkpoint-container': 'app', 'x-migration-id': 'm' },
    });
    expect(r).toMatchObject({ status: 400, body: { code: 'DIGEST_MISMATCH' } });
    expect(archives(pair.b.storeDir)).toEqual(before);
    expect(tmpFiles(pair.b.storeDir)).toEqual([]);
  });

  it('answers 429 beyond the concurrency limit while a transfer holds the slot, and serves again once it is freed', async () => {
    const one = await pair.add('node-one', { maxConcurrentTransfers: 1 });
    const body = await tarOf([{ name: 'a', body: 'x'.repeat(100_000) }]);
    const h = { 'x-checkpoint-container': 'app', 'x-migration-id': 'm' };
    const first = await rawSocket(one.url, putHead({ token: pair.token, headers: h, contentLength: body.length }));
    await first.write(body.subarray(0, 1000));
    await waitFor('the first upload to hold the slot', async () => (await runningTransfers(one.url, pair.token)) === 1);
    const second = await rawPut(one.url, { token: pair.token, body, headers: h });
    expect(second).toMatchObject({ status: 429, body: { code: 'TOO_MANY_TRANSFERS' } });
    first.destroy();
    await waitFor('the slot to be freed', async () => (await runningTransfers(one.url, pair.token)) === 0);
    const sha = createHash('sha256').update(body).digest('hex');
    const third = await rawPut(one.url, { token: pair.token, body, headers: { ...h, 'x-checkpoint-sha256': sha } });
    expect(third).toMatchObject({ status: 201, body: { sha256: sha } });
  });

  it('lists, garbage-collects and reports pre-dump as unsupported with the reason', async () => {
    const list = await pair.client.list('node-b');
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]).toMatchObject({ container: 'app' });
    const p = await pair.client.predump('node-b', {
      action: 'start',
      namespace: 'default',
      pod: 'p',
      container: 'app',
    });
    expect(p.supported).toBe(false);
    if (!p.supported) expect(p.reason).toMatch(/criu|memory dirty tracking/);
    expect(await pair.client.gc('node-b', 0)).toBe(list.length);
    expect(archives(pair.b.storeDir)).toEqual([]);
    expect(readdirSync(join(pair.b.storeDir, 'images'))).toEqual([]);
  });
});

describe('hostile uploads are rejected and write nothing outside the store', () => {
  let pair: AgentPair;
  beforeAll(async () => {
    pair = await startAgentPair({ maxBodyBytes: 1 << 20 });
  });
  afterAll(async () => pair?.stop());
  const h = { 'x-checkpoint-container': 'app', 'x-migration-id': 'm' };
  const cases: [string, () => Promise<Buffer>, number, string][] = [
    ['../ path', () => tarOf([{ name: '../escape', body: 'x' }]), 422, 'UNSAFE_TAR'],
    ['absolute path', () => tarOf([{ name: '/tmp/escape-abs', body: 'x' }]), 422, 'UNSAFE_TAR'],
    ['symlink escape', () => tarOf([{ name: 'link', type: 'symlink', linkname: '../../../etc' }]), 422, 'UNSAFE_TAR'],
    ['absolute symlink', () => tarOf([{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), 422, 'UNSAFE_TAR'],
    ['hardlink escape', () => tarOf([{ name: 'hl', type: 'link', linkname: '../../outside' }]), 422, 'UNSAFE_TAR'],
    ['device entry', () => tarOf([{ name: 'dev', type: 'character-device' }]), 422, 'UNSAFE_TAR'],
    ['fifo entry', () => tarOf([{ name: 'fifo', type: 'fifo' }]), 422, 'UNSAFE_TAR'],
    ['not a tar', async () => Buffer.alloc(4096, 7), 422, 'UNSAFE_TAR'],
    ['oversize body', () => tarOf([{ name: 'big', body: 'x'.repeat(2 << 20) }]), 413, 'BODY_TOO_LARGE'],
  ];
  for (const [label, make, status, code] of cases) {
    it(`rejects ${label} (${status})`, async () => {
      const outside = tree(pair.root).filter((p) => !p.startsWith(join('node-b', 'store')));
      const r = await rawPut(pair.b.url, { token: pair.token, body: await make(), headers: h });
      expect(r).toMatchObject({ status, body: { code } });
      expect(tree(pair.root).filter((p) => !p.startsWith(join('node-b', 'store')))).toEqual(outside);
      expect(archives(pair.b.storeDir)).toEqual([]);
      await until(() => tmpFiles(pair.b.storeDir).length === 0);
      expect(existsSync('/tmp/escape-abs')).toBe(false);
    });
  }
  it('rejects a missing or wrong token (401) on every endpoint', async () => {
    const body = await tarOf([{ name: 'a', body: 'x' }]);
    expect(await rawPut(pair.b.url, { body, headers: h })).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHORIZED' },
    });
    expect(await rawPut(pair.b.url, { token: 'wrong', body, headers: h })).toMatchObject({ status: 401 });
    for (const [m, p] of [
      ['GET', '/v1/healthz'],
      ['GET', '/v1/checkpoints'],
      ['POST', '/v1/send'],
      ['POST', '/v1/gc'],
      ['POST', '/v1/predump'],
    ]) {
      const res = await fetch(`${pair.b.url}${p}`, { method: m, headers: { authorization: 'Bearer nope' } });
      expect(res.status).toBe(401);
    }
    expect(archives(pair.b.storeDir)).toEqual([]);
  });
  it('refuses to send a file outside its checkpoint folders', async () => {
    const err = await pair.client
      .send({
        sourceNode: 'node-a',
        targetNode: 'node-b',
        checkpointPath: '/etc/passwd',
        container: 'app',
        migrationId: 'm',
        key: 'k',
      })
      .catch((e) => e);
    expect(err.code).toBe('BAD_REQUEST');
  });
});

describe('agent push to a registry', () => {
  let pair: AgentPair;
  let reg: RegistryHarness;
  beforeAll(async () => {
    pair = await startAgentPair();
    reg = await startRegistry();
  });
  afterAll(async () => {
    await pair?.stop();
    await reg?.stop();
  });
  it('pushes a local checkpoint as an image with progress; a re-push is a no-op', async () => {
    const path = join(pair.a.checkpointsDir, 'push.tar');
    await writeRandomTar(path, 4 << 20);
    const ref = `${reg.host}/ckpt/myapp-0:checkpoint`;
    const progress: TransferProgress[] = [];
    const req = {
      sourceNode: 'node-a',
      checkpointPath: path,
      container: 'app',
      imageRef: ref,
      migrationId: 'default/m',
      key: 'default/m:transfer',
    };
    const r = await pair.client.push(req, (p) => progress.push(p));
    expect(r).toEqual({ image: ref, bytes: statSync(path).size, sha256: (await digestFile(path)).digest.slice(7) });
    expect(progress.at(-1)?.bytesTransferred).toBe(r.bytes);
    expect(await ociRegistry({ insecure: true }).exists(ref)).toBe(true);
    expect(await pair.client.push(req)).toEqual(r);
  });
});
