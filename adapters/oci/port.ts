import type { Readable } from 'node:stream';

/**
 * An OCI distribution registry, as the checkpoint path needs it. The checkpoint image is one uncompressed
 * layer that is the checkpoint tar as-is, with OCI media types and the manifest annotations
 * `io.kubernetes.cri-o.annotations.checkpoint.name=<container>` (what CRI-O restores from) and
 * `org.criu.checkpoint.container.name=<container>` (what containerd restores from).
 *
 * @example
 * ```ts
 * const reg = ociRegistry({ insecure: true });
 * const { digest } = await reg.pushCheckpointImage({ ref: '127.0.0.1:5000/ckpt/myapp-0:checkpoint',
 *   container: 'app', tarPath: '/var/lib/kubelet/checkpoints/x.tar' });
 * ```
 */
export interface Registry {
  /** True when the manifest `ref` exists. */
  exists(ref: string): Promise<boolean>;
  pushCheckpointImage(
    req: PushCheckpointImage,
    onProgress?: (bytesDone: number, bytesTotal: number) => void,
  ): Promise<PushedImage>;
}

export interface PushCheckpointImage {
  ref: string;
  container: string;
  /** The checkpoint tar on local disk (streamed, never read whole into memory). */
  tarPath?: string;
  /** Or a stream factory plus the size and digest known in advance. */
  open?: () => Readable;
}

export interface PushedImage {
  ref: string;
  manifestDigest: string;
  layerDigest: string;
  bytes: number;
}

/** CRI-O's checkpoint annotation: the manifest of a checkpoint image names the container it restores. */
export const CHECKPOINT_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';
/**
 * containerd's (checkpointctl's `CheckpointAnnotationName`): containerd 2.x restores from an image only when its
 * manifest carries it (`checkIfCheckpointOCIImage`, internal/cri/server/container_checkpoint_linux.go). Checkpoint
 * images carry both, so one image restores on either runtime.
 */
export const CONTAINERD_CHECKPOINT_ANNOTATION = 'org.criu.checkpoint.container.name';
