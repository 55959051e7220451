import { registryCheckpointImage } from '../../adapters/agent-client/port.ts';
import type { Effect } from './deps.ts';
import { need, required } from './required-context.ts';

/** Checkpointing, second: the kubelet checkpoint API (CRIU) on the source node. */
export const takeCheckpoint: Effect = async ({ ctx }, { deps }) => {
  const { spec } = ctx;
  const source = need(ctx, 'source');
  const timeoutSeconds = Math.max(1, Math.floor(spec.phaseDeadlines.Checkpointing));
  const { path } = await deps.kubelet.checkpoint({
    node: source.node,
    namespace: spec.namespace,
    pod: spec.sourcePod,
    container: source.containerName,
    timeoutSeconds,
  });
  return { type: 'CheckpointCreated', data: { path } };
};

/** Transferring: Registry = the source agent pushes the OCI image; Direct = agent to agent, loaded on the target. */
export const transferCheckpoint: Effect = async ({ ctx, key }, { deps, emit }) => {
  const { spec } = ctx;
  const { clock } = deps;
  const source = need(ctx, 'source');
  let lastEmit = Number.NEGATIVE_INFINITY;
  const progress = (p: { bytesTransferred: number; bytesTotal: number }) => {
    // a progress fact at most once a second, and the last one always
    if (clock.now() - lastEmit < 1000 && p.bytesTransferred < p.bytesTotal) return;
    lastEmit = clock.now();
    // progress is not awaited: it only rejects when the host stopped or lost the log, and then the host
    // has stopped this effect already (its final fact is dropped too)
    emit({ type: 'TransferProgressed', data: p }).catch(() => undefined);
  };
  const common = {
    sourceNode: source.node,
    checkpointPath: need(ctx, 'checkpoint').path,
    container: source.containerName,
    migrationId: ctx.migrationId,
    key,
  };
  const result =
    spec.transferMode === 'Registry'
      ? await deps.agents.push(
          {
            ...common,
            imageRef: registryCheckpointImage(
              required(ctx, 'spec.checkpointImageRepository', spec.checkpointImageRepository),
              spec.sourcePod,
            ),
          },
          progress,
        )
      : await deps.agents.send({ ...common, targetNode: spec.targetNode }, progress);
  return { type: 'TransferCompleted', data: { image: result.image, bytes: result.bytes, sha256: result.sha256 } };
};
