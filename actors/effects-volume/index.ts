/** Every step of the VolumeResize chart -> its effect. The host provides these to the machine. */
import type { VrStep } from '../../machines/volume-resize-events.ts';
import type { VrEffect } from './deps.ts';
import {
  awaitReplicasReady,
  bindOriginalClaim,
  clearNewClaimRef,
  deleteOriginalClaim,
  deleteTempClaim,
  recreateStatefulSet,
  retainNewVolume,
} from './replace.ts';
import { rollback } from './rollback.ts';
import {
  awaitTempBound,
  copyVolume,
  createTempClaim,
  deleteReplicaPod,
  orphanStatefulSet,
  preSync,
  recordOriginals,
  removeMigrator,
  retainOldVolume,
} from './sync.ts';
import { inspect, measureUsage } from './validate.ts';

export const volumeResizeEffects: Record<VrStep, VrEffect> = {
  inspect,
  measureUsage,
  recordOriginals,
  createTempClaim,
  awaitTempBound,
  retainOldVolume,
  preSync,
  orphanStatefulSet,
  deleteReplicaPod,
  copyVolume,
  removeMigrator,
  retainNewVolume,
  deleteTempClaim,
  clearNewClaimRef,
  deleteOriginalClaim,
  bindOriginalClaim,
  recreateStatefulSet,
  awaitReplicasReady,
  rollback,
};
