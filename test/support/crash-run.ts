/**
 * What every chart's property run shares: the arbitrary adapter outcomes, and running one instance to its end
 * through any number of crashes (crash = stop the host the moment the log committed a chosen event, open a new
 * host on the same log, carry on) with an optional cancel at a chosen event.
 */
import fc from 'fast-check';
import type { Committed, HostObserver } from '../../actors/observers.ts';
import type { Outcome } from '../../adapters/effect-journal.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { crashAfter } from './crash-log.ts';

/** Any outcome of an adapter operation: transient, lost answer, permanent, or slow by up to 90 s. */
export const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant<Outcome>({ kind: 'transient' }),
  fc.constant<Outcome>({ kind: 'lostAck' }),
  fc.constant<Outcome>({ kind: 'permanent' }),
  fc.integer({ min: 100, max: 90_000 }).map<Outcome>((ms) => ({ kind: 'slow', ms })),
);

/** The part of a chart's host a crash run drives. */
export interface CrashRunHost<S> {
  snapshot(): S | null;
  cancel(reason: string): Promise<void>;
  done(): Promise<unknown>;
  stop(): Promise<void>;
}

export interface CrashRunOptions<S, H extends CrashRunHost<S>> {
  /** The instance's log (each host gets it wrapped to crash at the chosen events). */
  log: EventLog;
  /** Crash right after the log committed these seqs (each once). */
  crashes: readonly number[];
  /** Cancel right after this seq is committed live. */
  cancelAt?: number;
  /** The observer's name, shown in logs. */
  name: string;
  open(log: EventLog, observers: HostObserver<S>[]): Promise<H>;
  /** Requests the instance on a host whose log is still empty. */
  request(host: H): Promise<void>;
  /** Told of each event committed live (not replayed), before a cancel at it. */
  onLive?(change: Committed<S>): void;
}

/** Runs the instance until it ends; throws if a crashed host appended after its crash or a run hangs 10 s. */
export async function runWithCrashes<S, H extends CrashRunHost<S>>(
  opts: CrashRunOptions<S, H>,
): Promise<{ final: S; crashes: number }> {
  const pending = new Set(opts.crashes);
  let crashes = 0;
  for (;;) {
    let host: H | undefined;
    let onCrash!: () => void;
    const crashed = new Promise<'crash'>((resolve) => {
      onCrash = () => resolve('crash');
    });
    // a crash kills the host the moment the log committed that seq: it applies nothing after it
    const log = crashAfter(
      opts.log,
      (env) => pending.delete(env.seq),
      () => {
        crashes++;
        void host?.stop();
        onCrash();
      },
    );
    const observer: HostObserver<S> = {
      name: opts.name,
      async observe(batch) {
        for (const c of batch) {
          if (c.replayed) continue;
          opts.onLive?.(c);
          if (opts.cancelAt === c.event.seq) await host?.cancel('cancelled by the property test');
        }
      },
    };
    host = await opts.open(log, [observer]);
    if (!host.snapshot()) await opts.request(host).catch(() => undefined); // a crash at seq 1 stops it
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('run did not finish within 10 s of real time')), 10_000);
    });
    const outcome = await Promise.race([
      host.done().then(
        () => 'done' as const,
        () => crashed, // stopped by the crash
      ),
      crashed,
      stuck,
    ]).finally(() => clearTimeout(timer));
    await host.stop();
    if (log.appendsAfterCrash > 0) throw new Error(`a crashed host appended ${log.appendsAfterCrash} more events`);
    if (outcome === 'done') return { final: host.snapshot()!, crashes };
  }
}
