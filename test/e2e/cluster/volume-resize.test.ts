/**
 * VolumeResize on the real local cluster: a StatefulSet with 2 replicas and 2 volume templates on ms2m-local
 * (directory-backed local PVs of the project's provisioner), each replica's data with its own marker files, shrunk
 * by the VolumeResize runtime (the host of actors/charts/volume-resize.ts on the real VolumeOps and a file event
 * log, in its own process: test/support/volume-host-child.ts) with the migrator pods running Debian's rclone from
 * the locally built ms2m/migrator image. Checked: every file, owner and checksum intact on the smaller volumes,
 * claim names unchanged, the StatefulSet's template at the new size, the old PVs Retained with their data, the app
 * back on its data; the runtime SIGKILLed while a copy runs resumes without redoing a finished copy; a cancel
 * (what deleting the resource does) while copying rolls back with the data safe; validation failures end Failed
 * with the check named and nothing changed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ORIGINAL_RECLAIM_POLICY, RESIZE_LABEL } from '../../../adapters/volumes/port.ts';
import type { VolumeResizeContext } from '../../../machines/volume-resize-context.ts';
import { podHistory } from '../../support/cluster-ops.ts';
import { eventually } from '../../support/eventually.ts';
import {
  type ClaimState,
  claimStates,
  createApp,
  releaseResizeNamespaces,
  snapshot,
} from '../../support/volume-app.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const policy = kc.makeApiClient(PolicyV1Api);
const image = cluster.images.migrator;
const CHILD = join(import.meta.dirname, '..', '..', 'support', 'volume-host-child.ts');
const namespaces: string[] = [];
const logDirs: string[] = [];

interface Run {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; final?: VolumeResizeContext; stderr: string }>;
}

function runResize(o: {
  namespace: string;
  id: string;
  logDir: string;
  spec: object;
  env?: Record<string, string>;
}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      KUBECONFIG: cluster.kubeconfig,
      MS2M_VR_LOG_DIR: o.logDir,
      MS2M_VR_ID: o.id,
      MS2M_VR_SPEC: JSON.stringify({ migratorImage: image, ...o.spec }),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<Awaited<Run['exited']>>((resolve) =>
    child.once('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{"final"'));
      resolve({
        code,
        signal,
        stderr,
        ...(line ? { final: (JSON.parse(line) as { final: VolumeResizeContext }).final } : {}),
      });
    }),
  );
  return { child, exited };
}

async function finished(run: Run, what: string): Promise<VolumeResizeContext> {
  const r = await run.exited;
  if (r.code !== 0 || !r.final)
    throw new Error(`${what}: the runtime exited ${r.code ?? r.signal}: ${r.stderr.slice(-3000)}`);
  return r.final;
}

function newRun(namespace: string) {
  const logDir = mkdtempSync(join(tmpdir(), 'ms2m-vr-log-'));
  logDirs.push(logDir);
  return { namespace, id: `${namespace}/vr1/${randomUUID()}`, logDir };
}

async function expectNothingLeft(namespace: string): Promise<void> {
  const [claims, pods] = await Promise.all([
    core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: RESIZE_LABEL }),
    core.listNamespacedPod({ namespace, labelSelector: RESIZE_LABEL }),
  ]);
  expect(claims.items.map((c) => c.metadata?.name)).toEqual([]);
  expect(pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name)).toEqual([]);
}

afterAll(async () => {
  await releaseResizeNamespaces(kc, namespaces);
  for (const d of logDirs) rmSync(d, { recursive: true, force: true });
});

describe('VolumeResize on the local cluster', () => {
  it('shrinks both volumes of both replicas: data, owners and checksums intact, names unchanged, old PVs retained', async () => {
    const ns = 'vr-shrink';
    namespaces.push(ns);
    await createApp(kc, image, ns, 'db');
    const before = await claimStates(kc, ns, 'db');
    const data = Object.fromEntries(before.map((c) => [c.claim, snapshot(c.path)]));
    for (const c of before) expect(readFileSync(join(c.path, 'boots'), 'utf8')).toBe('created\n');

    const t0 = Date.now();
    const run = runResize({
      ...newRun(ns),
      spec: {
        statefulSetName: 'db',
        volumes: [
          { name: 'data', newSize: '24Mi' },
          { name: 'logs', newSize: '8Mi' },
        ],
      },
    });
    const final = await finished(run, 'resize');
    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `VolumeResize of 2 replicas x 2 volumes (~7 MiB each replica): ${seconds.toFixed(1)} s, phases ${JSON.stringify(final.phaseTimings)}`,
    );
    expect(final.phase, final.message).toBe('Completed');
    expect(final.units.every((u) => u.bytesCopied > 0 || u.bytesTotal > 0)).toBe(true);

    const after = await claimStates(kc, ns, 'db');
    expect(after.map((c) => c.claim)).toEqual(before.map((c) => c.claim));
    for (const [i, c] of after.entries()) {
      const old = before[i] as ClaimState;
      expect(c.pv, c.claim).not.toBe(old.pv);
      const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: c.claim });
      const vol = c.claim.startsWith('data') ? 'data' : 'logs';
      expect(claim.status?.phase).toBe('Bound');
      expect(claim.spec?.resources?.requests?.storage).toBe(vol === 'data' ? '24Mi' : '8Mi');
      expect(claim.metadata?.labels).toEqual({ app: 'db', volume: vol });
      // every entry as it was (the app appended its second boot afterwards: compared on its own)
      expect(snapshot(c.path, ['boots'])).toEqual(snapshot(old.path, ['boots']));
      expect(snapshot(c.path, ['boots'])).toEqual(
        Object.fromEntries(Object.entries(data[c.claim] ?? {}).filter(([k]) => k !== 'boots')),
      );
      expect(readFileSync(join(c.path, 'boots'), 'utf8')).toBe(
        `created\nfound ${readFileSync(join(old.path, 'marker'), 'utf8')}`,
      );
      // the old PV is retained with the data, its original policy recorded
      const oldPv = await core.readPersistentVolume({ name: old.pv });
      expect(oldPv.spec?.persistentVolumeReclaimPolicy).toBe('Retain');
      expect(oldPv.metadata?.annotations?.[ORIGINAL_RECLAIM_POLICY]).toBe('Delete');
      expect(snapshot(old.path)).toEqual(data[c.claim]);
    }
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    expect(
      sts.spec?.volumeClaimTemplates?.map((t) => [t.metadata?.name, t.spec?.resources?.requests?.storage]),
    ).toEqual([
      ['data', '24Mi'],
      ['logs', '8Mi'],
    ]);
    expect(sts.status?.readyReplicas).toBe(2);
    await expectNothingLeft(ns);
  });

  it('with a pre-sync, resumes after the runtime is SIGKILLed while a copy runs, without running a finished copy again', async () => {
    const ns = 'vr-kill';
    namespaces.push(ns);
    await createApp(kc, image, ns, 'kdb');
    const before = await claimStates(kc, ns, 'kdb');
    const data = Object.fromEntries(before.map((c) => [c.claim, snapshot(c.path, ['boots'])]));
    const migrators = await podHistory(kc, ns, `${RESIZE_LABEL}=vr1`);
    const r = newRun(ns);
    // with a pre-sync: copies while the app runs, then the final verified copies after it stopped
    const spec = {
      statefulSetName: 'kdb',
      preSync: true,
      volumes: [
        { name: 'data', newSize: '24Mi' },
        { name: 'logs', newSize: '8Mi' },
      ],
    };
    const first = runResize({ ...r, spec });
    // the first copy's pod exists: the copy step is in flight; kill the runtime there
    await eventually(
      'the first migrator pod created',
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `${RESIZE_LABEL}=vr1` });
        return pods.items.some((p) => p.metadata?.name?.includes('-migrator-')) ? true : undefined;
      },
      120_000,
    );
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // a second copy of the runtime takes the run from the log
    const second = runResize({ ...r, spec });
    const final = await finished(second, 'resumed resize');
    migrators.stop();
    expect(final.phase, final.message).toBe('Completed');
    const copies = [...migrators.seen.values()].filter((p) => p.name.includes('-migrator-'));
    const byName = new Map<string, number>();
    for (const p of copies) byName.set(p.name, (byName.get(p.name) ?? 0) + 1);
    expect([...byName.keys()].sort()).toEqual([
      'vr1-migrator-0-data',
      'vr1-migrator-0-logs',
      'vr1-migrator-1-data',
      'vr1-migrator-1-logs',
    ]);
    // each copy ran in one pod: the one in flight at the kill was attached to, not started again
    expect([...byName.values()]).toEqual([1, 1, 1, 1]);
    const presyncs = [...migrators.seen.values()].filter((p) => p.name.includes('-presync-')).map((p) => p.name);
    expect(presyncs.sort()).toEqual([
      'vr1-presync-0-data',
      'vr1-presync-0-logs',
      'vr1-presync-1-data',
      'vr1-presync-1-logs',
    ]);
    const after = await claimStates(kc, ns, 'kdb');
    for (const c of after) expect(snapshot(c.path, ['boots'])).toEqual(data[c.claim]);
    await expectNothingLeft(ns);
  });

  it('a cancel while copying (the resource deleted) rolls back: original claims, PVs and data, app back up', async () => {
    const ns = 'vr-cancel';
    namespaces.push(ns);
    await createApp(kc, image, ns, 'cdb');
    const before = await claimStates(kc, ns, 'cdb');
    const data = Object.fromEntries(before.map((c) => [c.claim, snapshot(c.path, ['boots'])]));
    const final = await finished(
      runResize({
        ...newRun(ns),
        spec: {
          statefulSetName: 'cdb',
          volumes: [
            { name: 'data', newSize: '24Mi' },
            { name: 'logs', newSize: '8Mi' },
          ],
        },
        env: { MS2M_CANCEL_AFTER_EVENT: 'ReplicaPodDeleted#1' },
      }),
      'cancelled resize',
    );
    expect(final.phase).toBe('Failed');
    expect(final.failure?.reason).toBe('Cancelled');
    console.log(`cancelled: ${final.message}`);
    await eventually(
      'StatefulSet cdb back with 2 Ready',
      async () => {
        const s = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'cdb' }).catch(() => null);
        return s?.status?.readyReplicas === 2 ? s : undefined;
      },
      120_000,
    );
    const after = await claimStates(kc, ns, 'cdb');
    // the claims (same names) hold the original data on the original PVs
    expect(after.map((c) => [c.claim, c.pv])).toEqual(before.map((c) => [c.claim, c.pv]));
    for (const c of after) expect(snapshot(c.path, ['boots'])).toEqual(data[c.claim]);
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'cdb' });
    expect(sts.spec?.volumeClaimTemplates?.map((t) => t.spec?.resources?.requests?.storage)).toEqual(['64Mi', '32Mi']);
    await expectNothingLeft(ns);
  });

  it('fails validation with the check named and changes nothing: size not smaller, StatefulSet missing, used bytes, volume, class, PDB', async () => {
    const ns = 'vr-invalid';
    namespaces.push(ns);
    await createApp(kc, image, ns, 'vdb');
    const before = await claimStates(kc, ns, 'vdb');
    const notSmaller = await finished(
      runResize({ ...newRun(ns), spec: { statefulSetName: 'vdb', volumes: [{ name: 'data', newSize: '128Mi' }] } }),
      'not smaller',
    );
    expect(notSmaller.phase).toBe('Failed');
    expect(notSmaller.failure).toMatchObject({ reason: 'ValidationFailed', check: 'SizeSmaller' });
    expect(notSmaller.message).toMatch(/128Mi/);

    const missing = await finished(
      runResize({ ...newRun(ns), spec: { statefulSetName: 'nope', volumes: [{ name: 'data', newSize: '8Mi' }] } }),
      'missing StatefulSet',
    );
    expect(missing.failure).toMatchObject({ reason: 'ValidationFailed', check: 'StatefulSetExists' });
    expect(missing.message).toMatch(/nope/);

    const tooFull = await finished(
      runResize({ ...newRun(ns), spec: { statefulSetName: 'vdb', volumes: [{ name: 'data', newSize: '6Mi' }] } }),
      'used bytes too large',
    );
    expect(tooFull.failure).toMatchObject({ reason: 'ValidationFailed', check: 'UsedBytesFit' });

    const noVolume = await finished(
      runResize({ ...newRun(ns), spec: { statefulSetName: 'vdb', volumes: [{ name: 'cache', newSize: '8Mi' }] } }),
      'volume not found',
    );
    expect(noVolume.failure).toMatchObject({ reason: 'ValidationFailed', check: 'VolumeFound' });
    expect(noVolume.message).toMatch(/cache/);

    const noClass = await finished(
      runResize({
        ...newRun(ns),
        spec: { statefulSetName: 'vdb', volumes: [{ name: 'data', newSize: '24Mi', storageClass: 'no-such-class' }] },
      }),
      'storage class missing',
    );
    expect(noClass.failure).toMatchObject({ reason: 'ValidationFailed', check: 'StorageClass' });
    expect(noClass.message).toMatch(/no-such-class/);

    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'vdb' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'vdb' } } } },
    });
    await eventually('PDB vdb observed', async () =>
      (await policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'vdb' })).status?.currentHealthy === 2
        ? true
        : undefined,
    );
    const blocked = await finished(
      runResize({ ...newRun(ns), spec: { statefulSetName: 'vdb', volumes: [{ name: 'data', newSize: '24Mi' }] } }),
      'PDB blocking',
    );
    expect(blocked.failure).toMatchObject({ reason: 'ValidationFailed', check: 'DisruptionBudget' });
    expect(blocked.message).toMatch(/vdb/);

    expect(await claimStates(kc, ns, 'vdb')).toEqual(before);
    for (const c of before)
      expect((await core.readPersistentVolume({ name: c.pv })).spec?.persistentVolumeReclaimPolicy).toBe('Delete');
    expect((await apps.readNamespacedStatefulSet({ namespace: ns, name: 'vdb' })).status?.readyReplicas).toBe(2);
    await expectNothingLeft(ns);
  });
});
