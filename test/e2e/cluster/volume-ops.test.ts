/**
 * The real VolumeOps (adapters/volumes/kubernetes.ts) against the local cluster: the ms2m-local provisioner
 * (cluster/local/local-volumes.ts) making directory-backed PVs, claims bound without a consumer, the probe pod,
 * the migrator pod running Debian's rclone from the locally built ms2m/migrator image, PV reclaim policy and
 * claimRef changes, the StatefulSet orphan-delete and recreate, and the failures a caller must tell apart.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorCode, type Ms2mError } from '../../../adapters/errors.ts';
import { SELECTED_NODE } from '../../../adapters/volumes/kube-claims.ts';
import { KubeVolumes } from '../../../adapters/volumes/kubernetes.ts';
import {
  ChecksumMismatchError,
  type ClaimInfo,
  MigratorFailedError,
  type MigratorProgress,
  ORIGINAL_RECLAIM_POLICY,
  ProbeFailedError,
  RESIZE_LABEL,
} from '../../../adapters/volumes/port.ts';
import { LOCAL_STORAGE_CLASS, recordedDirs } from '../../../cluster/local/local-volumes.ts';
import { eventually } from '../../support/eventually.ts';
import { releaseResizeNamespaces, snapshot } from '../../support/volume-app.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const policy = kc.makeApiClient(PolicyV1Api);
const volumes = new KubeVolumes({ kubeConfig: kc, logger: pino({ level: 'warn' }) });
const namespace = 'vr-ops';
const image = cluster.images.migrator;
const labels = { [RESIZE_LABEL]: 'ops' };
const never = new AbortController().signal;

async function boundClaim(name: string, size: string, node = 'node-a'): Promise<{ claim: ClaimInfo; path: string }> {
  await volumes.createClaim(
    {
      namespace,
      name,
      size,
      storageClassName: LOCAL_STORAGE_CLASS,
      accessModes: ['ReadWriteOnce'],
      labels,
      nodeName: node,
    },
    `${namespace}/ops:create:${name}`,
  );
  const claim = await eventually(`claim ${name} Bound`, async () => {
    const c = await volumes.getClaim(namespace, name);
    return c?.phase === 'Bound' ? c : undefined;
  });
  const pv = await core.readPersistentVolume({ name: claim.volumeName as string });
  return { claim, path: pv.spec?.local?.path as string };
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
});

afterAll(async () => {
  // retained PVs go back to Delete, so the provisioner removes them and their dirs once their claims are gone
  await releaseResizeNamespaces(kc, [namespace]);
  await eventually(
    `namespace ${namespace} gone`,
    async () => ((await core.listNamespace()).items.some((n) => n.metadata?.name === namespace) ? undefined : true),
    120_000,
  );
});

describe('the ms2m-local provisioner', () => {
  it('binds a claim that names its node without a consumer, at a recorded dir, and deletes both on release', async () => {
    const { claim, path } = await boundClaim('prov', '32Mi', 'node-b');
    const pv = await volumes.getVolume(claim.volumeName as string);
    expect(pv).toMatchObject({ capacity: '32Mi', nodes: ['node-b'], reclaimPolicy: 'Delete', phase: 'Bound' });
    expect(path).toBe(join(cluster.dir, 'nodes', 'node-b', 'volumes', claim.volumeName as string));
    expect(existsSync(path)).toBe(true);
    expect(await recordedDirs(cluster.dir)).toContain(path);
    expect(claim.annotations[SELECTED_NODE]).toBe('node-b');

    await volumes.deleteClaim(namespace, 'prov', 'k', { uid: claim.uid });
    await eventually('the PV and its dir deleted', async () =>
      !existsSync(path) && (await volumes.getVolume(claim.volumeName as string)) === null ? true : undefined,
    );
    expect(await recordedDirs(cluster.dir)).not.toContain(path);
  });

  it('refuses a claim larger than the free space with a ProvisioningFailed Event, leaving it Pending; provisioningFailure reads it', async () => {
    const huge = await volumes.createClaim(
      {
        namespace,
        name: 'huge',
        size: '900Pi',
        storageClassName: LOCAL_STORAGE_CLASS,
        accessModes: ['ReadWriteOnce'],
        labels,
        nodeName: 'node-a',
      },
      'k',
    );
    const ev = await eventually('ProvisioningFailed on claim huge', async () =>
      (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=huge' })).items.find(
        (e) => e.reason === 'ProvisioningFailed',
      ),
    );
    expect(ev.message).toMatch(/does not fit: \d+ bytes free/);
    expect((await volumes.getClaim(namespace, 'huge'))?.phase).toBe('Pending');
    // what a resize waiting on the claim reads (by uid): the provisioner's latest message
    expect(await volumes.provisioningFailure(namespace, 'huge', huge.uid)).toMatch(/does not fit: \d+ bytes free/);
    expect(await volumes.provisioningFailure(namespace, 'huge', 'another-uid')).toBeNull();
  });
});

describe('probe and migrator pods (ms2m/migrator: rclone from Debian)', () => {
  let src: { claim: ClaimInfo; path: string };
  let dst: { claim: ClaimInfo; path: string };
  beforeAll(async () => {
    src = await boundClaim('data-src', '64Mi');
    dst = await boundClaim('data-dst', '32Mi');
    mkdirSync(join(src.path, 'db', 'wal'), { recursive: true });
    writeFileSync(join(src.path, 'db', 'marker'), 'replica-0\n');
    writeFileSync(join(src.path, 'db', 'wal', 'big'), Buffer.alloc(6 << 20, 3));
    for (let i = 0; i < 40; i++) writeFileSync(join(src.path, 'db', `small-${i}`), `row ${i}\n`);
    symlinkSync('db/marker', join(src.path, 'current'));
    chownSync(join(src.path, 'db'), 999, 999);
    chownSync(join(src.path, 'db', 'marker'), 999, 999);
  });

  it('measures used bytes and inodes with a probe pod, then deletes it', async () => {
    const usage = await volumes.measureUsage(
      {
        namespace,
        claimName: 'data-src',
        podName: 'ops-probe-0-data',
        image,
        nodeName: 'node-a',
        labels,
        key: 'k',
        timeoutMs: 90_000,
      },
      never,
    );
    expect(usage.usedBytes).toBeGreaterThanOrEqual((6 << 20) + 40 * 6);
    expect(usage.usedBytes).toBeLessThan(8 << 20);
    expect(usage.usedInodes).toBe(1 + Object.keys(snapshot(src.path)).length);
    expect(await volumes.getPod(namespace, 'ops-probe-0-data')).toBeNull();
  });

  it('copies with rclone, reports bytes progress, verifies every checksum, and a rerun attaches to the pod', async () => {
    const progress: MigratorProgress[] = [];
    const req = {
      namespace,
      podName: 'ops-migrator-0-data',
      image,
      sourceClaim: 'data-src',
      targetClaim: 'data-dst',
      nodeName: 'node-a',
      labels,
      mode: 'sync' as const,
      key: 'k',
      timeoutMs: 120_000,
    };
    const result = await volumes.runMigrator(req, (p) => progress.push(p), never);
    expect(result.verified).toBe(true);
    expect(result.bytesTransferred).toBeGreaterThanOrEqual(6 << 20);
    expect(result.bytesTotal).toBeGreaterThanOrEqual(6 << 20);
    expect(result.files).toBe(Object.keys(snapshot(src.path)).length + 1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ stage: 'sync', bytesTransferred: result.bytesTransferred });
    expect(snapshot(dst.path)).toEqual(snapshot(src.path));
    const pod = await volumes.getPod(namespace, 'ops-migrator-0-data');
    expect(pod).toMatchObject({ phase: 'Succeeded', claims: ['data-src', 'data-dst'], labels });
    // a resumed step: the same pod is read again, nothing runs twice
    const again = await volumes.runMigrator(req, () => undefined, never);
    expect(again).toEqual(result);
    expect((await volumes.getPod(namespace, 'ops-migrator-0-data'))?.uid).toBe(pod?.uid);
    await volumes.deletePod(namespace, 'ops-migrator-0-data', 'k', { uid: pod?.uid as string });
  });

  it('a changed byte in the new volume after a copy fails the checksum pass of a check-only run', async () => {
    // the adapter's sync mode would copy the byte back; the image's --check-only pass is what it reports from
    writeFileSync(join(dst.path, 'db', 'marker'), 'replica-X\n');
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'ops-check', labels },
        spec: {
          restartPolicy: 'Never',
          nodeSelector: { 'kubernetes.io/hostname': 'node-a' },
          containers: [
            {
              name: 'migrator',
              image,
              command: ['/usr/local/bin/ms2m-migrate', '--check-only', '/old', '/new'],
              volumeMounts: [
                { name: 'old', mountPath: '/old', readOnly: true },
                { name: 'new', mountPath: '/new' },
              ],
            },
          ],
          volumes: [
            { name: 'old', persistentVolumeClaim: { claimName: 'data-src' } },
            { name: 'new', persistentVolumeClaim: { claimName: 'data-dst' } },
          ],
        },
      },
    });
    // runMigrator attaches to a pod of its name that mounts the same claims: this one runs the check alone
    const err = await volumes
      .runMigrator(
        {
          namespace,
          podName: 'ops-check',
          image,
          sourceClaim: 'data-src',
          targetClaim: 'data-dst',
          labels,
          mode: 'sync',
          key: 'k',
          timeoutMs: 120_000,
        },
        () => undefined,
        never,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as Ms2mError).code).toBe(ErrorCode.CHECKSUM_MISMATCH);
    expect((err as Error).message).toMatch(/1 file\(s\) differ .*db\/marker/);
    await volumes.deletePod(namespace, 'ops-check', 'k', { uid: pod.metadata?.uid as string });
  });

  it('tells a failed copy, an image that cannot be pulled and a pod that cannot start in time apart', async () => {
    execFileSync('mknod', [join(src.path, 'tty-copy'), 'c', '5', '0']);
    const base = {
      namespace,
      sourceClaim: 'data-src',
      targetClaim: 'data-dst',
      nodeName: 'node-a',
      labels,
      mode: 'sync' as const,
      key: 'k',
    };
    const failed = await volumes
      .runMigrator({ ...base, podName: 'ops-fail', image, timeoutMs: 120_000 }, () => undefined, never)
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(MigratorFailedError);
    expect((failed as Error).message).toMatch(/input: .*device file \(tty-copy\)/);
    execFileSync('rm', [join(src.path, 'tty-copy')]);

    const pull = await volumes
      .runMigrator(
        { ...base, podName: 'ops-pull', image: 'localhost:5000/ms2m/no-such-image:1', timeoutMs: 120_000 },
        () => undefined,
        never,
      )
      .catch((e: unknown) => e);
    expect(pull).toBeInstanceOf(MigratorFailedError);
    expect((pull as Error).message).toMatch(/cannot start: (ErrImagePull|ImagePullBackOff)/);
    expect((pull as Ms2mError).transient).toBe(false);

    const t0 = Date.now();
    const stuck = await volumes
      .runMigrator(
        { ...base, podName: 'ops-stuck', image, targetClaim: 'no-such-claim', timeoutMs: 4000 },
        () => undefined,
        never,
      )
      .catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(stuck).toBeInstanceOf(MigratorFailedError);
    expect((stuck as Error).message).toMatch(/did not end within 4000 ms .*no-such-claim/);
    expect((stuck as Ms2mError).transient).toBe(true);

    const probe = await volumes
      .measureUsage(
        { namespace, claimName: 'no-such-claim', podName: 'ops-probe-x', image, labels, key: 'k', timeoutMs: 3000 },
        never,
      )
      .catch((e: unknown) => e);
    expect(probe).toBeInstanceOf(ProbeFailedError);
    expect(await volumes.getPod(namespace, 'ops-probe-x')).toBeNull();
    for (const name of ['ops-fail', 'ops-pull', 'ops-stuck']) {
      const p = await volumes.getPod(namespace, name);
      if (p) await volumes.deletePod(namespace, name, 'k', { uid: p.uid });
    }
  });
});

describe('PVs, claims and the StatefulSet', () => {
  it('retains a PV with an annotation, clears its claimRef once released, and rebinds it to a new claim', async () => {
    const { claim } = await boundClaim('rebind-old', '16Mi');
    const pvName = claim.volumeName as string;
    const pv = await volumes.setReclaimPolicy(pvName, 'Retain', { [ORIGINAL_RECLAIM_POLICY]: 'Delete' }, 'k');
    expect(pv).toMatchObject({ reclaimPolicy: 'Retain', annotations: { [ORIGINAL_RECLAIM_POLICY]: 'Delete' } });
    await volumes.deleteClaim(namespace, 'rebind-old', 'k', { uid: claim.uid });
    await eventually('PV Released', async () =>
      (await volumes.getVolume(pvName))?.phase === 'Released' ? true : undefined,
    );
    await volumes.clearClaimRef(pvName, 'k');
    await eventually('PV Available', async () =>
      (await volumes.getVolume(pvName))?.phase === 'Available' ? true : undefined,
    );
    await volumes.clearClaimRef(pvName, 'k'); // no claimRef: a no-op
    expect((await volumes.listAvailableVolumes(LOCAL_STORAGE_CLASS)).map((v) => v.name)).toContain(pvName);
    const rebound = await volumes.createClaim(
      {
        namespace,
        name: 'rebind-new',
        size: '16Mi',
        storageClassName: LOCAL_STORAGE_CLASS,
        accessModes: ['ReadWriteOnce'],
        labels: { app: 'db', tier: 'data' },
        volumeName: pvName,
      },
      'k',
    );
    expect(rebound.labels).toEqual({ app: 'db', tier: 'data' });
    await eventually('claim rebind-new Bound to the old PV', async () => {
      const c = await volumes.getClaim(namespace, 'rebind-new');
      return c?.phase === 'Bound' && c.volumeName === pvName ? true : undefined;
    });
    // clearing with the claim it is bound to allowed: a no-op, the binding stays
    await volumes.clearClaimRef(pvName, 'k', { namespace, name: 'rebind-new' });
    expect((await volumes.getVolume(pvName))?.claimRef?.name).toBe('rebind-new');
    expect(
      await volumes.createClaim({ namespace, name: 'rebind-new', size: '1Gi', accessModes: [], labels: {} }, 'k'),
    ).toMatchObject({ name: 'rebind-new', request: '16Mi' });
  });

  it('reads, orphan-deletes and recreates a StatefulSet with a new template size; reads PDBs and classes', async () => {
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'db', labels: { app: 'db' } },
        spec: {
          replicas: 2,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'db',
                  image,
                  command: ['/bin/sleep', '100000'],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data', labels: { app: 'db' } },
              spec: {
                storageClassName: LOCAL_STORAGE_CLASS,
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: '48Mi' } },
              },
            },
          ],
        },
      },
    });
    const sts = await eventually(
      'StatefulSet db 2 Ready',
      async () => {
        const s = await volumes.getStatefulSet(namespace, 'db');
        return s?.readyReplicas === 2 ? s : undefined;
      },
      120_000,
    );
    expect(sts).toMatchObject({ replicas: 2, podLabels: { app: 'db' }, deleting: false });
    expect(sts.claimTemplates).toEqual([
      {
        name: 'data',
        request: '48Mi',
        storageClassName: LOCAL_STORAGE_CLASS,
        accessModes: ['ReadWriteOnce'],
        labels: { app: 'db' },
      },
    ]);
    expect(sts.manifest).not.toHaveProperty('status');
    expect(sts.manifest.metadata).not.toHaveProperty('uid');
    const pods = await Promise.all([0, 1].map((i) => volumes.getPod(namespace, `db-${i}`)));

    await policy.createNamespacedPodDisruptionBudget({
      namespace,
      body: { metadata: { name: 'db' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'db' } } } },
    });
    const pdb = await eventually('PDB db observed', async () =>
      (await volumes.listPodDisruptionBudgets(namespace)).find((p) => p.name === 'db' && p.currentHealthy === 2),
    );
    expect(pdb).toMatchObject({ selector: { matchLabels: { app: 'db' } }, disruptionsAllowed: 0, desiredHealthy: 2 });
    expect(await volumes.getStorageClass(LOCAL_STORAGE_CLASS)).toMatchObject({
      provisioner: 'ms2m.io/local-volume',
      volumeBindingMode: 'WaitForFirstConsumer',
      isDefault: false,
    });
    expect(await volumes.getStorageClass('no-such-class')).toBeNull();

    await volumes.deleteStatefulSetOrphan(namespace, 'db', 'k', { uid: 'not-its-uid' }); // another uid: no-op
    expect(await volumes.getStatefulSet(namespace, 'db')).not.toBeNull();
    await volumes.deleteStatefulSetOrphan(namespace, 'db', 'k', { uid: sts.uid });
    await eventually('StatefulSet db gone', async () =>
      (await volumes.getStatefulSet(namespace, 'db')) ? undefined : true,
    );
    for (const [i, p] of pods.entries()) expect((await volumes.getPod(namespace, `db-${i}`))?.uid).toBe(p?.uid);

    const again = await volumes.recreateStatefulSet(sts.manifest, { data: { size: '24Mi' } }, 'k');
    expect(again.uid).not.toBe(sts.uid);
    expect(again.claimTemplates[0]?.request).toBe('24Mi');
    expect((await volumes.recreateStatefulSet(sts.manifest, { data: { size: '24Mi' } }, 'k')).uid).toBe(again.uid);
    // the orphans are adopted: the same pods, now owned by the new StatefulSet, still Ready
    await eventually('pods adopted by the recreated StatefulSet', async () => {
      for (const [i, p] of pods.entries()) {
        const now = await core.readNamespacedPod({ namespace, name: `db-${i}` });
        if (now.metadata?.uid !== p?.uid || now.metadata?.ownerReferences?.[0]?.uid !== again.uid) return undefined;
      }
      return true;
    });
    expect((await volumes.getStatefulSet(namespace, 'db'))?.readyReplicas).toBe(2);
    const objs = await volumes.listResizeObjects(namespace, 'ops');
    expect(objs.claims.map((c) => c.name)).toEqual(expect.arrayContaining(['data-src', 'data-dst']));
  });
});
