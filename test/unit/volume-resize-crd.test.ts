import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { generatedManifests } from '../../actors/crd/manifests.ts';
import { toMermaid } from '../../actors/diagram.ts';
import { normalizeVolumeResizeSpec } from '../../actors/volume-resize-spec.ts';
import { formatBytes, quantityBytes } from '../../machines/quantity.ts';
import { volumeResizeMachine } from '../../machines/volume-resize.ts';

const root = join(import.meta.dirname, '../..');
const meta = { namespace: 'default', name: 'vr1', uid: 'u1' };

describe('VolumeResize resource', () => {
  it('the CRD has the names, short name vr, status subresource and printer columns', () => {
    const [crd] = loadAllYaml(generatedManifests()['volumeresize.crd.yaml'] ?? '') as Array<{
      spec: {
        group: string;
        names: { kind: string; shortNames: string[] };
        versions: Array<{ name: string; subresources: unknown; additionalPrinterColumns: Array<{ name: string }> }>;
      };
    }>;
    expect(crd?.spec.group).toBe('storage.ms2m.io');
    expect(crd?.spec.names).toMatchObject({ kind: 'VolumeResize', shortNames: ['vr'] });
    expect(crd?.spec.versions[0]?.name).toBe('v1alpha1');
    expect(crd?.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(crd?.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Phase',
      'StatefulSet',
      'Replica',
      'Volume',
      'DryRun',
      'Message',
      'Age',
    ]);
  });

  it('the sample in crds/samples validates, with the defaults applied', () => {
    const [doc] = loadAllYaml(readFileSync(join(root, 'crds/samples/volumeresize.yaml'), 'utf8')) as Array<{
      spec: unknown;
    }>;
    const spec = normalizeVolumeResizeSpec(meta, doc?.spec, { migratorImage: 'img:1' });
    expect(spec).toMatchObject({
      statefulSetName: 'db',
      volumes: [
        { name: 'data', newSize: '2Gi' },
        { name: 'logs', newSize: '256Mi', storageClass: 'ms2m-local' },
      ],
      preSync: true,
      usedBytesMargin: 10,
      migratorImage: 'img:1',
    });
  });

  it('refuses a bad spec with every problem named by its field', () => {
    expect(() => normalizeVolumeResizeSpec(meta, { volumes: [] })).toThrow(/spec\.statefulSetName.*spec\.volumes/);
    expect(() =>
      normalizeVolumeResizeSpec(meta, { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '0Gi' }] }),
    ).toThrow(/spec\.volumes: every newSize must be larger than 0/);
    expect(() =>
      normalizeVolumeResizeSpec(meta, { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '-1Gi' }] }),
    ).toThrow(/must be a quantity/);
    expect(() =>
      normalizeVolumeResizeSpec(
        { ...meta, name: 'x'.repeat(41) },
        { statefulSetName: 'db', volumes: [{ name: 'd', newSize: '1Gi' }] },
      ),
    ).toThrow(/at most 40 characters/);
    expect(() =>
      normalizeVolumeResizeSpec(meta, { statefulSetName: 'db', volumes: [{ name: 'd', newSize: '1Gi' }] }),
    ).toThrow(/spec\.migratorImage is unset and the operator has no default \(MS2M_MIGRATOR_IMAGE\)/);
  });

  it('quantities parse as Kubernetes writes them', () => {
    expect(quantityBytes('1Gi')).toBe(2 ** 30);
    expect(quantityBytes('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(quantityBytes('500M')).toBe(500e6);
    expect(quantityBytes('2e3')).toBe(2000);
    expect(quantityBytes('1024')).toBe(1024);
    expect(quantityBytes('1500m')).toBe(2);
    expect(quantityBytes('1 Gi')).toBeNull();
    expect(quantityBytes('Gi')).toBeNull();
    expect(formatBytes(1.5 * 2 ** 30)).toBe('1.5 GiB');
    expect(formatBytes(512)).toBe('512 B');
  });

  it('docs/volume-resize.mmd is the chart as it is (run `npm run diagram` after changing it)', () => {
    expect(readFileSync(join(root, 'docs/volume-resize.mmd'), 'utf8')).toBe(toMermaid(volumeResizeMachine));
  });
});
