/**
 * An operator process for the crash and leader-election tests (spawned with tsx): the real API server as the
 * operator's user, the embedded file log, persistent fakes (persistent-fakes.ts) for kubelet, broker and agents,
 * and a journal of the pods it really created or deleted. With MS2M_KILL_AFTER_SEQ=N it SIGKILLs itself right
 * after an append of seq N is durable (before the chart has seen the event): a crash at an event boundary.
 *
 * Environment: KUBECONFIG, MS2M_NAMESPACE, MS2M_LOG_DIR, MS2M_WORLD_FILE, MS2M_KILL_AFTER_SEQ (optional),
 * MS2M_LEASE_HOLDER (optional: run with a Lease in ms2m-system, 3 s duration).
 */
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { createOperator } from '../../actors/controller/operator.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import { kubernetesLease } from '../../adapters/lease/kubernetes-lease.ts';
import { persistentFakes } from './persistent-fakes.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`operator-child: ${name} is not set`);
  return v;
};

const logger = pino({ level: process.env.MS2M_CHILD_LOG ?? 'warn' }, pino.destination(2));
const kc = new KubeConfig();
kc.loadFromFile(env('KUBECONFIG'));
const clock = systemClock();
const fakes = persistentFakes(env('MS2M_WORLD_FILE'), clock);
const real = new KubeCluster({ kubeConfig: kc, logger });
// pods really created/deleted go into the shared journal, so the test can count each effect across processes
const cluster: Cluster = Object.assign(Object.create(null) as Cluster, {
  getPod: real.getPod.bind(real),
  getNode: real.getNode.bind(real),
  getOwners: real.getOwners.bind(real),
  getStatefulSetReplicas: real.getStatefulSetReplicas.bind(real),
  scaleStatefulSet: real.scaleStatefulSet.bind(real),
  setPodDeletionCost: real.setPodDeletionCost.bind(real),
  removeOwnerReference: real.removeOwnerReference.bind(real),
  patchDeploymentNodeAffinity: real.patchDeploymentNodeAffinity.bind(real),
  recordEvent: real.recordEvent.bind(real),
  async createPod(pod: Parameters<Cluster['createPod']>[0], key: string) {
    const before = await real.getPod(pod.namespace, pod.name);
    const created = await real.createPod(pod, key);
    await fakes.record('createPod', key, `${pod.namespace}/${pod.name}`, before === null);
    return created;
  },
  async deletePod(...args: Parameters<Cluster['deletePod']>) {
    const [namespace, name, key] = args;
    const before = await real.getPod(namespace, name);
    await real.deletePod(...args);
    await fakes.record('deletePod', key, `${namespace}/${name}`, before !== null && !before.deleting);
  },
});

const killAt = process.env.MS2M_KILL_AFTER_SEQ ? Number(process.env.MS2M_KILL_AFTER_SEQ) : undefined;
const fileLog = await openFileLog({ dir: env('MS2M_LOG_DIR'), logger });
const log: EventLog = new Proxy(fileLog, {
  get(t, k) {
    if (k === 'append')
      return async (...args: Parameters<EventLog['append']>) => {
        const stored = await t.append(...args);
        if (stored.seq === killAt) process.kill(process.pid, 'SIGKILL');
        return stored;
      };
    const v = Reflect.get(t, k, t);
    return typeof v === 'function' ? v.bind(t) : v;
  },
});

const holder = process.env.MS2M_LEASE_HOLDER;
const operator = createOperator({
  logger,
  migrations: new CustomResourceClient(
    kc,
    { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations', kind: 'StatefulMigration' },
    env('MS2M_NAMESPACE'),
  ),
  effects: {
    cluster,
    kubelet: fakes.kubelet,
    broker: fakes.broker,
    agents: fakes.agents,
    clock,
    pollMs: 100,
    sampleHeartbeatMs: 500,
  },
  log,
  lease: holder
    ? kubernetesLease({
        kubeConfig: kc,
        namespace: 'ms2m-system',
        name: 'ms2m-operator',
        holder,
        durationMs: 3000,
        logger,
      })
    : undefined,
  leaseRetryMs: 500,
  runtime: { maxAttempts: 5, retryBaseMs: 100 },
});
await operator.start();
process.stdout.write(`started ${process.pid}\n`);
process.once('SIGTERM', () => {
  void operator.stop().then(() => process.exit(0));
});
