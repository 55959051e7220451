/**
 * StatefulMigration spec (as users write it, API.md) -> the normalised MigrationSpec the chart runs on.
 * Defaults are applied here; bad input is one InvalidInputError that lists every problem with its field.
 */

import { InvalidInputError } from '../adapters/errors.ts';
import { DEFAULT_PHASE_DEADLINES, type MigrationSpec } from '../machines/spec.ts';
import { validateSpec } from './crd/resource.ts';
import { type StatefulMigrationSpecInput, statefulMigrationResource } from './crd/stateful-migration.ts';

/** The spec as users write it (before defaults). The schema lives in `crd/stateful-migration.ts`. */
export type StatefulMigrationSpec = StatefulMigrationSpecInput;

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
  const object = `StatefulMigration ${meta.namespace}/${meta.name}`;
  const limit = statefulMigrationResource.maxNameLength;
  // the admission rule's twin (a cluster without the CRD's rules, or a test, still gets the clear message)
  if (limit && [...meta.name].length > limit.length)
    throw new InvalidInputError(object, `metadata.name must be at most ${limit.length} characters: ${limit.why}`);
  const s = validateSpec(statefulMigrationResource, object, raw);
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
