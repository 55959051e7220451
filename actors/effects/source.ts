import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { Effect } from './deps.ts';

/** Pending: read the source pod (must be Running), resolve the container, owners and the target node. */
export const inspectSource: Effect = async ({ ctx }, { deps }) => {
  const { spec } = ctx;
  const pod = await deps.cluster.getPod(spec.namespace, spec.sourcePod);
  if (!pod) {
    throw new Ms2mError(
      ErrorCode.SOURCE_NOT_FOUND,
      `Pod ${spec.namespace}/${spec.sourcePod} not found: check spec.sourcePod`,
    );
  }
  if (pod.phase !== 'Running' || !pod.nodeName) {
    throw new Ms2mError(
      ErrorCode.SOURCE_NOT_RUNNING,
      `Pod ${spec.namespace}/${spec.sourcePod} is ${pod.phase}, not Running: only a running pod can be checkpointed`,
    );
  }
  const containerName = spec.containerName ?? pod.containers[0]?.name;
  if (!containerName || !pod.containers.some((c) => c.name === containerName)) {
    throw new Ms2mError(
      ErrorCode.CONTAINER_NOT_FOUND,
      `Pod ${spec.sourcePod} has no container ${spec.containerName}: choose one of ${pod.containers.map((c) => c.name).join(', ')}`,
    );
  }
  const owner = await deps.cluster.getOwners(spec.namespace, pod);
  const node = await deps.cluster.getNode(spec.targetNode);
  return {
    type: 'SourceInspected',
    data: {
      sourceNode: pod.nodeName,
      sourceUid: pod.uid,
      containerName,
      containers: pod.containers,
      labels: pod.labels,
      podSpec: pod.podSpec,
      owner,
      targetNodeFound: node !== null,
    },
  };
};
