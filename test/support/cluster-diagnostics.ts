/**
 * What a cluster-tier test prints when a wait on the real cluster times out: the nodes' conditions, the pods of a
 * namespace with their containers' states, its latest Events, the project's daemons (a dead one with the tail of
 * its log), so that a failure in CI (where `cluster down` removes the logs afterwards) says why.
 */
import { readFileSync } from 'node:fs';
import { CoreV1Api, type KubeConfig, type V1ContainerStatus } from '@kubernetes/client-node';
import { eventTimeMs } from '../../adapters/kubernetes/kubernetes.ts';
import { clusterStatus } from '../../cluster/local/cluster.ts';
import { logPath } from '../../cluster/local/daemons.ts';
import { eventually } from './eventually.ts';

const LOG_TAIL_LINES = 15;

function containerLine(c: V1ContainerStatus): string {
  const s = c.state;
  const state = s?.running
    ? 'running'
    : s?.waiting
      ? `waiting ${s.waiting.reason ?? ''} ${s.waiting.message ?? ''}`.trim()
      : s?.terminated
        ? `terminated ${s.terminated.reason ?? ''} exit ${s.terminated.exitCode}`
        : 'unknown';
  const last = c.lastState?.terminated
    ? `, last terminated ${c.lastState.terminated.reason ?? ''} exit ${c.lastState.terminated.exitCode}`
    : '';
  return `${c.name}: ${state}, ready ${c.ready}, restarts ${c.restartCount}${last}`;
}

function logTail(dir: string, name: string): string {
  try {
    const lines = readFileSync(logPath(dir, name), 'utf8').trimEnd().split('\n');
    return lines.slice(-LOG_TAIL_LINES).join('\n      ');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

/** A report of the cluster in `dir` around `namespace`. Never throws: a part it cannot read says so. */
export async function clusterDiagnostics(kc: KubeConfig, dir: string, namespace: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const out: string[] = [`cluster diagnostics (namespace ${namespace}):`];
  const part = async (title: string, read: () => Promise<string[]>) => {
    out.push(`  ${title}:`);
    try {
      out.push(...(await read()).map((l) => `    ${l}`));
    } catch (err) {
      out.push(`    (cannot read: ${(err as Error).message})`);
    }
  };
  await part('daemons', async () => {
    const { processes } = await clusterStatus({ dir });
    return Object.entries(processes).map(([name, pid]) =>
      pid !== null ? `${name}: running (pid ${pid})` : `${name}: NOT RUNNING, log tail:\n      ${logTail(dir, name)}`,
    );
  });
  await part('nodes', async () =>
    (await core.listNode()).items.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      const taints = (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',') || 'none';
      return `${n.metadata?.name}: Ready ${ready?.status} (${ready?.reason ?? ''}, heartbeat ${ready?.lastHeartbeatTime?.toISOString() ?? '?'}), taints ${taints}${n.spec?.unschedulable ? ', unschedulable' : ''}`;
    }),
  );
  await part('pods', async () =>
    (await core.listNamespacedPod({ namespace })).items.flatMap((p) => [
      `${p.metadata?.name} on ${p.spec?.nodeName ?? '(unscheduled)'}: ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' (deleting)' : ''}${p.status?.reason ? ` ${p.status.reason}: ${p.status.message ?? ''}` : ''}`,
      ...(p.status?.containerStatuses ?? []).map((c) => `  ${containerLine(c)}`),
    ]),
  );
  await part('latest events', async () => {
    const events = (await core.listNamespacedEvent({ namespace })).items;
    return events
      .sort((a, b) => eventTimeMs(a) - eventTimeMs(b))
      .slice(-20)
      .map(
        (e) =>
          `${new Date(eventTimeMs(e)).toISOString()} ${e.type} ${e.reason} ${e.involvedObject.kind}/${e.involvedObject.name} (x${e.count ?? 1}): ${e.message ?? ''}`,
      );
  });
  return out.join('\n');
}

/** `eventually`, and when it times out, the same error with `clusterDiagnostics` appended to its message. */
export async function eventuallyOrDiagnose<T>(
  site: { kc: KubeConfig; dir: string; namespace: string },
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  try {
    return await eventually(what, fn, timeoutMs);
  } catch (err) {
    const report = await clusterDiagnostics(site.kc, site.dir, site.namespace);
    throw new Error(`${(err as Error).message}\n${report}`, { cause: (err as Error).cause });
  }
}
