/**
 * A leader lease: only the holder runs migration hosts. Kubernetes Lease or NATS KV implement it.
 *
 * @example
 * ```ts
 * const lease = natsKvLease({ kv, key: 'ms2m-leader', holder: podName, ttlMs: 15000 });
 * if (await lease.acquire()) { ... }
 * lease.onLost(() => process.exit(1));
 * ```
 */
export interface Lease {
  /** Tries to become (or stay) the holder. True when this process holds the lease afterwards. */
  acquire(): Promise<boolean>;
  /** Extends a held lease; false when it was lost to another holder. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
  /** Called once when a held lease is observed lost (expired and taken, or deleted). Returns an unsubscribe. */
  onLost(listener: () => void): () => void;
  readonly holder: string;
}
