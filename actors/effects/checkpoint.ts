import { registryCheckpointImage } from '../../adapters/agent-client/port.ts';
import type { Effect } from './deps.ts';

/** Checkpointing, second: the kubelet checkpoint API (CRIU) on the source node. */
export const takeCheckpoint: Effect = async ({ ctx }, { deps }) => {
  const { spec } = ctx;
  const timeoutSeconds = Math.max(1, Math.floor(spec.phaseDeadlines.Checkpointing));
  const { path } = await deps.kubelet.checkpoint({
    node: ctx.source!.node,
    namespace: spec.namespace,
    pod: spec.sourcePod,
    container: ctx.source!.containerName,
    timeoutSeconds,
  });
  return { type: 'CheckpointCreated', data: { path } };
};

/** Transferring: Registry = the source agent pushes the OCI image; Direct = agent to agent, loaded on the target. */
export const transferCheckpoint: Effect = async ({ ctx, key }, { deps, emit }) => {
  const { spec } = ctx;
  const { clock } = deps;
  let lastEmit = Number.NEGATIVE_INFINITY;
  const progress = (p: { bytesTransferred: number; bytesTotal: number }) => {
    // a progress fact at most once a second, and the last one always
    if (clock.now() - lastEmit < 1000 && p.bytesTransferred < p.bytesTotal) return;
    lastEmit = clock.now();
    // a failed append already stops the host; progress is not worth an unhandled rejection
    emit({ type: 'TransferProgressed', data: p }).catch(() => undefined);
  };
  const common = {
    sourceNode: ctx.source!.node,
    checkpointPath: ctx.checkpoint!.path,
    container: ctx.source!.containerName,
    migrationId: ctx.migrationId,
    key,
  };
  const result =
    spec.transferMode === 'Registry'
      ? await deps.agents.push(
          { ...common, imageRef: registryCheckpointImage(spec.checkpointImageRepository!, spec.sourcePod) },
          progress,
        )
      : await deps.agents.send({ ...common, targetNode: spec.targetNode }, progress);
  return { type: 'TransferCompleted', data: { image: result.image, bytes: result.bytes, sha256: result.sha256 } };
};
