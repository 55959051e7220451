/**
 * What `ms2m cluster up` installs into the local cluster: the CRD and its admission policy, the operator's RBAC
 * (all from crds/), the node agents' token Secret, the agent as a DaemonSet and the operator as a Deployment, both
 * from the locally built images. The manifests here are crds/agent-daemonset.yaml and crds/operator.yaml adapted
 * to the local cluster: no kube-proxy runs, so pods reach the API server and the shared services by address;
 * each node keeps its kubelet and containerd dirs under the cluster dir, so the agent mounts them per node
 * (`subPathExpr` with the node's name).
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, sh } from './files.ts';
import { CP, ENDPOINTS, PORTS, RABBIT_STATS_INTERVAL_MS } from './topology.ts';

const crdsDir = fileURLToPath(new URL('../../crds/', import.meta.url));
export const SYSTEM_NS = 'ms2m-system';

export interface Kubectl {
  readonly bin: string;
  readonly kubeconfig: string;
}

/** `kubectl apply --server-side` of manifests given as objects or YAML text (idempotent). */
export async function apply(k: Kubectl, manifests: string | readonly object[]): Promise<void> {
  const input = typeof manifests === 'string' ? manifests : manifests.map((m) => JSON.stringify(m)).join('\n');
  const args = [
    '--kubeconfig',
    k.kubeconfig,
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=ms2m-cluster',
    '-f',
    '-',
  ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(k.bin, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve() : reject(new CommandError(`kubectl ${args.join(' ')}`, stderr));
    });
    child.stdin.end(input);
  });
}

export const kubectl = (k: Kubectl, args: readonly string[], timeoutMs = 60_000) =>
  sh(k.bin, ['--kubeconfig', k.kubeconfig, ...args], { timeoutMs });

/** The in-cluster client config without kube-proxy: the API server by address. */
const apiServerEnv = [
  { name: 'KUBERNETES_SERVICE_HOST', value: CP.address },
  { name: 'KUBERNETES_SERVICE_PORT', value: String(PORTS.apiserver) },
];

export function agentDaemonSet(image: string, clusterDir: string): object[] {
  const labels = { 'app.kubernetes.io/name': 'ms2m-agent', 'app.kubernetes.io/part-of': 'ms2m' };
  const nodeDir = (sub: string) => ({ subPathExpr: `$(NODE_NAME)/${sub}` });
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ms2m-agent', namespace: SYSTEM_NS },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'ms2m-agent', namespace: SYSTEM_NS, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': 'ms2m-agent' } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'ms2m-agent',
            hostNetwork: true,
            enableServiceLinks: false,
            tolerations: [{ operator: 'Exists' }],
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'agent',
                image,
                imagePullPolicy: 'IfNotPresent',
                command: ['/usr/bin/node', '/app/agent.mjs'],
                env: [
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'MS2M_AGENT_TOKEN_FILE', value: '/etc/ms2m-agent/token' },
                  { name: 'MS2M_AGENT_STORE', value: '/var/lib/ms2m-agent' },
                  // the kubelet names the archive by its host path: the agent sees the nodes' dirs at the same path
                  {
                    name: 'MS2M_AGENT_CHECKPOINTS',
                    value: join(clusterDir, 'nodes', '$(NODE_NAME)', 'kubelet', 'checkpoints'),
                  },
                  { name: 'MS2M_AGENT_PORT', value: String(PORTS.agent) },
                  { name: 'MS2M_AGENT_CONTAINERS_STORAGE', value: 'off' },
                  { name: 'MS2M_AGENT_CONTAINERD_SOCKET', value: '/run/containerd/containerd.sock' },
                  { name: 'MS2M_AGENT_CTR', value: '/usr/local/bin/ctr' },
                  { name: 'MS2M_AGENT_INSECURE_REGISTRY', value: '1' },
                  { name: 'MS2M_AGENT_GC_MAX_AGE_MS', value: String(6 * 3600_000) },
                ],
                readinessProbe: { tcpSocket: { port: PORTS.agent }, periodSeconds: 2 },
                volumeMounts: [
                  { name: 'nodes', mountPath: join(clusterDir, 'nodes'), readOnly: true },
                  { name: 'nodes', mountPath: '/var/lib/ms2m-agent', ...nodeDir('agent-store') },
                  { name: 'nodes', mountPath: '/run/containerd', ...nodeDir('containerd') },
                  { name: 'token', mountPath: '/etc/ms2m-agent/token', subPath: 'token', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'nodes', hostPath: { path: join(clusterDir, 'nodes'), type: 'Directory' } },
              { name: 'token', secret: { secretName: 'ms2m-agent-token', defaultMode: 0o400 } },
            ],
          },
        },
      },
    },
  ];
}

/** `migratorImage`: VolumeResize's default migrator (rclone) image, as the operator's MS2M_MIGRATOR_IMAGE. */
export function operatorDeployment(image: string, migratorImage?: string): object {
  const labels = { 'app.kubernetes.io/name': 'ms2m-operator', 'app.kubernetes.io/part-of': 'ms2m' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'ms2m-operator', namespace: SYSTEM_NS, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'ms2m-operator' } },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: 'ms2m-operator',
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'operator',
              image,
              imagePullPolicy: 'IfNotPresent',
              command: ['/usr/bin/node', '/app/operator.mjs'],
              env: [
                ...apiServerEnv,
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'MS2M_NATS_URL', value: ENDPOINTS.nats },
                { name: 'MS2M_RABBITMQ_MANAGEMENT_URL', value: ENDPOINTS.rabbitManagement },
                { name: 'MS2M_RABBITMQ_STATS_INTERVAL_MS', value: String(RABBIT_STATS_INTERVAL_MS) },
                { name: 'MS2M_AGENT_PORT', value: String(PORTS.agent) },
                { name: 'MS2M_AGENT_TOKEN', valueFrom: { secretKeyRef: { name: 'ms2m-agent-token', key: 'token' } } },
                ...(migratorImage ? [{ name: 'MS2M_MIGRATOR_IMAGE', value: migratorImage }] : []),
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 2 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                runAsUser: 65532,
              },
            },
          ],
        },
      },
    },
  };
}

/** The agents' token Secret: made once with a random token, kept across `up` runs. */
async function ensureAgentToken(k: Kubectl): Promise<void> {
  const have = await sh(
    k.bin,
    ['--kubeconfig', k.kubeconfig, '-n', SYSTEM_NS, 'get', 'secret', 'ms2m-agent-token', '-o', 'name'],
    {
      timeoutMs: 30_000,
    },
  ).catch(() => '');
  if (have.trim()) return;
  await apply(k, [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ms2m-agent-token', namespace: SYSTEM_NS },
      type: 'Opaque',
      stringData: { token: randomBytes(32).toString('hex') },
    },
  ]);
}

export async function installMs2m(
  k: Kubectl,
  images: { agent: string; operator: string; migrator?: string },
  clusterDir: string,
  opts: { operator: boolean },
): Promise<void> {
  const files = [
    'rbac.yaml',
    'statefulmigration.crd.yaml',
    'statefulmigration.policy.yaml',
    'volumeresize.crd.yaml',
    'volumeresize.policy.yaml',
  ];
  const manifests = await Promise.all(files.map((f) => readFile(join(crdsDir, f), 'utf8')));
  await apply(k, manifests.join('\n---\n'));
  await kubectl(k, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/statefulmigrations.migration.ms2m.io',
    'crd/volumeresizes.storage.ms2m.io',
  ]);
  await ensureAgentToken(k);
  await apply(k, agentDaemonSet(images.agent, clusterDir));
  if (opts.operator) await apply(k, [operatorDeployment(images.operator, images.migrator)]);
}
