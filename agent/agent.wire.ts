import { z } from 'zod';

/** HTTP shapes of the node agent API (all under /v1, bearer auth on every request). */

export const HEADER_SHA256 = 'x-checkpoint-sha256';
export const HEADER_CONTAINER = 'x-checkpoint-container';
export const HEADER_MIGRATION = 'x-migration-id';

export const Sha256Hex = z.string().regex(/^[a-f0-9]{64}$/);
export const ContainerName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
  .max(63);
export const MigrationId = z.string().regex(/^[A-Za-z0-9._:/-]{1,253}$/);

/** POST /v1/send: the source agent streams a local checkpoint to `targetUrl` (another agent). */
export const SendBody = z.object({
  checkpointPath: z.string().min(1).max(4096),
  container: ContainerName,
  migrationId: MigrationId,
  targetUrl: z.url(),
  key: z.string().max(600).optional(),
});
export type SendBody = z.infer<typeof SendBody>;

/** POST /v1/push: the source agent pushes a local checkpoint to a registry. */
export const PushBody = z.object({
  checkpointPath: z.string().min(1).max(4096),
  container: ContainerName,
  imageRef: z.string().min(3).max(1000),
  migrationId: MigrationId,
  key: z.string().max(600).optional(),
});
export type PushBody = z.infer<typeof PushBody>;

export const GcBody = z.object({ olderThanMs: z.number().int().nonnegative() });

export const PredumpBody = z.object({
  action: z.enum(['start', 'stop', 'status']),
  namespace: z.string().max(253),
  pod: z.string().max(253),
  container: ContainerName,
});

/** A stored checkpoint (GET /v1/checkpoints, GET /v1/checkpoints/{sha256}). */
export interface CheckpointEntryWire {
  id: string;
  /** The container and migration it was first received for. */
  container: string;
  migrationId?: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  lastUsedAt: string;
  /** One image per container name it was loaded for, each `localhost/checkpoint/<ctr>:sha256-<sha256>`. */
  images: { container: string; image: string }[];
  migrationIds: string[];
}

/**
 * Answer of PUT /v1/checkpoints, PUT /v1/checkpoints/{sha256}/images/{container} and the final line of send/push.
 * For a load, `image` is always `directCheckpointImage(container, sha256)`.
 */
export interface TransferResultWire {
  image: string;
  bytes: number;
  sha256: string;
}

/** send/push answer: NDJSON, progress lines then exactly one `result` or `error` line. */
export type TransferLineWire =
  | { type: 'progress'; bytesTransferred: number; bytesTotal: number }
  | ({ type: 'result' } & TransferResultWire)
  | { type: 'error'; code: string; message: string; status: number; transient: boolean };

export interface ErrorBodyWire {
  code: string;
  message: string;
}
