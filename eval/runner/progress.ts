/**
 * How `ms2m eval` shows its progress: a cli-progress bar (runs done / total, ETA, the run in progress and its
 * migration phase) with a line per finished run above it on a TTY; one plain line per event otherwise (logs,
 * CI). The ETA is the mean duration of the runs measured by this start times the runs left.
 */
import cliProgress from 'cli-progress';
import type { RunMeasurement } from './evaluation-chart.ts';
import type { PlannedRun } from './matrix.ts';
import type { EvalProgress } from './runner.ts';

/** `3h 05m`, `12m 40s`, `45s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Mean duration of the runs finished so far × the runs left (null before the first run finished). */
export class Eta {
  private finished = 0;
  private spentMs = 0;
  constructor(private left: number) {}

  runFinished(ms: number): void {
    this.finished++;
    this.spentMs += ms;
    this.left = Math.max(0, this.left - 1);
  }

  /** A run dropped without a measurement (keep-going). */
  runDropped(): void {
    this.left = Math.max(0, this.left - 1);
  }

  get remainingMs(): number | null {
    return this.finished === 0 ? null : (this.spentMs / this.finished) * this.left;
  }

  get text(): string {
    const ms = this.remainingMs;
    return ms === null ? '?' : formatDuration(ms);
  }
}

const label = (r: PlannedRun) =>
  `${r.configuration.name} @ ${r.rate} msg/s #${r.repetition} (${r.sourceNode} -> ${r.targetNode})`;

const summary = (m: RunMeasurement) =>
  `${m.outcome}, downtime ${m.downtimeMs} ms (${m.downProbes} probes down), produced ${m.produced}, replayed ${m.replayed}, lost ${m.lost}, duplicated ${m.duplicated}${m.reason ? `: ${m.reason}` : ''}`;

/**
 * One line per event (not a TTY).
 *
 * @example
 * ```ts
 * const progress = lineProgress((l) => process.stderr.write(`${l}\n`));
 * ```
 */
export function lineProgress(write: (line: string) => void): EvalProgress {
  let eta = new Eta(0);
  let count = 0;
  let total = 0;
  return {
    start(o) {
      eta = new Eta(o.todo);
      count = o.done;
      total = o.total;
      write(
        `eval ${o.name}: ${o.total} runs, ${o.done} measured already, ${o.todo} to do` +
          (o.todo === 0 ? ': nothing left to run' : ''),
      );
    },
    note: (line) => write(line),
    runStarted(run, attempt) {
      write(`[${count + 1}/${total}] ${label(run)}${attempt > 1 ? ` attempt ${attempt}` : ''}: started`);
    },
    phase() {},
    runMeasured(run, m, ms) {
      count++;
      eta.runFinished(ms);
      write(`[${count}/${total}] ${label(run)}: measured in ${formatDuration(ms)}: ${summary(m)}; ETA ${eta.text}`);
    },
    runFailed(run, attempt, err, again) {
      if (!again) eta.runDropped();
      write(
        `[${count + 1}/${total}] ${label(run)}: attempt ${attempt} failed: ${err.message}${again ? '; trying again' : ''}`,
      );
    },
    stop() {},
  };
}

/**
 * A progress bar on `stream` (a TTY), finished runs logged above it.
 *
 * @example
 * ```ts
 * const progress = process.stderr.isTTY ? barProgress(process.stderr) : lineProgress(...);
 * ```
 */
export function barProgress(stream: NodeJS.WritableStream): EvalProgress {
  const multi = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: ' {bar} {value}/{total} runs | ETA {etaText} | {run} {phase}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 1,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | null = null;
  let eta = new Eta(0);
  const log = (line: string) => multi.log(`${line}\n`);
  return {
    start(o) {
      eta = new Eta(o.todo);
      log(`eval ${o.name}: ${o.total} runs, ${o.done} measured already, ${o.todo} to do`);
      bar = multi.create(o.total, o.done, { etaText: '?', run: '', phase: '' });
    },
    note: log,
    runStarted(run, attempt) {
      bar?.update({ run: `${label(run)}${attempt > 1 ? ` attempt ${attempt}` : ''}`, phase: 'deploying' });
    },
    phase(_run, phase) {
      bar?.update({ phase });
    },
    runMeasured(run, m, ms) {
      eta.runFinished(ms);
      log(`${label(run)}: ${formatDuration(ms)}: ${summary(m)}`);
      bar?.increment(1, { etaText: eta.text, run: '', phase: '' });
    },
    runFailed(run, attempt, err, again) {
      if (!again) eta.runDropped();
      log(`${label(run)}: attempt ${attempt} failed: ${err.message}${again ? '; trying again' : ''}`);
      bar?.update({ etaText: eta.text });
    },
    stop() {
      multi.stop();
    },
  };
}
