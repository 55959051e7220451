import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageConfigWire, ManifestWire } from '../../adapters/oci/oci.wire.ts';
import { type BuildImagesOptions, buildImages, type ImageReport } from '../../cluster/images/build.ts';
import { BUNDLE_BANNER } from '../../cluster/images/bundle.ts';
import { ImageCache } from '../../cluster/images/cache.ts';
import { buildLayer, type LayerEntry } from '../../cluster/images/layer.ts';
import { parseLdd } from '../../cluster/images/node-runtime.ts';
import { findCachedCtr } from '../../cluster/images/recipes.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const FIXTURE = 'test/adapters/fixtures/images/workload.ts';
const ctrPath = await findCachedCtr(join(import.meta.dirname, '..', '..')).catch(() => null);

/** A proxy in front of the registry that counts the requests that send content. */
function startCountingProxy(target: string) {
  const counts = { uploadsStarted: 0, blobPuts: 0, manifestPuts: 0, bytesIn: 0 };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url.includes('/blobs/uploads/')) counts.uploadsStarted++;
    if (req.method === 'PUT' && url.includes('/blobs/uploads/')) counts.blobPuts++;
    if (req.method === 'PUT' && url.includes('/manifests/')) counts.manifestPuts++;
    req.on('data', (c: Buffer) => {
      counts.bytesIn += c.length;
    });
    const up = http.request(`http://${target}${url}`, { method: req.method, headers: req.headers }, (r) => {
      const headers = { ...r.headers };
      // upload Locations point at the registry itself: keep the client on the proxy
      if (headers.location) headers.location = headers.location.replace(`http://${target}`, '');
      res.writeHead(r.statusCode ?? 502, headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise<{ host: string; counts: typeof counts; reset(): void; close(): Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        counts,
        reset: () => Object.assign(counts, { uploadsStarted: 0, blobPuts: 0, manifestPuts: 0, bytesIn: 0 }),
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      }),
    ),
  );
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function getManifest(host: string, repo: string, ref: string): Promise<{ bytes: Buffer; digest: string }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
  return { bytes: Buffer.from(await res.arrayBuffer()), digest: res.headers.get('docker-content-digest') ?? '' };
}

async function getBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Pulls `ref` from the registry, checks every digest, and unpacks its layers into `root` (as a runtime would). */
async function pullAndCheck(host: string, repo: string, tag: string, digest: string, root?: string) {
  const m = await getManifest(host, repo, tag);
  expect(m.digest).toBe(digest);
  expect(sha256(m.bytes)).toBe(digest);
  const manifest = JSON.parse(m.bytes.toString()) as ManifestWire;
  expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
  const configBytes = await getBlob(host, repo, manifest.config.digest);
  expect(sha256(configBytes)).toBe(manifest.config.digest);
  expect(configBytes.length).toBe(manifest.config.size);
  const config = JSON.parse(configBytes.toString()) as ImageConfigWire;
  expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
  for (const [i, l] of manifest.layers.entries()) {
    const blob = await getBlob(host, repo, l.digest);
    expect(sha256(blob)).toBe(l.digest);
    expect(blob.length).toBe(l.size);
    const tarBytes = l.mediaType.endsWith('+gzip') ? gunzipSync(blob) : blob;
    expect(sha256(tarBytes)).toBe(config.rootfs.diff_ids[i]);
    if (root) {
      const file = join(root, '..', `layer-${i}.tar`);
      writeFileSync(file, tarBytes);
      await execFileP('tar', ['-xpf', file, '-C', root]);
      rmSync(file);
    }
  }
  return { manifest, config: config.config as Record<string, unknown> };
}

async function tarHeaders(path: string): Promise<Header[]> {
  const out: Header[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      out.push(h);
      stream.on('end', next);
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(await readFile(path));
  await done;
  return out;
}

/** Runs `chroot root ...cmd` and returns stdout. */
async function inChroot(root: string, cmd: string[], env: Record<string, string> = {}) {
  const { stdout } = await execFileP('chroot', [root, ...cmd], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    timeout: 30_000,
  });
  return stdout;
}

/** Starts `chroot root ...cmd`, waits for `ready` in its output (or `afterMs` of staying up), then SIGTERM. */
async function runUntilTerm(root: string, cmd: string[], opts: { env?: Record<string, string>; ready?: RegExp }) {
  const child = spawn('chroot', [root, ...cmd], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  const readySeen = new Promise<void>((resolve) => {
    const on = (c: Buffer) => {
      output += c.toString();
      if (!opts.ready || opts.ready.test(output)) resolve();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    if (!opts.ready) setTimeout(resolve, 0);
  });
  await Promise.race([readySeen, exited]);
  // still running a second later: it waits for a signal, as a pod's process must
  await new Promise((r) => setTimeout(r, 1000));
  const runningBeforeTerm = child.exitCode === null && child.signalCode === null;
  child.kill('SIGTERM');
  const end = await Promise.race([
    exited,
    new Promise<null>((r) => setTimeout(() => r(null), 10_000)).then(() => {
      child.kill('SIGKILL');
      return null;
    }),
  ]);
  return { runningBeforeTerm, end, output };
}

describe('deterministic layers (cluster/images/layer.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-layer-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'script.sh');
  writeFileSync(src, '#!/bin/sh\necho hi\n', { mode: 0o750 });
  const entries: LayerEntry[] = [
    { path: '/usr/local/bin/hi', source: src },
    { path: '/etc/motd', bytes: 'welcome\n' },
    { path: '/var/tmp', type: 'directory', mode: 0o1777 },
    { path: '/bin', type: 'symlink', target: 'usr/local/bin' },
  ];

  it('gives the same digest for the same files in any order and in any cache, with fixed owners and times', async () => {
    const a = await buildLayer(new ImageCache(join(dir, 'c1')), { name: 't', entries });
    const b = await buildLayer(new ImageCache(join(dir, 'c2')), { name: 't', entries: [...entries].reverse() });
    expect(a.cached).toBe(false);
    expect(b.digest).toBe(a.digest);
    expect(a.diffId).toBe(a.digest);
    const headers = await tarHeaders(new ImageCache(join(dir, 'c1')).blobPath(a.digest));
    expect(headers.map((h) => `${h.type} ${h.name} ${(h.mode ?? 0).toString(8)}`)).toEqual([
      'symlink bin 777',
      'directory etc/ 755',
      'file etc/motd 644',
      'directory usr/ 755',
      'directory usr/local/ 755',
      'directory usr/local/bin/ 755',
      'file usr/local/bin/hi 750',
      'directory var/ 755',
      'directory var/tmp/ 1777',
    ]);
    for (const h of headers) {
      expect([h.uid, h.gid, h.uname, h.gname, h.mtime?.getTime()]).toEqual([0, 0, '', '', 0]);
    }
    expect(headers.find((h) => h.name === 'bin')?.linkname).toBe('usr/local/bin');
  });

  it('reuses a layer whose inputs are unchanged and builds a new one when a mode or a byte changes', async () => {
    const cache = new ImageCache(join(dir, 'c3'));
    const first = await buildLayer(cache, { name: 't', entries });
    let verified = 0;
    const again = await buildLayer(cache, { name: 't', entries, verify: async () => void verified++ });
    expect(again).toEqual({ ...first, cached: true });
    expect(verified).toBe(0);
    const moded = await buildLayer(cache, {
      name: 't',
      entries: [...entries.slice(1), { path: '/usr/local/bin/hi', source: src, mode: 0o755 }],
      verify: async () => void verified++,
    });
    expect(moded.cached).toBe(false);
    expect(verified).toBe(1);
    expect(moded.digest).not.toBe(first.digest);
    writeFileSync(src, '#!/bin/sh\necho ho\n');
    const changed = await buildLayer(cache, { name: 't', entries });
    expect(changed.cached).toBe(false);
    expect(changed.digest).not.toBe(first.digest);
  });

  it('gzip layers keep the uncompressed tar digest as diff_id', async () => {
    const cache = new ImageCache(join(dir, 'c4'));
    const plain = await buildLayer(cache, { name: 't', entries });
    const gz = await buildLayer(cache, { name: 't', entries, compression: 'gzip' });
    expect(gz.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(gz.diffId).toBe(plain.digest);
    expect(sha256(gunzipSync(await cache.readBlob(gz.digest)))).toBe(plain.digest);
  });

  it('refuses paths that are not clean absolute paths, and a file that is also a parent directory', async () => {
    const cache = new ImageCache(join(dir, 'c5'));
    await expect(buildLayer(cache, { name: 't', entries: [{ path: 'rel/x', bytes: '' }] })).rejects.toThrow(
      /not a clean absolute path/,
    );
    await expect(buildLayer(cache, { name: 't', entries: [{ path: '/a/../x', bytes: '' }] })).rejects.toThrow(
      /not a clean absolute path/,
    );
    await expect(
      buildLayer(cache, {
        name: 't',
        entries: [
          { path: '/a', bytes: '' },
          { path: '/a/b', bytes: '' },
        ],
      }),
    ).rejects.toThrow(/\/a is a file but \/a\/b is inside it/);
  });

  it('reads ldd output, the dynamic loader included, and refuses a missing library', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f6e)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f6d)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f6f)',
    ].join('\n');
    expect(parseLdd(out)).toEqual([
      '/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
    expect(() => parseLdd('\tlibfoo.so.1 => not found\n')).toThrow(/libfoo\.so\.1/);
  });
});

describe.skipIf(!isRoot)(
  'local cluster images built, pushed to a real registry and run (needs root for chroot)',
  () => {
    let reg: RegistryHarness;
    let proxy: Awaited<ReturnType<typeof startCountingProxy>>;
    let dir: string;
    let first: Partial<Record<string, ImageReport>>;
    const opts = (): BuildImagesOptions => ({
      registry: proxy.host,
      cacheDir: join(dir, 'cache'),
      only: ['pause', 'node', 'workloads', 'operator'],
      entries: { producer: FIXTURE, consumer: FIXTURE },
    });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ms2m-images-test-'));
      reg = await startRegistry();
      proxy = await startCountingProxy(reg.host);
      first = await buildImages(opts());
    });
    afterAll(async () => {
      await proxy?.close();
      await reg?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('pushes each image under its short digest and latest; the pulled manifests, configs and layers match', async () => {
      expect(Object.keys(first)).toEqual(['pause', 'node', 'workloads', 'operator']);
      for (const [name, r] of Object.entries(first)) {
        if (!r) continue;
        expect(r.build).toBe('built');
        const repo = `ms2m/${name}`;
        expect(r.ref).toBe(`${proxy.host}/${repo}:${r.digest.slice(7, 19)}`);
        expect(r.tags).toEqual([r.digest.slice(7, 19), 'latest']);
        expect(r.push.tagsPut).toEqual(r.tags);
        const { manifest } = await pullAndCheck(reg.host, repo, r.tags[0] as string, r.digest);
        expect((await getManifest(reg.host, repo, 'latest')).digest).toBe(r.digest);
        expect(r.size).toBe(manifest.layers.reduce((n, l) => n + l.size, 0));
      }
      // the node runtime layer is the same blob in node, workloads and operator: uploaded once, mounted after
      const runtime = first.node?.digest
        ? await pullAndCheck(reg.host, 'ms2m/node', 'latest', first.node.digest)
        : null;
      const runtimeLayer = runtime?.manifest.layers[0]?.digest;
      const operator = await pullAndCheck(reg.host, 'ms2m/operator', 'latest', first.operator?.digest ?? '');
      expect(operator.manifest.layers[0]?.digest).toBe(runtimeLayer);
      expect(first.workloads?.push.mounted).toBe(1);
      expect(first.operator?.push.mounted).toBe(1);
    });

    it('builds the same digests from the same inputs and uploads nothing a second time', async () => {
      proxy.reset();
      const again = await buildImages(opts());
      for (const [name, r] of Object.entries(again)) {
        expect(r?.digest, name).toBe(first[name]?.digest);
        expect(r?.build, name).toBe('cached');
        expect(r?.push.tagsPut, name).toEqual([]);
      }
      expect(proxy.counts).toEqual({ uploadsStarted: 0, blobPuts: 0, manifestPuts: 0, bytesIn: 0 });

      // a fresh cache builds everything again, to the same digests, and the registry still gets nothing new
      proxy.reset();
      const fresh = await buildImages({ ...opts(), cacheDir: join(dir, 'cache-2') });
      for (const [name, r] of Object.entries(fresh)) {
        expect(r?.digest, name).toBe(first[name]?.digest);
        expect(r?.build, name).toBe('built');
      }
      expect(proxy.counts.uploadsStarted).toBe(0);
      expect(proxy.counts.manifestPuts).toBe(0);
    });

    it('runs node from the pushed node runtime and the bundled workload in a chroot', async () => {
      const root = join(dir, 'rootfs-workloads');
      mkdirSync(root);
      const { config } = await pullAndCheck(reg.host, 'ms2m/workloads', 'latest', first.workloads?.digest ?? '', root);
      expect(config.Entrypoint).toEqual(['/usr/bin/node']);
      expect(config.WorkingDir).toBe('/app');
      expect(readdirSync(root).sort()).toEqual(['app', 'etc', 'lib', 'lib64', 'root', 'tmp', 'usr']);
      expect((await inChroot(root, ['/usr/bin/node', '-e', 'console.log(42)'])).trim()).toBe('42');
      const bundle = await readFile(join(root, 'app', 'producer.mjs'), 'utf8');
      expect(bundle.startsWith(BUNDLE_BANNER)).toBe(true);
      const line = await inChroot(root, ['/usr/bin/node', '/app/producer.mjs', '--name', 'pod']);
      expect(JSON.parse(line)).toEqual({ level: 30, node: process.versions.node, msg: 'hello pod' });
      expect(await inChroot(root, ['/usr/bin/node', '/app/consumer.mjs', '--help'])).toMatch(/Usage: fixture-workload/);
    });

    it('runs the pushed pause binary: it starts and stays up until SIGTERM', async () => {
      const root = join(dir, 'rootfs-pause');
      mkdirSync(root);
      const { config } = await pullAndCheck(reg.host, 'ms2m/pause', 'latest', first.pause?.digest ?? '', root);
      expect(config.Entrypoint).toEqual(['/pause']);
      expect(readdirSync(root)).toEqual(['pause']);
      expect((await inChroot(root, ['/pause', '-v'])).trim()).toMatch(/^pause\.c v3\.\d+\.\d+-v1\.\d+\.\d+$/);
      const run = await runUntilTerm(root, ['/pause'], {});
      expect(run.runningBeforeTerm).toBe(true);
      expect(run.end).toEqual({ code: 0, signal: null });
      expect(run.output).toMatch(/Shutting down, got signal: Terminated/);
    });

    it('runs the pushed operator bundle in its image', async () => {
      const root = join(dir, 'rootfs-operator');
      mkdirSync(root);
      const { config } = await pullAndCheck(reg.host, 'ms2m/operator', 'latest', first.operator?.digest ?? '', root);
      expect(config.Entrypoint).toEqual(['/usr/bin/node', '/app/operator.mjs']);
      expect(config.User).toBe('65532:65532');
      const help = await inChroot(root, ['/usr/bin/node', '/app/operator.mjs', '--help']);
      expect(help).toMatch(/Usage: ms2m-operator/);
    });

    it.skipIf(!ctrPath)(
      'builds the agent image (needs ctr from `cluster/build.sh --nodes`): static ctr and an agent that starts',
      async () => {
        const r = await buildImages({ ...opts(), only: ['agent'] });
        const agent = r.agent as ImageReport;
        expect(agent.build).toBe('built');
        expect(agent.push.mounted).toBe(1);
        const root = join(dir, 'rootfs-agent');
        mkdirSync(root);
        const { manifest, config } = await pullAndCheck(
          reg.host,
          'ms2m/agent',
          agent.tags[0] as string,
          agent.digest,
          root,
        );
        expect(manifest.layers).toHaveLength(3);
        expect(config.Entrypoint).toEqual(['/usr/bin/node', '/app/agent.mjs']);
        expect(await inChroot(root, ['/usr/local/bin/ctr', '--version'])).toMatch(/^ctr /);
        const run = await runUntilTerm(root, ['/usr/bin/node', '/app/agent.mjs'], {
          env: {
            MS2M_AGENT_TOKEN: 'test',
            MS2M_AGENT_HOST: '127.0.0.1',
            MS2M_AGENT_PORT: '0',
            MS2M_AGENT_STORE: '/tmp/store',
            MS2M_AGENT_CHECKPOINTS: '/tmp/checkpoints',
            MS2M_AGENT_CONTAINERS_STORAGE: 'off',
          },
          ready: /Agent listening/,
        });
        expect(run.output).toMatch(/Agent listening/);
        expect(run.runningBeforeTerm).toBe(true);
        expect(run.end).toEqual({ code: 0, signal: null });
      },
    );
  },
);
