import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createVolumeResizeController,
  createVolumeResizeMetrics,
  VR_FINALIZER,
} from '../../actors/controller/volume-resize-controller.ts';
import type { VolumeResizeClient } from '../../actors/controller/volume-resize-observers.ts';
import type { VolumeResizeSpecInput, VolumeResizeStatusWire } from '../../actors/crd/volume-resize.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { ObjectRef } from '../../adapters/kubernetes/port.ts';
import { eventually } from '../support/eventually.ts';
import { FakeVolumes } from '../support/fake-volumes.ts';
import { MemoryResources } from '../support/memory-resources.ts';

const silent = pino({ level: process.env.VR_TEST_LOG ?? 'silent' });

/** Waits (real time) until `cond` holds. */
const waitFor = (what: string, cond: () => boolean, ms = 10_000) =>
  eventually(what, async () => (cond() ? true : undefined), ms);

function setup(copyStepMs = 5) {
  const clock = systemClock();
  const volumes = new FakeVolumes({ clock, copyStepMs });
  volumes.addStorageClass({ name: 'standard', isDefault: true });
  volumes.seedStatefulSet({
    namespace: 'default',
    name: 'db',
    replicas: 2,
    templates: [{ name: 'data', request: '1Gi', storageClassName: 'standard' }],
    data: (n, v) => ({ digest: `${v}-db-${n}-original`, bytes: 50 * 2 ** 20, files: 10 }),
  });
  const resources = new MemoryResources<VolumeResizeSpecInput, VolumeResizeStatusWire>(
    'storage.ms2m.io/v1alpha1',
    'VolumeResize',
  );
  const events: Array<{ ref: ObjectRef; type: string; reason: string; message: string }> = [];
  const registry = new Registry();
  const metrics = createVolumeResizeMetrics(registry);
  const controller = createVolumeResizeController({
    logger: silent,
    client: resources as unknown as VolumeResizeClient,
    volumes,
    cluster: { recordEvent: async (ref, type, reason, message) => void events.push({ ref, type, reason, message }) },
    clock,
    log: createMemoryEventLog(),
    pollMs: 5,
    runtime: { maxAttempts: 2, retryBaseMs: 5 },
    migratorImage: 'localhost:5000/ms2m/migrator:test',
    metrics,
  });
  return { volumes, resources, events, controller, registry };
}

describe('the operator runs VolumeResizes (controller, status, Events, finalizer)', { timeout: 30_000 }, () => {
  it('a VolumeResize runs to Completed: status with the plan and every volume Replaced, Events, finalizer released', async () => {
    const { volumes, resources, events, controller, registry } = setup();
    controller.startLeading();
    try {
      resources.create('default', 'vr1', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '100Mi' }] });
      await waitFor('vr1 Completed', () => resources.peek('default', 'vr1')?.status?.phase === 'Completed');
      await waitFor(
        'vr1 finalizer released',
        () => !resources.peek('default', 'vr1')?.metadata.finalizers?.includes(VR_FINALIZER),
      );
      const status = resources.peek('default', 'vr1')!.status!;
      expect(status.plan?.length).toBeGreaterThan(10);
      expect(status.volumeStatuses?.map((v) => [v.oldPVCName, v.phase])).toEqual([
        ['data-db-0', 'Replaced'],
        ['data-db-1', 'Replaced'],
      ]);
      expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(status.eventLog).toBeTruthy();
      expect(events.map((e) => e.reason)).toEqual(
        expect.arrayContaining(['Syncing', 'Replacing', 'VolumeCopied', 'Completed']),
      );
      expect(volumes.claimOf('default', 'data-db-0')?.request).toBe('100Mi');
      const text = await registry.metrics();
      expect(text).toMatch(/ms2m_volume_resizes_finished_total\{outcome="Completed",reason="Completed"\} 1/);
      expect(text).toMatch(/ms2m_volume_resize_bytes_copied_total 104857600/);
      expect(text).toMatch(/ms2m_volume_resize_phase_duration_seconds_count\{phase="Syncing"\} 1/);
    } finally {
      await controller.stopLeading('test over');
    }
  });

  it('an invalid spec fails at once with the problem in status, and the finalizer goes', async () => {
    const { resources, controller } = setup();
    controller.startLeading();
    try {
      resources.create('default', 'bad', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: 'lots' }] });
      await waitFor('bad Failed', () => resources.peek('default', 'bad')?.status?.phase === 'Failed');
      expect(resources.peek('default', 'bad')!.status!.message).toMatch(
        /spec\.volumes\.0\.newSize: must be a quantity/,
      );
      await waitFor(
        'bad finalizer released',
        () => (resources.peek('default', 'bad')?.metadata.finalizers ?? []).length === 0,
      );
    } finally {
      await controller.stopLeading('test over');
    }
  });

  it('deleting a running VolumeResize cancels it: rollback removes its pods and temp claims, data safe, then the resource goes', async () => {
    const { volumes, resources, controller } = setup(200);
    controller.startLeading();
    try {
      resources.create('default', 'vr2', { statefulSetName: 'db', volumes: [{ name: 'data', newSize: '100Mi' }] });
      await waitFor('a migrator pod', () => [...volumes.pods.keys()].some((k) => k.includes('vr2-migrator')));
      resources.delete('default', 'vr2');
      await waitFor('vr2 gone', () => resources.peek('default', 'vr2') === undefined);
      expect([...volumes.pods.keys()].filter((k) => k.includes('vr2-'))).toEqual([]);
      expect([...volumes.claims.keys()].filter((k) => k.endsWith('-new'))).toEqual([]);
      for (const n of [0, 1]) {
        const claim = volumes.claimOf('default', `data-db-${n}`)!;
        expect(volumes.pv(claim.volumeName!)?.data?.digest).toBe(`data-db-${n}-original`);
      }
      expect((await volumes.getStatefulSet('default', 'db'))?.readyReplicas).toBe(2);
    } finally {
      await controller.stopLeading('test over');
    }
  });
});
