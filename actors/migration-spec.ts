/**
 * StatefulMigration spec (as users write it, API.md) -> the normalised MigrationSpec the chart runs on.
 * Defaults are applied here; bad input is one InvalidInputError that lists every problem with its field.
 */
import { z } from 'zod';
import { InvalidInputError } from '../adapters/errors.ts';
import { DEFAULT_PHASE_DEADLINES, type MigrationSpec } from '../machines/spec.ts';

const dns1123 = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 name (lower case letters, digits, - and .)');

export const statefulMigrationSpecSchema = z
  .object({
    sourcePod: dns1123,
    containerName: z.string().min(1).optional(),
    targetNode: z.string().min(1),
    migrationStrategy: z.enum(['ShadowPod', 'Sequential', 'auto']).optional(),
    transferMode: z.enum(['Registry', 'Direct']).optional(),
    checkpointImageRepository: z.string().min(1).optional(),
    replayMode: z.enum(['Cutoff', 'Drain']).default('Cutoff'),
    replayCutoffSeconds: z.number().int().nonnegative().optional(),
    replayMaxSeconds: z.number().int().positive().default(120),
    drainStallSeconds: z.number().int().positive().default(30),
    messageQueueConfig: z.object({
      queueName: z.string().min(1),
      brokerUrl: z
        .string()
        .regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL')
        .optional(),
      exchangeName: z.string().min(1),
      routingKey: z.string().optional(),
    }),
    brokerSecretRef: z.object({ name: dns1123, key: z.string().min(1) }).optional(),
    phaseDeadlines: z
      .object({
        Pending: z.number().positive(),
        Checkpointing: z.number().positive(),
        Transferring: z.number().positive(),
        Restoring: z.number().positive(),
        Replaying: z.number().positive(),
        Finalizing: z.number().positive(),
      })
      .partial()
      .optional(),
    cancel: z.boolean().default(false),
    finalizeDeploymentMode: z.enum(['Adopt', 'PatchAffinity']).default('Adopt'),
  })
  .superRefine((s, ctx) => {
    if (!s.messageQueueConfig.brokerUrl && !s.brokerSecretRef) {
      ctx.addIssue({
        code: 'custom',
        path: ['messageQueueConfig', 'brokerUrl'],
        message: 'set brokerUrl or brokerSecretRef',
      });
    }
    if (s.transferMode === 'Registry' && !s.checkpointImageRepository) {
      ctx.addIssue({
        code: 'custom',
        path: ['checkpointImageRepository'],
        message: 'required when transferMode is Registry',
      });
    }
  });

export type StatefulMigrationSpec = z.input<typeof statefulMigrationSpecSchema>;

export interface CrMeta {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * @example
 * ```ts
 * const spec = normalizeSpec({ namespace: 'default', name: 'm1', uid }, cr.spec);
 * ```
 */
export function normalizeSpec(
  meta: CrMeta,
  raw: unknown,
  runtime: { maxAttempts?: number; retryBaseMs?: number } = {},
): MigrationSpec {
  const parsed = statefulMigrationSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`);
    throw new InvalidInputError(
      `StatefulMigration ${meta.namespace}/${meta.name}`,
      `invalid spec: ${problems.join('; ')}`,
      {
        problems,
      },
    );
  }
  const s = parsed.data;
  return {
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid,
    sourcePod: s.sourcePod,
    containerName: s.containerName,
    targetNode: s.targetNode,
    migrationStrategy: s.migrationStrategy === 'auto' ? undefined : s.migrationStrategy,
    // SHADOW's meaning: a repository means Registry; otherwise Direct through the node agents
    transferMode: s.transferMode ?? (s.checkpointImageRepository ? 'Registry' : 'Direct'),
    checkpointImageRepository: s.checkpointImageRepository,
    replayMode: s.replayMode,
    replayCutoffSeconds: s.replayCutoffSeconds,
    replayMaxSeconds: s.replayMaxSeconds,
    drainStallSeconds: s.drainStallSeconds,
    messageQueueConfig: {
      queueName: s.messageQueueConfig.queueName,
      brokerUrl: s.messageQueueConfig.brokerUrl ?? '',
      exchangeName: s.messageQueueConfig.exchangeName,
      routingKey: s.messageQueueConfig.routingKey,
    },
    phaseDeadlines: { ...DEFAULT_PHASE_DEADLINES, ...s.phaseDeadlines },
    finalizeDeploymentMode: s.finalizeDeploymentMode,
    maxAttempts: runtime.maxAttempts ?? 5,
    retryBaseMs: runtime.retryBaseMs ?? 500,
  };
}
