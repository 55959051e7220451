/**
 * A crash at an exact point of the log: the writer's process "dies" the moment the log has committed the event
 * the test names. `crash` runs before the append answers, so the writer applies nothing of that event (as if it
 * was killed between the log's ack and anything after it); the event itself is in the log, as it would be.
 */
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';

export interface CrashingLog extends EventLog {
  /** True once the crash happened. */
  readonly crashed: boolean;
  /** Appends the dead writer attempted after the crash (a correct host makes none: it is stopped). */
  readonly appendsAfterCrash: number;
}

/**
 * @example
 * ```ts
 * const log = crashAfter(s.log, (e) => e.type === 'SourceScaledDown', () => void host.stop());
 * const host = await MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log } });
 * ```
 */
export function crashAfter(log: EventLog, at: (env: EventEnvelope) => boolean, crash: () => void): CrashingLog {
  let crashed = false;
  let appendsAfterCrash = 0;
  return {
    get crashed() {
      return crashed;
    },
    get appendsAfterCrash() {
      return appendsAfterCrash;
    },
    async append(key, event, expectSeq) {
      if (crashed) {
        appendsAfterCrash++;
        throw new Error(`append of ${event.type} by a writer that crashed`);
      }
      const env = await log.append(key, event, expectSeq);
      if (at(env)) {
        crashed = true;
        crash();
      }
      return env;
    },
    read: (key, fromSeq) => log.read(key, fromSeq),
    readAll: () => log.readAll(),
    list: (kind) => log.list(kind),
    watch: (opts) => log.watch(opts),
    locate: (key) => log.locate(key),
    close: () => log.close(),
  };
}
