/**
 * A leader {@link Lease} on NATS KV. The bucket's TTL is the lease duration: `create` acquires (fails while
 * another holder's entry lives), `update` with the held revision renews (compare-and-set), the server expires an
 * entry that is not renewed within the TTL, and a KV watch plus a local expiry timer report loss.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors.ts';
import type { Lease } from '../lease/port.ts';

/**
 * JetStream's answer to a compare-and-set write whose expected revision is not the entry's last: 10071 (wrong
 * last sequence) or 10164 (unknown last sequence). The entry changed, expired or is held by another process.
 */
export const isRevisionConflict = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
    err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const unavailable = (key: string, err: unknown) =>
  new UnavailableError(`NATS KV lease ${key}`, err instanceof Error ? err.message : String(err), err);

export interface NatsKvLeaseOptions {
  /** The bucket, opened with {@link openLeaseBucket} (its TTL must equal `ttlMs`). */
  kv: KV;
  key: string;
  holder: string;
  ttlMs: number;
  logger?: Logger;
}

/** A lease that can also be closed (stops its watch and timer without releasing). */
export interface NatsKvLease extends Lease {
  close(): Promise<void>;
}

/**
 * Opens (or creates) the KV bucket leases live in; entries expire `ttlMs` after their last write.
 *
 * @example
 * ```ts
 * const kv = await openLeaseBucket(nc, { bucket: 'ms2m-leases', ttlMs: 15000 });
 * ```
 */
export async function openLeaseBucket(nc: NatsConnection, o: { bucket: string; ttlMs: number }): Promise<KV> {
  try {
    return await new Kvm(nc).create(o.bucket, { ttl: o.ttlMs, history: 1 });
  } catch (err) {
    throw new UnavailableError(`NATS KV bucket ${o.bucket}`, err instanceof Error ? err.message : String(err), err);
  }
}

/**
 * Creates a lease handle; nothing is held until `acquire()` answers true.
 *
 * @example
 * ```ts
 * const lease = natsKvLease({ kv, key: 'ms2m-leader', holder: podName, ttlMs: 15000 });
 * if (await lease.acquire()) setInterval(() => void lease.renew(), 5000);
 * lease.onLost(() => process.exit(1));
 * ```
 */
export function natsKvLease(o: NatsKvLeaseOptions): NatsKvLease {
  const listeners = new Set<() => void>();
  let revision: number | undefined;
  let expiry: NodeJS.Timeout | undefined;
  let watchStop: (() => void) | undefined;

  const stopTracking = () => {
    if (expiry) clearTimeout(expiry);
    expiry = undefined;
    watchStop?.();
    watchStop = undefined;
  };
  const lost = (why: string) => {
    if (revision === undefined) return;
    revision = undefined;
    stopTracking();
    o.logger?.warn({ key: o.key, holder: o.holder, why }, 'Lost leader lease');
    for (const l of [...listeners]) l();
  };
  const held = async (rev: number) => {
    const first = revision === undefined;
    revision = rev;
    if (expiry) clearTimeout(expiry);
    expiry = setTimeout(() => lost('not renewed within its TTL'), o.ttlMs);
    expiry.unref?.();
    if (!first || watchStop) return;
    const w = await o.kv.watch({ key: o.key });
    watchStop = () => w.stop();
    void (async () => {
      for await (const e of w) {
        if (revision === undefined) break;
        if (e.operation !== 'PUT' || e.string() !== o.holder) lost(`entry ${e.operation} by another holder`);
      }
    })().catch(() => {});
  };

  const lease: NatsKvLease = {
    holder: o.holder,
    async acquire() {
      if (revision !== undefined) return lease.renew();
      try {
        await held(await o.kv.create(o.key, o.holder));
        o.logger?.info({ key: o.key, holder: o.holder }, 'Acquired leader lease');
        return true;
      } catch (createErr) {
        // create fails with a revision conflict while a live entry exists; anything else: NATS is unreachable
        if (!isRevisionConflict(createErr)) throw unavailable(o.key, createErr);
        let entry: Awaited<ReturnType<KV['get']>>;
        try {
          entry = await o.kv.get(o.key);
        } catch (err) {
          throw unavailable(o.key, err);
        }
        if (entry?.operation !== 'PUT' || entry.string() !== o.holder) return false;
        // our own live entry (this holder restarted): take it over at its revision
        try {
          await held(await o.kv.update(o.key, o.holder, entry.revision));
          return true;
        } catch (err) {
          if (isRevisionConflict(err)) return false; // it changed in between: someone else's now
          throw unavailable(o.key, err);
        }
      }
    },
    async renew() {
      if (revision === undefined) return false;
      try {
        await held(await o.kv.update(o.key, o.holder, revision));
        return true;
      } catch (err) {
        if (isRevisionConflict(err)) {
          lost('renewal rejected: the entry changed or expired');
          return false;
        }
        throw unavailable(o.key, err);
      }
    },
    async release() {
      const rev = revision;
      revision = undefined;
      stopTracking();
      if (rev !== undefined) await o.kv.delete(o.key, { previousSeq: rev }).catch(() => {});
    },
    onLost(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      revision = undefined;
      stopTracking();
    },
  };
  return lease;
}
