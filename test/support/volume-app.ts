/**
 * The application of the VolumeResize cluster tests: a StatefulSet with 2 replicas and the volume templates
 * `data` (64Mi) and `logs` (32Mi) on ms2m-local, whose pods write per-replica data on their first start and
 * record every later start; and how the tests read volumes (from the PVs' directories on the host).
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ORIGINAL_RECLAIM_POLICY } from '../../adapters/volumes/port.ts';
import { LOCAL_STORAGE_CLASS } from '../../cluster/local/local-volumes.ts';
import { eventually } from './eventually.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The app: on its first start on a volume it writes the replica's marker, a random blob, a tree with owners and a
 * link; on every start it appends what it found to `boots`. Then it sleeps.
 */
const APP = `
h=$(hostname)
for v in data logs; do
  if [ -f /$v/marker ]; then echo "found $(cat /$v/marker)" >> /$v/boots; continue; fi
  echo "$h $v $(head -c 16 /dev/urandom | md5sum | cut -c1-32)" > /$v/marker
  mkdir -p /$v/tree/deep /$v/empty
  size=1048576; [ $v = data ] && size=6291456
  head -c $size /dev/urandom > /$v/blob
  for i in 1 2 3 4 5 6 7 8 9 10; do echo "row $i of $h" > /$v/tree/deep/f$i; done
  chown -R 999:999 /$v/tree && chmod 2750 /$v/tree && chmod 600 /$v/tree/deep/f1
  ln -s tree/deep/f2 /$v/current
  echo created > /$v/boots
done
exec sleep 1000000
`;

export async function createApp(kc: KubeConfig, image: string, namespace: string, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const template = (vol: string, size: string) => ({
    metadata: { name: vol, labels: { app: name, volume: vol } },
    spec: {
      storageClassName: LOCAL_STORAGE_CLASS,
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
    },
  });
  await apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name, labels: { app: name } },
      spec: {
        replicas: 2,
        serviceName: name,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'app',
                image,
                command: ['/bin/sh', '-c', APP],
                readinessProbe: {
                  exec: { command: ['/bin/sh', '-c', 'test -f /data/boots && test -f /logs/boots'] },
                  periodSeconds: 1,
                },
                volumeMounts: [
                  { name: 'data', mountPath: '/data' },
                  { name: 'logs', mountPath: '/logs' },
                ],
              },
            ],
          },
        },
        volumeClaimTemplates: [template('data', '64Mi'), template('logs', '32Mi')],
      },
    },
  });
  await eventually(
    `StatefulSet ${namespace}/${name} 2 Ready`,
    async () =>
      (await apps.readNamespacedStatefulSet({ namespace, name })).status?.readyReplicas === 2 ? true : undefined,
    120_000,
  );
}

/** Every entry under a volume's dir: type, mode, owner, size, mtime and sha256 of files, link targets. */
export function snapshot(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    if (skip.includes(rel)) return;
    const p = join(dir, rel);
    const s = lstatSync(p);
    const head = `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
    if (s.isSymbolicLink()) out[rel] = `link ${s.uid}:${s.gid} -> ${readlinkSync(p)}`;
    else if (s.isDirectory()) {
      if (rel) out[rel] = `dir ${head}`;
      for (const e of readdirSync(p)) walk(rel ? `${rel}/${e}` : e);
    } else out[rel] = `file ${head} ${s.size} ${Math.floor(s.mtimeMs)} ${sha(readFileSync(p))}`;
  };
  walk('');
  return out;
}

export interface ClaimState {
  claim: string;
  pv: string;
  path: string;
  uid: string;
}

export async function claimStates(kc: KubeConfig, namespace: string, sts: string): Promise<ClaimState[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const out: ClaimState[] = [];
  for (const vol of ['data', 'logs'])
    for (const n of [0, 1]) {
      const c = await core.readNamespacedPersistentVolumeClaim({ namespace, name: `${vol}-${sts}-${n}` });
      const pv = await core.readPersistentVolume({ name: c.spec?.volumeName as string });
      out.push({
        claim: c.metadata?.name as string,
        pv: pv.metadata?.name as string,
        path: pv.spec?.local?.path as string,
        uid: c.metadata?.uid as string,
      });
    }
  return out;
}

/**
 * The cleanup after resize tests: a resize retains the old PVs on purpose, so every PV of `namespaces` (or marked
 * by a resize) goes back to Delete for the provisioner to remove, then the namespaces are deleted.
 */
export async function releaseResizeNamespaces(kc: KubeConfig, namespaces: readonly string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const pv of (await core.listPersistentVolume()).items)
    if (namespaces.includes(pv.spec?.claimRef?.namespace ?? '') || pv.metadata?.annotations?.[ORIGINAL_RECLAIM_POLICY])
      await core
        .patchPersistentVolume({
          name: pv.metadata?.name as string,
          body: [{ op: 'replace', path: '/spec/persistentVolumeReclaimPolicy', value: 'Delete' }],
        })
        .catch(() => undefined);
  for (const ns of namespaces) await core.deleteNamespace({ name: ns }).catch(() => undefined);
}
