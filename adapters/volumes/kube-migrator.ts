/**
 * The probe and migrator part of the Kubernetes VolumeOps adapter (kubernetes.ts): runs their pods to the end
 * (volume-pods.ts) and turns how they ended and what they logged (migrator-log.ts) into the port's results or
 * typed errors. A probe pod is deleted before measureUsage returns; a migrator pod is left for the chart's
 * cleanup step (deletePod), so a crash between the two does not rerun the copy.
 */
import type { KubeVolumeApi } from './kube-volume-api.ts';
import { MigratorLog, parseUsage } from './migrator-log.ts';
import {
  ChecksumMismatchError,
  MigratorFailedError,
  type MigratorProgress,
  type MigratorRequest,
  type MigratorResult,
  ProbeFailedError,
  type ProbeRequest,
  type VolumeOps,
  type VolumeUsage,
} from './port.ts';
import { migratorPod, probePod, runPod, tail } from './volume-pods.ts';

/**
 * @example
 * ```ts
 * const migrator = new KubeMigrator(api, statefulSets); // statefulSets deletes the probe pods
 * const usage = await migrator.measureUsage(probeRequest, signal);
 * ```
 */
export class KubeMigrator {
  constructor(
    private readonly api: KubeVolumeApi,
    private readonly pods: Pick<VolumeOps, 'deletePod'>,
  ) {}

  async measureUsage(req: ProbeRequest, signal: AbortSignal): Promise<VolumeUsage> {
    const pod = `${req.namespace}/${req.podName}`;
    const end = await runPod(this.api.core, probePod(req), { timeoutMs: req.timeoutMs, signal });
    try {
      if (end.kind === 'gone')
        throw new ProbeFailedError(pod, req.claimName, 'the pod was deleted before it ended', { transient: true });
      if (end.kind === 'stuck')
        throw new ProbeFailedError(pod, req.claimName, `its container cannot start: ${end.reason}`);
      if (end.kind === 'timeout')
        throw new ProbeFailedError(pod, req.claimName, `it did not end within ${req.timeoutMs} ms (${end.reason})`, {
          transient: true,
        });
      if (end.phase === 'Failed')
        throw new ProbeFailedError(pod, req.claimName, `exit code ${end.exitCode ?? '?'}: ${tail(end.log, 4)}`);
      const usage = parseUsage(end.log);
      if (!usage) throw new ProbeFailedError(pod, req.claimName, `no usage line in its log: ${tail(end.log, 4)}`);
      this.api.log.info({ pod, claim: req.claimName, ...usage, key: req.key }, `Measured claim ${req.claimName}`);
      return usage;
    } finally {
      const uid = end.kind === 'gone' ? undefined : end.pod?.metadata?.uid;
      if (uid) await this.pods.deletePod(req.namespace, req.podName, req.key, { uid });
    }
  }

  async runMigrator(
    req: MigratorRequest,
    onProgress: (p: MigratorProgress) => void,
    signal: AbortSignal,
  ): Promise<MigratorResult> {
    const pod = `${req.namespace}/${req.podName}`;
    const log = new MigratorLog();
    const end = await runPod(this.api.core, migratorPod(req), {
      timeoutMs: req.timeoutMs,
      signal,
      onLine: (line) => {
        const p = log.push(line);
        if (p) onProgress(p);
      },
    });
    if (end.kind === 'gone')
      throw new MigratorFailedError(pod, 'the pod was deleted before it ended', '', { transient: true });
    if (end.kind === 'stuck') throw new MigratorFailedError(pod, `its container cannot start: ${end.reason}`, '');
    if (end.kind === 'timeout')
      throw new MigratorFailedError(pod, `it did not end within ${req.timeoutMs} ms (${end.reason})`, tail(end.log), {
        transient: true,
      });
    const result = log.result;
    if (end.phase === 'Failed' || !result?.ok) {
      if (result?.step === 'check')
        throw new ChecksumMismatchError(pod, log.differenceCount ?? log.differences.length, log.differences);
      const why = result?.message ?? `exit code ${end.exitCode ?? '?'}`;
      throw new MigratorFailedError(pod, `${result?.step ? `${result.step}: ` : ''}${why}`, tail(end.log));
    }
    const out: MigratorResult = {
      bytesTransferred: log.copied.bytes ?? 0,
      bytesTotal: result.bytes ?? log.copied.totalBytes ?? 0,
      files: result.entries ?? log.copied.totalTransfers ?? 0,
      verified: result.verified === true,
    };
    if (req.mode === 'sync' && !out.verified)
      throw new MigratorFailedError(pod, 'it ended without the checksum pass', tail(end.log));
    this.api.log.info({ pod, ...out, skipped: log.skipped, key: req.key }, `Migrator ${req.podName} done`);
    return out;
  }
}
