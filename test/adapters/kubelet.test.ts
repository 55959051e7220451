import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointFailedError,
  CheckpointTimeoutError,
  CheckpointUnsupportedError,
  EmptyCheckpointError,
} from '../../adapters/kubelet/errors.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import { createKubeletClient } from '../../adapters/kubelet/kubelet.ts';

/** A server that speaks the kubelet proxy checkpoint path and answers per pod name. */
function handler(seen: { url: string; auth: string | undefined; method: string }[]) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization, method: req.method ?? '' });
    const m = /^\/api\/v1\/nodes\/([^/]+)\/proxy\/checkpoint\/([^/]+)\/([^/]+)\/([^/?]+)\?timeout=(\d+)$/.exec(
      req.url ?? '',
    );
    if (!m || req.method !== 'POST') return void res.writeHead(404).end('404 page not found');
    const pod = m[3];
    if (pod === 'ok')
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ items: [`/var/lib/kubelet/checkpoints/checkpoint-${pod}.tar`] }));
    if (pod === 'gateoff') return void res.writeHead(404).end('404 page not found');
    if (pod === 'criu')
      return void res
        .writeHead(500)
        .end('checkpointing of default/criu/app failed running "criu dump": vdso: Unexpected rt vDSO area bounds');
    if (pod === 'empty') return void res.writeHead(200).end('{"items":[]}');
    if (pod === 'hang') return; // never answers
    res.writeHead(400).end('bad');
  };
}

describe('kubelet checkpoint client against a local kubelet-proxy server', () => {
  const seen: { url: string; auth: string | undefined; method: string }[] = [];
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer(handler(seen));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const req = (pod: string) => ({ node: 'node-a', namespace: 'default', pod, container: 'app', timeoutSeconds: 30 });

  it('posts to the unencoded proxy path with the token and returns the archive path (200)', async () => {
    const k = createKubeletClient({ server: base, token: 'tok' });
    const r = await k.checkpoint(req('ok'));
    expect(r.path).toBe('/var/lib/kubelet/checkpoints/checkpoint-ok.tar');
    const last = seen.at(-1);
    expect(last?.url).toBe('/api/v1/nodes/node-a/proxy/checkpoint/default/ok/app?timeout=30');
    expect(last?.auth).toBe('Bearer tok');
    expect(last?.method).toBe('POST');
  });
  it('maps 404 to CheckpointUnsupportedError (feature gate off)', async () => {
    const err = await createKubeletClient({ server: base })
      .checkpoint(req('gateoff'))
      .catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointUnsupportedError);
    expect(err.code).toBe('CHECKPOINT_UNSUPPORTED');
  });
  it('maps 500 to CheckpointFailedError keeping the runtime message', async () => {
    const err = await createKubeletClient({ server: base })
      .checkpoint(req('criu'))
      .catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointFailedError);
    expect(err.runtimeMessage).toContain('vdso: Unexpected rt vDSO area bounds');
  });
  it('maps empty items to EmptyCheckpointError', async () => {
    const err = await createKubeletClient({ server: base })
      .checkpoint(req('empty'))
      .catch((e) => e);
    expect(err).toBeInstanceOf(EmptyCheckpointError);
  });
  it('maps no answer to a transient CheckpointTimeoutError', async () => {
    const err = await createKubeletClient({ server: base, graceMs: 50 })
      .checkpoint({ ...req('hang'), timeoutSeconds: 0 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointTimeoutError);
    expect(err.transient).toBe(true);
  });
});

describe('kubelet checkpoint client over TLS from a kubeconfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-kubelet-'));
  const seen: { url: string; auth: string | undefined; method: string }[] = [];
  let server: https.Server;
  let port = 0;
  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    server = https.createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      handler(seen),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  it('uses the kubeconfig CA and token', async () => {
    const ca = readFileSync(join(dir, 'cert.pem')).toString('base64');
    writeFileSync(
      join(dir, 'kubeconfig'),
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${ca}}}]
users: [{name: u, user: {token: kc-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    const k = await kubeletFromKubeconfig({ file: join(dir, 'kubeconfig') });
    const r = await k.checkpoint({ node: 'n', namespace: 'ns', pod: 'ok', container: 'c' });
    expect(r.path).toContain('checkpoint-ok.tar');
    expect(seen.at(-1)?.auth).toBe('Bearer kc-token');
  });
});
