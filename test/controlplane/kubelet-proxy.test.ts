/**
 * The kubelet adapter's checkpoint call through the real kube-apiserver's node proxy
 * (`POST /api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{ctr}?timeout=<s>`). The tier has no kubelet: a Node
 * is registered whose InternalIP is an address in a network namespace this test creates, and a stand-in serves the
 * kubelet's checkpoint path there over HTTPS (test/harness/netns-kubelet.ts). The API server reaches it because it
 * prefers InternalIP (`--kubelet-preferred-address-types=InternalIP`) and the address is global unicast.
 */
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorCode } from '../../adapters/errors.ts';
import {
  CheckpointFailedError,
  CheckpointForbiddenError,
  CheckpointProxyError,
  CheckpointTimeoutError,
  CheckpointUnsupportedError,
} from '../../adapters/kubelet/errors.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import type { Kubelet } from '../../adapters/kubelet/port.ts';
import { makeUserKubeconfig } from '../harness/control-plane.ts';
import { type NetnsKubelet, startNetnsKubelet } from '../harness/netns-kubelet.ts';

const cp = inject('controlPlane');
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const seed = Number(process.env.MS2M_TEST_SEED ?? Date.now() % 2 ** 31);
console.log(`[kubelet-proxy.test] MS2M_TEST_SEED=${seed}`);
const tag = seed.toString(36);
const ns = `ckpt-${tag}`;
const ARCHIVE = `/var/lib/kubelet/checkpoints/checkpoint-app-0_${ns}-app-2026-12-02T15:00:00Z.tar`;
// the kubelet's own 500 (server.go: "checkpointing of %v/%v/%v failed (%v)") around containerd's gRPC error
const CRIU_FAILURE =
  `checkpointing of ${ns}/app-0/broken failed (rpc error: code = Unknown desc = failed to checkpoint container: ` +
  'criu failed: type NOTIFY errno 0\nlog file: /var/lib/containerd/criu-dump.log: Connected TCP socket, consider using --tcp-established)';
const DEADLINE = `checkpointing of ${ns}/app-0/slow failed (rpc error: code = DeadlineExceeded desc = context deadline exceeded)`;

let kubelet: NetnsKubelet | undefined;
let client: Kubelet;
const nodes: string[] = [];

/** Registers a Node whose kubelet endpoint is `address:port` (status written as admin, as a kubelet would). */
async function registerNode(name: string, address: string, port: number): Promise<void> {
  await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
  nodes.push(name);
  const now = new Date();
  await core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          addresses: [
            { type: 'InternalIP', address },
            { type: 'Hostname', address: name },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: port } },
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'a stand-in kubelet in a network namespace',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    merge,
  );
}

const node = `ms2m-kubelet-${tag}`;

beforeAll(async () => {
  kubelet = await startNetnsKubelet({
    caCertPath: cp.caCertPath,
    caKeyPath: cp.caKeyPath,
    seed,
    answers: {
      [`${ns}/app-0/app`]: { status: 200, body: JSON.stringify({ items: [ARCHIVE] }) },
      [`${ns}/app-0/broken`]: { status: 500, body: CRIU_FAILURE },
      [`${ns}/app-0/slow`]: { status: 500, body: DEADLINE },
      [`${ns}/app-0/empty`]: { status: 200, body: '{"items":[]}' },
    },
  });
  await registerNode(node, kubelet.ip, kubelet.port);
  client = await kubeletFromKubeconfig({ file: cp.kubeconfigPath, graceMs: 5000 });
});

afterAll(async () => {
  // by PID and by the names the harness created, even when a case failed
  const results = await Promise.allSettled([kubelet?.stop(), ...nodes.map((name) => core.deleteNode({ name }))]);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length)
    throw new AggregateError(
      failed.map((r) => (r as PromiseRejectedResult).reason),
      'teardown',
    );
});

describe('kubelet checkpoint through the API server node proxy', () => {
  it('reaches the kubelet as POST /checkpoint/<ns>/<pod>/<ctr>?timeout=<s> and answers the archive path', async () => {
    const result = await client.checkpoint({ node, namespace: ns, pod: 'app-0', container: 'app', timeoutSeconds: 17 });
    expect(result).toEqual({ path: ARCHIVE });
    const req = await kubelet!.nextRequest((r) => r.path === `/checkpoint/${ns}/app-0/app`);
    expect(req).toMatchObject({
      method: 'POST',
      path: `/checkpoint/${ns}/app-0/app`,
      query: { timeout: '17' },
      status: 200,
      // the API server authenticates to kubelets with --kubelet-client-certificate
      clientCN: 'kube-apiserver-kubelet-client',
    });
  });

  it("a 500 with CRIU's message is a CheckpointFailedError keeping the runtime's message", async () => {
    const err = await client
      .checkpoint({ node, namespace: ns, pod: 'app-0', container: 'broken', timeoutSeconds: 5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFailedError);
    expect(err).toMatchObject({ code: ErrorCode.CHECKPOINT_FAILED, details: { status: 500 } });
    expect((err as CheckpointFailedError).runtimeMessage).toBe(CRIU_FAILURE);
    expect((err as Error).message).toContain(`container broken of pod ${ns}/app-0 on node ${node}`);
    await kubelet!.nextRequest((r) => r.path === `/checkpoint/${ns}/app-0/broken` && r.status === 500);
  });

  it("the runtime's DeadlineExceeded is a CheckpointTimeoutError (transient)", async () => {
    const err = await client
      .checkpoint({ node, namespace: ns, pod: 'app-0', container: 'slow', timeoutSeconds: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointTimeoutError);
    expect(err).toMatchObject({ code: ErrorCode.CHECKPOINT_TIMEOUT, transient: true });
  });

  it("the kubelet's 404 (no checkpoint API) is a CheckpointUnsupportedError", async () => {
    const err = await client
      .checkpoint({ node, namespace: ns, pod: 'app-0', container: 'unknown', timeoutSeconds: 5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointUnsupportedError);
    expect(err).toMatchObject({ code: ErrorCode.CHECKPOINT_UNSUPPORTED });
  });

  it('an answer without an archive path is CHECKPOINT_EMPTY', async () => {
    await expect(
      client.checkpoint({ node, namespace: ns, pod: 'app-0', container: 'empty', timeoutSeconds: 5 }),
    ).rejects.toMatchObject({ code: ErrorCode.CHECKPOINT_EMPTY });
  });

  it('a Node whose InternalIP is loopback: the API server refuses ("address not allowed"), a CheckpointProxyError', async () => {
    const lo = `${node}-lo`;
    await registerNode(lo, '127.0.0.1', 10250);
    const err = await client
      .checkpoint({ node: lo, namespace: ns, pod: 'app-0', container: 'app', timeoutSeconds: 5 })
      .catch((e: unknown) => e);
    // kube-apiserver v1.37.2 answers 400 {"kind":"Status",...,"message":"address not allowed","reason":"BadRequest"}
    expect(err).toBeInstanceOf(CheckpointProxyError);
    expect(err).toMatchObject({
      code: ErrorCode.KUBERNETES_API,
      transient: false,
      details: { node: lo, upstreamStatus: 400, upstreamReason: 'BadRequest' },
    });
    expect((err as Error).message).toContain('address not allowed');
  });

  it('a Node whose kubelet port is closed: the API server cannot reach it, a transient UnavailableError', async () => {
    const closed = `${node}-closed`;
    // the namespace's address, a port nothing listens on: the traffic stays in the namespace
    await registerNode(closed, kubelet!.ip, kubelet!.port + 1);
    const err = await client
      .checkpoint({ node: closed, namespace: ns, pod: 'app-0', container: 'app', timeoutSeconds: 5 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.UNAVAILABLE, transient: true });
    expect((err as Error).message).toContain('503 ServiceUnavailable from the API server');
  });

  it('a Node that does not exist is NOT_FOUND naming it, not an unsupported checkpoint API', async () => {
    await expect(
      client.checkpoint({ node: `${node}-missing`, namespace: ns, pod: 'app-0', container: 'app', timeoutSeconds: 5 }),
    ).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: expect.stringContaining(`Node ${node}-missing`) });
  });

  it('a user without nodes/proxy gets a CheckpointForbiddenError', async () => {
    const nobody = await kubeletFromKubeconfig({ file: await makeUserKubeconfig(cp, 'no-proxy-rights', []) });
    const err = await nobody
      .checkpoint({ node, namespace: ns, pod: 'app-0', container: 'app', timeoutSeconds: 5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointForbiddenError);
    expect(err).toMatchObject({ code: ErrorCode.CHECKPOINT_FORBIDDEN, details: { status: 403 } });
  });
});
