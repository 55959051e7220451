import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFile } from '../../adapters/oci/digest.ts';
import { RegistryError } from '../../adapters/oci/errors.ts';
import { writeCheckpointLayout } from '../../adapters/oci/layout.ts';
import { type IndexWire, type ManifestWire, MEDIA_LAYER_TAR } from '../../adapters/oci/oci.wire.ts';
import { CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import { ociRegistry } from '../../adapters/oci/registry.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';

/** Writes a checkpoint-like tar (config.dump, spec.dump, checkpoint/pages-1.img of `pagesBytes`). */
async function makeCheckpointTar(path: string, pagesBytes: number): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(path));
  pack.entry({ name: 'config.dump' }, JSON.stringify({ id: 'abc', name: 'app' }));
  pack.entry({ name: 'spec.dump' }, '{}');
  const chunk = 1 << 20;
  const e = pack.entry({ name: 'checkpoint/pages-1.img', size: pagesBytes });
  for (let left = pagesBytes; left > 0; left -= chunk) {
    if (!e.write(randomBytes(Math.min(chunk, left)))) await new Promise<void>((r) => e.once('drain', () => r()));
  }
  e.end(undefined as never);
  pack.finalize();
  await out;
}

/** A recording proxy in front of the registry; with `bearer`, it demands a token from its own /token endpoint. */
function startProxy(target: string, bearer?: { user: string; pass: string; token: string }) {
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    const self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (bearer && req.url?.startsWith('/token')) {
      const ok =
        req.headers.authorization === `Basic ${Buffer.from(`${bearer.user}:${bearer.pass}`).toString('base64')}`;
      return void res
        .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
        .end(ok ? JSON.stringify({ token: bearer.token }) : '{}');
    }
    log.push(`${req.method} ${req.url?.split('?')[0]}`);
    if (bearer && req.headers.authorization !== `Bearer ${bearer.token}`) {
      req.resume();
      return void res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${self}/token",service="test",scope="repository:x:pull,push"`,
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    const up = http.request(
      `http://${target}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: target } },
      (r) => {
        const headers = { ...r.headers };
        if (headers.location) headers.location = headers.location.replace(`http://${target}`, self);
        res.writeHead(r.statusCode ?? 500, headers);
        r.pipe(res);
      },
    );
    req.pipe(up);
  });
  return new Promise<{ host: string; log: string[]; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        log,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      }),
    ),
  );
}

const skopeo = (...args: string[]) =>
  execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('OCI registry adapter against docker-registry', () => {
  let reg: RegistryHarness;
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-oci-'));
  const tarPath = join(dir, 'checkpoint.tar');
  beforeAll(async () => {
    reg = await startRegistry();
    await makeCheckpointTar(tarPath, 5 * 1024 * 1024 + 123);
  });
  afterAll(async () => {
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes a single-layer checkpoint image that skopeo reads back with the annotation and layer digest', async () => {
    const ref = `${reg.host}/ckpt/myapp-0:checkpoint`;
    const progress: number[] = [];
    const r = await ociRegistry({ insecure: true }).pushCheckpointImage({ ref, container: 'app', tarPath }, (d) =>
      progress.push(d),
    );
    const { digest, size } = await digestFile(tarPath);
    expect(r.layerDigest).toBe(digest);
    expect(r.bytes).toBe(size);
    expect(progress.at(-1)).toBe(size);
    const raw = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ref}`)) as ManifestWire;
    expect(raw.annotations?.[CHECKPOINT_ANNOTATION]).toBe('app');
    expect(raw.layers).toHaveLength(1);
    expect(raw.layers[0]?.mediaType).toBe(MEDIA_LAYER_TAR);
    expect(raw.layers[0]?.digest).toBe(digest);
    const info = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${ref}`)) as { Digest: string };
    expect(info.Digest).toBe(r.manifestDigest);
    const out = join(dir, 'copied');
    skopeo(
      'copy',
      '--src-tls-verify=false',
      '--dest-oci-accept-uncompressed-layers',
      `docker://${ref}`,
      `oci:${out}:x`,
    );
    const idx = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as IndexWire;
    const m = JSON.parse(
      readFileSync(join(out, 'blobs', 'sha256', (idx.manifests[0]?.digest ?? '').slice(7)), 'utf8'),
    ) as ManifestWire;
    expect(m.annotations?.[CHECKPOINT_ANNOTATION]).toBe('app');
    expect(m.layers[0]?.digest).toBe(digest);
    expect((await digestFile(join(out, 'blobs', 'sha256', digest.slice(7)))).digest).toBe(digest);
    expect(await ociRegistry({ insecure: true }).exists(ref)).toBe(true);
    expect(await ociRegistry({ insecure: true }).exists(`${reg.host}/ckpt/none:checkpoint`)).toBe(false);
  });

  it('re-push of the same checkpoint is a no-op (no upload, same result)', async () => {
    const proxy = await startProxy(reg.host);
    try {
      const ref = `${proxy.host}/ckpt/repush:checkpoint`;
      const a = await ociRegistry({ insecure: true }).pushCheckpointImage({ ref, container: 'app', tarPath });
      proxy.log.length = 0;
      const b = await ociRegistry({ insecure: true }).pushCheckpointImage({ ref, container: 'app', tarPath });
      expect(b).toEqual(a);
      expect(proxy.log.filter((l) => !l.startsWith('HEAD'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('uploads large blobs as chunked PATCHes', async () => {
    const proxy = await startProxy(reg.host);
    try {
      const ref = `${proxy.host}/ckpt/chunked:checkpoint`;
      const r = await ociRegistry({ insecure: true, chunkBytes: 1024 * 1024 }).pushCheckpointImage({
        ref,
        container: 'app',
        tarPath,
      });
      expect(proxy.log.filter((l) => l.startsWith('PATCH')).length).toBeGreaterThanOrEqual(5);
      const raw = JSON.parse(
        skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/ckpt/chunked:checkpoint`),
      ) as ManifestWire;
      expect(raw.layers[0]?.digest).toBe(r.layerDigest);
    } finally {
      await proxy.close();
    }
  });

  it('authenticates with a bearer token from the WWW-Authenticate challenge; wrong credentials fail typed', async () => {
    const proxy = await startProxy(reg.host, { user: 'u', pass: 'p', token: 'T0K' });
    try {
      const ref = `${proxy.host}/ckpt/authed:checkpoint`;
      const ok = ociRegistry({ insecure: true, credentials: () => ({ username: 'u', password: 'p' }) });
      const r = await ok.pushCheckpointImage({ ref, container: 'app', tarPath });
      expect(r.layerDigest).toMatch(/^sha256:/);
      const bad = ociRegistry({ insecure: true, credentials: () => ({ username: 'u', password: 'wrong' }) });
      const err = await bad
        .pushCheckpointImage({ ref: `${proxy.host}/ckpt/denied:checkpoint`, container: 'app', tarPath })
        .catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
    } finally {
      await proxy.close();
    }
  });

  it('writes an OCI layout that skopeo copies to the registry with the same manifest digest as our push', async () => {
    const layout = join(dir, 'layout');
    const img = await writeCheckpointLayout({ dir: layout, container: 'app', tarPath, tag: 'app' });
    const pushed = await ociRegistry({ insecure: true }).pushCheckpointImage({
      ref: `${reg.host}/ckpt/ours:checkpoint`,
      container: 'app',
      tarPath,
    });
    skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:app`, `docker://${reg.host}/ckpt/theirs:checkpoint`);
    const theirs = JSON.parse(
      skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/ckpt/theirs:checkpoint`),
    ) as { Digest: string };
    expect(img.manifestDigest).toBe(pushed.manifestDigest);
    expect(theirs.Digest).toBe(pushed.manifestDigest);
  });
});
