import type { Readable } from 'node:stream';

/**
 * An OCI distribution registry, as the checkpoint path needs it. The checkpoint image is one uncompressed
 * layer that is the checkpoint tar as-is, with OCI media types and the manifest annotation
 * `io.kubernetes.cri-o.annotations.checkpoint.name=<container>` (what CRI-O restores from).
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

export const CHECKPOINT_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';
