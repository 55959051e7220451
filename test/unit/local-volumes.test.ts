/**
 * `cluster down`'s share of the local volume provisioner (cluster/local/local-volumes.ts): it removes exactly the
 * directories the provisioner recorded, and only inside the cluster's node volume dirs.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  localStorageClass,
  recordedDirs,
  removeLocalVolumeDirs,
  volumesRoot,
} from '../../cluster/local/local-volumes.ts';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function clusterDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ms2m-local-volumes-'));
  made.push(d);
  return d;
}

describe('local volume dirs on cluster down', () => {
  it('removes the recorded volume dirs with their data and nothing else', async () => {
    const dir = clusterDir();
    const ours = join(volumesRoot(dir, 'node-a'), 'pvc-1');
    const alsoOurs = join(volumesRoot(dir, 'node-b'), 'pvc-2');
    const notRecorded = join(volumesRoot(dir, 'node-a'), 'pvc-someone-elses');
    for (const d of [ours, alsoOurs, notRecorded]) {
      mkdirSync(join(d, 'sub'), { recursive: true });
      writeFileSync(join(d, 'sub', 'f'), 'data');
    }
    // a record that names a path outside the node volume dirs (edited by hand, or corrupt) is not followed
    const outside = clusterDir();
    writeFileSync(join(outside, 'keep'), 'x');
    writeFileSync(join(dir, 'local-volumes.json'), JSON.stringify([ours, alsoOurs, outside, join(dir, 'nodes')]));
    expect(await recordedDirs(dir)).toHaveLength(4);

    const left = await removeLocalVolumeDirs(dir);
    expect(existsSync(ours)).toBe(false);
    expect(existsSync(alsoOurs)).toBe(false);
    expect(existsSync(notRecorded)).toBe(true);
    expect(existsSync(join(outside, 'keep'))).toBe(true);
    expect(existsSync(join(dir, 'nodes'))).toBe(true);
    // what it would not remove is reported, and the record stays while anything recorded is left
    expect(left.sort()).toEqual([outside, join(dir, 'nodes')].sort());
    expect(existsSync(join(dir, 'local-volumes.json'))).toBe(true);
  });

  it('drops the record once every recorded dir is gone; no record is nothing to do', async () => {
    const dir = clusterDir();
    const d = join(volumesRoot(dir, 'node-a'), 'pvc-1');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(dir, 'local-volumes.json'), JSON.stringify([d]));
    expect(await removeLocalVolumeDirs(dir)).toEqual([]);
    expect(existsSync(join(dir, 'local-volumes.json'))).toBe(false);
    expect(await removeLocalVolumeDirs(dir)).toEqual([]);
  });

  it('declares a WaitForFirstConsumer class with its own provisioner', () => {
    expect(localStorageClass()).toMatchObject({
      kind: 'StorageClass',
      metadata: { name: 'ms2m-local' },
      provisioner: 'ms2m.io/local-volume',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    });
  });
});
