/**
 * Kubernetes objects for the evaluation workloads, as plain objects (apply them with client-node or dump them
 * as YAML): the consumer as a plain Pod, a Deployment or a StatefulSet (plus its headless Service), the producer
 * as a Pod. Image `ms2m/workloads`, entry points `/app/consumer.mjs` and `/app/producer.mjs` run by
 * `/usr/bin/node`.
 *
 * Every consumer pod mounts the downward API at /etc/podinfo (`name`, `uid`, `namespace`, `labels`): a process
 * restored from a checkpoint keeps its source's environment in memory, and reads who it is now from there.
 * `enableServiceLinks: false` keeps the environment free of service variables. There is no liveness probe on
 * purpose: a restarted restored container is restored again from its checkpoint, losing what it did since.
 */
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1Pod,
  V1PodSpec,
  V1ResourceRequirements,
  V1Service,
  V1StatefulSet,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { DEFAULT_PODINFO_DIR } from './consumer-lib/index.ts';

export const WORKLOADS_IMAGE = 'ms2m/workloads:latest';
export const NODE_BINARY = '/usr/bin/node';
export const CONSUMER_ENTRY = '/app/consumer.mjs';
export const PRODUCER_ENTRY = '/app/producer.mjs';
export const PODINFO_DIR = DEFAULT_PODINFO_DIR;
export const HTTP_PORT = 8080;
/** The label every workload object carries; its value is the workload's name. */
export const APP_LABEL = 'app';

/** Where the broker URL comes from: inline, or a Secret key (the operator's `brokerSecretRef`). */
export type AmqpUrlSource = string | { secretName: string; key: string };

interface CommonOptions {
  /** Object name (pod name for a Pod, prefix for a Deployment/StatefulSet). */
  name?: string;
  namespace?: string;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Pins the pod(s) to a node (`spec.nodeName`). */
  nodeName?: string;
  amqpUrl: AmqpUrlSource;
  queue?: string;
  exchange?: string;
  queueType?: 'classic' | 'quorum';
  httpPort?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Extra pod labels (the `app` label is always set). */
  labels?: Record<string, string>;
  /** Pod annotations, e.g. `org.criu.config` for a CRIU config with `tcp-close`. */
  annotations?: Record<string, string>;
  resources?: V1ResourceRequirements;
  terminationGracePeriodSeconds?: number;
}

export interface ConsumerManifestOptions extends CommonOptions {
  /** Processing time per message (ms, default 50 as in the MS2M papers). */
  delayMs?: number;
  prefetch?: number;
  /** Extra resident memory (MiB) to size the checkpoint. */
  ballastMib?: number;
  /** Container name (the StatefulMigration's `containerName`); default `consumer`. */
  containerName?: string;
}

export interface ProducerManifestOptions extends CommonOptions {
  /** Messages per second (default 10). */
  rate?: number;
  /** Stop after this many messages. */
  count?: number;
}

const defaults = { namespace: 'default', queue: 'orders', exchange: 'orders-fanout' } as const;

/**
 * The consumer as a plain Pod (MS2M strategy ShadowPod).
 *
 * @example
 * ```ts
 * const pod = consumerPod({ name: 'consumer-0', nodeName: 'node-a', amqpUrl: 'amqp://guest:guest@10.210.0.1:5672' });
 * await core.createNamespacedPod({ namespace: 'default', body: pod });
 * ```
 */
export function consumerPod(o: ConsumerManifestOptions): V1Pod {
  const name = o.name ?? 'consumer';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? defaults.namespace,
      labels: podLabels(name, 'consumer', o.labels),
      ...(o.annotations ? { annotations: { ...o.annotations } } : {}),
    },
    spec: consumerPodSpec(o),
  };
}

/**
 * The consumer as a Deployment (its pods are migrated by ShadowPod; the ReplicaSet adopts the migrated pod).
 *
 * @example
 * ```ts
 * const d = consumerDeployment({ name: 'consumer', nodeName: 'node-a', amqpUrl: { secretName: 'rabbitmq-url', key: 'url' } });
 * ```
 */
export function consumerDeployment(o: ConsumerManifestOptions & { replicas?: number }): V1Deployment {
  const name = o.name ?? 'consumer';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: o.namespace ?? defaults.namespace, labels: podLabels(name, 'consumer') },
    spec: {
      replicas: o.replicas ?? 1,
      ...consumerPodSet(name, o),
    },
  };
}

/**
 * The consumer as a StatefulSet (MS2M strategy Sequential; pods `<name>-0`, ...), with
 * {@link consumerService} as its governing headless Service.
 *
 * @example
 * ```ts
 * const sts = consumerStatefulSet({ name: 'consumer', amqpUrl, nodeName: 'node-a' });
 * const svc = consumerService({ name: 'consumer' });
 * ```
 */
export function consumerStatefulSet(o: ConsumerManifestOptions & { replicas?: number }): V1StatefulSet {
  const name = o.name ?? 'consumer';
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: o.namespace ?? defaults.namespace, labels: podLabels(name, 'consumer') },
    spec: {
      serviceName: name,
      replicas: o.replicas ?? 1,
      podManagementPolicy: 'OrderedReady',
      ...consumerPodSet(name, o),
    },
  };
}

/**
 * Headless Service selecting the consumer's pods: the StatefulSet's `serviceName`, and the name SHADOW's
 * downtime probe asks (`http://<name>:8080/`).
 */
export function consumerService(o: { name?: string; namespace?: string; httpPort?: number }): V1Service {
  const name = o.name ?? 'consumer';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace ?? defaults.namespace, labels: podLabels(name, 'consumer') },
    spec: {
      clusterIP: 'None',
      selector: { [APP_LABEL]: name },
      ports: [{ name: 'http', port: o.httpPort ?? HTTP_PORT, targetPort: 'http' }],
      publishNotReadyAddresses: false,
    },
  };
}

/**
 * The producer as a plain Pod.
 *
 * @example
 * ```ts
 * const pod = producerPod({ nodeName: 'node-a', amqpUrl: 'amqp://guest:guest@10.210.0.1:5672', rate: 40 });
 * ```
 */
export function producerPod(o: ProducerManifestOptions): V1Pod {
  const name = o.name ?? 'producer';
  const env: V1EnvVar[] = [
    amqpUrlEnv(o.amqpUrl),
    { name: 'EXCHANGE_NAME', value: o.exchange ?? defaults.exchange },
    { name: 'QUEUE_NAME', value: o.queue ?? defaults.queue },
    { name: 'QUEUE_TYPE', value: o.queueType ?? 'classic' },
    { name: 'MSG_RATE', value: String(o.rate ?? 10) },
    ...(o.count === undefined ? [] : [{ name: 'MSG_COUNT', value: String(o.count) }]),
    { name: 'HTTP_PORT', value: String(o.httpPort ?? HTTP_PORT) },
    { name: 'LOG_LEVEL', value: o.logLevel ?? 'info' },
  ];
  const container: V1Container = {
    name: 'producer',
    image: o.image ?? WORKLOADS_IMAGE,
    imagePullPolicy: o.imagePullPolicy ?? 'IfNotPresent',
    command: [NODE_BINARY, PRODUCER_ENTRY],
    env,
    ports: [{ name: 'http', containerPort: o.httpPort ?? HTTP_PORT }],
    readinessProbe: readiness(),
    ...(o.resources ? { resources: o.resources } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? defaults.namespace,
      labels: podLabels(name, 'producer', o.labels),
      ...(o.annotations ? { annotations: { ...o.annotations } } : {}),
    },
    spec: podSpec(o, container, []),
  };
}

/** The selector and pod template shared by the consumer's Deployment and StatefulSet. */
function consumerPodSet(name: string, o: ConsumerManifestOptions) {
  return {
    selector: { matchLabels: { [APP_LABEL]: name } },
    template: {
      metadata: {
        labels: podLabels(name, 'consumer', o.labels),
        ...(o.annotations ? { annotations: { ...o.annotations } } : {}),
      },
      spec: consumerPodSpec(o),
    },
  };
}

function consumerPodSpec(o: ConsumerManifestOptions): V1PodSpec {
  const env: V1EnvVar[] = [
    amqpUrlEnv(o.amqpUrl),
    { name: 'QUEUE_NAME', value: o.queue ?? defaults.queue },
    { name: 'EXCHANGE_NAME', value: o.exchange ?? defaults.exchange },
    { name: 'QUEUE_TYPE', value: o.queueType ?? 'classic' },
    { name: 'PROCESSING_DELAY_MS', value: String(o.delayMs ?? 50) },
    { name: 'PREFETCH', value: String(o.prefetch ?? 10) },
    { name: 'BALLAST_MIB', value: String(o.ballastMib ?? 0) },
    { name: 'HTTP_PORT', value: String(o.httpPort ?? HTTP_PORT) },
    { name: 'POD_NAME_FILE', value: `${PODINFO_DIR}/name` },
    // the fallback only: a restored process keeps its source's environment in memory
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'LOG_LEVEL', value: o.logLevel ?? 'info' },
  ];
  const mount: V1VolumeMount = { name: 'podinfo', mountPath: PODINFO_DIR, readOnly: true };
  const container: V1Container = {
    name: o.containerName ?? 'consumer',
    image: o.image ?? WORKLOADS_IMAGE,
    imagePullPolicy: o.imagePullPolicy ?? 'IfNotPresent',
    command: [NODE_BINARY, CONSUMER_ENTRY],
    env,
    ports: [{ name: 'http', containerPort: o.httpPort ?? HTTP_PORT }],
    readinessProbe: readiness(),
    volumeMounts: [mount],
    ...(o.resources ? { resources: o.resources } : {}),
  };
  const podinfo: V1Volume = {
    name: 'podinfo',
    downwardAPI: {
      items: [
        { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
        { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
        { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
      ],
    },
  };
  return podSpec(o, container, [podinfo]);
}

function podSpec(o: CommonOptions, container: V1Container, volumes: V1Volume[]): V1PodSpec {
  return {
    ...(o.nodeName ? { nodeName: o.nodeName } : {}),
    enableServiceLinks: false,
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? 15,
    containers: [container],
    ...(volumes.length > 0 ? { volumes } : {}),
  };
}

function readiness(): V1Container['readinessProbe'] {
  return { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 3, timeoutSeconds: 1 };
}

function amqpUrlEnv(source: AmqpUrlSource): V1EnvVar {
  return typeof source === 'string'
    ? { name: 'RABBITMQ_URL', value: source }
    : { name: 'RABBITMQ_URL', valueFrom: { secretKeyRef: { name: source.secretName, key: source.key } } };
}

function podLabels(
  name: string,
  role: 'consumer' | 'producer',
  extra?: Record<string, string>,
): Record<string, string> {
  return {
    ...extra,
    [APP_LABEL]: name,
    'app.kubernetes.io/name': `ms2m-${role}`,
    'app.kubernetes.io/part-of': 'ms2m-eval',
  };
}
