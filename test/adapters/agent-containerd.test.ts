import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directCheckpointImage } from '../../adapters/agent-client/port.ts';
import { type ManifestWire, MEDIA_LAYER_TAR } from '../../adapters/oci/oci.wire.ts';
import { CHECKPOINT_ANNOTATION, CONTAINERD_CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import { AgentError } from '../../agent/errors.ts';
import { createImageLoader, type ImageLoader, type LoadRequest } from '../../agent/loader.ts';
import { binaryDirs, resolveBinaries } from '../../cluster/control-plane/binaries.ts';
import { rawPut, seededBytes, startAgentProcess, waitFor } from '../harness/agent.ts';

// The containerd loader against a real containerd 2.2 (the local cluster's, from cluster/build.sh --nodes) with a
// private root, state and socket: what the kubelet's CRI restores a checkpoint from on a containerd node.
// Needs root (overlayfs snapshots). Missing binaries fail the suite with the command that builds them.

interface Containerd {
  socket: string;
  ctr: string;
  /** ctr wrapper that records every call (one line of arguments each) in `calls`. */
  countingCtr: string;
  calls: string;
  pid: number;
  stop(): Promise<void>;
}

const NS = 'k8s.io';
const SNAPSHOTTER = 'overlayfs';

function findBinaries(): { containerd: string; ctr: string } {
  try {
    return resolveBinaries(['containerd', 'ctr'], binaryDirs({ nodes: true }));
  } catch (err) {
    throw new Error(
      `containerd and ctr 2.2 (the local cluster's nodes) are not built: run \`bash cluster/build.sh --nodes\` (${(err as Error).message})`,
    );
  }
}

/** Starts containerd on a private socket under `dir`, without CRI and task runtimes (images need neither). */
async function startContainerd(dir: string): Promise<Containerd> {
  if (process.getuid?.() !== 0) throw new Error('the containerd loader test needs root (containerd mounts overlayfs)');
  const bin = findBinaries();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 3',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = [',
      ...[
        'io.containerd.grpc.v1.cri',
        'io.containerd.cri.v1.images',
        'io.containerd.cri.v1.runtime',
        'io.containerd.nri.v1.nri',
        'io.containerd.runtime.v2.task',
        'io.containerd.monitor.task.v1.cgroups',
        'io.containerd.snapshotter.v1.btrfs',
        'io.containerd.snapshotter.v1.zfs',
        'io.containerd.snapshotter.v1.devmapper',
        'io.containerd.snapshotter.v1.blockfile',
        'io.containerd.snapshotter.v1.erofs',
        'io.containerd.tracing.processor.v1.otlp',
        'io.containerd.internal.v1.tracing',
      ].map((p) => `  "${p}",`),
      ']',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const log = join(dir, 'containerd.log');
  const out = openSync(log, 'a');
  const child: ChildProcess = spawn(bin.containerd, ['--config', config, '--log-level', 'warn'], {
    stdio: ['ignore', out, out],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  const logTail = () => readFileSync(log, 'utf8').slice(-3000);
  try {
    await waitFor(
      `containerd to answer on ${socket}`,
      () => {
        if (gone) throw new Error(`containerd exited at start: ${logTail()}`);
        return spawnSync(bin.ctr, ['--address', socket, 'version'], { timeout: 5000 }).status === 0;
      },
      30_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const calls = join(dir, 'ctr-calls');
  const countingCtr = join(dir, 'ctr-counting');
  writeFileSync(countingCtr, `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${bin.ctr}' "$@"\n`);
  chmodSync(countingCtr, 0o755);
  return {
    socket,
    ctr: bin.ctr,
    countingCtr,
    calls,
    pid: child.pid as number,
    async stop() {
      if (!gone) process.kill(child.pid as number, 'SIGTERM');
      const killer = setTimeout(() => !gone && process.kill(child.pid as number, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A checkpoint-like archive as the kubelet writes it: metadata dumps, CRIU images in checkpoint/, a rootfs diff. */
async function checkpointArchive(seed: string, pagesBytes: number): Promise<Buffer> {
  const p = tar.pack();
  const file = (name: string, body: Buffer | string) => p.entry({ name, size: Buffer.byteLength(body) }, body);
  file('spec.dump', JSON.stringify({ ociVersion: '1.2.0', annotations: { seed } }));
  file('config.dump', JSON.stringify({ id: `ctr-${seed}`, rootfsImageRef: 'localhost/app@sha256:00' }));
  file('status.dump', JSON.stringify({ metadata: { name: 'app' } }));
  p.entry({ name: 'checkpoint', type: 'directory' });
  file('checkpoint/inventory.img', seededBytes(`${seed}:inv`)(300));
  file('checkpoint/pages-1.img', seededBytes(`${seed}:pages`)(pagesBytes));
  file('rootfs-diff.tar', Buffer.alloc(1024));
  p.finalize();
  const bufs: Buffer[] = [];
  for await (const c of p) bufs.push(c as Buffer);
  return Buffer.concat(bufs);
}

describe('image loader into containerd (real containerd 2.2 with a private root and socket, real ctr)', () => {
  let root: string;
  let ctrd: Containerd;
  const storeDir = () => join(root, 'store');
  const ctr = (...args: string[]) =>
    execFileSync(ctrd.ctr, ['--address', ctrd.socket, '--namespace', NS, ...args], { timeout: 30_000 });
  const ctrOk = (...args: string[]) =>
    spawnSync(ctrd.ctr, ['--address', ctrd.socket, '--namespace', NS, ...args], { timeout: 30_000 }).status === 0;
  /** `ctr images ls`: name -> target digest. */
  const images = () =>
    new Map(
      ctr('images', 'ls')
        .toString('utf8')
        .split('\n')
        .slice(1)
        .filter((l) => l.trim())
        .map((l) => l.trim().split(/\s+/) as [string, string, string])
        .map(([name, , digest]) => [name, digest] as const),
    );
  const importCalls = () =>
    readFileSync(ctrd.calls, 'utf8')
      .split('\n')
      .filter((l) => / images import /.test(l));
  const loaderWith = (o: Partial<NonNullable<Parameters<typeof createImageLoader>[0]['containerd']>> = {}) =>
    createImageLoader({
      storeDir: storeDir(),
      containerd: { socket: ctrd.socket, ctr: ctrd.countingCtr, namespace: NS, snapshotter: SNAPSHOTTER, ...o },
    });
  async function archive(seed: string, pagesBytes = 64 << 10): Promise<LoadRequest> {
    const body = await checkpointArchive(seed, pagesBytes);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const archivePath = join(storeDir(), 'archives', `${sha256}.tar`);
    writeFileSync(archivePath, body);
    return { archivePath, container: 'app', sha256, bytes: body.length };
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ms2m-containerd-'));
    for (const d of ['archives', 'tmp', 'images']) mkdirSync(join(storeDir(), d), { recursive: true });
    const t0 = performance.now();
    ctrd = await startContainerd(join(root, 'containerd'));
    console.info(`containerd answered ${Math.round(performance.now() - t0)} ms after start`);
  });
  afterAll(async () => {
    await ctrd?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('imports the archive as localhost/checkpoint/<ctr>:sha256-<digest>: one layer that is the archive, both annotations, unpacked for CRI restore', async () => {
    const loader = loaderWith();
    const a = await archive('A', 8 << 20);
    const t0 = performance.now();
    const img = await loader.load(a);
    console.info(`first load (${a.bytes} bytes): ${Math.round(performance.now() - t0)} ms`);
    expect(img).toMatchObject({ image: directCheckpointImage('app', a.sha256), via: 'containerd' });
    expect(img.image).toBe(`localhost/checkpoint/app:sha256-${a.sha256}`);
    // what containerd holds, read with ctr directly
    expect(images().get(img.image)).toBe(img.manifestDigest);
    const raw = ctr('content', 'get', img.manifestDigest);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(img.manifestDigest);
    const m = JSON.parse(raw.toString('utf8')) as ManifestWire;
    expect(m.layers).toEqual([{ mediaType: MEDIA_LAYER_TAR, digest: `sha256:${a.sha256}`, size: a.bytes }]);
    expect(m.annotations).toMatchObject({ [CHECKPOINT_ANNOTATION]: 'app', [CONTAINERD_CHECKPOINT_ANNOTATION]: 'app' });
    const cfg = JSON.parse(ctr('content', 'get', m.config.digest).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    expect(cfg.rootfs.diff_ids).toEqual([`sha256:${a.sha256}`]);
    // CRI restore mounts a view of the snapshot named by the chain ID (= the single diff_id) and reads the dumps
    const info = JSON.parse(
      ctr('snapshots', '--snapshotter', SNAPSHOTTER, 'info', `sha256:${a.sha256}`).toString('utf8'),
    ) as { Kind: string };
    expect(info.Kind).toBe('Committed');
    const mounts = JSON.parse(
      ctr(
        'snapshots',
        '--snapshotter',
        SNAPSHOTTER,
        'view',
        '--mounts',
        'ms2m-test-view',
        `sha256:${a.sha256}`,
      ).toString('utf8'),
    ) as { Type: string; Source: string; Options: string[] }[];
    try {
      // a view of a single layer is a read-only bind mount of the unpacked layer
      expect(mounts).toEqual([expect.objectContaining({ Type: 'bind', Options: expect.arrayContaining(['ro']) })]);
      const src = (mounts[0] as { Source: string }).Source;
      expect(JSON.parse(readFileSync(join(src, 'spec.dump'), 'utf8'))).toMatchObject({
        annotations: { seed: 'A' },
      });
      expect(readFileSync(join(src, 'checkpoint', 'pages-1.img')).equals(seededBytes('A:pages')(8 << 20))).toBe(true);
    } finally {
      // a view made by ctr holds no lease: containerd's GC may have collected it already (its source, the image's
      // committed snapshot, stays)
      ctrOk('snapshots', '--snapshotter', SNAPSHOTTER, 'rm', 'ms2m-test-view');
    }
    expect(await loader.verify(a, img)).toBeNull();
  });

  it('a second load of the same archive verifies the image already there and does not import again', async () => {
    const loader = loaderWith();
    const a = await archive('B');
    const first = await loader.load(a);
    expect(importCalls().filter((l) => l.includes(`--base-name localhost/checkpoint/app`))).not.toHaveLength(0);
    const before = importCalls().length;
    const t0 = performance.now();
    const again = await createImageLoader({
      storeDir: storeDir(),
      containerd: { socket: ctrd.socket, ctr: ctrd.countingCtr, namespace: NS, snapshotter: SNAPSHOTTER },
    }).load(a);
    console.info(`second load (verify only): ${Math.round(performance.now() - t0)} ms`);
    expect(again).toEqual(first);
    expect(importCalls()).toHaveLength(before);
    expect(await loader.verify(a, first)).toBeNull();
  });

  it('an image replaced under its name, or whose snapshot is gone, fails verification and is imported again', async () => {
    const loader = loaderWith();
    const a = await archive('C');
    const b = await archive('D');
    const ia = await loader.load(a);
    const ib = await loader.load(b);
    ctr('images', 'tag', '--force', ib.image, ia.image);
    expect(await loader.verify(a, ia)).toBe(
      `containerd names manifest ${ib.manifestDigest}, expected ${ia.manifestDigest}`,
    );
    expect(await loader.load(a)).toEqual(ia);
    expect(images().get(ia.image)).toBe(ia.manifestDigest);
    expect(await loader.verify(a, ia)).toBeNull();
    ctr('snapshots', '--snapshotter', SNAPSHOTTER, 'rm', `sha256:${a.sha256}`);
    expect(await loader.verify(a, ia)).toMatch(/^its layer is not unpacked in containerd's overlayfs snapshotter/);
    expect(await loader.load(a)).toEqual(ia);
    expect(await loader.verify(a, ia)).toBeNull();
  });

  it('the same archive for two containers gives two images over one layer; unload removes one image and keeps the other', async () => {
    const loader = loaderWith();
    const a = await archive('E');
    const app = await loader.load(a);
    const web = await loader.load({ ...a, container: 'web' });
    expect(web.image).toBe(directCheckpointImage('web', a.sha256));
    expect(web.manifestDigest).not.toBe(app.manifestDigest);
    await loader.unload(app);
    expect(images().has(app.image)).toBe(false);
    expect(await loader.verify(a, app)).toBe(`not in containerd (namespace ${NS})`);
    expect(await loader.verify({ ...a, container: 'web' }, web)).toBeNull();
    await loader.unload(app); // missing is fine
    await loader.unload(web);
    expect(images().has(web.image)).toBe(false);
    // nothing else held the archive: unload --sync removed its content (process memory) and snapshot too
    expect(ctrOk('content', 'get', `sha256:${a.sha256}`)).toBe(false);
    expect(ctrOk('snapshots', '--snapshotter', SNAPSHOTTER, 'info', `sha256:${a.sha256}`)).toBe(false);
  });

  it('typed errors: a wrong socket, a missing ctr, an import ctr rejects (with its stderr)', async () => {
    const a = await archive('F');
    const fail = (loader: ImageLoader) =>
      loader.load(a).then(
        () => expect.unreachable('load succeeded'),
        (err: unknown) => {
          expect(err).toBeInstanceOf(AgentError);
          return err as AgentError;
        },
      );
    const missing = join(root, 'no-such.sock');
    const e1 = await fail(loaderWith({ socket: missing }));
    expect(e1).toMatchObject({ code: 'CONTAINERD_UNAVAILABLE', status: 503, transient: true });
    expect(e1.message).toContain(missing);
    expect(e1.message).toContain('MS2M_AGENT_CONTAINERD_SOCKET');
    const notSocket = join(root, 'not-a.sock');
    writeFileSync(notSocket, '');
    expect(await fail(loaderWith({ socket: notSocket }))).toMatchObject({
      code: 'CONTAINERD_UNAVAILABLE',
      message: expect.stringContaining('it is not a socket'),
    });
    const e2 = await fail(loaderWith({ ctr: join(root, 'no-ctr') }));
    expect(e2).toMatchObject({ code: 'CTR_NOT_FOUND', transient: false });
    expect(e2.message).toContain('MS2M_AGENT_CTR');
    const e3 = await fail(loaderWith({ snapshotter: 'no-such-snapshotter' }));
    expect(e3).toMatchObject({ code: 'IMAGE_IMPORT_FAILED', status: 500 });
    expect(e3.message).toMatch(/ctr exited with status 1: .*no-such-snapshotter/);
    console.info(['typed errors:', e1.message, e2.message, e3.message].join('\n  '));
  });

  it('an import that outlives its time limit is killed and answered IMAGE_IMPORT_FAILED (transient)', async () => {
    const a = await archive('G');
    // a ctr that hangs on import only (stdin never read, as with a stuck containerd)
    const hanging = join(root, 'ctr-hanging-import');
    writeFileSync(hanging, `#!/bin/sh\ncase " $* " in *" import "*) exec sleep 60 ;; esac\nexec '${ctrd.ctr}' "$@"\n`);
    chmodSync(hanging, 0o755);
    const t0 = performance.now();
    const err = await loaderWith({ ctr: hanging, timeoutMs: 1500, minImportBytesPerSecond: 1e12 })
      .load(a)
      .then(
        () => expect.unreachable('load succeeded'),
        (e: unknown) => e as AgentError,
      );
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'IMAGE_IMPORT_FAILED', transient: true });
    expect(err.message).toMatch(/did not finish within 1501 ms .* and was killed/);
    expect(ms).toBeLessThan(10_000);
    expect(images().has(directCheckpointImage('app', a.sha256))).toBe(false);
  });

  it('the agent process (MS2M_AGENT_CONTAINERD_SOCKET, MS2M_AGENT_CTR) loads an upload into containerd; DELETE unloads it', async () => {
    const token = 'containerd-agent-token';
    const agentRoot = join(root, 'agent');
    const agent = await startAgentProcess({
      storeDir: join(agentRoot, 'store'),
      checkpointsDir: join(agentRoot, 'checkpoints'),
      token,
      env: {
        MS2M_AGENT_CONTAINERD_SOCKET: ctrd.socket,
        MS2M_AGENT_CTR: ctrd.ctr,
        MS2M_AGENT_CONTAINERD_NAMESPACE: NS,
      },
    });
    try {
      const body = await checkpointArchive('agent', 1 << 20);
      const sha = createHash('sha256').update(body).digest('hex');
      const r = await rawPut(agent.url, {
        token,
        body,
        headers: { 'x-checkpoint-sha256': sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/m-ctrd' },
      });
      expect(r).toMatchObject({ status: 201, body: { image: directCheckpointImage('app', sha), sha256: sha } });
      expect(images().has(directCheckpointImage('app', sha))).toBe(true);
      const del = await fetch(`${agent.url}/v1/checkpoints/${sha}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(del.status).toBeLessThan(300);
      expect(images().has(directCheckpointImage('app', sha))).toBe(false);
    } finally {
      await agent.stop();
    }
  });
});
