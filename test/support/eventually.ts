/**
 * The one "wait for a real condition" of the tests: polls `fn` until it returns something other than undefined,
 * or fails naming `what` (with the last error as cause) after `timeoutMs`. On the system clock unless given one
 * (the fake cluster's tests pass their virtual clock).
 */
import type { Clock } from '../../adapters/clock/port.ts';
import { systemClock } from '../../adapters/clock/system.ts';

/**
 * @example
 * ```ts
 * const pod = await eventually('Pod app-0 Ready', async () => ((await getPod()).ready ? pod : undefined));
 * ```
 */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  clock: Clock = systemClock(),
): Promise<T> {
  const deadline = clock.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (clock.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`, { cause: last });
    await clock.sleepUntil(clock.now() + 100);
  }
}
