/**
 * `ms2m migrate <pod> --to <node>`: creates a StatefulMigration (validated with the CRD's own schema and rules
 * before it is sent) and follows it to its end by default: phase, bytes with rate and ETA, replay depth. Exit 0
 * when Completed, 1 when Failed (with the reason). `--no-wait` returns once it is created.
 *
 * The consumer's RabbitMQ setup (`messageQueueConfig`) comes from the flags, or else from the pod's environment
 * (QUEUE_NAME, EXCHANGE_NAME, ROUTING_KEY, RABBITMQ_URL or AMQP_URL: the names of SHADOW's manifests and of
 * ms2m's workloads; a URL from a Secret becomes `brokerSecretRef`).
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Command } from 'commander';
import type { StatefulMigrationSpecInput } from '../../actors/crd/stateful-migration.ts';
import { ErrorCode, Ms2mError, NotFoundError } from '../../adapters/errors.ts';
import { duration, oneOf, outputFormat, text, wholeNumber } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import type { Migrations } from '../kube.ts';
import { addKubeOptions, type KubeOptions } from '../kube-options.ts';
import type { ResultFormat } from '../migration-follow.ts';
import { DEFAULT_TIMEOUT } from './follow.ts';

interface MigrateOptions extends KubeOptions {
  to: string;
  name?: string;
  container?: string;
  strategy?: 'ShadowPod' | 'Sequential' | 'auto';
  transfer?: 'Direct' | 'Registry';
  checkpointRepo?: string;
  replayMode?: 'Cutoff' | 'Drain';
  cutoff?: number;
  replayMax?: number;
  drainStall?: number;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  brokerUrl?: string;
  brokerSecret?: { name: string; key: string };
  finalizeMode?: 'Adopt' | 'PatchAffinity';
  deadline?: Record<string, number>;
  wait: boolean;
  timeout?: number;
  quiet?: boolean;
  dryRun?: boolean;
  output: ResultFormat;
}

const secretRef = (value: string) => {
  const [name, key, ...rest] = value.split('/');
  if (!name || !key || rest.length) throw new UsageError(`--broker-secret needs NAME/KEY, not '${value}'`);
  return { name, key };
};

/** machines/spec.ts's active phases (not imported: this file stays light until the command runs). */
const ACTIVE_PHASES = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'];

const deadline = (value: string, previous: Record<string, number> | undefined) => {
  const [phase, seconds] = value.split('=', 2);
  if (!phase || !ACTIVE_PHASES.includes(phase) || seconds === undefined)
    throw new UsageError(
      `--deadline needs PHASE=SECONDS with PHASE one of ${ACTIVE_PHASES.join(', ')}, not '${value}'`,
    );
  return { ...previous, [phase]: wholeNumber(`--deadline ${phase}`)(seconds) };
};

/** An env var's literal value, or the Secret it is read from. */
type EnvSource = { value: string } | { secret: { name: string; key: string } };

function envOf(container: V1Container | undefined, names: string[]): EnvSource | undefined {
  for (const n of names) {
    const e = container?.env?.find((v) => v.name === n);
    if (e?.value !== undefined && e.value !== '') return { value: e.value };
    const ref = e?.valueFrom?.secretKeyRef;
    if (ref?.name && ref.key) return { secret: { name: ref.name, key: ref.key } };
  }
  return undefined;
}

/** The `messageQueueConfig` (and `brokerSecretRef`): the flags first, then the pod's environment. */
async function brokerSetup(
  m: Migrations,
  pod: string,
  o: MigrateOptions,
): Promise<Pick<StatefulMigrationSpecInput, 'messageQueueConfig' | 'brokerSecretRef'>> {
  let container: V1Container | undefined;
  const needPod = o.queue === undefined || o.exchange === undefined || (!o.brokerUrl && !o.brokerSecret);
  if (needPod) {
    let p: V1Pod;
    try {
      p = await m.core.readNamespacedPod({ namespace: m.namespace, name: pod });
    } catch (err) {
      const { isNotFound } = await import('../../adapters/kubernetes/api-errors.ts');
      if (isNotFound(err))
        throw new NotFoundError(
          'Pod',
          `${m.namespace}/${pod}`,
          `check the name and -n (or give --queue, --exchange and --broker-url so the pod need not be read)`,
          err,
        );
      throw m.failure(err, `Get Pod ${m.namespace}/${pod}`);
    }
    const containers = p.spec?.containers ?? [];
    container = o.container ? containers.find((c) => c.name === o.container) : containers[0];
    if (!container)
      throw new NotFoundError(
        'Container',
        `${o.container ?? '(any)'} in Pod ${m.namespace}/${pod}`,
        `its containers are ${containers.map((c) => c.name).join(', ') || 'none'}`,
      );
  }
  const literal = (s: EnvSource | undefined) => (s && 'value' in s ? s.value : undefined);
  const queueName = o.queue ?? literal(envOf(container, ['QUEUE_NAME']));
  const exchangeName = o.exchange ?? literal(envOf(container, ['EXCHANGE_NAME']));
  const routingKey = o.routingKey ?? literal(envOf(container, ['ROUTING_KEY']));
  const url = o.brokerUrl || o.brokerSecret ? undefined : envOf(container, ['RABBITMQ_URL', 'AMQP_URL']);
  const brokerUrl = o.brokerUrl ?? literal(url);
  const brokerSecretRef = o.brokerSecret ?? (url && 'secret' in url ? url.secret : undefined);
  const missing = [
    queueName === undefined && '--queue NAME (or QUEUE_NAME)',
    exchangeName === undefined && '--exchange NAME (or EXCHANGE_NAME)',
    brokerUrl === undefined &&
      brokerSecretRef === undefined &&
      '--broker-url URL or --broker-secret NAME/KEY (or RABBITMQ_URL)',
  ].filter((x): x is string => typeof x === 'string');
  if (missing.length)
    throw new UsageError(
      `ms2m migrate needs the consumer's RabbitMQ setup: ${missing.join(', ')} (not found in the environment of pod ${m.namespace}/${pod}${container ? ` container ${container.name}` : ''})`,
    );
  return {
    messageQueueConfig: {
      queueName: queueName as string,
      exchangeName: exchangeName as string,
      ...(brokerUrl !== undefined ? { brokerUrl } : {}),
      ...(routingKey !== undefined ? { routingKey } : {}),
    },
    ...(brokerSecretRef ? { brokerSecretRef } : {}),
  };
}

/** Only what the user said: the CRD's defaults (and the operator's) apply to the rest. */
function specOf(pod: string, o: MigrateOptions, broker: Awaited<ReturnType<typeof brokerSetup>>) {
  const spec: StatefulMigrationSpecInput = {
    sourcePod: pod,
    targetNode: o.to,
    ...broker,
    ...(o.container !== undefined ? { containerName: o.container } : {}),
    ...(o.strategy !== undefined ? { migrationStrategy: o.strategy } : {}),
    ...(o.transfer !== undefined ? { transferMode: o.transfer } : {}),
    ...(o.checkpointRepo !== undefined ? { checkpointImageRepository: o.checkpointRepo } : {}),
    ...(o.replayMode !== undefined ? { replayMode: o.replayMode } : {}),
    ...(o.cutoff !== undefined ? { replayCutoffSeconds: o.cutoff } : {}),
    ...(o.replayMax !== undefined ? { replayMaxSeconds: o.replayMax } : {}),
    ...(o.drainStall !== undefined ? { drainStallSeconds: o.drainStall } : {}),
    ...(o.finalizeMode !== undefined ? { finalizeDeploymentMode: o.finalizeMode } : {}),
    ...(o.deadline ? { phaseDeadlines: o.deadline } : {}),
  };
  return spec;
}

export const migrateCommand: CommandModule = {
  name: 'migrate',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('migrate')
      .description('migrate a pod to another node (creates a StatefulMigration) and follow it to the end')
      .argument('<pod>', 'the pod to migrate (in the namespace)')
      .requiredOption('--to <node>', 'the target node', text('--to'))
      .option('--name <name>', 'name of the StatefulMigration (default: <pod>-<random>)', text('--name'))
      .option('--container <name>', 'container to checkpoint (default: the first)', text('--container'))
      .option(
        '--strategy <strategy>',
        'ShadowPod, Sequential or auto (default auto: Sequential for a StatefulSet pod)',
        oneOf('--strategy', ['ShadowPod', 'Sequential', 'auto'] as const, 'a strategy'),
      )
      .option(
        '--transfer <mode>',
        'Direct (node agent to node agent) or Registry (default: Registry with --checkpoint-repo, else Direct)',
        oneOf('--transfer', ['Direct', 'Registry'] as const, 'a transfer mode'),
      )
      .option('--checkpoint-repo <repo>', 'image repository for Registry transfer (no tag)', text('--checkpoint-repo'))
      .option(
        '--replay-mode <mode>',
        'Cutoff or Drain (default Cutoff)',
        oneOf('--replay-mode', ['Cutoff', 'Drain'] as const, 'a replay mode'),
      )
      .option(
        '--cutoff <seconds>',
        'T_cutoff in seconds (default: computed from the rates)',
        wholeNumber('--cutoff', 0),
      )
      .option('--replay-max <seconds>', 'T_replay_max in seconds (default 120)', wholeNumber('--replay-max'))
      .option(
        '--drain-stall <seconds>',
        'Drain fails when the depth stalls this long (default 30)',
        wholeNumber('--drain-stall'),
      )
      .option('--queue <name>', "the consumer's queue (default: its QUEUE_NAME)", text('--queue'))
      .option('--exchange <name>', 'the fanout exchange (default: its EXCHANGE_NAME)', text('--exchange'))
      .option('--routing-key <key>', 'routing key of the primary binding (default: its ROUTING_KEY)')
      .option(
        '--broker-url <url>',
        'amqp:// URL of the broker (default: its RABBITMQ_URL or AMQP_URL)',
        text('--broker-url'),
      )
      .option('--broker-secret <name/key>', 'a Secret key holding the broker URL, instead of --broker-url', secretRef)
      .option(
        '--finalize-mode <mode>',
        'Adopt or PatchAffinity, for Deployment pods (default Adopt)',
        oneOf('--finalize-mode', ['Adopt', 'PatchAffinity'] as const, 'a finalize mode'),
      )
      .option('--deadline <phase=seconds>', 'a phase deadline, e.g. Transferring=600 (repeatable)', deadline)
      .option('--no-wait', 'return once the StatefulMigration is created (print its name)')
      .option(
        '--timeout <duration>',
        `stop following after this long (default ${DEFAULT_TIMEOUT}; it goes on)`,
        duration('--timeout'),
      )
      .option('-q, --quiet', 'no progress, only the result')
      .option('--dry-run', 'validate and print the StatefulMigration without creating it')
      .option(
        '-o, --output <format>',
        'the result: text, json or yaml',
        outputFormat('migrate', ['text', 'json', 'yaml']),
        'text',
      )
      .addHelpText(
        'after',
        `
By default migrate follows the migration to its end (progress on stderr: a bar on a terminal, plain lines
otherwise) and exits 0 when it Completed, 1 when it Failed (the reason on stderr).

Examples:
  $ ms2m migrate consumer-0 --to node-b
  $ ms2m migrate consumer --to node-b --transfer Registry --checkpoint-repo registry.local:5000/ms2m
  $ ms2m migrate consumer --to node-b --replay-mode Drain --name m1 --no-wait
  $ ms2m migrate consumer --to node-b --queue orders --exchange orders-fanout \\
      --broker-url amqp://guest:guest@rabbitmq:5672 --dry-run -o yaml`,
      );
    addKubeOptions(cmd).action(async (pod: string, o: MigrateOptions) => {
      const [{ connect }, { finish, followMigration }, { normalizeSpec }, { dumpYaml }] = await Promise.all([
        import('../kube.ts'),
        import('../migration-follow.ts'),
        import('../../actors/migration-spec.ts'),
        import('@kubernetes/client-node'),
      ]);
      const m = connect(o);
      const spec = specOf(pod, o, await brokerSetup(m, pod, o));
      const name = o.name ?? { generateName: `${pod.slice(0, 57)}-` };
      try {
        normalizeSpec({ namespace: m.namespace, name: typeof name === 'string' ? name : 'x', uid: '' }, spec);
      } catch (err) {
        if (err instanceof Ms2mError && err.code === ErrorCode.INVALID_INPUT) throw new UsageError(err.message);
        throw err;
      }
      if (o.dryRun) {
        const obj = {
          apiVersion: 'migration.ms2m.io/v1alpha1',
          kind: 'StatefulMigration',
          metadata: { ...(typeof name === 'string' ? { name } : name), namespace: m.namespace },
          spec,
        };
        io.stdout.write(o.output === 'yaml' ? dumpYaml(obj) : `${JSON.stringify(obj, null, 2)}\n`);
        return;
      }
      const created = await m.create(name, spec);
      const id = `${m.namespace}/${created.metadata.name}`;
      if (!o.wait) {
        if (o.output === 'text') io.stdout.write(`StatefulMigration ${id} created\n`);
        else io.stdout.write(o.output === 'yaml' ? dumpYaml(created) : `${JSON.stringify(created, null, 2)}\n`);
        return;
      }
      if (!o.quiet) io.stderr.write(`StatefulMigration ${id} created: ${pod} -> ${o.to}\n`);
      const done = await followMigration(m, created.metadata.name, io, {
        timeoutMs: o.timeout ?? duration('--timeout')(DEFAULT_TIMEOUT),
        quiet: o.quiet,
      });
      finish(done, io, o.output);
    });
  },
};
