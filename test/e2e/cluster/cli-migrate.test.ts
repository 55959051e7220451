/**
 * `ms2m migrate` on the real local cluster, as a user runs it (a new process of bin/ms2m.ts): a live consumer Pod
 * is migrated to node-b by the operator Deployment (CRIU checkpoint, Direct transfer, restore, replay) with its
 * RabbitMQ setup read from the pod's environment; exit 0 with the result line; then `ms2m status` and
 * `ms2m logs --nats` (the cluster's JetStream log) say the same.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ENDPOINTS } from '../../../cluster/local/topology.ts';
import { consumerPod } from '../../../eval/workloads/manifests.ts';
import { eventually } from '../../support/eventually.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const namespace = `cli-${Date.now().toString(36)}`;
const repoRoot = join(import.meta.dirname, '../../..');
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ms2m(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedPod({
    namespace,
    body: consumerPod({
      name: 'consumer',
      namespace,
      image: cluster.images.workloads,
      imagePullPolicy: 'IfNotPresent',
      amqpUrl: cluster.endpoints.amqp,
      queue: `q-${namespace}`,
      exchange: `x-${namespace}`,
      nodeName: 'node-a',
      logLevel: 'warn',
    }),
  });
  await eventually(
    'consumer Ready on node-a',
    async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'consumer' });
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    },
    120_000,
  );
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('ms2m migrate on the real cluster', () => {
  it('migrates a live consumer to node-b (setup from its environment), exit 0; status and logs agree', async () => {
    const run = await ms2m('migrate', 'consumer', '--to', 'node-b', '-n', namespace, '--name', 'm-cli');
    expect(run.stderr).not.toMatch(/^ms2m: /m);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^StatefulMigration ${namespace}/m-cli Completed in \\S+ \\(Pending \\S+, Checkpointing \\S+, Transferring \\S+, Restoring \\S+, Replaying \\S+, Finalizing \\S+\\); target pod consumer-shadow\\n$`,
      ),
    );
    expect(run.stderr).toMatch(new RegExp(`^StatefulMigration ${namespace}/m-cli created: consumer -> node-b\\n`));
    expect(run.stderr).toMatch(/ {2}Completed +.*MiB\/.*MiB/);
    const target = await core.readNamespacedPod({ namespace, name: 'consumer-shadow' });
    expect(target.spec?.nodeName).toBe('node-b');

    const status = await ms2m('status', 'm-cli', '-n', namespace, '-o', 'json');
    expect(status.code).toBe(0);
    const obj = JSON.parse(status.stdout);
    expect(obj.spec).toMatchObject({
      sourcePod: 'consumer',
      targetNode: 'node-b',
      messageQueueConfig: {
        queueName: `q-${namespace}`,
        exchangeName: `x-${namespace}`,
        brokerUrl: cluster.endpoints.amqp,
      },
    });
    expect(obj.status.phase).toBe('Completed');

    const logs = await ms2m('logs', 'm-cli', '-n', namespace, '--nats', ENDPOINTS.nats);
    expect(logs).toMatchObject({ code: 0, stderr: '' });
    const lines = logs.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/ Pending +MigrationRequested/);
    expect(lines.at(-1)).toMatch(/ Completed +\w+/);
    console.log(`ms2m migrate on the real cluster:\n${run.stderr}${run.stdout}`);
  });
});
