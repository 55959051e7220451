/**
 * Local PersistentVolumes for the local cluster: the StorageClass `ms2m-local` and its dynamic provisioner.
 *
 * The class is `WaitForFirstConsumer`, as local volumes must be: the scheduler picks a node for the first pod that
 * uses a claim and writes it to the claim (`volume.kubernetes.io/selected-node`); the PV controller marks the
 * claim for this provisioner (`volume.kubernetes.io/storage-provisioner: ms2m.io/local-volume`). The provisioner
 * then makes a directory `<cluster dir>/nodes/<node>/volumes/<pv>` and a `local` PV of the claim's size with a
 * required node affinity to that node, pre-bound to the claim (`claimRef`, as external provisioners do); the PV
 * controller binds them. A claim that names a node itself (VolumeResize's temp claims do, so they bind before any
 * pod uses them) is provisioned the same way. A claim larger than the free space of the filesystem is refused
 * with a `ProvisioningFailed` Event on the claim (retried at each resync). When a PV of this provisioner is
 * Released and its reclaim policy is Delete, its directory and then the PV are deleted; a Retained PV keeps both.
 *
 * Every directory is recorded in `<cluster dir>/local-volumes.json` before it is made, so `ms2m cluster down`
 * removes exactly the directories the provisioner created ({@link removeLocalVolumeDirs}).
 *
 * It runs as a daemon of the local cluster on the host (`local-volumes-main.ts`, started by `cluster up`): the
 * nodes share the host's filesystem, so one process serves both nodes.
 */
import { existsSync, statfsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  type KubeConfig,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  Watch,
} from '@kubernetes/client-node';
import { quantityBytes } from '../../machines/quantity.ts';
import { startDaemon } from './daemons.ts';
import { writeFileAtomic } from './files.ts';
import { apply, type Kubectl } from './install.ts';

export const LOCAL_STORAGE_CLASS = 'ms2m-local';
export const LOCAL_PROVISIONER = 'ms2m.io/local-volume';
export const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const STORAGE_PROVISIONER = [
  'volume.kubernetes.io/storage-provisioner',
  'volume.beta.kubernetes.io/storage-provisioner',
] as const;
const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** Where the volumes of `node` live. */
export const volumesRoot = (clusterDir: string, node: string): string => join(clusterDir, 'nodes', node, 'volumes');
const recordPath = (clusterDir: string) => join(clusterDir, 'local-volumes.json');

/** The StorageClass manifest (`kubectl apply`). */
export function localStorageClass(): object {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: LOCAL_STORAGE_CLASS, labels: { 'app.kubernetes.io/part-of': 'ms2m' } },
    provisioner: LOCAL_PROVISIONER,
    volumeBindingMode: 'WaitForFirstConsumer',
    reclaimPolicy: 'Delete',
    allowVolumeExpansion: false,
  };
}

export interface ProvisionerOptions {
  kubeConfig: KubeConfig;
  clusterDir: string;
  log: (line: string) => void;
  /** Full reconcile at least this often (ms); watch events reconcile sooner. Default 5000. */
  resyncMs?: number;
}

/**
 * @example
 * ```ts
 * const p = new LocalVolumeProvisioner({ kubeConfig: kc, clusterDir: '/var/lib/ms2m/cluster', log: console.log });
 * p.start(); // ... p.stop()
 * ```
 */
export class LocalVolumeProvisioner {
  private readonly core: CoreV1Api;
  private readonly watch: Watch;
  private watches: { abort(): void }[] = [];
  private resync: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Claims refused for lack of space, with the free bytes reported (an Event is sent once per change). */
  private readonly refused = new Map<string, number>();

  constructor(private readonly o: ProvisionerOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.watch = new Watch(o.kubeConfig);
  }

  start(): void {
    this.stopped = false;
    this.resync = setInterval(() => this.kick(), this.o.resyncMs ?? 5000);
    for (const path of ['/api/v1/persistentvolumeclaims', '/api/v1/persistentvolumes']) void this.follow(path);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync) clearInterval(this.resync);
    if (this.pending) clearTimeout(this.pending);
    for (const w of this.watches) w.abort();
    this.watches = [];
    await this.running;
  }

  /** Watches a collection; any change asks for a reconcile. A watch that ends is started again after 1 s. */
  private async follow(path: string): Promise<void> {
    while (!this.stopped) {
      const ended = new Promise<void>((done) => {
        this.watch
          .watch(
            path,
            { allowWatchBookmarks: false },
            () => this.kick(),
            () => done(),
          )
          .then(
            (req) => this.watches.push(req),
            () => done(),
          );
      });
      await ended;
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Asks for a reconcile soon (coalesces bursts of events). */
  kick(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.reconcileNow();
    }, 50);
  }

  /** One reconcile at a time; a request while one runs makes one more run after it. */
  reconcileNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.o.log(`reconcile failed (retried at the next event or resync): ${(err as Error).message}`);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async reconcile(): Promise<void> {
    const [claims, volumes] = await Promise.all([
      this.core.listPersistentVolumeClaimForAllNamespaces(),
      this.core.listPersistentVolume(),
    ]);
    const pvNames = new Set(volumes.items.map((v) => v.metadata?.name));
    for (const c of claims.items) {
      if (!this.wants(c)) continue;
      const pv = `pvc-${c.metadata?.uid}`;
      if (pvNames.has(pv)) continue;
      await this.provision(c, pv);
    }
    for (const v of volumes.items) {
      if (v.metadata?.annotations?.[PROVISIONED_BY] !== LOCAL_PROVISIONER) continue;
      const phase = v.status?.phase;
      if ((phase === 'Released' || phase === 'Failed') && v.spec?.persistentVolumeReclaimPolicy === 'Delete')
        await this.deleteVolume(v);
    }
  }

  /** A claim of our class, not bound, marked for us, with a node chosen. */
  private wants(c: V1PersistentVolumeClaim): boolean {
    const a = c.metadata?.annotations ?? {};
    return (
      c.spec?.storageClassName === LOCAL_STORAGE_CLASS &&
      !c.spec.volumeName &&
      c.status?.phase !== 'Bound' &&
      !c.metadata?.deletionTimestamp &&
      STORAGE_PROVISIONER.some((k) => a[k] === LOCAL_PROVISIONER) &&
      Boolean(a[SELECTED_NODE])
    );
  }

  private async provision(c: V1PersistentVolumeClaim, pvName: string): Promise<void> {
    const ns = c.metadata?.namespace as string;
    const name = c.metadata?.name as string;
    const node = c.metadata?.annotations?.[SELECTED_NODE] as string;
    const size = c.spec?.resources?.requests?.storage;
    const bytes = size === undefined ? null : quantityBytes(String(size));
    if (bytes === null) {
      await this.event(c, 'ProvisioningFailed', `spec.resources.requests.storage "${size}" is not a quantity`);
      return;
    }
    const root = volumesRoot(this.o.clusterDir, node);
    if (!/^[a-z0-9.-]+$/.test(node) || !existsSync(join(this.o.clusterDir, 'nodes', node))) {
      await this.event(c, 'ProvisioningFailed', `node ${node} is not a node of the local cluster`);
      return;
    }
    await mkdir(root, { recursive: true });
    const free = freeBytes(root);
    if (free < bytes) {
      if (this.refused.get(`${ns}/${name}`) !== free)
        await this.event(
          c,
          'ProvisioningFailed',
          `${size} (${bytes} bytes) does not fit: ${free} bytes free on the filesystem of ${root}; ask for less or free space`,
        );
      this.refused.set(`${ns}/${name}`, free);
      return;
    }
    this.refused.delete(`${ns}/${name}`);
    const path = join(root, pvName);
    await recordDir(this.o.clusterDir, path);
    await mkdir(path, { recursive: true });
    // any user of the pod may write, as with hostPath (mkdir's mode is cut by the umask)
    await chmod(path, 0o777);
    const body: V1PersistentVolume = {
      metadata: {
        name: pvName,
        annotations: { [PROVISIONED_BY]: LOCAL_PROVISIONER },
        labels: { 'app.kubernetes.io/part-of': 'ms2m' },
      },
      spec: {
        capacity: { storage: String(size) },
        accessModes: c.spec?.accessModes?.length ? c.spec.accessModes : ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: LOCAL_STORAGE_CLASS,
        volumeMode: 'Filesystem',
        local: { path },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [node] }] }],
          },
        },
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name, uid: c.metadata?.uid },
      },
    };
    try {
      await this.core.createPersistentVolume({ body });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    this.o.log(`provisioned ${pvName} (${size}) on ${node} for ${ns}/${name} at ${path}`);
    await this.event(c, 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName} on ${node}`, 'Normal');
  }

  private async deleteVolume(v: V1PersistentVolume): Promise<void> {
    const name = v.metadata?.name as string;
    const path = v.spec?.local?.path;
    if (path && ownedPath(this.o.clusterDir, path)) await rm(path, { recursive: true, force: true });
    try {
      await this.core.deletePersistentVolume({ name, body: { preconditions: { uid: v.metadata?.uid } } });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 404 && code !== 409) throw err;
    }
    if (path) await forgetDir(this.o.clusterDir, path);
    this.o.log(`deleted ${name} and ${path ?? '(no path)'} (Released, reclaim policy Delete)`);
  }

  private async event(c: V1PersistentVolumeClaim, reason: string, message: string, type = 'Warning'): Promise<void> {
    const ns = c.metadata?.namespace as string;
    const at = new Date();
    await this.core
      .createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { generateName: `${c.metadata?.name}.` },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace: ns,
            name: c.metadata?.name,
            uid: c.metadata?.uid,
          },
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: at,
          lastTimestamp: at,
          source: { component: LOCAL_PROVISIONER },
          reportingComponent: LOCAL_PROVISIONER,
        },
      })
      .catch((err: unknown) => this.o.log(`could not record Event ${reason}: ${(err as Error).message}`));
    if (type === 'Warning') this.o.log(`${ns}/${c.metadata?.name}: ${reason}: ${message}`);
  }
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** A path the provisioner may remove: a direct child of some node's volumes dir in this cluster. */
function ownedPath(clusterDir: string, path: string): boolean {
  const p = resolve(path);
  const m = /^(.*)\/nodes\/([^/]+)\/volumes\/([^/]+)$/.exec(p);
  return m !== null && m[1] === resolve(clusterDir) && m[3] !== '.' && m[3] !== '..';
}

let recordQueue: Promise<unknown> = Promise.resolve();

/** Serialises read-modify-write of the record (one provisioner per process). */
function updateRecord(clusterDir: string, change: (dirs: Set<string>) => void): Promise<void> {
  const next = recordQueue.then(async () => {
    const dirs = new Set(await recordedDirs(clusterDir));
    change(dirs);
    await writeFileAtomic(recordPath(clusterDir), `${JSON.stringify([...dirs].sort(), null, 1)}\n`);
  });
  recordQueue = next.catch(() => undefined);
  return next;
}
const recordDir = (clusterDir: string, path: string) => updateRecord(clusterDir, (d) => d.add(path));
const forgetDir = (clusterDir: string, path: string) => updateRecord(clusterDir, (d) => d.delete(path));

/** The directories the provisioner has created and not yet removed. */
export async function recordedDirs(clusterDir: string): Promise<string[]> {
  try {
    return JSON.parse(await readFile(recordPath(clusterDir), 'utf8')) as string[];
  } catch {
    return [];
  }
}

/**
 * For `cluster down`: removes every directory the provisioner recorded (only paths inside the cluster's node
 * volume dirs), then the record. Returns the recorded paths still there.
 */
export async function removeLocalVolumeDirs(clusterDir: string): Promise<string[]> {
  const dirs = await recordedDirs(clusterDir);
  for (const d of dirs) if (ownedPath(clusterDir, d)) await rm(d, { recursive: true, force: true }).catch(() => {});
  const left = dirs.filter((d) => existsSync(d));
  if (!left.length) await rm(recordPath(clusterDir), { force: true });
  return left;
}

export const LOCAL_VOLUMES_DAEMON = 'local-volumes';
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * For `cluster up`: applies the StorageClass and starts the provisioner daemon (a no-op when it runs). The daemon
 * runs this checkout's TypeScript with tsx, from the repo root.
 */
export async function installLocalVolumes(k: Kubectl, clusterDir: string, log: (line: string) => void): Promise<void> {
  await apply(k, [localStorageClass()]);
  const r = await startDaemon(clusterDir, {
    name: LOCAL_VOLUMES_DAEMON,
    bin: process.execPath,
    args: [
      '--import',
      'tsx',
      join(REPO_ROOT, 'cluster', 'local', 'local-volumes-main.ts'),
      '--dir',
      clusterDir,
      '--kubeconfig',
      k.kubeconfig,
    ],
    cwd: REPO_ROOT,
  });
  if (r.started) log(`started the local volume provisioner (StorageClass ${LOCAL_STORAGE_CLASS}, pid ${r.pid})`);
}
