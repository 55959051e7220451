/**
 * Runs one StatefulMigration on a real cluster and follows it: creates the resource, polls its status (phase,
 * bytes transferred, replay depth) and reports every change, and resolves with the final status once it is
 * Completed or Failed (or rejects at the deadline). Used by the demo, the e2e tests and the `e2e` benchmark.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { StatefulMigrationSpecInput, StatefulMigrationStatusWire } from '../actors/crd/stateful-migration.ts';
import { statefulMigrationResource as R } from '../actors/crd/stateful-migration.ts';
import { parseGoDuration } from '../actors/go-duration.ts';

export interface MigrationProgress {
  phase: string;
  bytesTransferred?: number;
  bytesTotal?: number;
  replayDepth?: number;
  replayed?: number;
  message?: string;
  /** ms since the resource was created. */
  elapsedMs: number;
}

export interface MigrationResult {
  name: string;
  namespace: string;
  /** The resource's metadata.uid (its event log stream is `StatefulMigration <namespace>/<name>/<uid>`). */
  uid: string;
  phase: 'Completed' | 'Failed';
  status: StatefulMigrationStatusWire;
  /** Phase → seconds, from status.phaseTimings. */
  phaseSeconds: Record<string, number>;
  totalSeconds: number;
  /** From create to the first status with phase Completed or Failed, as seen by polling. */
  observedMs: number;
}

/** The migration did not finish in time; `last` is the last status seen. */
export class MigrationTimeoutError extends Error {
  readonly code = 'MIGRATION_TIMEOUT';
  constructor(
    readonly migration: string,
    readonly timeoutMs: number,
    readonly last: StatefulMigrationStatusWire | undefined,
  ) {
    super(
      `StatefulMigration ${migration} did not finish within ${timeoutMs / 1000} s (last phase ${last?.phase ?? 'none'}: ${last?.message ?? ''}); ` +
        'kubectl describe smig and the operator log (kubectl -n ms2m-system logs deploy/ms2m-operator) say why',
    );
    this.name = 'MigrationTimeoutError';
  }
}

export const api = (kc: KubeConfig) => kc.makeApiClient(CustomObjectsApi);

/** Creates the resource (with `labels`, if any); resolves with its metadata.uid. */
export async function createMigration(
  kc: KubeConfig,
  namespace: string,
  name: string,
  spec: StatefulMigrationSpecInput,
  labels?: Record<string, string>,
): Promise<string> {
  const created = (await api(kc).createNamespacedCustomObject({
    group: R.group,
    version: R.version,
    namespace,
    plural: R.plural,
    body: {
      apiVersion: `${R.group}/${R.version}`,
      kind: R.kind,
      metadata: { name, namespace, ...(labels ? { labels } : {}) },
      spec,
    },
  })) as { metadata?: { uid?: string } };
  return created.metadata?.uid ?? '';
}

export async function readMigrationStatus(kc: KubeConfig, namespace: string, name: string) {
  const cr = (await api(kc).getNamespacedCustomObject({
    group: R.group,
    version: R.version,
    namespace,
    plural: R.plural,
    name,
  })) as {
    status?: StatefulMigrationStatusWire;
  };
  return cr.status;
}

/**
 * Creates the StatefulMigration `namespace/name` and follows it to the end.
 *
 * @example
 * ```ts
 * const r = await runMigration(kc, 'default', 'm1', { sourcePod: 'consumer', targetNode: 'node-b',
 *   migrationStrategy: 'ShadowPod', transferMode: 'Direct', messageQueueConfig: { ... } },
 *   { onProgress: (p) => console.log(p.phase) });
 * ```
 */
export async function runMigration(
  kc: KubeConfig,
  namespace: string,
  name: string,
  spec: StatefulMigrationSpecInput,
  opts: {
    timeoutMs?: number;
    pollMs?: number;
    onProgress?: (p: MigrationProgress) => void;
    /** metadata.labels of the resource (the operator records them in MigrationRequested). */
    labels?: Record<string, string>;
    /** Called with the resource's uid as soon as it is created. */
    onCreated?: (uid: string) => void;
  } = {},
): Promise<MigrationResult> {
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const t0 = Date.now();
  const uid = await createMigration(kc, namespace, name, spec, opts.labels);
  opts.onCreated?.(uid);
  let last: StatefulMigrationStatusWire | undefined;
  let lastKey = '';
  while (Date.now() - t0 < timeoutMs) {
    const status = await readMigrationStatus(kc, namespace, name).catch(() => last);
    if (status) {
      last = status;
      const pr = (status.progress ?? {}) as {
        bytesTransferred?: number;
        bytesTotal?: number;
        replayDepth?: number;
        replayed?: number;
      };
      const p: MigrationProgress = {
        phase: status.phase ?? 'Pending',
        bytesTransferred: pr.bytesTransferred,
        bytesTotal: pr.bytesTotal,
        replayDepth: pr.replayDepth,
        replayed: pr.replayed,
        message: status.message,
        elapsedMs: Date.now() - t0,
      };
      const key = JSON.stringify({ ...p, elapsedMs: 0 });
      if (key !== lastKey) {
        lastKey = key;
        opts.onProgress?.(p);
      }
      if (status.phase === 'Completed' || status.phase === 'Failed') {
        const phaseSeconds: Record<string, number> = {};
        for (const [phase, d] of Object.entries(status.phaseTimings ?? {}))
          phaseSeconds[phase] = parseGoDuration(String(d)) / 1000;
        return {
          name,
          namespace,
          uid,
          phase: status.phase,
          status,
          phaseSeconds,
          totalSeconds:
            phaseSeconds.Total ??
            Object.entries(phaseSeconds).reduce((a, [phase, s]) => (phase === 'Total' ? a : a + s), 0),
          observedMs: Date.now() - t0,
        };
      }
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
  throw new MigrationTimeoutError(`${namespace}/${name}`, timeoutMs, last);
}
