/**
 * The operator on a real control plane (kube-apiserver + etcd + kube-controller-manager + kube-scheduler), running
 * as a user bound only to the roles of crds/rbac.yaml. The test plays the nodes (NodeSimulator); the kubelet,
 * broker and agents are the instant fakes here (their real adapters have their own suites). The ReplicaSet
 * adoption and the StatefulSet scale-down/up are done by the real controllers and checked on the real objects.
 */
import { execFileSync } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AppsV1Api,
  type CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOperatorHttp } from '../../actors/controller/http.ts';
import { FINALIZER } from '../../actors/controller/operator.ts';
import { streamIdOf } from '../../actors/controller/resource-controller.ts';
import type { StatefulMigrationStatusWire } from '../../actors/crd/stateful-migration.ts';
import { eventually } from '../support/eventually.ts';
import { type FakeEffectsOperator, startFakeEffectsOperator } from '../support/fake-effects-operator.ts';

const cp = inject('controlPlane');
const namespace = `op-${Date.now().toString(36)}`;
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let env: FakeEffectsOperator;
let core: CoreV1Api;
let apps: AppsV1Api;
let crs: CustomObjectsApi;
let http: Server;
let httpUrl: string;

beforeAll(async () => {
  env = await startFakeEffectsOperator(cp, { namespace, tmpPrefix: 'ms2m-operator-' });
  core = env.core;
  apps = env.admin.makeApiClient(AppsV1Api);
  crs = env.admin.makeApiClient(CustomObjectsApi);
  const { operator } = env;
  http = createOperatorHttp({
    registry: env.metrics.registry,
    ready: () => operator.ready,
    leading: () => operator.leading,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  http?.close();
  await env?.stop();
});

const consumerContainer = {
  name: 'consumer',
  image: 'registry.invalid/ms2m/consumer:1',
  env: [{ name: 'QUEUE', value: 'orders' }],
  ports: [{ containerPort: 8080, name: 'http' }],
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
  readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 },
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
};
const podSpec = { containers: [consumerContainer], volumes: [{ name: 'data', emptyDir: {} }] };

function smig(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'migration.ms2m.io/v1alpha1',
    kind: 'StatefulMigration',
    metadata: { name, namespace },
    spec: {
      messageQueueConfig: { queueName: `q-${name}`, exchangeName: `x-${name}`, brokerUrl: 'amqp://fake:5672' },
      ...spec,
    },
  };
}

type Smig = { metadata: { uid: string; finalizers?: string[] }; status?: StatefulMigrationStatusWire };
const getSmig = async (name: string) => (await crs.getNamespacedCustomObject({ ...GROUP, namespace, name })) as Smig;

async function untilPhase(name: string, phases: string[], timeoutMs = 60_000): Promise<Smig> {
  return eventually(
    `StatefulMigration ${name} in ${phases.join('/')}`,
    async () => {
      const m = await getSmig(name);
      return m.status?.phase && phases.includes(m.status.phase) ? m : undefined;
    },
    timeoutMs,
  );
}

const readyPod = (name: string) =>
  eventually(`Pod ${name} Running+Ready`, async () => {
    const p = await core.readNamespacedPod({ namespace, name });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });

const otherNode = (pod: V1Pod) => (pod.spec?.nodeName === 'node-a' ? 'node-b' : 'node-a');

async function eventsOf(name: string) {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message }));
}

describe('operator on a real control plane', () => {
  it('ShadowPod of a plain pod: Completed, full container spec on the target, source deleted, Events and status', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'plain', labels: { app: 'plain' } }, spec: { ...podSpec, nodeName: 'node-a' } },
    });
    const source = await readyPod('plain');
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: smig('m-plain', { sourcePod: 'plain', targetNode: 'node-b' }),
    });
    const done = await untilPhase('m-plain', ['Completed', 'Failed']);
    expect(done.status?.message).toBeDefined();
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.strategy).toBe('ShadowPod');
    expect(done.status?.transferMode).toBe('Direct');
    expect(done.status?.phaseTimings?.Total).toMatch(/^\d+(\.\d+)?(ms|s)$/);
    expect(Object.keys(done.status?.phaseTimings ?? {})).toEqual(
      expect.arrayContaining(['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing']),
    );
    expect(done.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(done.status?.eventLog).toContain(
      streamIdOf({ namespace, name: 'm-plain', uid: done.metadata.uid }).split('/')[0],
    );
    // the finalizer goes once the final status is written
    await eventually('finalizer removed', async () =>
      (await getSmig('m-plain')).metadata.finalizers?.includes(FINALIZER) ? undefined : true,
    );
    const target = await core.readNamespacedPod({ namespace, name: 'plain-shadow' });
    expect(target.spec?.nodeName).toBe('node-b');
    // released at Finalizing: deleting the finished resource must not garbage-collect the migrated workload
    expect(target.metadata?.ownerReferences ?? []).toEqual([]);
    const c = target.spec?.containers[0];
    expect(c?.env).toEqual([...consumerContainer.env, { name: 'MS2M_RESTORE_MODE', value: 'true' }]);
    expect(c?.volumeMounts).toEqual(expect.arrayContaining(consumerContainer.volumeMounts));
    expect(c?.readinessProbe?.httpGet?.path).toBe('/healthz');
    expect(c?.resources?.limits).toEqual({ memory: '64Mi' });
    expect(target.metadata?.labels).toMatchObject({
      app: 'plain',
      'migration.ms2m.io/migration': 'm-plain',
      'migration.ms2m.io/role': 'target',
    });
    await eventually('source pod deleted', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=plain' });
      return pods.items.some((p) => p.metadata?.uid === source.metadata?.uid) ? undefined : true;
    });
    const events = await eventsOf('m-plain');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing', 'Completed']),
    );
    expect(events.find((e) => e.reason === 'Completed')?.message).toMatch(/^Migrated Pod .*\/plain to node node-b in /);
    // each effect once
    expect(env.fakes.journal.applied('checkpoint').filter((e) => e.object.includes('/plain/'))).toHaveLength(1);
  });

  it('Deployment: the real ReplicaSet adopts the migrated pod and removes the source, no fresh replacement', async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: podSpec },
        },
      },
    });
    const source = await eventually('Deployment pod Ready', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
      const p = pods.items[0];
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    const name = source.metadata?.name as string;
    const to = otherNode(source);
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: smig('m-web', { sourcePod: name, targetNode: to }),
    });
    const done = await untilPhase('m-web', ['Completed', 'Failed']);
    expect(done.status?.message).toBeDefined();
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.deploymentName).toBe('web');
    const pods = await eventually('only the migrated pod left', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
      const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
      return live.length === 1 && live[0]?.metadata?.name === `${name}-shadow` ? list.items : undefined;
    });
    const migrated = pods.find((p) => p.metadata?.name === `${name}-shadow`);
    expect(migrated?.spec?.nodeName).toBe(to);
    expect(migrated?.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ReplicaSet', controller: true }),
    ]);
    const deployment = await apps.readNamespacedDeployment({ namespace, name: 'web' });
    expect(deployment.spec?.replicas).toBe(1);
    // no rollout: the template was not touched
    expect(deployment.spec?.template.spec?.affinity).toBeUndefined();
  });

  it('Sequential: the real StatefulSet controller scales down, the same-name pod is restored on the target, the StatefulSet adopts it', async () => {
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'db' },
        spec: {
          replicas: 1,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: { metadata: { labels: { app: 'db' } }, spec: podSpec },
        },
      },
    });
    const source = await readyPod('db-0');
    const to = otherNode(source);
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: smig('m-db', { sourcePod: 'db-0', targetNode: to }),
    });
    const done = await untilPhase('m-db', ['Completed', 'Failed']);
    expect(done.status?.message).toBeDefined();
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.strategy).toBe('Sequential');
    expect(done.status?.originalReplicas).toBe(1);
    const pod = await eventually('db-0 adopted by the StatefulSet', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'db-0' });
      return p.metadata?.ownerReferences?.some((r) => r.kind === 'StatefulSet' && r.controller) ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe(to);
    expect(pod.metadata?.uid).not.toBe(source.metadata?.uid);
    expect((await apps.readNamespacedStatefulSet({ namespace, name: 'db' })).spec?.replicas).toBe(1);
  });

  it('spec.cancel mid-migration compensates: Failed with Cancelled, Compensated=True, the source keeps serving', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'slow', labels: { app: 'slow' } }, spec: { ...podSpec, nodeName: 'node-a' } },
    });
    await readyPod('slow');
    env.fakes.checkpointDelayMs = 4000;
    try {
      await crs.createNamespacedCustomObject({
        ...GROUP,
        namespace,
        body: smig('m-cancel', { sourcePod: 'slow', targetNode: 'node-b' }),
      });
      await untilPhase('m-cancel', ['Checkpointing']);
      await crs.patchNamespacedCustomObject(
        { ...GROUP, namespace, name: 'm-cancel', body: { spec: { cancel: true } } },
        merge,
      );
      const done = await untilPhase('m-cancel', ['Completed', 'Failed']);
      expect(done.status?.phase).toBe('Failed');
      expect(done.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ reason: 'Cancelled' });
      expect(done.status?.conditions?.find((c) => c.type === 'Compensated')).toMatchObject({ status: 'True' });
    } finally {
      env.fakes.checkpointDelayMs = 0;
    }
    const source = await core.readNamespacedPod({ namespace, name: 'slow' });
    expect(source.metadata?.deletionTimestamp).toBeUndefined();
    expect((await eventsOf('m-cancel')).some((e) => e.type === 'Warning' && e.reason === 'Cancelled')).toBe(true);
  });

  it('deleting a resource mid-migration cancels and compensates before the finalizer lets it go', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'del', labels: { app: 'del' } }, spec: { ...podSpec, nodeName: 'node-a' } },
    });
    await readyPod('del');
    env.fakes.checkpointDelayMs = 4000;
    try {
      await crs.createNamespacedCustomObject({
        ...GROUP,
        namespace,
        body: smig('m-del', { sourcePod: 'del', targetNode: 'node-b' }),
      });
      await untilPhase('m-del', ['Checkpointing']);
      await crs.deleteNamespacedCustomObject({ ...GROUP, namespace, name: 'm-del' });
      await eventually(
        'StatefulMigration m-del gone',
        async () => {
          try {
            await getSmig('m-del');
            return undefined;
          } catch (err) {
            return (err as { code?: number }).code === 404 ? true : undefined;
          }
        },
        60_000,
      );
    } finally {
      env.fakes.checkpointDelayMs = 0;
    }
    // compensation ran: the replay queue it made was deleted, the source was never touched
    expect(env.fakes.broker.queues.has('q-m-del.ms2m-replay')).toBe(false);
    expect((await core.readNamespacedPod({ namespace, name: 'del' })).metadata?.deletionTimestamp).toBeUndefined();
  });

  it('a spec change after the start is refused at admission, naming the fix', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'frozen', labels: { app: 'frozen' } }, spec: { ...podSpec, nodeName: 'node-a' } },
    });
    await readyPod('frozen');
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: smig('m-frozen', { sourcePod: 'frozen', targetNode: 'node-b' }),
    });
    await untilPhase('m-frozen', [
      'Pending',
      'Checkpointing',
      'Transferring',
      'Restoring',
      'Replaying',
      'Finalizing',
      'Completed',
    ]);
    const err = await crs
      .patchNamespacedCustomObject(
        { ...GROUP, namespace, name: 'm-frozen', body: { spec: { targetNode: 'node-c' } } },
        merge,
      )
      .then(
        () => null,
        (e: { code?: number; body?: unknown }) => e,
      );
    // the admission policy denies with reason Forbidden
    expect(err?.code).toBe(403);
    expect(JSON.stringify(err?.body)).toContain('fixed once the controller has started it');
  });

  it('a target node that does not exist fails at Pending with a message that says so', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'lost', labels: { app: 'lost' } }, spec: { ...podSpec, nodeName: 'node-a' } },
    });
    await readyPod('lost');
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: smig('m-lost', { sourcePod: 'lost', targetNode: 'node-z' }),
    });
    const done = await untilPhase('m-lost', ['Completed', 'Failed']);
    expect(done.status?.phase).toBe('Failed');
    expect(done.status?.message).toMatch(/node-z/);
  });

  it('serves /healthz, /readyz and Prometheus metrics of what it ran', async () => {
    expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toContain('leader');
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    expect(text).toMatch(/ms2m_migration_phase_duration_seconds_count\{phase="Checkpointing"\} [1-9]/);
    expect(text).toMatch(/ms2m_migrations_finished_total\{outcome="Completed",reason="Completed"\} [1-9]/);
    expect(text).toMatch(/ms2m_migrations_finished_total\{outcome="Failed",reason="Cancelled"\} [1-9]/);
    expect(text).toMatch(/ms2m_checkpoint_bytes_transferred_total [1-9]/);
    expect(text).toMatch(/ms2m_reconciles_total\{result="ok"\} [1-9]/);
    expect((await fetch(`${httpUrl}/nope`)).status).toBe(404);
  });

  it('kubectl get smig shows the printer columns, describe shows conditions and Events', async () => {
    const kubectl = cp.kubectlPath ?? 'kubectl';
    const run = (...args: string[]) =>
      execFileSync(kubectl, ['--kubeconfig', cp.kubeconfigPath, '-n', namespace, ...args], { encoding: 'utf8' });
    const table = run('get', 'smig');
    expect(table.split('\n')[0]?.split(/\s+/)).toEqual([
      'NAME',
      'PHASE',
      'SOURCE',
      'TARGET',
      'STRATEGY',
      'TRANSFER',
      'TOTAL',
      'AGE',
    ]);
    expect(table).toMatch(/^m-plain\s+Completed\s+plain\s+node-b\s+ShadowPod\s+Direct\s+\d[\d.]*m?s\s+\d+s$/m);
    expect(table).toMatch(/^m-cancel\s+Failed\s+slow\s+node-b\s+/m);
    const described = run('describe', 'smig', 'm-plain');
    expect(described).toMatch(/Conditions:/);
    expect(described).toMatch(/Type:\s+Ready/);
    expect(described).toMatch(/Events:/);
    expect(described).toMatch(/Normal\s+Completed\s+.*Migrated Pod/);
    expect(run('get', 'statefulmigrations.migration.ms2m.io', '-o', 'name')).toContain(
      'statefulmigration.migration.ms2m.io/m-plain',
    );
  });

  it('a name longer than a label value can hold is refused at admission, saying why', async () => {
    const name = `m-${'x'.repeat(62)}`;
    const err = await crs
      .createNamespacedCustomObject({
        ...GROUP,
        namespace,
        body: smig(name, { sourcePod: 'plain', targetNode: 'node-b' }),
      })
      .then(
        () => null,
        (e: { code?: number; body?: unknown }) => e,
      );
    expect(err?.code).toBe(422);
    expect(JSON.stringify(err?.body)).toContain('metadata.name must be at most 63 characters');
  });
});
