/**
 * The VolumeResize CRD and its admission policy on a real API server: the server and `normalizeVolumeResizeSpec`
 * come from one source (actors/crd/volume-resize.ts), so they accept and refuse the same specs for the same
 * reasons, and default the same fields; once the controller has set a phase, only spec.cancel may change, and a
 * cancel cannot be undone.
 */
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validateSpec } from '../../actors/crd/resource.ts';
import { volumeResizeResource } from '../../actors/crd/volume-resize.ts';
import { eventually } from '../support/eventually.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';

const cp = inject('controlPlane');
const G = { group: 'storage.ms2m.io', version: 'v1alpha1', plural: 'volumeresizes' };
const namespace = `vrcrd-${Date.now().toString(36)}`;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let admin: KubeConfig;
let crs: CustomObjectsApi;
let core: CoreV1Api;

beforeAll(async () => {
  ({ admin } = await installOperatorPrerequisites(cp));
  const ext = admin.makeApiClient(ApiextensionsV1Api);
  await eventually('CRD volumeresizes.storage.ms2m.io Established', async () => {
    const crd = await ext.readCustomResourceDefinition({ name: 'volumeresizes.storage.ms2m.io' });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  core = admin.makeApiClient(CoreV1Api);
  crs = admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
});

const create = (name: string, spec: unknown) =>
  crs.createNamespacedCustomObject({
    ...G,
    namespace,
    body: { apiVersion: `${G.group}/${G.version}`, kind: 'VolumeResize', metadata: { name }, spec },
  }) as Promise<{ spec: Record<string, unknown> }>;

/** The API server's refusal text (status 422 or 403), or null when it accepted. */
async function refusal(name: string, spec: unknown): Promise<string | null> {
  try {
    await create(name, spec);
    return null;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    return typeof body === 'string' ? body : JSON.stringify(body);
  }
}

const runtimeRefusal = (spec: unknown): string | null => {
  try {
    validateSpec(volumeResizeResource, 'VolumeResize', spec);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('VolumeResize CRD on a real API server', () => {
  it('accepts a valid spec and defaults it as the runtime does', async () => {
    const spec = { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '2Gi' }] };
    const created = await create('ok', spec);
    const { migratorImage: _unset, ...runtime } = validateSpec(volumeResizeResource, 'VolumeResize', spec);
    expect(created.spec).toEqual(runtime);
    expect(created.spec).toMatchObject({ dryRun: false, preSync: false, usedBytesMargin: 10, cancel: false });
  });

  const refused: Array<[string, unknown, RegExp]> = [
    [
      'zero',
      { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '0Gi' }] },
      /every newSize must be larger than 0/,
    ],
    ['notquantity', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '2 GiB' }] }, /newSize/],
    ['novolumes', { statefulSetName: 'db', volumes: [] }, /volumes/],
    ['badname', { statefulSetName: 'DB_1', volumes: [{ name: 'data', newSize: '1Gi' }] }, /statefulSetName/],
  ];
  for (const [name, spec, says] of refused) {
    it(`refuses ${name}, as the runtime does, naming the field`, async () => {
      const server = await refusal(`bad-${name}`, spec);
      expect(server).toMatch(says);
      expect(runtimeRefusal(spec)).toMatch(says);
    });
  }

  it('refuses a name longer than 40 characters (it names the migrator pods)', async () => {
    expect(await refusal('x'.repeat(41), { statefulSetName: 'db', volumes: [{ name: 'd', newSize: '1Gi' }] })).toMatch(
      /at most 40 characters/,
    );
  });

  it('once started only spec.cancel may change, and a cancel cannot be undone', async () => {
    await create('frozen', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '2Gi' }] });
    await crs.patchNamespacedCustomObjectStatus(
      { ...G, namespace, name: 'frozen', body: { status: { phase: 'Syncing' } } },
      merge,
    );
    const patch = (spec: Record<string, unknown>) =>
      crs.patchNamespacedCustomObject({ ...G, namespace, name: 'frozen', body: { spec } }, merge).then(
        () => null,
        (err: { body?: unknown }) => String(typeof err.body === 'string' ? err.body : JSON.stringify(err.body)),
      );
    await eventually('the frozen-spec policy is in force', async () =>
      (await patch({ dryRun: true }))?.includes('fixed once the controller has started it') ? true : undefined,
    );
    expect(await patch({ cancel: true })).toBeNull();
    expect(await patch({ cancel: false })).toMatch(/cancel cannot be undone/);
  });
});
