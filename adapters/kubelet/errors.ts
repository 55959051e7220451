import { ErrorCode, Ms2mError } from '../errors.ts';

/**
 * Typed failures of the kubelet checkpoint API. Each says which container failed and what to do.
 *
 * @example
 * ```ts
 * try { await kubelet.checkpoint(req); } catch (e) { if (e instanceof CheckpointUnsupportedError) { ... } }
 * ```
 */
export class CheckpointUnsupportedError extends Ms2mError {
  constructor(target: string, body: string) {
    super(
      ErrorCode.CHECKPOINT_UNSUPPORTED,
      `Kubelet checkpoint endpoint for ${target} answered 404: the kubelet has no checkpoint API (enable the ContainerCheckpoint feature gate and use a runtime with checkpoint support: containerd 2 or CRI-O with enable_criu_support), or the pod or container is not on that node (${body.trim().slice(0, 200)})`,
      { details: { target, status: 404 } },
    );
  }
}

/** The runtime or CRIU failed to dump the container (kubelet 500); the runtime's message is kept. */
export class CheckpointFailedError extends Ms2mError {
  readonly runtimeMessage: string;
  constructor(target: string, status: number, runtimeMessage: string) {
    super(
      ErrorCode.CHECKPOINT_FAILED,
      `Checkpoint of ${target} failed in the container runtime (HTTP ${status}): ${runtimeMessage.trim().slice(0, 2000)}; check the CRIU log on the node`,
      { details: { target, status }, transient: false },
    );
    this.runtimeMessage = runtimeMessage;
  }
}

/** No answer within the timeout. Retrying may help (the container may be large). */
export class CheckpointTimeoutError extends Ms2mError {
  constructor(target: string, timeoutMs: number, cause?: unknown) {
    super(
      ErrorCode.CHECKPOINT_TIMEOUT,
      `Checkpoint of ${target} got no answer within ${timeoutMs} ms: raise timeoutSeconds or check the node`,
      {
        cause,
        transient: true,
        details: { target, timeoutMs },
      },
    );
  }
}

/** The kubelet answered 200 without a checkpoint path. */
export class EmptyCheckpointError extends Ms2mError {
  constructor(target: string, body: string) {
    super(
      ErrorCode.CHECKPOINT_EMPTY,
      `Checkpoint of ${target} returned no archive path (body ${body.trim().slice(0, 200)}): check the runtime's checkpoint support`,
      {
        details: { target },
      },
    );
  }
}

/** 401/403: the operator's credentials may not use `nodes/proxy`. */
export class CheckpointForbiddenError extends Ms2mError {
  constructor(target: string, status: number, body: string) {
    super(
      ErrorCode.CHECKPOINT_FORBIDDEN,
      `Checkpoint of ${target} was refused (HTTP ${status}): grant create on nodes/proxy to the operator (ClusterRole ms2m-operator-nodes in crds/rbac.yaml) (${body.trim().slice(0, 200)})`,
      {
        details: { target, status },
      },
    );
  }
}

/**
 * The API server answered for itself on the node proxy path (a `Status`, not the kubelet's answer) and no retry
 * will help: e.g. `400 BadRequest: address not allowed` when the Node's address is loopback or link-local.
 */
export class CheckpointProxyError extends Ms2mError {
  constructor(target: string, node: string, status: number, reason: string | undefined, message: string) {
    super(
      ErrorCode.KUBERNETES_API,
      `The API server did not pass the checkpoint of ${target} to the kubelet (HTTP ${status} ${reason ?? ''}: ${message.trim().slice(0, 300)}): check Node ${node}'s status.addresses (kube-apiserver proxies to its InternalIP, never to loopback or link-local addresses) and status.daemonEndpoints.kubeletEndpoint`,
      { details: { target, node, upstreamStatus: status, upstreamReason: reason } },
    );
  }
}
