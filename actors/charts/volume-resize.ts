/**
 * The VolumeResize chart, runnable: the pure core (machines/volume-resize-chart.ts) bound to its effects
 * (actors/effects-volume) and event schemas, and its host. The second chart on the generic runtime.
 */
import { volumeResizeCore } from '../../machines/volume-resize-chart.ts';
import { defineChart } from '../chart.ts';
import type { VolumeEffectDeps } from '../effects-volume/deps.ts';
import { volumeResizeEffects } from '../effects-volume/index.ts';
import { createHost, type Host, type HostDeps } from '../host.ts';
import { volumeResizeEventSchemas } from './volume-resize-schemas.ts';

export const volumeResizeChart = defineChart({
  ...volumeResizeCore,
  effects: volumeResizeEffects,
  schemas: volumeResizeEventSchemas,
  upcasters: {},
  module: { url: import.meta.url, name: 'volumeResizeChart' },
});

/**
 * The VolumeResize chart's host.
 *
 * @example
 * ```ts
 * const host = await VolumeResizeHost.open({ id: 'default/vr1/uid', deps });
 * if (!host.snapshot()) await host.request({ spec });
 * const final = await host.done();
 * ```
 */
export const VolumeResizeHost = createHost(volumeResizeChart);
export type VolumeResizeHost = Host<typeof volumeResizeChart>;
export type VolumeResizeHostDeps = HostDeps<VolumeEffectDeps>;
export type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
