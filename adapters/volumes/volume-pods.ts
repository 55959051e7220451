/**
 * The short-lived pods of VolumeResize on a real cluster: the probe (`ms2m-usage /data` on one claim, read-only)
 * and the migrator (`ms2m-migrate /old /new`, the old claim read-only), both from the ms2m/migrator image
 * (cluster/images/migrator.ts), and running one to completion: create it or attach to the pod of that name (a
 * resumed run), poll its status once a second, hand new log lines to the caller while it runs (by the kubelet's
 * line timestamps, so each line once), and return its phase, exit code and log when it ends. Every wait ends at
 * `timeoutMs` or when the signal aborts.
 */
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { InvalidInputError } from '../errors.ts';
import { isConflict, isNotFound, toKubernetesError } from '../kubernetes/api-errors.ts';
import { FIELD_MANAGER } from '../kubernetes/kubernetes.ts';
import { timestampedLines } from './migrator-log.ts';
import type { MigratorRequest, ProbeRequest } from './port.ts';

export const MIGRATE = '/usr/local/bin/ms2m-migrate';
export const USAGE = '/usr/local/bin/ms2m-usage';

/** Waiting reasons that will not resolve by waiting (the image cannot be pulled or the container not made). */
const STUCK = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

function basePod(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  nodeName: string | undefined,
  container: Record<string, unknown>,
  volumes: object[],
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { ...labels } },
    spec: {
      restartPolicy: 'Never',
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 10,
      // the data is where it is: run there whatever the node's taints
      tolerations: [{ operator: 'Exists' }],
      ...(nodeName ? { nodeSelector: { 'kubernetes.io/hostname': nodeName } } : {}),
      containers: [
        {
          imagePullPolicy: 'IfNotPresent',
          // the copy keeps every file's owner: root, and nothing else
          securityContext: {
            runAsUser: 0,
            runAsGroup: 0,
            allowPrivilegeEscalation: false,
            capabilities: {
              drop: ['ALL'],
              add: ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'MKNOD'],
            },
          },
          ...container,
        } as never,
      ],
      volumes: volumes as never,
    },
  };
}

export function probePod(req: ProbeRequest): V1Pod {
  return basePod(
    req.namespace,
    req.podName,
    req.labels,
    req.nodeName,
    {
      name: 'probe',
      image: req.image,
      command: [USAGE, '/data'],
      volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
    },
    [{ name: 'data', persistentVolumeClaim: { claimName: req.claimName, readOnly: true } }],
  );
}

export function migratorPod(req: MigratorRequest): V1Pod {
  return basePod(
    req.namespace,
    req.podName,
    req.labels,
    req.nodeName,
    {
      name: 'migrator',
      image: req.image,
      command: [MIGRATE, ...(req.mode === 'presync' ? ['--no-verify'] : []), '/old', '/new'],
      volumeMounts: [
        { name: 'old', mountPath: '/old', readOnly: true },
        { name: 'new', mountPath: '/new' },
      ],
    },
    [
      { name: 'old', persistentVolumeClaim: { claimName: req.sourceClaim, readOnly: true } },
      { name: 'new', persistentVolumeClaim: { claimName: req.targetClaim } },
    ],
  );
}

export type PodEnd =
  | { kind: 'ended'; pod: V1Pod; phase: 'Succeeded' | 'Failed'; exitCode: number | undefined; log: string }
  | { kind: 'stuck'; pod: V1Pod; reason: string; log: string }
  | { kind: 'timeout'; pod: V1Pod | null; reason: string; log: string }
  | { kind: 'gone'; log: string };

export interface RunPodOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Each new log line while the pod runs and after it ended, once, in order. */
  onLine?: (line: string) => void;
  pollMs?: number;
}

/**
 * Creates `pod` (or attaches to the pod of its name, which must mount the same claims), waits until it ends and
 * returns how. Throws a typed Kubernetes error for API failures, and `signal.reason` when aborted.
 */
export async function runPod(core: CoreV1Api, pod: V1Pod, o: RunPodOptions): Promise<PodEnd> {
  const namespace = pod.metadata?.namespace as string;
  const name = pod.metadata?.name as string;
  const what = `Pod ${namespace}/${name}`;
  let current = await createOrAttach(core, pod);
  const deadline = Date.now() + o.timeoutMs;
  // lines handed on, by kubelet timestamp and text: while the pod runs only the last seconds are read (a long
  // copy's log is not read again and again), at the end all of it, so no line is lost and none is given twice
  const fed = new Set<string>();
  let lastFeed = 0;
  const feed = async (all: boolean) => {
    const since = all || lastFeed === 0 ? undefined : Math.ceil((Date.now() - lastFeed) / 1000) + 5;
    const started = Date.now();
    const text = await readLog(core, namespace, name, current, { sinceSeconds: since });
    lastFeed = started;
    for (const [ts, line] of timestampedLines(text)) {
      const key = `${ts} ${line}`;
      if (fed.has(key)) continue;
      fed.add(key);
      o.onLine?.(line);
    }
  };
  for (;;) {
    if (o.signal.aborted) throw o.signal.reason ?? new Error(`${what}: aborted`);
    const phase = current.status?.phase;
    const state = current.status?.containerStatuses?.[0]?.state;
    if (phase === 'Succeeded' || phase === 'Failed') {
      await feed(true);
      return {
        kind: 'ended',
        pod: current,
        phase,
        exitCode: state?.terminated?.exitCode,
        log: await readLog(core, namespace, name, current, { tailLines: 500, timestamps: false }),
      };
    }
    const waiting = state?.waiting?.reason;
    if (waiting && STUCK.has(waiting)) {
      const msg = state?.waiting?.message ?? '';
      return { kind: 'stuck', pod: current, reason: `${waiting}${msg ? `: ${msg}` : ''}`, log: '' };
    }
    if (phase === 'Running') await feed(false).catch(() => undefined);
    if (Date.now() >= deadline) {
      const log = await readLog(core, namespace, name, current, { tailLines: 50, timestamps: false }).catch(() => '');
      return { kind: 'timeout', pod: current, reason: pendingReason(current), log };
    }
    await sleep(Math.min(o.pollMs ?? 1000, Math.max(0, deadline - Date.now())), o.signal);
    try {
      current = await core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return { kind: 'gone', log: '' };
      throw toKubernetesError(err, `Get ${what}`);
    }
  }
}

async function createOrAttach(core: CoreV1Api, pod: V1Pod): Promise<V1Pod> {
  const namespace = pod.metadata?.namespace as string;
  const name = pod.metadata?.name as string;
  try {
    return await core.createNamespacedPod({ namespace, body: pod, fieldManager: FIELD_MANAGER });
  } catch (err) {
    if (!isConflict(err)) throw toKubernetesError(err, `Create Pod ${namespace}/${name}`);
  }
  let existing: V1Pod;
  try {
    existing = await core.readNamespacedPod({ namespace, name });
  } catch (err) {
    throw toKubernetesError(err, `Get Pod ${namespace}/${name}`);
  }
  const claims = (p: V1Pod) =>
    (p.spec?.volumes ?? [])
      .map((v) => v.persistentVolumeClaim?.claimName)
      .filter(Boolean)
      .join(',');
  if (claims(existing) !== claims(pod) || existing.spec?.containers?.[0]?.image !== pod.spec?.containers?.[0]?.image)
    throw new InvalidInputError(
      `Pod ${namespace}/${name}`,
      `a pod of that name exists with other claims (${claims(existing)}) or another image: it is not this step's; delete it`,
    );
  return existing;
}

async function readLog(
  core: CoreV1Api,
  namespace: string,
  name: string,
  pod: V1Pod,
  o: { tailLines?: number; sinceSeconds?: number; timestamps?: boolean },
): Promise<string> {
  try {
    const text = await core.readNamespacedPodLog({
      namespace,
      name,
      container: pod.spec?.containers?.[0]?.name,
      timestamps: o.timestamps ?? true,
      ...(o.tailLines ? { tailLines: o.tailLines } : {}),
      ...(o.sinceSeconds ? { sinceSeconds: o.sinceSeconds } : {}),
    });
    return typeof text === 'string' ? text : String(text ?? '');
  } catch (err) {
    // no log yet (container creating) or the pod is gone: nothing to read
    if (isNotFound(err) || (err as { code?: number }).code === 400) return '';
    throw toKubernetesError(err, `Read log of Pod ${namespace}/${name}`);
  }
}

/** Why a pod has not ended: its unschedulable condition or waiting reason. */
export function pendingReason(pod: V1Pod | null): string {
  if (!pod) return 'the pod is gone';
  const cond = pod.status?.conditions?.find((c) => c.status === 'False' && c.message);
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  const parts = [`phase ${pod.status?.phase ?? 'Pending'}`];
  if (cond) parts.push(`${cond.type} ${cond.reason ?? ''}: ${cond.message}`);
  if (waiting?.reason) parts.push(`waiting ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
  return parts.join('; ');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The last `n` lines of a log, for an error message. */
export function tail(log: string, n = 8): string {
  return log.split('\n').filter(Boolean).slice(-n).join(' | ').slice(-2000);
}
