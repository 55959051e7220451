/**
 * Runs VolumeResizes against FakeVolumes on virtual time: the fixture of the VolumeResize unit and property tests.
 * The world: StatefulSet `db` in `default` with 2 replicas and the templates `data` (1Gi) and `logs` (512Mi),
 * dynamically provisioned by class `standard` (default, reclaim Delete), each claim holding distinct data.
 */
import { VolumeResizeHost, type VolumeResizeHostDeps } from '../../actors/charts/volume-resize.ts';
import type { VolumeResizeSpecInput } from '../../actors/crd/volume-resize.ts';
import { normalizeVolumeResizeSpec } from '../../actors/volume-resize-spec.ts';
import { virtualClock } from '../../adapters/clock/fake.ts';
import type { FaultPlan } from '../../adapters/effect-journal.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { VOLUME_RESIZE_KIND } from '../../machines/volume-resize-chart.ts';
import type { VolumeResizeSpec } from '../../machines/volume-resize-spec.ts';
import { FakeVolumes, type FakeVolumesOptions } from './fake-volumes.ts';
import { silent, T0 } from './scenario.ts';

export interface VolumeScenarioOptions {
  spec?: Partial<VolumeResizeSpecInput>;
  faults?: FaultPlan;
  replicas?: number;
  /** Bytes of data on each claim (default 100 MiB on data, 10 MiB on logs). */
  usedBytes?: (replica: number, volume: string) => number;
  maxAttempts?: number;
  fake?: Partial<FakeVolumesOptions>;
  log?: EventLog;
}

export const MiB = 2 ** 20;

export function volumeScenario(opts: VolumeScenarioOptions = {}) {
  const clock = virtualClock(T0);
  const volumes = new FakeVolumes({ clock, faults: opts.faults, ...opts.fake });
  volumes.addStorageClass({ name: 'standard', isDefault: true });
  volumes.seedStatefulSet({
    namespace: 'default',
    name: 'db',
    replicas: opts.replicas ?? 2,
    templates: [
      { name: 'data', request: '1Gi', storageClassName: 'standard' },
      { name: 'logs', request: '512Mi', storageClassName: 'standard' },
    ],
    data: (n, v) => {
      const bytes = opts.usedBytes?.(n, v) ?? (v === 'data' ? 100 * MiB : 10 * MiB);
      return { digest: `${v}-db-${n}-original`, bytes, files: 20 };
    },
  });
  const log = opts.log ?? createMemoryEventLog();
  const spec: VolumeResizeSpec = normalizeVolumeResizeSpec(
    { namespace: 'default', name: 'vr1', uid: 'vr-uid-1' },
    {
      statefulSetName: 'db',
      volumes: [
        { name: 'data', newSize: '256Mi' },
        { name: 'logs', newSize: '64Mi' },
      ],
      ...opts.spec,
    },
    { maxAttempts: opts.maxAttempts ?? 3, retryBaseMs: 200, migratorImage: 'localhost/ms2m/rclone:dev' },
  );
  const deps: VolumeResizeHostDeps = { volumes, clock, logger: silent, pollMs: 100, log };
  const resizeId = 'default/vr1/vr-uid-1';
  const key = { kind: VOLUME_RESIZE_KIND, id: resizeId };
  return {
    clock,
    volumes,
    log,
    spec,
    deps,
    resizeId,
    key,
    open: () => VolumeResizeHost.open({ id: resizeId, deps }),
  };
}
export type VolumeScenario = ReturnType<typeof volumeScenario>;

/** Runs one resize to its end without crashes. */
export async function runResize(s: VolumeScenario) {
  const host = await s.open();
  await host.request({ spec: s.spec });
  return host.done();
}
