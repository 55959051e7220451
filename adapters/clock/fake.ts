import type { Clock } from './port.ts';

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
}

export interface VirtualClock extends Clock {
  /** Sleepers not yet woken. */
  pending(): number;
  /** Moves time forward to `epochMs`, waking every sleeper due by then. */
  advanceTo(epochMs: number): void;
}

/**
 * Virtual time for the fast tiers: time stands still while anything is busy and jumps to the earliest sleeper
 * when the process has gone idle (one macrotask turn with no microtask left). A 15-minute deadline costs
 * nothing, and the order of timers is exact. Only for code whose work is all promises (fakes, memory log).
 *
 * @example
 * ```ts
 * const clock = virtualClock(Date.parse('2026-01-01T00:00:00Z'));
 * await clock.sleepUntil(clock.now() + 60_000); // returns at once, clock.now() advanced by 60 s
 * ```
 */
export function virtualClock(start = 0): VirtualClock {
  let now = start;
  let seq = 0;
  const sleepers: Sleeper[] = [];
  let scheduled = false;

  const wakeDue = (): void => {
    sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    while (sleepers.length > 0 && sleepers[0]!.at <= now) sleepers.shift()!.resolve();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (sleepers.length === 0) return;
      sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      now = Math.max(now, sleepers[0]!.at);
      wakeDue();
      if (sleepers.length > 0) schedule();
    });
  };

  return {
    now: () => now,
    pending: () => sleepers.length,
    advanceTo(epochMs) {
      now = Math.max(now, epochMs);
      wakeDue();
    },
    sleepUntil(epochMs, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = () => {
          const i = sleepers.indexOf(sleeper);
          if (i >= 0) sleepers.splice(i, 1);
          reject(signal?.reason);
        };
        const sleeper: Sleeper = {
          at: epochMs,
          seq: seq++,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        sleepers.push(sleeper);
        schedule();
      });
    },
  };
}
