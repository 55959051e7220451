import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import {
  MIGRATION_LABEL,
  type NewPod,
  type PodInfo,
  ROLE_LABEL,
  shadowPodName,
} from '../../adapters/kubernetes/port.ts';
import type { MigrationContext } from '../../machines/context.ts';
import type { MigrationSpec } from '../../machines/spec.ts';
import { type Effect, pollUntil } from './deps.ts';
import { need } from './required-context.ts';

export const CR_API_VERSION = 'migration.ms2m.io/v1alpha1';
export const RESTORE_MODE_ENV = 'MS2M_RESTORE_MODE';
/** Waiting reasons that mean the target will not start by itself. */
const STUCK = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'ErrImageNeverPull',
  'CrashLoopBackOff',
  'CreateContainerError',
  'InvalidImageName',
]);

export const targetPodName = (ctx: MigrationContext): string =>
  ctx.strategy === 'Sequential' ? ctx.spec.sourcePod : shadowPodName(ctx.spec.sourcePod);

/**
 * True for a pod this migration created: it carries the migration's label AND is owned by this very CR (its UID).
 * A pod of another (or an earlier, same-named) migration, or the source itself, is never "ours".
 */
export const createdByMigration = (pod: PodInfo, spec: Pick<MigrationSpec, 'name' | 'uid'>): boolean =>
  pod.labels[MIGRATION_LABEL] === spec.name && pod.ownerReferences.some((r) => r.uid === spec.uid);

/**
 * The target pod: the source's full spec (env, mounts, probes kept), the migrated container running the
 * checkpoint image in restore mode, pinned to the target node, labelled and owned by the migration.
 */
export function targetPodSpec(ctx: MigrationContext): NewPod {
  const { spec } = ctx;
  const source = need(ctx, 'source');
  const image = need(ctx, 'image');
  const containers = source.containers.map((c) => {
    if (c.name !== source.containerName) return { ...c.spec, name: c.name, image: c.image };
    const env = Array.isArray(c.spec.env)
      ? (c.spec.env as Array<{ name: string }>).filter((e) => e.name !== RESTORE_MODE_ENV)
      : [];
    return {
      ...c.spec,
      name: c.name,
      image,
      imagePullPolicy: spec.transferMode === 'Registry' ? 'Always' : 'Never',
      env: [...env, { name: RESTORE_MODE_ENV, value: 'true' }],
    };
  });
  const { nodeName: _drop, ...podSpec } = source.podSpec as { nodeName?: string } & Record<string, unknown>;
  return {
    namespace: spec.namespace,
    name: targetPodName(ctx),
    nodeName: spec.targetNode,
    labels: { ...source.labels, [MIGRATION_LABEL]: spec.name, [ROLE_LABEL]: 'target' },
    annotations: {
      'migration.ms2m.io/source-pod': spec.sourcePod,
      'migration.ms2m.io/checkpoint': ctx.checkpoint?.path ?? '',
    },
    containers,
    podSpec,
    ownerReferences: [
      {
        apiVersion: CR_API_VERSION,
        kind: 'StatefulMigration',
        name: spec.name,
        uid: spec.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

export const createTargetPod: Effect = async ({ ctx, key }, { deps }) => {
  const pod = await deps.cluster.createPod(targetPodSpec(ctx), key);
  if (!createdByMigration(pod, ctx.spec)) {
    throw new Ms2mError(
      ErrorCode.TARGET_NAME_TAKEN,
      `Pod ${ctx.spec.namespace}/${pod.name} exists and does not belong to migration ${ctx.spec.name}: delete it or rename the migration`,
    );
  }
  return { type: 'TargetPodCreated', data: { pod: pod.name } };
};

/** Restoring: wait for Running+Ready; a stuck pod (image pull, crash loop) fails at once. */
export const awaitTargetReady: Effect = async ({ ctx }, env) => {
  const name = need(ctx, 'targetPod');
  await pollUntil(env, async () => {
    const pod = await env.deps.cluster.getPod(ctx.spec.namespace, name);
    if (!pod || pod.deleting) {
      throw new Ms2mError(ErrorCode.TARGET_POD_GONE, `Pod ${ctx.spec.namespace}/${name} disappeared while restoring`);
    }
    if (pod.waitingReason && STUCK.has(pod.waitingReason)) {
      throw new Ms2mError(
        ErrorCode.TARGET_POD_STUCK,
        `Pod ${ctx.spec.namespace}/${name} is stuck in ${pod.waitingReason} on node ${ctx.spec.targetNode}: check the checkpoint image ${ctx.image}`,
      );
    }
    if (pod.phase === 'Failed')
      throw new Ms2mError(ErrorCode.TARGET_POD_FAILED, `Pod ${ctx.spec.namespace}/${name} failed while restoring`);
    return pod.phase === 'Running' && pod.ready ? true : undefined;
  });
  return { type: 'TargetPodReady', data: { pod: name } };
};
