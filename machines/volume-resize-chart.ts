/**
 * The VolumeResize chart's pure part (chart.ts): kind, version, machine, steps, how a log starts and which phase
 * a snapshot is in. actors/charts/volume-resize.ts binds it to the effects and the event schemas.
 */
import type { ChartCore, SnapshotOf } from './chart.ts';
import { volumeResizeMachine } from './volume-resize.ts';
import type { VolumeResizeContext, VolumeResizeInput } from './volume-resize-context.ts';
import { VR_STEPS, type VrEvent, type VrStep } from './volume-resize-events.ts';
import type { VrPhase } from './volume-resize-spec.ts';

export const VOLUME_RESIZE_KIND = 'VolumeResize';
export const VOLUME_RESIZE_VERSION = 1;

const TERMINAL: readonly VrPhase[] = ['Completed', 'Failed'];

export const volumeResizeCore = {
  kind: VOLUME_RESIZE_KIND,
  version: VOLUME_RESIZE_VERSION,
  machine: volumeResizeMachine,
  steps: VR_STEPS,
  initialEvent: 'VolumeResizeRequested' as const,
  input(resizeId, first) {
    if (first.type !== 'VolumeResizeRequested') {
      throw new Error(`Log of VolumeResize ${resizeId} starts with ${first.type}, expected VolumeResizeRequested`);
    }
    return { resizeId, spec: first.data.spec, at: first.at };
  },
  phaseOf: (s) => (s.status === 'done' ? (s.value === 'Completed' ? 'Completed' : 'Failed') : s.context.phase),
  terminalPhases: TERMINAL,
} satisfies ChartCore<VolumeResizeContext, VrEvent, VrStep, VolumeResizeInput>;

export type VolumeResizeSnapshot = SnapshotOf<typeof volumeResizeCore>;
