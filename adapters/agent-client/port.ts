/**
 * Client for the node agent (agent/) running on every node. The agent moves checkpoints: node to node
 * (`send`), to an OCI registry (`push`), and manages the local store.
 *
 * @example
 * ```ts
 * const r = await agents.send({ sourceNode: 'n1', targetNode: 'n2', checkpointPath, container: 'app',
 *   migrationId: 'default/m1', key: 'default/m1:transfer' }, (p) => console.log(p.bytesTransferred));
 * // r.image === `localhost/checkpoint/app:sha256-${r.sha256}`
 * ```
 */
export interface AgentClient {
  /** Streams a checkpoint from the source node's agent to the target node's agent, which loads it. */
  send(req: SendRequest, onProgress?: ProgressListener): Promise<TransferResult>;
  /** Has the source node's agent push the checkpoint as an OCI image to a registry. */
  push(req: PushRequest, onProgress?: ProgressListener): Promise<TransferResult>;
  list(node: string): Promise<CheckpointEntry[]>;
  remove(node: string, id: string): Promise<void>;
  /** Deletes archives older than `olderThanMs`; returns how many were removed. */
  gc(node: string, olderThanMs: number): Promise<number>;
  predump(node: string, req: PredumpRequest): Promise<PredumpStatus>;
}

export interface SendRequest {
  sourceNode: string;
  targetNode: string;
  checkpointPath: string;
  container: string;
  migrationId: string;
  key: string;
}

export interface PushRequest {
  sourceNode: string;
  checkpointPath: string;
  container: string;
  /** Full reference, e.g. `registry.local:5000/ckpt/myapp-0:checkpoint`. */
  imageRef: string;
  migrationId: string;
  key: string;
}

export interface TransferResult {
  /**
   * The image the target pod runs: the registry ref, or `directCheckpointImage(container, sha256)` (Direct), whose
   * tag is the archive's digest: the name says which checkpoint it restores.
   */
  image: string;
  bytes: number;
  sha256: string;
}

export interface TransferProgress {
  bytesTransferred: number;
  bytesTotal: number;
}
export type ProgressListener = (p: TransferProgress) => void;

export interface CheckpointEntry {
  id: string;
  /** The container and migration it was first received for. */
  container: string;
  migrationId?: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  /** Images made from this archive, one per container name. */
  images?: { container: string; image: string }[];
  migrationIds?: string[];
  lastUsedAt?: string;
}

export interface PredumpRequest {
  action: 'start' | 'stop' | 'status';
  namespace: string;
  pod: string;
  container: string;
}

export type PredumpStatus = { supported: false; reason: string } | { supported: true; running: boolean; dumps: number };

/**
 * The image a Direct transfer loads on the target node: `localhost/checkpoint/<container>:sha256-<archive sha256>`.
 * Named by content: a later checkpoint of the same container gets another name, so a restore can never pick up
 * an older or newer process state than the one the transfer reported.
 */
export const directCheckpointImage = (container: string, sha256: string): string =>
  `localhost/checkpoint/${container}:sha256-${sha256}`;
export const registryCheckpointImage = (repository: string, sourcePod: string): string =>
  `${repository.replace(/\/+$/, '')}/${sourcePod}:checkpoint`;
