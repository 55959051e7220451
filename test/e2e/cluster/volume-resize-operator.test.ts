/**
 * VolumeResize resources on the real local cluster, run by the real operator as a host process
 * (test/support/real-operator-child.ts: createOperator with the real wiring, JetStream event log, the VolumeResize
 * controller: informer, one runtime host per resource, status projection, Events, finalizer) on the real
 * VolumeOps, with the migrator pods of ms2m/migrator. The in-cluster operator Deployment is scaled to 0 for this
 * file (back to 1 in afterAll), so only the process under test acts. A resize through the resource ends Completed
 * with the status filled in; the operator SIGKILLed right after a copy resumes when it starts again, without
 * copying that volume again; a resource deleted while a copy runs is rolled back (the finalizer waits for it):
 * temp claims and migrator pods gone, the original claims on their original PVs with the data, the StatefulSet back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { volumeResizeResource as R } from '../../../actors/crd/volume-resize.ts';
import { RESIZE_LABEL } from '../../../adapters/volumes/port.ts';
import { podHistory, scaleOperator } from '../../support/cluster-ops.ts';
import { eventually } from '../../support/eventually.ts';
import { claimStates, createApp, releaseResizeNamespaces, snapshot } from '../../support/volume-app.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const crs = kc.makeApiClient(CustomObjectsApi);
const CHILD = join(import.meta.dirname, '..', '..', 'support', 'real-operator-child.ts');
const namespaces: string[] = [];
const children: ChildProcess[] = [];

interface VrStatus {
  phase?: string;
  message?: string;
  volumeStatuses?: Array<{ volumeName: string; replica: number; phase: string; bytesCopied?: number }>;
  plan?: unknown[];
  conditions?: Array<{ type: string; status: string }>;
  completionTime?: string;
}

function startController(namespace: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      KUBECONFIG: cluster.kubeconfig,
      MS2M_NAMESPACE: namespace,
      MS2M_NATS_URL: cluster.endpoints.nats,
      MS2M_RABBITMQ_MANAGEMENT_URL: cluster.endpoints.rabbitManagement,
      MS2M_MIGRATOR_IMAGE: cluster.images.migrator,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

async function stopController(c: ReturnType<typeof startController>): Promise<void> {
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
  await c.exited;
}

const createResize = (namespace: string, name: string, spec: object) =>
  crs.createNamespacedCustomObject({
    group: R.group,
    version: R.version,
    plural: R.plural,
    namespace,
    body: { apiVersion: `${R.group}/${R.version}`, kind: R.kind, metadata: { name }, spec },
  });

async function resize(namespace: string, name: string): Promise<{ status?: VrStatus } | null> {
  try {
    return (await crs.getNamespacedCustomObject({
      group: R.group,
      version: R.version,
      plural: R.plural,
      namespace,
      name,
    })) as { status?: VrStatus };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return null;
    throw err;
  }
}

const untilPhase = (namespace: string, name: string, phases: string[], ms = 240_000) =>
  eventually(
    `VolumeResize ${namespace}/${name} in ${phases.join('|')}`,
    async () => {
      const s = (await resize(namespace, name))?.status;
      return s?.phase && phases.includes(s.phase) ? s : undefined;
    },
    ms,
  );

const SHRINK = {
  volumes: [
    { name: 'data', newSize: '24Mi' },
    { name: 'logs', newSize: '8Mi' },
  ],
};

beforeAll(async () => {
  await scaleOperator(kc, 0);
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
});

afterAll(async () => {
  await releaseResizeNamespaces(kc, namespaces);
  await scaleOperator(kc, 1, 180_000);
});

describe('VolumeResize resources run by the operator controller', () => {
  it('a resource resizes the StatefulSet, resumes after the operator is SIGKILLed mid-resize, and reports status', async () => {
    const ns = 'vr-op';
    namespaces.push(ns);
    await createApp(kc, cluster.images.migrator, ns, 'odb');
    const before = await claimStates(kc, ns, 'odb');
    const data = Object.fromEntries(before.map((c) => [c.claim, snapshot(c.path, ['boots'])]));
    const pods = await podHistory(kc, ns, `${RESIZE_LABEL}=shrink`);
    // the controller dies right after the first copy's fact is durable; a new one takes the resource over
    const first = startController(ns, { MS2M_KILL_AFTER_EVENT: 'VolumeCopied#1', MS2M_KILL_STREAM: `${ns}/shrink/` });
    const t0 = Date.now();
    await createResize(ns, 'shrink', { statefulSetName: 'odb', ...SHRINK });
    const killed = await first.exited;
    expect(killed.signal, first.stderr().slice(-2000)).toBe('SIGKILL');
    const mid = (await resize(ns, 'shrink'))?.status;
    expect(mid?.phase).toBe('Syncing');
    const second = startController(ns);
    const status = await untilPhase(ns, 'shrink', ['Completed', 'Failed']);
    const seconds = (Date.now() - t0) / 1000;
    await stopController(second);
    pods.stop();
    console.log(`VolumeResize through the operator controller, killed once: ${seconds.toFixed(1)} s`);
    expect(status.phase, status.message).toBe('Completed');
    expect(status.completionTime).toBeTruthy();
    expect(status.volumeStatuses?.map((v) => `${v.volumeName}-${v.replica}`).sort()).toEqual([
      'data-0',
      'data-1',
      'logs-0',
      'logs-1',
    ]);
    expect(status.plan?.length).toBeGreaterThan(0);
    // the copy done before the kill was not run again: one pod per migrator name
    const migrators = [...pods.seen.values()].filter((p) => p.name.includes('-migrator-')).map((p) => p.name);
    expect(migrators.sort()).toEqual([
      'shrink-migrator-0-data',
      'shrink-migrator-0-logs',
      'shrink-migrator-1-data',
      'shrink-migrator-1-logs',
    ]);
    const after = await claimStates(kc, ns, 'odb');
    expect(after.map((c) => c.claim)).toEqual(before.map((c) => c.claim));
    for (const c of after) expect(snapshot(c.path, ['boots'])).toEqual(data[c.claim]);
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'odb' });
    expect(sts.spec?.volumeClaimTemplates?.map((t) => t.spec?.resources?.requests?.storage)).toEqual(['24Mi', '8Mi']);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=shrink' });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Completed']));
  });

  it('a resource deleted while a copy runs is rolled back before its finalizer goes: data safe, nothing left', async () => {
    const ns = 'vr-op-del';
    namespaces.push(ns);
    await createApp(kc, cluster.images.migrator, ns, 'ddb');
    const before = await claimStates(kc, ns, 'ddb');
    const data = Object.fromEntries(before.map((c) => [c.claim, snapshot(c.path, ['boots'])]));
    const controller = startController(ns);
    await createResize(ns, 'gone', { statefulSetName: 'ddb', ...SHRINK });
    await eventually(
      'the first migrator pod created',
      async () => {
        const p = await core.listNamespacedPod({ namespace: ns, labelSelector: `${RESIZE_LABEL}=gone` });
        return p.items.some((x) => x.metadata?.name?.includes('-migrator-')) ? true : undefined;
      },
      180_000,
    );
    await crs.deleteNamespacedCustomObject({
      group: R.group,
      version: R.version,
      plural: R.plural,
      namespace: ns,
      name: 'gone',
    });
    await eventually(
      'VolumeResize gone (finalizer removed)',
      async () => ((await resize(ns, 'gone')) ? undefined : true),
      180_000,
    );
    await stopController(controller);
    await eventually(
      'StatefulSet ddb back with 2 Ready',
      async () =>
        (await apps.readNamespacedStatefulSet({ namespace: ns, name: 'ddb' }).catch(() => null))?.status
          ?.readyReplicas === 2
          ? true
          : undefined,
      120_000,
    );
    const after = await claimStates(kc, ns, 'ddb');
    expect(after.map((c) => [c.claim, c.pv])).toEqual(before.map((c) => [c.claim, c.pv]));
    for (const c of after) expect(snapshot(c.path, ['boots'])).toEqual(data[c.claim]);
    const [claims, left] = await Promise.all([
      core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: RESIZE_LABEL }),
      core.listNamespacedPod({ namespace: ns, labelSelector: RESIZE_LABEL }),
    ]);
    expect(claims.items.map((c) => c.metadata?.name)).toEqual([]);
    expect(left.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name)).toEqual([]);
  });
});
