/**
 * RBAC (issue 8): the operator works with exactly its role and fails with a clear message with less.
 *
 * "Exactly": the user bound to the roles of crds/rbac.yaml may do every verb on every resource they grant
 * (SelfSubjectAccessReview) and not a few things they do not; the full migrations run as that user are in
 * operator.test.ts. "Less": for one permission at a time, a user bound to copies of those roles without it runs
 * the operator on one migration; the outcome must name the verb, the resource and crds/rbac.yaml, in the status
 * message when the migration can fail, or in an operator log line when the operator cannot write the status or
 * never gets to the migration.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  loadAllYaml,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOperator, FINALIZER } from '../../actors/controller/operator.ts';
import type { StatefulMigrationStatusWire } from '../../actors/crd/stateful-migration.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { secretReader } from '../../adapters/kubernetes/secrets.ts';
import { kubernetesLease } from '../../adapters/lease/kubernetes-lease.ts';
import { makeUserKubeconfig } from '../harness/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { instantFakes } from '../support/fake-effects-operator.ts';
import { NodeSimulator } from '../support/node-simulator.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';

const cp = inject('controlPlane');
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const suffix = Date.now().toString(36);
/** Nodes of this file only, tainted so that the scheduler never places another file's pods on them. */
const NODES = ['rbac-node-a', 'rbac-node-b'];
const TAINT = 'ms2m.io/rbac-test-only';

type Role = KubernetesObject & { rules: V1PolicyRule[] };
const manifests = loadAllYaml(readFileSync(join(import.meta.dirname, '../../crds/rbac.yaml'), 'utf8')) as Role[];
const roleNamed = (kind: string, name: string): Role => {
  const r = manifests.find((m) => m.kind === kind && m.metadata?.name === name);
  if (!r) throw new Error(`crds/rbac.yaml has no ${kind} ${name}`);
  return r;
};
const operatorRole = roleNamed('ClusterRole', 'ms2m-operator');
const nodesRole = roleNamed('ClusterRole', 'ms2m-operator-nodes');
const leaderRole = roleNamed('Role', 'ms2m-operator-leader');

let admin: KubeConfig;
let operatorKc: KubeConfig;
let core: CoreV1Api;
let rbac: RbacAuthorizationV1Api;
let nodes: NodeSimulator;
const reviewNamespace = `rbac-review-${suffix}`;

beforeAll(async () => {
  ({ admin, operator: operatorKc } = await installOperatorPrerequisites(cp));
  core = admin.makeApiClient(CoreV1Api);
  rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: reviewNamespace } } });
  for (const name of NODES)
    await core
      .createNode({
        body: {
          metadata: { name, labels: { 'kubernetes.io/hostname': name } },
          spec: { taints: [{ key: TAINT, effect: 'NoSchedule' }] },
        },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  nodes = new NodeSimulator({ kubeConfig: admin, nodes: NODES });
  await nodes.start();
});

afterAll(async () => {
  await nodes?.stop();
  await core?.deleteNamespace({ name: reviewNamespace }).catch(() => undefined);
});

interface Access {
  group: string;
  resource: string;
  verb: string;
  namespace?: string;
  name?: string;
}

const CLUSTER_SCOPED = new Set(['nodes', 'nodes/proxy']);

/** Every (group, resource, verb, name) a role grants, in `namespace` for namespaced resources. */
function grants(role: Role, namespace: string): Access[] {
  return role.rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.flatMap((verb) =>
          (rule.resourceNames?.length ? rule.resourceNames : [undefined]).map((name) => ({
            group,
            resource,
            verb,
            ...(CLUSTER_SCOPED.has(resource) ? {} : { namespace }),
            ...(name ? { name } : {}),
          })),
        ),
      ),
    ),
  );
}

async function allowed(kc: KubeConfig, a: Access): Promise<boolean> {
  const [resource, subresource] = a.resource.split('/');
  const review = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: {
      spec: {
        resourceAttributes: {
          group: a.group,
          resource,
          ...(subresource ? { subresource } : {}),
          verb: a.verb,
          ...(a.namespace ? { namespace: a.namespace } : {}),
          ...(a.name ? { name: a.name } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}

const show = (a: Access) => `${a.verb} ${a.group || 'core'}/${a.resource}${a.name ? `/${a.name}` : ''}`;

describe('the operator with exactly its role', () => {
  it('may do every verb on every resource crds/rbac.yaml grants (SelfSubjectAccessReview as its user)', async () => {
    const wanted = [
      ...grants(operatorRole, reviewNamespace),
      ...grants(nodesRole, reviewNamespace),
      ...grants(leaderRole, 'ms2m-system'),
    ];
    expect(wanted.length).toBeGreaterThan(20);
    const denied: string[] = [];
    for (const a of wanted) if (!(await allowed(operatorKc, a))) denied.push(show(a));
    expect(denied).toEqual([]);
  });

  it('may not do what it does not need (least privilege)', async () => {
    // listing pods and deleting StatefulSets are needed since VolumeResize (probe and migrator pods, orphan-delete)
    const needless: Access[] = [
      { group: GROUP.group, resource: 'statefulmigrations', verb: 'delete', namespace: reviewNamespace },
      { group: GROUP.group, resource: 'statefulmigrations', verb: 'create', namespace: reviewNamespace },
      { group: '', resource: 'secrets', verb: 'list', namespace: reviewNamespace },
      { group: '', resource: 'pods/exec', verb: 'create', namespace: reviewNamespace },
      { group: 'apps', resource: 'deployments', verb: 'create', namespace: reviewNamespace },
      { group: '', resource: 'nodes', verb: 'patch' },
      { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'create' },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', namespace: 'ms2m-system', name: 'other' },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: reviewNamespace },
    ];
    const granted: string[] = [];
    for (const a of needless) if (await allowed(operatorKc, a)) granted.push(show(a));
    expect(granted).toEqual([]);
  });
});

interface Missing {
  group: string;
  resource: string;
  verb: string;
}

/** `rules` without `verb` on `resource` of `group` (the rest of a rule that grants it stays). */
function without(rules: V1PolicyRule[], m: Missing): V1PolicyRule[] {
  return rules.flatMap((rule) => {
    const hits =
      rule.apiGroups?.includes(m.group) && rule.resources?.includes(m.resource) && rule.verbs.includes(m.verb);
    if (!hits) return [rule];
    const others = (rule.resources ?? []).filter((r) => r !== m.resource);
    const verbs = rule.verbs.filter((v) => v !== m.verb);
    return [
      ...(others.length ? [{ ...rule, resources: others }] : []),
      ...(verbs.length ? [{ ...rule, resources: [m.resource], verbs }] : []),
    ];
  });
}

interface Case {
  missing: Missing;
  /** What the operator does without it. */
  does: string;
  /**
   * Where the clear message shows up: `failed`, the migration Failed with it in status.message (and its finalizer
   * goes); `log`, an operator log line (the status cannot be written, or the migration never starts).
   */
  outcome: 'failed' | 'log';
  /** Also wait for this phase after the log line (the permission is not needed for the migration itself). */
  thenPhase?: 'Completed';
  /** The migration's spec (defaults: a plain pod to the other node, broker URL inline). */
  spec?: Record<string, unknown>;
  realKubelet?: boolean;
  leaderElection?: boolean;
}

const CASES: Case[] = [
  {
    missing: { group: '', resource: 'pods', verb: 'create' },
    does: 'Restoring cannot create the target pod: the migration fails and compensates',
    outcome: 'failed',
  },
  {
    missing: { group: '', resource: 'pods', verb: 'get' },
    does: 'Pending cannot read the source pod: the migration fails before it changed anything',
    outcome: 'failed',
  },
  {
    missing: { group: '', resource: 'pods', verb: 'delete' },
    does: 'Finalizing cannot delete the source pod: the migration fails, the target keeps serving',
    outcome: 'failed',
  },
  {
    missing: { group: '', resource: 'nodes', verb: 'get' },
    does: 'Pending cannot check the target node: the migration fails before it changed anything',
    outcome: 'failed',
  },
  {
    missing: { group: '', resource: 'nodes/proxy', verb: 'create' },
    does: 'Checkpointing cannot reach the kubelet checkpoint API through the node proxy: the migration fails',
    outcome: 'failed',
    realKubelet: true,
  },
  {
    missing: { group: '', resource: 'events', verb: 'create' },
    does: 'Events cannot be recorded: each refused Event is logged and skipped; the migration completes and its finalizer goes',
    outcome: 'log',
    thenPhase: 'Completed',
  },
  {
    missing: { group: GROUP.group, resource: 'statefulmigrations/status', verb: 'patch' },
    does: 'the status cannot be written: the status observer retries and logs; the migration goes on unseen',
    outcome: 'log',
  },
  {
    missing: { group: GROUP.group, resource: 'statefulmigrations', verb: 'patch' },
    does: 'the finalizer cannot be added: the reconcile fails and is retried, logging why; nothing starts',
    outcome: 'log',
  },
  {
    missing: { group: GROUP.group, resource: 'statefulmigrations', verb: 'list' },
    does: 'the informer cannot list: it retries with backoff, logging why; nothing is reconciled',
    outcome: 'log',
  },
  {
    missing: { group: '', resource: 'secrets', verb: 'get' },
    does: 'the broker URL of spec.brokerSecretRef cannot be read: the migration fails before it reached the broker',
    outcome: 'failed',
    spec: {
      messageQueueConfig: { queueName: 'q', exchangeName: 'x' },
      brokerSecretRef: { name: 'broker', key: 'url' },
    },
  },
  {
    missing: { group: 'coordination.k8s.io', resource: 'leases', verb: 'create' },
    does: 'the leader Lease cannot be created: the operator never leads, and logs why at every attempt',
    outcome: 'log',
    leaderElection: true,
  },
];

type Smig = { metadata: { finalizers?: string[] }; status?: StatefulMigrationStatusWire };
type LogLine = { level: number; msg: string; [k: string]: unknown };

/** A clear message has the API server's `cannot <verb> resource "<resource>"`, and where to grant it. */
const names = (text: string, c: Case) =>
  text.includes(`cannot ${c.missing.verb} resource "${c.missing.resource}"`) && text.includes('crds/rbac.yaml');
const logText = (l: LogLine) =>
  Object.values(l)
    .filter((v) => typeof v === 'string')
    .join(' ');
const terminal = (m: Smig) => m.status?.phase === 'Failed' || m.status?.phase === 'Completed';

describe('the operator with one permission less fails with a message naming it and crds/rbac.yaml', () => {
  it.concurrent.each(CASES.map((c) => [`${c.missing.verb} ${c.missing.resource}`, c] as const))(
    'without %s',
    async (_, c) => {
      const id = `${c.missing.verb}-${c.missing.resource.replace('/', '-')}`;
      const namespace = `rbac-${id}-${suffix}`.slice(0, 63).replace(/-$/, '');
      const user = `ms2m-operator-without-${id}`;
      const kc = await userWithout(user, c.missing);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      await eventually('ServiceAccount default', () =>
        core.readNamespacedServiceAccount({ name: 'default', namespace }),
      );
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: 'src', labels: { app: 'src' } },
          spec: {
            nodeName: NODES[0],
            tolerations: [{ key: TAINT, operator: 'Exists' }],
            containers: [{ name: 'app', image: 'registry.invalid/ms2m/consumer:1' }],
          },
        },
      });
      await core.createNamespacedSecret({
        namespace,
        body: { metadata: { name: 'broker' }, stringData: { url: 'amqp://fake:5672' } },
      });
      const logs: LogLine[] = [];
      const run = await startOperator(kc, namespace, c, logs);
      const crs = admin.makeApiClient(CustomObjectsApi);
      try {
        await crs.createNamespacedCustomObject({
          ...GROUP,
          namespace,
          body: {
            apiVersion: `${GROUP.group}/${GROUP.version}`,
            kind: 'StatefulMigration',
            metadata: { name: 'm' },
            spec: {
              sourcePod: 'src',
              targetNode: NODES[1],
              messageQueueConfig: { queueName: 'q', exchangeName: 'x', brokerUrl: 'amqp://fake:5672' },
              ...c.spec,
            },
          },
        });
        const read = async () => (await crs.getNamespacedCustomObject({ ...GROUP, namespace, name: 'm' })) as Smig;
        const seen = await expectOutcome(c, read, logs).catch((err: Error) => {
          throw new Error(`${err.message}; operator warnings: ${warnings(logs)}`, { cause: err });
        });
        console.info(`rbac: without ${c.missing.verb} ${c.missing.resource}: ${c.does}. Seen: ${seen}`);
      } finally {
        await run.stop();
        // a finalizer the operator could not remove would hold the namespace in Terminating
        await crs
          .patchNamespacedCustomObject(
            { ...GROUP, namespace, name: 'm', body: { metadata: { finalizers: null } } },
            merge,
          )
          .catch(() => undefined);
        await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      }
    },
    120_000,
  );
});

/** Waits for the clear message `c` expects, where it expects it; returns what was seen, for the record. */
async function expectOutcome(c: Case, read: () => Promise<Smig>, logs: LogLine[]): Promise<string> {
  const what = `${c.missing.verb} ${c.missing.resource}`;
  const finalizerGone = () =>
    eventually('finalizer removed', async () =>
      (await read()).metadata.finalizers?.includes(FINALIZER) ? undefined : true,
    );
  if (c.outcome === 'failed') {
    const m = await eventually('StatefulMigration Completed or Failed', async () => {
      const m = await read();
      return terminal(m) ? m : undefined;
    });
    expect(m.status?.phase, c.does).toBe('Failed');
    expect(names(m.status?.message ?? '', c), `status.message: ${m.status?.message}`).toBe(true);
    await finalizerGone();
    return `Failed, finalizer removed: ${m.status?.message}`;
  }
  const line = await eventually(`an operator log line naming ${what}`, async () =>
    logs.find((l) => l.level >= 40 && names(logText(l), c)),
  );
  let m = await read();
  if (c.thenPhase) {
    m = await eventually(`StatefulMigration ${c.thenPhase}`, async () => {
      const m = await read();
      return terminal(m) ? m : undefined;
    });
    expect(m.status?.phase).toBe(c.thenPhase);
    await finalizerGone();
    m = await read();
  }
  const finalizer = m.metadata.finalizers?.includes(FINALIZER) ? 'finalizer kept' : 'no finalizer';
  return `logged "${line.msg}: ${line.err}"; the migration: phase ${m.status?.phase ?? '(no status)'}, ${finalizer}`;
}

/** A client-certificate user bound to copies of the operator's roles without `m`. */
async function userWithout(user: string, m: Missing): Promise<KubeConfig> {
  const subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }];
  for (const role of [operatorRole, nodesRole]) {
    const name = `${role.metadata?.name}-${user}`;
    await rbac.createClusterRole({ body: { metadata: { name }, rules: without(role.rules, m) } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects,
      },
    });
  }
  const leader = `${leaderRole.metadata?.name}-${user}`;
  await rbac.createNamespacedRole({
    namespace: 'ms2m-system',
    body: { metadata: { name: leader }, rules: without(leaderRole.rules, m) },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: 'ms2m-system',
    body: {
      metadata: { name: leader },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: leader },
      subjects,
    },
  });
  const kc = new KubeConfig();
  kc.loadFromFile(await makeUserKubeconfig(cp, user, []));
  // RBAC changes reach the authorizer's cache shortly after: wait until the new user may do what it keeps
  const kept = grants({ ...operatorRole, rules: without(operatorRole.rules, m) }, 'default')[0] as Access;
  await eventually(`roles of ${user} in effect`, async () => ((await allowed(kc, kept)) ? true : undefined));
  return kc;
}

/** The operator as `kc`, on one namespace, with the instant fakes of operator.test.ts (or the real kubelet). */
async function startOperator(kc: KubeConfig, namespace: string, c: Case, logs: LogLine[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  if (c.leaderElection) {
    // a Lease left by an earlier file of the tier could be taken over without `create`: start from none
    await admin
      .makeApiClient(CoordinationV1Api)
      .deleteNamespacedLease({ namespace: 'ms2m-system', name: 'ms2m-operator' })
      .catch((err: { code?: number }) => {
        if (err.code !== 404) throw err;
      });
  }
  const { effects } = instantFakes();
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-rbac-'));
  const operator = createOperator({
    logger,
    migrations: new CustomResourceClient(kc, { ...GROUP, kind: 'StatefulMigration' }, namespace),
    effects: {
      cluster: new KubeCluster({ kubeConfig: kc, logger }),
      ...effects,
      ...(c.realKubelet ? { kubelet: await kubeletFromKubeconfig({ kubeConfig: kc }) } : {}),
    },
    log: await openFileLog({ dir: join(dir, 'log'), logger }),
    // as main.ts
    readSecret: secretReader(kc),
    ...(c.leaderElection
      ? {
          lease: kubernetesLease({
            kubeConfig: kc,
            namespace: 'ms2m-system',
            name: 'ms2m-operator',
            holder: `rbac-test-${suffix}`,
            durationMs: 15_000,
            logger,
          }),
          leaseRetryMs: 500,
        }
      : {}),
    runtime: { maxAttempts: 2, retryBaseMs: 100 },
  });
  await operator.start();
  return {
    async stop() {
      await operator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const warnings = (logs: LogLine[]) =>
  JSON.stringify(
    logs
      .filter((l) => l.level >= 40)
      .slice(-5)
      .map((l) => `${l.msg}: ${l.err ?? l.why ?? ''}`),
  );
