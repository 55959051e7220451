/**
 * Follows one StatefulMigration on the API server until it is Completed or Failed: its phase, the checkpoint
 * bytes moved with their rate and ETA, and the replay depth. On a TTY a progress bar (cli-progress) on stderr
 * with one line per phase above it; otherwise plain lines on stderr: one per phase, and one every few seconds
 * while a phase lasts (so a CI log shows it is alive). The result goes to stdout (see `finish`).
 */

import { dumpYaml } from '@kubernetes/client-node';
import cliProgress from 'cli-progress';
import type { StatefulMigrationStatusWire } from '../actors/crd/stateful-migration.ts';
import { goDuration } from '../actors/go-duration.ts';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import { type CliIo, ExitCode } from './command-context.ts';
import type { Migrations, StatefulMigrationObject } from './kube.ts';

export interface FollowOptions {
  timeoutMs: number;
  /** Status poll period (default 250 ms). */
  pollMs?: number;
  /** No progress at all (the result only). */
  quiet?: boolean;
}

const TERMINAL = new Set(['Completed', 'Failed']);
/** machines/spec.ts PHASES (the API server returns phaseTimings with its keys sorted by name). */
const PHASE_ORDER = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'];
const PLAIN_EVERY_MS = 5000;
/** Consecutive failed polls (a restarting API server) tolerated before giving up. */
const MAX_POLL_FAILURES = 20;

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Bytes per second over the last few seconds of samples. */
class Rate {
  private samples: Array<{ t: number; bytes: number }> = [];
  add(t: number, bytes: number): void {
    const last = this.samples.at(-1);
    if (last && last.bytes === bytes) return;
    if (last && bytes < last.bytes) this.samples = []; // a retried transfer starts again
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - (this.samples[0]?.t ?? t) > 3000) this.samples.shift();
  }
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t === first.t) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

/** `12.0/48.0 MiB  8.1 MiB/s  ETA 4s  replay depth 12 (replayed 30)`: what the status says about progress. */
export function progressText(s: StatefulMigrationStatusWire | undefined, rate?: number): string {
  const p = s?.progress;
  if (!p) return '';
  const parts: string[] = [];
  if (p.bytesTotal > 0) {
    parts.push(`${mib(p.bytesTransferred)}/${mib(p.bytesTotal)}`);
    if (rate !== undefined && rate > 0 && p.bytesTransferred < p.bytesTotal) {
      parts.push(`${mib(rate)}/s`);
      const eta = p.etaSeconds ?? (p.bytesTotal - p.bytesTransferred) / rate;
      parts.push(`ETA ${goDuration(Math.ceil(eta) * 1000)}`);
    } else if (p.etaSeconds !== undefined && p.bytesTransferred < p.bytesTotal)
      parts.push(`ETA ${goDuration(Math.ceil(p.etaSeconds) * 1000)}`);
  }
  if (p.replayDepth !== undefined) parts.push(`replay depth ${p.replayDepth}`);
  if (p.replayed > 0) parts.push(`replayed ${p.replayed}`);
  return parts.join('  ');
}

/**
 * Polls `name` until a terminal phase and returns the final object. Throws NotFoundError when it does not exist
 * (or is deleted meanwhile) and an UNAVAILABLE error at the timeout (the migration goes on).
 *
 * @example
 * ```ts
 * const done = await followMigration(connect({}), 'm1', process, { timeoutMs: 30 * 60_000 });
 * ```
 */
export async function followMigration(
  m: Migrations,
  name: string,
  io: CliIo,
  o: FollowOptions,
): Promise<StatefulMigrationObject> {
  const t0 = Date.now();
  const id = `${m.namespace}/${name}`;
  const tty = !o.quiet && Boolean(io.stderr.isTTY);
  const rate = new Rate();
  let bars: cliProgress.MultiBar | undefined;
  let bar: cliProgress.SingleBar | undefined;
  const line = (s: string) => {
    if (o.quiet) return;
    if (bars) bars.log(`${s}\n`);
    else io.stderr.write(`${s}\n`);
  };
  let phase: string | undefined;
  let lastPlain = 0;
  let lastPlainText = '';
  let failures = 0;
  let last: StatefulMigrationObject | undefined;
  // Ctrl-C stops following (the bar is cleared and the cursor shown again); the migration goes on
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onInterrupt = () => {
    interrupted = true;
    wake?.();
  };
  process.once('SIGINT', onInterrupt);
  try {
    for (;;) {
      let obj: StatefulMigrationObject;
      try {
        obj = await m.get(name);
        failures = 0;
      } catch (err) {
        if (err instanceof Ms2mError && err.code === ErrorCode.NOT_FOUND && last)
          throw new Ms2mError(
            ErrorCode.NOT_FOUND,
            `StatefulMigration ${id} was deleted while ${last.status?.phase ?? 'Pending'}`,
          );
        if (!(err instanceof Ms2mError && err.transient) || ++failures > MAX_POLL_FAILURES) throw err;
        obj = last as StatefulMigrationObject;
        if (!obj) throw err;
      }
      last = obj;
      const s = obj.status;
      const now = Date.now();
      const elapsed = `+${((now - t0) / 1000).toFixed(1)}s`.padStart(7);
      if (s?.progress) rate.add(now, s.progress.bytesTransferred);
      const detail = progressText(s, rate.perSecond());
      const current = s?.phase ?? 'Pending';
      if (current !== phase) {
        phase = current;
        line(
          `${elapsed}  ${id}  ${current.padEnd(13)}  ${[detail, s?.message].filter(Boolean).join('  · ')}`.trimEnd(),
        );
        lastPlain = now;
        lastPlainText = detail;
      } else if (!tty && !o.quiet && detail !== lastPlainText && now - lastPlain >= PLAIN_EVERY_MS) {
        line(`${elapsed}  ${id}  ${current.padEnd(13)}  ${detail}`);
        lastPlain = now;
        lastPlainText = detail;
      }
      if (tty && !TERMINAL.has(current)) {
        const total = s?.progress?.bytesTotal || 1;
        const value = s?.progress?.bytesTotal ? s.progress.bytesTransferred : 0;
        if (!bars) {
          bars = new cliProgress.MultiBar(
            {
              stream: io.stderr,
              format: ' {phase} |{bar}| {percentage}%  {detail}',
              hideCursor: true,
              clearOnComplete: true,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          );
          bar = bars.create(total, value, { phase: current.padEnd(13), detail });
        }
        bar?.setTotal(total);
        bar?.update(value, { phase: current.padEnd(13), detail });
      }
      if (TERMINAL.has(current)) return obj;
      if (now - t0 >= o.timeoutMs)
        throw new Ms2mError(
          ErrorCode.UNAVAILABLE,
          `StatefulMigration ${id} is still ${current} after ${goDuration(o.timeoutMs)} (--timeout); it goes on: ms2m follow ${name} -n ${m.namespace}`,
          { transient: true },
        );
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, o.pollMs ?? 250);
      });
      if (interrupted) {
        bars?.stop();
        bars = undefined;
        io.stderr.write(
          `ms2m: stopped following StatefulMigration ${id} (${last?.status?.phase ?? 'Pending'}); it goes on: ms2m follow ${name} -n ${m.namespace}\n`,
        );
        throw new ExitCode(130);
      }
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    bars?.stop();
  }
}

export type ResultFormat = 'text' | 'json' | 'yaml';

/**
 * Prints the result of a followed migration on stdout (a summary line, or the object as JSON or YAML) and
 * throws when it Failed, with the reason (exit code 1).
 *
 * @example
 * ```ts
 * finish(await followMigration(m, 'm1', io, { timeoutMs }), io, 'text');
 * ```
 */
export function finish(obj: StatefulMigrationObject, io: CliIo, output: ResultFormat): void {
  const s = obj.status ?? {};
  const id = `${obj.metadata.namespace}/${obj.metadata.name}`;
  if (output === 'json') io.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
  else if (output === 'yaml') io.stdout.write(dumpYaml(obj));
  else {
    const timings = Object.entries(s.phaseTimings ?? {})
      .filter(([phase]) => phase !== 'Total')
      .sort(([a], [b]) => PHASE_ORDER.indexOf(a) - PHASE_ORDER.indexOf(b))
      .map(([phase, d]) => `${phase} ${d}`)
      .join(', ');
    const total = s.phaseTimings?.Total;
    io.stdout.write(
      `StatefulMigration ${id} ${s.phase}${total ? ` in ${total}` : ''}${timings ? ` (${timings})` : ''}${s.targetPod ? `; target pod ${s.targetPod}` : ''}\n`,
    );
  }
  if (s.phase === 'Failed') {
    const reason = s.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.reason;
    throw new Ms2mError(
      ErrorCode.INTERNAL,
      `StatefulMigration ${id} Failed${reason ? ` (${reason})` : ''}: ${s.message ?? 'no message in its status'}`,
    );
  }
}
