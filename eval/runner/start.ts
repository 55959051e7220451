/**
 * `ms2m eval` from parsed options to a summary: resolves the target cluster, expands the matrix, holds the
 * eval's lock (one process per eval), checks that a resumed eval keeps the parameters its runs were measured
 * with, opens the operator's event log as a writer, and runs the rest of the matrix with a progress display.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock } from '../../adapters/clock/system.ts';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';
import { withFileLock } from '../../adapters/file-log/file-lock.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { openJetStreamLogReader } from '../../adapters/nats/jetstream-log.ts';
import { type CutoffPolicy, clusterExecutor } from './cluster-executor.ts';
import { type Configuration, expandMatrix, type PlannedRun, runIdOf } from './matrix.ts';
import { planRemaining, readMeasuredRuns } from './measured-runs.ts';
import { barProgress, lineProgress } from './progress.ts';
import { type EvaluationSummary, runEvaluation } from './runner.ts';
import { resolveTarget, type TargetOptions } from './target.ts';

export interface EvalCommandOptions {
  name: string;
  configurations: Configuration[];
  rates: number[];
  repetitions: number;
  cutoff: CutoffPolicy;
  processingDelayMs: number;
  seconds: number;
  warmupSeconds: number;
  migrationTimeoutMs: number;
  attempts: number;
  keepGoing: boolean;
  outDir: string;
  namespace: string;
  nodes: [string, string];
  target: TargetOptions;
  /** Print what would run and exit. */
  dryRun: boolean;
}

export interface EvalIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The parameters every run of one eval must share (written to `<out>/eval.json` by the first start). */
interface EvalParameters {
  name: string;
  namespace: string;
  processingDelayMs: number;
  cutoff: CutoffPolicy;
  seconds: number;
  warmupSeconds: number;
}

/** A short tag of the eval name for object names: `e` + 6 hex digits of its SHA-256. */
export const evalTagOf = (name: string): string => `e${createHash('sha256').update(name).digest('hex').slice(0, 6)}`;

/** A resumed eval with other parameters than its first start: its runs would not be comparable. */
export class EvalParametersChangedError extends Ms2mError {
  constructor(name: string, file: string, diffs: string[]) {
    super(
      ErrorCode.USAGE,
      `eval ${name} was started with ${diffs.join(', ')} (${file}): resume it with the same values, or start a new eval with another --name`,
    );
  }
}

const flagOf: Record<keyof EvalParameters, (p: EvalParameters) => string> = {
  name: (p) => `--name ${p.name}`,
  namespace: (p) => `--namespace ${p.namespace}`,
  processingDelayMs: (p) => `--processing-delay-ms ${p.processingDelayMs}`,
  cutoff: (p) => `--cutoff ${p.cutoff.kind === 'seconds' ? p.cutoff.seconds : p.cutoff.kind}`,
  seconds: (p) => `--seconds ${p.seconds}`,
  warmupSeconds: (p) => `--warmup-seconds ${p.warmupSeconds}`,
};

async function checkParameters(outDir: string, p: EvalParameters): Promise<void> {
  const file = join(outDir, 'eval.json');
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) {
    await writeFileAtomic(file, `${JSON.stringify(p, null, 2)}\n`);
    return;
  }
  const before = JSON.parse(text) as EvalParameters;
  const diffs = (Object.keys(flagOf) as (keyof EvalParameters)[])
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(p[k]))
    .map((k) => flagOf[k](before));
  if (diffs.length) throw new EvalParametersChangedError(p.name, file, diffs);
}

const describeRun = (r: PlannedRun) =>
  `${r.configuration.name} @ ${r.rate} msg/s #${r.repetition}: ${r.sourceNode} -> ${r.targetNode}`;

/**
 * Runs `ms2m eval`; resolves with the summary (null for a dry run). Aborting `signal` stops after the run in
 * progress.
 *
 * @example
 * ```ts
 * const summary = await startEvaluation(options, process, logger, abort.signal);
 * ```
 */
export async function startEvaluation(
  o: EvalCommandOptions,
  io: EvalIo,
  logger: Logger,
  signal?: AbortSignal,
): Promise<EvaluationSummary | null> {
  const say = (line: string) => io.stderr.write(`${line}\n`);
  const target = resolveTarget(o.target);
  const runs = expandMatrix({
    configurations: o.configurations,
    rates: o.rates,
    repetitions: o.repetitions,
    nodes: o.nodes,
  });
  if (!target.checkpointRepository && o.configurations.some((c) => c.transfer === 'Registry')) {
    throw new Ms2mError(
      ErrorCode.USAGE,
      'a Registry configuration is in the matrix: pass --checkpoint-repository <registry>/<path> as the nodes reach it',
    );
  }
  const tag = evalTagOf(o.name);
  if (o.dryRun) {
    // a dry run only reads: it opens the log read-only and touches neither the cluster nor --out
    const reader =
      target.log.kind === 'file'
        ? await openFileLogReader({ dir: target.log.dir, logger })
        : await openJetStreamLogReader({ servers: target.log.servers, logger });
    try {
      const { done, todo } = planRemaining(o.name, runs, await readMeasuredRuns(reader, o.name));
      io.stdout.write(`eval ${o.name}: ${runs.length} runs, ${done.length} measured, ${todo.length} to do\n`);
      for (const r of todo) io.stdout.write(`  ${runIdOf(tag, r)}  ${describeRun(r)}\n`);
      return null;
    } finally {
      await reader.close();
    }
  }
  const log = await openEventLog(target.log, logger);
  try {
    await mkdir(o.outDir, { recursive: true });
    const lock = join(o.outDir, 'eval.lock');
    return await withFileLock(
      lock,
      async () => {
        await checkParameters(o.outDir, {
          name: o.name,
          namespace: o.namespace,
          processingDelayMs: o.processingDelayMs,
          cutoff: o.cutoff,
          seconds: o.seconds,
          warmupSeconds: o.warmupSeconds,
        });
        say(
          `eval ${o.name}: cluster ${target.kc.getCurrentCluster()?.server} (${target.kubeconfig}), namespace ${o.namespace}`,
        );
        const image = await target.image((line) => say(`image: ${line}`));
        const executor = clusterExecutor({
          kc: target.kc,
          namespace: o.namespace,
          image,
          amqpUrl: target.amqpUrl,
          management: { url: target.managementUrl },
          checkpointRepository: target.checkpointRepository,
          evalName: o.name,
          evalTag: tag,
          seconds: o.seconds,
          warmupSeconds: o.warmupSeconds,
          processingDelayMs: o.processingDelayMs,
          cutoff: o.cutoff,
          migrationTimeoutMs: o.migrationTimeoutMs,
        });
        const progress = io.stderr.isTTY ? barProgress(io.stderr) : lineProgress(say);
        return runEvaluation(
          {
            name: o.name,
            runs,
            runIdOf: (r) => runIdOf(tag, r),
            outDir: o.outDir,
            attempts: o.attempts,
            keepGoing: o.keepGoing,
            signal,
          },
          { log, clock: systemClock(), logger, executor, progress },
        );
      },
      { timeoutMs: 1000 },
    ).catch((err: Error) => {
      if (err instanceof Ms2mError && err.code === ErrorCode.EVENT_LOG_UNAVAILABLE && err.message.includes(lock)) {
        throw new Ms2mError(ErrorCode.CONFLICT, `eval ${o.name} is running in another process: ${err.message}`);
      }
      throw err;
    });
  } finally {
    await log.close();
  }
}
