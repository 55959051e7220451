/**
 * Time, as a port: the runtime never calls `Date.now()` or `setTimeout` directly, so tests can drive time.
 *
 * @example
 * ```ts
 * const clock = systemClock();
 * await clock.sleepUntil(clock.now() + 1000, signal);
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves at `epochMs` (at once when it has passed); rejects with an AbortError when `signal` aborts. */
  sleepUntil(epochMs: number, signal?: AbortSignal): Promise<void>;
}
