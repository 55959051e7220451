/**
 * `ms2m status` lists VolumeResizes beside StatefulMigrations on a real kube-apiserver (this tier's control plane
 * with both CRDs): a table each, `--kind` to pick one, `-o wide` with the copied bytes, `-o json` one List of both
 * kinds, one resize by name. The completed resize's status is the projection of the golden completed log, written
 * through the status subresource as the operator writes it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  loadYaml,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { vrStatusFromLog } from '../../actors/volume-resize-status.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { runCliCapture } from '../support/cli-run.ts';
import { eventually } from '../support/eventually.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';

const cp = inject('controlPlane');
const namespace = `clivr-${Date.now().toString(36)}`;
const VR = { group: 'storage.ms2m.io', version: 'v1alpha1', plural: 'volumeresizes' };
const SM = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const golden = join(import.meta.dirname, '../golden/volume-resize/completed.jsonl');

let admin: KubeConfig;
let core: CoreV1Api;
let crs: CustomObjectsApi;

const inNamespace = (ns: string, args: string[]) =>
  runCliCapture([...args, '--kubeconfig', cp.kubeconfigPath, '-n', ns]);
const ms2m = (...args: string[]) => inNamespace(namespace, args);

const createVr = (name: string, spec: Record<string, unknown>) =>
  crs.createNamespacedCustomObject({
    ...VR,
    namespace,
    body: { apiVersion: `${VR.group}/${VR.version}`, kind: 'VolumeResize', metadata: { name }, spec },
  });

beforeAll(async () => {
  ({ admin } = await installOperatorPrerequisites(cp));
  core = admin.makeApiClient(CoreV1Api);
  crs = admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const envelopes = readFileSync(golden, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EventEnvelope);
  const status = vrStatusFromLog(envelopes);
  if (!status) throw new Error(`no status from ${golden}`);
  await eventually('VolumeResize CRD served', () =>
    createVr('vr-done', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '256Mi' }] }),
  );
  await crs.patchNamespacedCustomObjectStatus(
    { ...VR, namespace, name: 'vr-done', body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await createVr('vr-new', { statefulSetName: 'web', volumes: [{ name: 'data', newSize: '1Gi' }], dryRun: true });
  await crs.createNamespacedCustomObject({
    ...SM,
    namespace,
    body: {
      apiVersion: `${SM.group}/${SM.version}`,
      kind: 'StatefulMigration',
      metadata: { name: 'm1' },
      spec: {
        sourcePod: 'app-0',
        targetNode: 'node-b',
        messageQueueConfig: { queueName: 'orders', exchangeName: 'orders-fanout', brokerUrl: 'amqp://broker:5672' },
      },
    },
  });
});

afterAll(async () => {
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
});

const cells = (line: string | undefined) => line?.split(/ {3,}/);

describe('ms2m status lists VolumeResizes beside StatefulMigrations', () => {
  it('default: the migrations table, then the VolumeResizes table (printer columns, oldest first)', async () => {
    const r = await ms2m('status');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [migrations, resizes] = r.stdout.trimEnd().split('\n\n');
    const [mHead, ...mRows] = migrations?.split('\n') ?? [];
    expect(cells(mHead)?.[0]).toBe('NAME');
    expect(mRows.map((l) => cells(l)?.slice(0, 2))).toEqual([['m1', 'Pending']]);
    const [vHead, ...vRows] = resizes?.split('\n') ?? [];
    expect(cells(vHead)).toEqual(['NAME', 'PHASE', 'STATEFULSET', 'REPLICA', 'VOLUME', 'AGE']);
    expect(vRows.map((l) => cells(l)?.slice(0, 3))).toEqual([
      ['vr-done', 'Completed', 'db'],
      ['vr-new', 'Pending', 'web'],
    ]);
  });

  it('--kind VolumeResize -o wide: only resizes, with dry run, the bytes copied and the message', async () => {
    const r = await ms2m('status', '--kind', 'VolumeResize', '-o', 'wide');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [head, ...rows] = r.stdout.trimEnd().split('\n');
    expect(cells(head)).toEqual([
      'NAME',
      'PHASE',
      'STATEFULSET',
      'REPLICA',
      'VOLUME',
      'AGE',
      'DRYRUN',
      'COPIED',
      'MESSAGE',
    ]);
    expect(r.stdout).not.toContain('m1');
    const done = cells(rows.find((l) => l.startsWith('vr-done')));
    const { status } = (await crs.getNamespacedCustomObject({ ...VR, namespace, name: 'vr-done' })) as {
      status: { volumeStatuses: Array<{ bytesCopied: number; bytesTotal: number }>; message: string };
    };
    const copied = status.volumeStatuses.reduce((a, v) => a + v.bytesCopied, 0);
    expect(copied).toBeGreaterThan(0);
    expect(done?.slice(6)).toEqual([
      'false',
      `${(copied / 1048576).toFixed(1)} MiB/${(status.volumeStatuses.reduce((a, v) => a + v.bytesTotal, 0) / 1048576).toFixed(1)} MiB`,
      status.message,
    ]);
    expect(cells(rows.find((l) => l.startsWith('vr-new')))?.slice(6, 8)).toEqual(['true', '-']);
  });

  it('-A --kind VolumeResize: every namespace, with a NAMESPACE column', async () => {
    const r = await ms2m('status', '-A', '--kind', 'VolumeResize');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [head, ...rows] = r.stdout.trimEnd().split('\n');
    expect(cells(head)?.slice(0, 3)).toEqual(['NAMESPACE', 'NAME', 'PHASE']);
    expect(rows.map((l) => cells(l)?.slice(0, 3)).filter((c) => c?.[0] === namespace)).toEqual([
      [namespace, 'vr-done', 'Completed'],
      [namespace, 'vr-new', 'Pending'],
    ]);
  });

  it('--kind StatefulMigration lists the migrations alone; -o json is one List of both kinds', async () => {
    const sm = await ms2m('status', '--kind', 'StatefulMigration');
    expect(sm.code).toBe(0);
    expect(sm.stdout).not.toContain('vr-done');
    const json = JSON.parse((await ms2m('status', '-o', 'json')).stdout) as {
      kind: string;
      items: Array<{ kind: string; metadata: { name: string } }>;
    };
    expect(json.kind).toBe('List');
    expect(json.items.map((i) => `${i.kind}/${i.metadata.name}`)).toEqual([
      'StatefulMigration/m1',
      'VolumeResize/vr-done',
      'VolumeResize/vr-new',
    ]);
  });

  it('one resize by name (-o yaml), a missing one names the kind and how to list them; --kind is checked', async () => {
    const y = await ms2m('status', '--kind', 'VolumeResize', 'vr-done', '-o', 'yaml');
    expect(y.code).toBe(0);
    expect(loadYaml(y.stdout)).toMatchObject({
      kind: 'VolumeResize',
      metadata: { name: 'vr-done', namespace },
      spec: { statefulSetName: 'db' },
      status: { phase: 'Completed' },
    });
    const missing = await ms2m('status', '--kind', 'VolumeResize', 'nope');
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain(`VolumeResize ${namespace}/nope not found`);
    expect(missing.stderr).toContain(`ms2m status --kind VolumeResize -n ${namespace} lists them`);
    const bad = await ms2m('status', '--kind', 'Pod');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--kind Pod is not a kind ms2m status lists');
    const withLog = await ms2m('status', '--kind', 'VolumeResize', '--log', '/nonexistent');
    expect(withLog.code).toBe(2);
    expect(withLog.stderr).toContain('--kind is for the API server');
  });

  it('an empty namespace says so for both kinds', async () => {
    expect(await inNamespace(`${namespace}-empty`, ['status'])).toEqual({
      code: 0,
      stdout: '',
      stderr: `No StatefulMigrations or VolumeResizes in namespace ${namespace}-empty\n`,
    });
  });
});
