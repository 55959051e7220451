import type { Clock } from '../clock/port.ts';
import type { Lease } from './port.ts';

/** The shared "store" that fake leases of one test compete for (what a K8s Lease or a KV key is for real). */
export class FakeLeaseStore {
  holder: string | null = null;
  expiresAt = 0;
  readonly listeners = new Set<() => void>();
}

/**
 * An in-memory lease with the real one's rules: acquire when free or expired, renew only while held,
 * expiry after `ttlMs` of clock time without a renew, loss reported once to `onLost` listeners.
 *
 * @example
 * ```ts
 * const store = new FakeLeaseStore();
 * const a = fakeLease({ store, holder: 'a', clock, ttlMs: 15_000 });
 * await a.acquire(); // true
 * ```
 */
export function fakeLease(o: { store: FakeLeaseStore; holder: string; clock: Clock; ttlMs: number }): Lease {
  const { store, clock } = o;
  const lost = new Set<() => void>();
  let held = false;
  const free = () => store.holder === null || clock.now() >= store.expiresAt;
  const reportLoss = () => {
    if (!held) return;
    held = false;
    for (const l of [...lost]) l();
  };
  const take = () => {
    store.holder = o.holder;
    store.expiresAt = clock.now() + o.ttlMs;
    held = true;
  };
  return {
    holder: o.holder,
    async acquire() {
      if (store.holder === o.holder && !free()) take();
      else if (free()) {
        take();
        for (const notify of [...store.listeners]) notify();
      } else reportLoss();
      return held;
    },
    async renew() {
      if (store.holder === o.holder && clock.now() < store.expiresAt) {
        take();
        return true;
      }
      reportLoss();
      return false;
    },
    async release() {
      if (store.holder === o.holder) store.holder = null;
      held = false;
    },
    onLost(listener) {
      lost.add(listener);
      // another holder taking over is how a held lease learns it is gone
      const watch = () => {
        if (held && store.holder !== o.holder) reportLoss();
      };
      store.listeners.add(watch);
      return () => {
        lost.delete(listener);
        store.listeners.delete(watch);
      };
    },
  };
}
