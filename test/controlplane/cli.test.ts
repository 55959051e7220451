/**
 * The ms2m CLI against a real kube-apiserver (this tier's control plane, the CRD and its admission policy from
 * crds/): `migrate` creates the resource and follows it to Completed (exit 0) or Failed (exit 1 with the reason),
 * `status` in every format, `follow`, `cancel`, `logs` from the file log the operator wrote, and `ms2m operator`
 * as a real process. The operator here is the in-process one with the instant fakes (as operator.test.ts), so
 * the migrations really run through their phases; the CLI runs through `runCli` (and one real process each for
 * `status` and `operator`).
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CoreV1Api, CustomObjectsApi, loadYaml, type V1EnvVar } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collect, ms2mEntry, runCliCapture } from '../support/cli-run.ts';
import { eventually } from '../support/eventually.ts';
import { type FakeEffectsOperator, startFakeEffectsOperator } from '../support/fake-effects-operator.ts';

const cp = inject('controlPlane');
const stamp = Date.now().toString(36);
const namespace = `cli-${stamp}`;
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };

let env: FakeEffectsOperator;
let core: CoreV1Api;
let crs: CustomObjectsApi;

beforeAll(async () => {
  env = await startFakeEffectsOperator(cp, { namespace, tmpPrefix: 'ms2m-cli-cp-' });
  core = env.core;
  crs = env.admin.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await env?.stop();
});

/** `ms2m ...args` through runCli, as the admin of this control plane, in the test namespace. */
const ms2m = (...args: string[]) => runCliCapture([...args, '--kubeconfig', cp.kubeconfigPath, '-n', namespace]);
const runCliWith = (args: string[]) => runCliCapture(args);

const broker = ['--queue', 'orders', '--exchange', 'orders-fanout', '--broker-url', 'amqp://fake:5672'];

const consumer = (env: V1EnvVar[] = []) => ({
  containers: [
    {
      name: 'consumer',
      image: 'registry.invalid/ms2m/consumer:1',
      env,
      resources: { requests: { cpu: '10m', memory: '32Mi' } },
    },
  ],
});

async function readyPod(name: string, env?: Parameters<typeof consumer>[0]) {
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name, labels: { app: name } }, spec: { ...consumer(env), nodeName: 'node-a' } },
  });
  return eventually(`Pod ${name} Running+Ready`, async () => {
    const p = await core.readNamespacedPod({ namespace, name });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
}

type Smig = { metadata: { name: string }; spec: Record<string, unknown>; status?: { phase?: string } };
const getSmig = async (name: string) => (await crs.getNamespacedCustomObject({ ...GROUP, namespace, name })) as Smig;
const listSmigs = async () =>
  ((await crs.listNamespacedCustomObject({ ...GROUP, namespace })) as { items: Smig[] }).items;

describe('ms2m migrate, status, follow, cancel and logs on a real API server', () => {
  let completed: string;

  it('migrate follows the migration to Completed: phase lines on stderr, the result on stdout, exit 0', async () => {
    await readyPod('plain');
    const run = await ms2m('migrate', 'plain', '--to', 'node-b', ...broker);
    expect(run.stderr).not.toMatch(/^ms2m: /m);
    expect(run.code).toBe(0);
    const m =
      /^StatefulMigration (\S+)\/(plain-[a-z0-9]+) Completed in \S+ \(Pending [^)]*Finalizing [^)]*\); target pod plain-shadow\n$/.exec(
        run.stdout,
      );
    expect(m?.[1]).toBe(namespace);
    completed = m?.[2] as string;
    // not a TTY: plain lines, one per phase seen, in order (polling may skip a short phase, never reorder)
    const phases = [...run.stderr.matchAll(/^ *\+\d+\.\ds {2}\S+ {2}(\w+)/gm)].map((x) => x[1]);
    expect(phases.at(-1)).toBe('Completed');
    const order = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing', 'Completed'];
    expect(phases.map((p) => order.indexOf(p as string))).toEqual(
      [...phases.map((p) => order.indexOf(p as string))].sort((a, b) => a - b),
    );
    expect(run.stderr).toMatch(new RegExp(`^StatefulMigration ${namespace}/${completed} created`, 'm'));
    const obj = await getSmig(completed);
    expect(obj.spec).toEqual({
      sourcePod: 'plain',
      targetNode: 'node-b',
      messageQueueConfig: { queueName: 'orders', exchangeName: 'orders-fanout', brokerUrl: 'amqp://fake:5672' },
      // the API server's defaults
      replayMode: 'Cutoff',
      replayMaxSeconds: 120,
      drainStallSeconds: 30,
      cancel: false,
      finalizeDeploymentMode: 'Adopt',
    });
  });

  it('status: a table, -o wide, -o json (a List), -o yaml, one name; a missing name is exit 1', async () => {
    const table = await ms2m('status');
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const [head, ...rows] = table.stdout.trimEnd().split('\n');
    expect(head?.split(/ {3,}/)).toEqual(['NAME', 'PHASE', 'SOURCE', 'TARGET', 'STRATEGY', 'TRANSFER', 'TOTAL', 'AGE']);
    expect(
      rows
        .find((r) => r.startsWith(completed))
        ?.split(/ {3,}/)
        .slice(0, 6),
    ).toEqual([completed, 'Completed', 'plain', 'node-b', 'ShadowPod', 'Direct']);
    const wide = await ms2m('status', completed, '-o', 'wide');
    expect(wide.stdout).toMatch(/SOURCE-NODE +TARGET-POD +PROGRESS +MESSAGE\n/);
    expect(wide.stdout).toMatch(/node-a +plain-shadow +30\.0 MiB\/30\.0 MiB/);
    const json = JSON.parse((await ms2m('status', '-o', 'json')).stdout);
    expect(json).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(json.items.map((i: Smig) => i.metadata.name)).toContain(completed);
    const yaml = await ms2m('status', completed, '-o', 'yaml');
    expect(yaml.code).toBe(0);
    const obj = (await getSmig(completed)) as Smig & { metadata: { uid: string; creationTimestamp: string } };
    // client-node's loadYaml types metadata (timestamps become Dates): compare what YAML readers all agree on
    expect(loadYaml(yaml.stdout)).toMatchObject({
      apiVersion: 'migration.ms2m.io/v1alpha1',
      kind: 'StatefulMigration',
      metadata: { name: completed, namespace, uid: obj.metadata.uid },
      spec: obj.spec,
      status: obj.status,
    });
    expect(yaml.stdout).toContain(`creationTimestamp: '${obj.metadata.creationTimestamp}'`);
    const missing = await ms2m('status', 'nope');
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(
      new RegExp(
        `^ms2m: StatefulMigration ${namespace}/nope not found: no such resource on https://[^ ]+ \\(ms2m status -n ${namespace} lists them; is the namespace right\\?\\)\\n$`,
      ),
    );
  });

  it('status through the real entry point (a new process): -o json is one document', async () => {
    const child = spawn(process.execPath, [...ms2mEntry, 'status', completed, '-o', 'json', '-n', namespace], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { code, stdout, stderr } = await collect(child, 150_000);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toMatchObject({ metadata: { name: completed }, status: { phase: 'Completed' } });
  });

  it('migrate reads the RabbitMQ setup from the pod (a Secret URL becomes brokerSecretRef); --no-wait; follow', async () => {
    await readyPod('envpod', [
      { name: 'QUEUE_NAME', value: 'q-env' },
      { name: 'EXCHANGE_NAME', value: 'x-env' },
      { name: 'RABBITMQ_URL', valueFrom: { secretKeyRef: { name: 'rabbit', key: 'url' } } },
    ]);
    const created = await ms2m('migrate', 'envpod', '--to', 'node-b', '--name', 'm-env', '--no-wait', '-o', 'json');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(created.stdout).spec).toMatchObject({
      sourcePod: 'envpod',
      messageQueueConfig: { queueName: 'q-env', exchangeName: 'x-env' },
      brokerSecretRef: { name: 'rabbit', key: 'url' },
    });
    // no Secret rabbit: the operator fails the migration, and follow says why with exit 1
    const followed = await ms2m('follow', 'm-env', '-q');
    expect(followed.code).toBe(1);
    expect(followed.stdout).toMatch(new RegExp(`^StatefulMigration ${namespace}/m-env Failed`));
    expect(followed.stderr).toMatch(
      new RegExp(`^ms2m: StatefulMigration ${namespace}/m-env Failed \\(\\w+\\): .*rabbit`),
    );
    expect(followed.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('migrate of a pod that does not exist: exit 1 with the reason (Failed), one line', async () => {
    const run = await ms2m('migrate', 'ghost', '--to', 'node-b', '--name', 'm-ghost', ...broker, '-q');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`^ms2m: StatefulMigration ${namespace}/m-ghost Failed \\(\\w+\\): [^\\n]*ghost[^\\n]*\\n$`),
    );
    expect((await getSmig('m-ghost')).status?.phase).toBe('Failed');
    // without the broker flags the pod is read first: not found, nothing created
    const before = (await listSmigs()).length;
    const unread = await ms2m('migrate', 'ghost', '--to', 'node-b');
    expect(unread).toMatchObject({ code: 1, stdout: '' });
    expect(unread.stderr).toMatch(
      new RegExp(
        `^ms2m: Pod ${namespace}/ghost not found: check the name and -n \\(or give --queue, --exchange and --broker-url`,
      ),
    );
    expect((await listSmigs()).length).toBe(before);
    const container = await ms2m('migrate', 'envpod', '--to', 'node-b', '--container', 'sidecar');
    expect(container).toEqual({
      code: 1,
      stdout: '',
      stderr: `ms2m: Container sidecar in Pod ${namespace}/envpod not found: its containers are consumer\n`,
    });
    expect((await listSmigs()).length).toBe(before);
  });

  it('migrate validates the spec before creating it (exit 2, nothing created); --dry-run prints it', async () => {
    const before = (await listSmigs()).length;
    const bad = await ms2m('migrate', 'plain', '--to', 'node-b', ...broker, '--replay-max', '10', '--cutoff', '20');
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/spec\.replayCutoffSeconds: replayCutoffSeconds must not exceed replayMaxSeconds/);
    const reserved = await ms2m('migrate', 'plain', '--to', 'node-b', ...broker.slice(2), '--queue', 'amq.x');
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toMatch(/queue names starting with "amq\." are reserved/);
    const registry = await ms2m('migrate', 'plain', '--to', 'node-b', ...broker, '--transfer', 'Registry');
    expect(registry.stderr).toMatch(/checkpointImageRepository is required when transferMode is Registry/);
    expect((await listSmigs()).length).toBe(before);
    const dry = await ms2m(
      'migrate',
      'plain',
      '--to',
      'node-b',
      ...broker,
      '--name',
      'm-dry',
      '--dry-run',
      '-o',
      'yaml',
    );
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(JSON.stringify(loadYaml(dry.stdout)))).toEqual({
      apiVersion: 'migration.ms2m.io/v1alpha1',
      kind: 'StatefulMigration',
      metadata: { name: 'm-dry', namespace },
      spec: {
        sourcePod: 'plain',
        targetNode: 'node-b',
        messageQueueConfig: { queueName: 'orders', exchangeName: 'orders-fanout', brokerUrl: 'amqp://fake:5672' },
      },
    });
    expect((await listSmigs()).length).toBe(before);
  });

  it('cancel --wait: a migration caught in Checkpointing ends Cancelled (exit 0); cancel of an ended one is exit 1', async () => {
    await readyPod('slow');
    env.fakes.checkpointDelayMs = 60_000;
    try {
      expect((await ms2m('migrate', 'slow', '--to', 'node-b', '--name', 'm-cancel', ...broker, '--no-wait')).code).toBe(
        0,
      );
      await eventually('m-cancel Checkpointing', async () =>
        (await getSmig('m-cancel')).status?.phase === 'Checkpointing' ? true : undefined,
      );
      const run = await ms2m('cancel', 'm-cancel', '--wait');
      expect(run.stderr).not.toMatch(/^ms2m: /m);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        new RegExp(
          `^StatefulMigration ${namespace}/m-cancel cancel requested \\(phase Checkpointing\\)\\nStatefulMigration ${namespace}/m-cancel Cancelled: `,
        ),
      );
      expect((await getSmig('m-cancel')).spec.cancel).toBe(true);
    } finally {
      env.fakes.checkpointDelayMs = 0;
    }
    const again = await ms2m('cancel', completed);
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toBe(
      `ms2m: StatefulMigration ${namespace}/${completed} has already ended (Completed): nothing to cancel\n`,
    );
  });

  it("logs: the migration's events from the file log the operator wrote (text and jsonl); status --log agrees", async () => {
    const text = await ms2m('logs', completed, '--log', env.logDir);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ {3}1 {2}\d{4}-\d\d-\d\dT[\d:.]+Z +\+0\.000s {2}Pending +MigrationRequested/);
    expect(lines.at(-1)).toMatch(/ Completed +\w+/);
    const jsonl = await ms2m('logs', completed, '--log', env.logDir, '-o', 'jsonl');
    const events = jsonl.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toHaveLength(lines.length);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const uid = ((await getSmig(completed)) as unknown as { metadata: { uid: string } }).metadata.uid;
    expect(events[0]).toMatchObject({
      kind: 'StatefulMigration',
      id: `${namespace}/${completed}/${uid}`,
      type: 'MigrationRequested',
    });
    const status = await ms2m('status', completed, '--log', env.logDir);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'Completed', targetPod: 'plain-shadow' });
    const unknown = await ms2m('logs', 'nope', '--log', env.logDir);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(
      new RegExp(`^ms2m: Migration ${namespace}/nope not found: no events of it in .* \\(known: `),
    );
    expect(readdirSync(env.logDir).some((f) => f.endsWith('.lock'))).toBe(false);
  });

  it('kubeconfig problems are one line, exit 1: a missing file, an unreachable server', async () => {
    const missing = await runCliWith(['status', '--kubeconfig', join(env.dir, 'nope.kubeconfig')]);
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: `ms2m: Kubeconfig ${join(env.dir, 'nope.kubeconfig')} not found: check the path given to --kubeconfig\n`,
    });
    const unreachable = join(env.dir, 'unreachable.kubeconfig');
    writeFileSync(
      unreachable,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: shop } }]
current-context: x
`,
    );
    const down = await runCliWith(['status', '--kubeconfig', unreachable]);
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(down.stderr).toMatch(
      /^ms2m: Kubernetes API unavailable: List StatefulMigrations in shop: .*ECONNREFUSED.* \(API server https:\/\/127\.0\.0\.1:1: check --kubeconfig, --context or KUBECONFIG\)\n$/,
    );
  });
});
