/**
 * The kubelet checkpoint API (through the API server's node proxy):
 * `POST /api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{container}?timeout=<s>` answers `{"items":[path]}`.
 *
 * @example
 * ```ts
 * const { path } = await kubelet.checkpoint({ node: 'n1', namespace: 'default', pod: 'myapp-0',
 *   container: 'app', timeoutSeconds: 60 });
 * ```
 */
export interface Kubelet {
  checkpoint(req: CheckpointRequest): Promise<CheckpointResult>;
}

export interface CheckpointRequest {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  timeoutSeconds?: number;
}

export interface CheckpointResult {
  /** Path of the checkpoint tar on the node, e.g. /var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<ctr>-<ts>.tar */
  path: string;
}
