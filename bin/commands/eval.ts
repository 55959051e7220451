/**
 * `ms2m eval`: runs an evaluation matrix of real migrations (configurations × message rates × repetitions) on the
 * local cluster or any cluster a kubeconfig reaches, records each run's measurement as an `EvaluationRun` in the
 * operator's event log, writes the results as it goes, and resumes where a stopped eval left off
 * (eval/runner/, docs/eval.md).
 */
import { type Command, Option } from 'commander';
import type { CutoffPolicy } from '../../eval/runner/cluster-executor.ts';
import {
  DEFAULT_CONFIGURATIONS,
  DEFAULT_RATES,
  DEFAULT_REPETITIONS,
  MatrixError,
  parseConfigurations,
  parseRates,
} from '../../eval/runner/matrix.ts';
import type { TargetOptions } from '../../eval/runner/target.ts';
import { duration, text, wholeNumber } from '../cli-options.ts';
import { type CliIo, type CommandModule, ExitCode, UsageError } from '../command-context.ts';
import { cliLogger } from '../log-source.ts';

/** The flags: the matrix and run settings, and where the cluster is (TargetOptions). */
interface EvalFlags extends TargetOptions {
  configurations: string;
  rates: string;
  repetitions: number;
  cutoff: CutoffPolicy;
  processingDelayMs: number;
  seconds: number;
  warmupSeconds: number;
  migrationTimeout: number;
  attempts: number;
  keepGoing?: boolean;
  name?: string;
  out?: string;
  namespace: string;
  nodes: [string, string];
  dryRun?: boolean;
}

/** `computed` (the operator's formula), `drain`, or a whole number of seconds. */
function cutoffPolicy(value: string): CutoffPolicy {
  const v = value.trim();
  if (v === 'computed' || v === 'auto') return { kind: 'computed' };
  if (v === 'drain') return { kind: 'drain' };
  if (/^\d+$/.test(v)) return { kind: 'seconds', seconds: Number(v) };
  throw new UsageError(`--cutoff ${value} is not a cutoff policy; use computed, drain or a number of seconds`);
}

/** An eval name: a Kubernetes label value (it labels the runs' objects), at most 63 characters. */
function evalName(value: string): string {
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(value)) {
    throw new UsageError(
      `--name ${value} is not an eval name; use letters, digits, '-', '_' and '.', at most 63, starting and ending with a letter or digit`,
    );
  }
  return value;
}

function nodePair(value: string): [string, string] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length !== 2 || !parts[0] || !parts[1] || parts[0] === parts[1]) {
    throw new UsageError(`--nodes ${value}: give two different nodes, e.g. node-a,node-b`);
  }
  return [parts[0], parts[1]];
}

const defaultName = () => `eval-${new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-')}`;

export const evalCommand: CommandModule = {
  name: 'eval',
  register(program: Command, io: CliIo) {
    program
      .command('eval')
      .description('run an evaluation matrix of real migrations, recorded in the event log, resumable')
      .option('--configurations <list>', 'configurations to run', DEFAULT_CONFIGURATIONS.join(','))
      .option('--rates <list>', 'message rates (msg/s)', DEFAULT_RATES.join(','))
      .option('--repetitions <n>', 'runs per configuration and rate', wholeNumber('--repetitions'), DEFAULT_REPETITIONS)
      .addOption(
        new Option('--cutoff <policy>', 'replay cutoff: computed (the operator formula), drain, or seconds')
          .argParser(cutoffPolicy)
          .default({ kind: 'computed' }, 'computed'),
      )
      .option(
        '--processing-delay-ms <ms>',
        "the consumer's time per message",
        wholeNumber('--processing-delay-ms', 0),
        50,
      )
      .option('--seconds <n>', 'seconds the producer publishes per run', wholeNumber('--seconds'), 30)
      .option(
        '--warmup-seconds <n>',
        'seconds of messages processed before migrating',
        wholeNumber('--warmup-seconds'),
        3,
      )
      .addOption(
        new Option('--migration-timeout <duration>', 'longest a migration may take')
          .argParser(duration('--migration-timeout'))
          .default(300_000, '5m'),
      )
      .option('--attempts <n>', 'tries per run before the eval stops', wholeNumber('--attempts'), 2)
      .option('--keep-going', 'skip a run that failed every attempt (the next start tries it again)')
      .option('--name <name>', 'the eval (resume it by giving the same name); default eval-<UTC time>', evalName)
      .option('--out <dir>', 'results directory (default .ms2m/eval/<name>)', text('--out'))
      .option('--namespace <ns>', 'namespace of the runs', text('--namespace'), 'ms2m-eval')
      .addOption(
        new Option('--nodes <a,b>', 'the two nodes runs alternate between')
          .argParser(nodePair)
          .default(['node-a', 'node-b'], 'node-a,node-b'),
      )
      .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, else the local cluster)', text('--kubeconfig'))
      .option('--log <dir>', 'the embedded event log the operator writes', text('--log'))
      .addOption(
        new Option('--nats <url>', 'the JetStream event log the operator writes (default: the local cluster)')
          .env('MS2M_NATS_URL')
          .argParser(text('--nats')),
      )
      .option('--image <ref>', 'the ms2m/workloads image (default: built for the local cluster)', text('--image'))
      .option('--amqp-url <url>', 'the broker as pods reach it', text('--amqp-url'))
      .option('--rabbitmq-management <url>', "the broker's management API", text('--rabbitmq-management'))
      .option('--checkpoint-repository <repo>', 'repository for Registry transfers', text('--checkpoint-repository'))
      .option('--dry-run', 'print the runs still to do and exit')
      .addHelpText(
        'after',
        `
Each run deploys a producer and a consumer on one node, migrates the consumer to the other (the target
alternates run by run), probes it every 10 ms and accounts every message. Runs are recorded in the event log as
EvaluationRun <name>/<configuration>/<rate>/<repetition>; a stopped eval resumes with the same --name.
Results: <out>/runs.jsonl and <out>/runs.csv. Exit code 0 when every run of the matrix is measured.

Examples:
  $ ms2m eval --name march
  $ ms2m eval --name quick --configurations pod-direct,deployment-registry --rates 4,10 --repetitions 2
  $ ms2m eval --name march --dry-run
  $ ms2m eval --kubeconfig ~/.kube/lab --nats nats://nats.lab:4222 --amqp-url amqp://u:p@rabbit:5672 \\
      --rabbitmq-management http://u:p@rabbit:15672 --image reg.lab/ms2m/workloads:1 --checkpoint-repository reg.lab/ckpt`,
      )
      .action(async (f: EvalFlags) => {
        let configurations: ReturnType<typeof parseConfigurations>;
        let rates: number[];
        try {
          configurations = parseConfigurations(f.configurations);
          rates = parseRates(f.rates);
        } catch (err) {
          if (err instanceof MatrixError) throw new UsageError(err.message);
          throw err;
        }
        const name = f.name ?? defaultName();
        if (f.name === undefined && !f.dryRun) io.stderr.write(`eval name ${name}: resume it with --name ${name}\n`);
        const abort = new AbortController();
        let interrupts = 0;
        const onSigint = () => {
          interrupts++;
          if (interrupts > 1) process.exit(130);
          io.stderr.write(
            'stopping after the run in progress (Ctrl-C again to stop now; the run is redone next time)\n',
          );
          abort.abort();
        };
        process.on('SIGINT', onSigint);
        try {
          // loaded here: the runner pulls in the cluster and Kubernetes clients (~1 s), which `ms2m help` must not pay
          const { startEvaluation } = await import('../../eval/runner/start.ts');
          const summary = await startEvaluation(
            {
              name,
              configurations,
              rates,
              repetitions: f.repetitions,
              cutoff: f.cutoff,
              processingDelayMs: f.processingDelayMs,
              seconds: f.seconds,
              warmupSeconds: f.warmupSeconds,
              migrationTimeoutMs: f.migrationTimeout,
              attempts: f.attempts,
              keepGoing: f.keepGoing ?? false,
              outDir: f.out ?? `.ms2m/eval/${name}`,
              namespace: f.namespace,
              nodes: f.nodes,
              target: {
                kubeconfig: f.kubeconfig,
                log: f.log,
                nats: f.nats,
                image: f.image,
                amqpUrl: f.amqpUrl,
                rabbitmqManagement: f.rabbitmqManagement,
                checkpointRepository: f.checkpointRepository,
              },
              dryRun: f.dryRun ?? false,
            },
            io,
            cliLogger(io.stderr),
            abort.signal,
          );
          if (!summary) return;
          const measured = summary.alreadyMeasured + summary.measuredNow;
          io.stdout.write(
            `eval ${name}: ${measured} of ${summary.total} runs measured (${summary.measuredNow} now)` +
              `${summary.failed.length ? `, ${summary.failed.length} failed every attempt` : ''}; results in ${f.out ?? `.ms2m/eval/${name}`}/runs.{jsonl,csv}\n`,
          );
          if (measured < summary.total) throw new ExitCode(1);
        } finally {
          process.off('SIGINT', onSigint);
        }
      });
  },
};
