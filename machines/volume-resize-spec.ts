/**
 * The normalised VolumeResize spec the chart runs on (defaults applied and validated by the controller,
 * actors/volume-resize-spec.ts), and the chart's phases. Field names follow API.md.
 */
export const VR_PHASES = ['Pending', 'Validating', 'Syncing', 'Replacing', 'Completed', 'Failed'] as const;
export type VrPhase = (typeof VR_PHASES)[number];
export type VrActivePhase = Exclude<VrPhase, 'Completed' | 'Failed'>;

export interface VolumeResizeTarget {
  /** A volumeClaimTemplate of the StatefulSet. */
  name: string;
  /** Quantity, smaller than the current request. */
  newSize: string;
  /** Storage class of the new claims; unset: the original claim's class. */
  storageClass?: string;
}

export interface VolumeResizeSpec {
  namespace: string;
  /** The VolumeResize's name and uid. */
  name: string;
  uid: string;
  statefulSetName: string;
  volumes: VolumeResizeTarget[];
  dryRun: boolean;
  preSync: boolean;
  /** Percent: newSize must exceed the used bytes by this margin. */
  usedBytesMargin: number;
  migratorImage: string;
  /** Seconds per active phase; exceeding one fails the resize and rolls back. */
  phaseDeadlines: Record<VrActivePhase, number>;
  /** Bounded retries of transient adapter errors, with exponential backoff from retryBaseMs. */
  maxAttempts: number;
  retryBaseMs: number;
}

export const DEFAULT_VR_PHASE_DEADLINES: Record<VrActivePhase, number> = {
  Pending: 60,
  Validating: 600,
  Syncing: 6 * 3600,
  Replacing: 1800,
};

/**
 * ext4's default bytes-per-inode (mke2fs `inode_ratio` 16384): a new volume of N bytes formatted with the
 * defaults has about N / 16384 inodes, so more files than that do not fit whatever their size.
 */
export const BYTES_PER_INODE = 16384;

/** Backoff before attempt `attempt + 1` (attempt counts from 1): base · 2^(attempt-1), capped at 30 s. */
export const vrRetryDelayMs = (spec: Pick<VolumeResizeSpec, 'retryBaseMs'>, attempt: number): number =>
  Math.min(30_000, spec.retryBaseMs * 2 ** (attempt - 1));
