import type { Clock } from './port.ts';

/**
 * The real clock.
 *
 * @example
 * ```ts
 * const clock = systemClock();
 * await clock.sleepUntil(clock.now() + 500);
 * ```
 */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    sleepUntil: (epochMs, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal?.reason);
        };
        const timer = setTimeout(
          () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          Math.max(0, epochMs - Date.now()),
        );
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
}
