import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { AgentLimits } from './context.ts';
import { type AgentError, bodyIdle, bodyTooSlow, clientAborted } from './errors.ts';

export type BodyLimits = Pick<AgentLimits, 'bodyIdleMs' | 'bodyGraceMs' | 'minBodyBytesPerSecond' | 'maxBodyMs'>;

/**
 * Watches one request body against the idle, rate-floor and total-time limits (AgentLimits) with a single timer
 * that is re-armed only when it fires, so per-chunk cost is one assignment. Time the agent itself is not reading
 * (`paused()`: backpressure from the disk) never counts as the client being idle.
 *
 * @example
 * ```ts
 * const d = new BodyDeadline(limits, performance.now.bind(performance), (err) => req.destroy(err));
 * req.on('data', (c) => d.bytes((n += c.length)));
 * req.on('end', () => d.stop());
 * ```
 */
export class BodyDeadline {
  private received = 0;
  private last: number;
  private readonly start: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: BodyLimits,
    private readonly now: () => number,
    private readonly onExpire: (err: AgentError) => void,
    private readonly paused: () => boolean = () => false,
  ) {
    this.start = now();
    this.last = this.start;
    this.arm();
  }

  /** Total body bytes received so far. */
  bytes(total: number): void {
    this.received = total;
    this.last = this.now();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private due(): number {
    const l = this.limits;
    const floor = l.minBodyBytesPerSecond > 0 ? (this.received / l.minBodyBytesPerSecond) * 1000 : Infinity;
    return Math.min(this.last + l.bodyIdleMs, this.start + l.bodyGraceMs + floor, this.start + l.maxBodyMs);
  }

  private arm(): void {
    const wait = Math.max(5, Math.min(this.due() - this.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => this.check(), wait);
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    const t = this.now();
    if (this.paused()) this.last = t;
    const l = this.limits;
    const elapsed = t - this.start;
    let err: AgentError | undefined;
    if (t - this.last >= l.bodyIdleMs) err = bodyIdle(l.bodyIdleMs, this.received);
    else if (elapsed >= l.maxBodyMs) err = bodyTooSlow(this.received, elapsed, `the limit is ${l.maxBodyMs} ms`);
    else if (l.minBodyBytesPerSecond > 0 && elapsed > l.bodyGraceMs + (this.received / l.minBodyBytesPerSecond) * 1000)
      err = bodyTooSlow(
        this.received,
        elapsed,
        `under ${l.minBodyBytesPerSecond} bytes/s after a grace of ${l.bodyGraceMs} ms`,
      );
    if (err) this.onExpire(err);
    else this.arm();
  }
}

/**
 * Pipes a request body into `sink` under the body limits. Resolves when the sink has finished (file closed);
 * rejects with the first failure (sink error, client abort, time limit) once the sink is closed, leaving the
 * request unconsumed but not destroyed, so the caller can still answer before closing the connection.
 */
export function pipeBody(
  req: IncomingMessage,
  sink: Writable,
  limits: BodyLimits,
  now: () => number,
): { done: Promise<void>; bytes: (total: number) => void } {
  let track: (n: number) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    let over = false;
    const settle = (err?: Error) => {
      if (over) return;
      over = true;
      deadline.stop();
      req.off('close', onClose);
      req.off('error', onReqError);
      if (!err) return resolve();
      req.unpipe(sink);
      if (sink.closed) return reject(err);
      sink.once('close', () => reject(err));
      sink.destroy();
    };
    const onClose = () => {
      if (!req.complete) settle(clientAborted('Checkpoint upload'));
    };
    const onReqError = (e: Error) => settle(clientAborted('Checkpoint upload', e));
    const deadline = new BodyDeadline(
      limits,
      now,
      (err) => settle(err),
      () => req.isPaused(),
    );
    req.on('close', onClose);
    req.on('error', onReqError);
    sink.once('finish', () => settle());
    sink.once('error', (e) => settle(e));
    req.pipe(sink);
    track = (n) => deadline.bytes(n);
  });
  return { done, bytes: (n) => track(n) };
}
