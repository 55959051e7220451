/**
 * `ms2m demo`: the main job on the embedded local setup. Runs one migration of each strategy on simulated
 * nodes with realistic latencies, writes every event to the embedded file log, prints the phase timelines, then
 * kills a migration's process with SIGKILL mid-run and restarts it: the new process resumes from the log.
 *
 * The nodes, broker and agents are the project's fakes (later issues replace them with the local cluster);
 * the runtime, the chart, the event log and the crash recovery are the real ones.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { MigrationHost, type MigrationHostDeps, migrationChart } from '../actors/charts/migration.ts';
import { normalizeSpec, type StatefulMigrationSpec } from '../actors/migration-spec.ts';
import { formatRow, phaseSummary, Timeline } from '../actors/timeline.ts';
import { systemClock } from '../adapters/clock/system.ts';
import { InvalidInputError } from '../adapters/errors.ts';
import { openEventLog } from '../adapters/event-log/open.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import { createFakeWorld, TARGET_NODE } from '../adapters/fake-world.ts';
import { writeFileAtomicSync } from '../adapters/file-log/atomic-file.ts';
import { assertDemoDir, DEMO_LOG_DIR, prepareDemoDir, worldFileOf } from './demo-dir.ts';

interface DemoScenario {
  title: string;
  /** Run by the crash-recovery part of the demo, in a child process that gets killed. */
  crash?: boolean;
  workload: 'pod' | 'deployment' | 'statefulset';
  spec: Partial<StatefulMigrationSpec>;
  producerRate: number;
  consumerRate: number;
}

export const SCENARIOS: Record<string, DemoScenario> = {
  'shadowpod-deployment-registry': {
    title: 'ShadowPod · Deployment pod · Registry transfer · Cutoff replay · ReplicaSet adopts the migrated pod',
    workload: 'deployment',
    spec: { checkpointImageRepository: '127.0.0.1:5000/ms2m' },
    producerRate: 10,
    consumerRate: 40,
  },
  'shadowpod-pod-direct-cutoff': {
    title:
      'ShadowPod · plain pod · Direct agent-to-agent transfer · slow target cut off at T_cutoff = 8 s, then drained',
    workload: 'pod',
    spec: { replayCutoffSeconds: 8 },
    producerRate: 30,
    consumerRate: 25,
  },
  'sequential-statefulset': {
    title: 'Sequential · StatefulSet pod · Direct transfer · Drain replay · replicas restored',
    workload: 'statefulset',
    spec: { replayMode: 'Drain' },
    producerRate: 10,
    consumerRate: 40,
  },
  'sequential-crash': {
    title: 'Crash recovery · Sequential · the process is killed mid-Restoring and restarted',
    crash: true,
    workload: 'statefulset',
    spec: { replayMode: 'Drain' },
    producerRate: 10,
    consumerRate: 40,
  },
};

const out = (line = '') => process.stdout.write(`${line}\n`);

const migrationIdOfScenario = (name: string) => `default/${name}`;

/** The saved world of a scenario, or undefined when there is none; a damaged file is a clear error. */
function readWorldFile(file: string): Parameters<ReturnType<typeof createFakeWorld>['load']>[0] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError(`demo state ${file}`, 'is not valid JSON; run ms2m demo without --child to start over');
  }
}

/** Runs one scenario in this process. The world is saved to `dir` on every change so a restart continues it. */
export async function runScenario(
  name: string,
  dir: string,
  logger: pino.Logger,
  nats?: { url: string; run: string },
): Promise<'Completed' | 'Failed'> {
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown demo scenario '${name}'; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const clock = systemClock();
  const world = createFakeWorld({
    clock,
    latencies: 'realistic',
    producerRate: sc.producerRate,
    consumerRate: sc.consumerRate,
  });
  const worldFile = worldFileOf(dir, name);
  const saveWorld = () => writeFileAtomicSync(worldFile, JSON.stringify(world.save()));

  // the embedded file log by default; JetStream when --nats names a server
  const log: EventLog = await openEventLog(
    nats
      ? { kind: 'nats', servers: nats.url, stream: `MS2M_DEMO_${nats.run}`, subjectPrefix: `ms2m.demo.${nats.run}` }
      : { kind: 'file', dir: join(dir, DEMO_LOG_DIR) },
    logger,
  );
  const migrationId = migrationIdOfScenario(name);
  const key = { kind: migrationChart.kind, id: migrationId };
  const history = new Timeline();
  const logged = await log.read(key);
  for (const env of logged) history.add(env);
  // The world file is first written by the first change after MigrationRequested was logged, so: no events
  // and no world file is a fresh start; events without a world file mean no effect had changed the world yet.
  const saved = readWorldFile(worldFile);
  if (logged.length === 0 && saved !== undefined) {
    await log.close();
    throw new InvalidInputError(
      `demo state ${worldFile}`,
      `exists but the event log ${log.locate(key)} is empty (it was removed, or --nats/--run name another log); run ms2m demo without --child to start over`,
    );
  }
  // seeding is deterministic, so a resumed run without a saved world rebuilds the one its events started from
  const sourcePod = saved === undefined ? world.seed(sc.workload) : '';
  if (saved !== undefined) world.load(saved);
  world.journal.onChange = saveWorld;

  const deps: MigrationHostDeps = { ...world, logger, log, pollMs: 200, sampleHeartbeatMs: 1000 };
  const before = history.rows.length;
  // prints each event this process commits as a timeline row (replayed ones are in `history` already)
  let printed = before;
  const host = await MigrationHost.open({
    id: migrationId,
    deps,
    observers: [
      {
        name: 'demo timeline',
        observe: (batch) => {
          for (const c of batch) {
            if (c.replayed || c.event.seq <= printed) continue;
            printed = c.event.seq;
            out(formatRow(history.add(c.event)));
          }
        },
      },
    ],
  });
  if (before > 0) {
    out(
      `  resumed from the log at seq ${before} (phase ${history.rows.at(-1)?.phase}); effects of the current step run again, idempotently`,
    );
  } else {
    const spec = normalizeSpec(
      { namespace: 'default', name, uid: `uid-${name}` },
      {
        sourcePod,
        targetNode: TARGET_NODE,
        messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://127.0.0.1:5672', exchangeName: 'orders' },
        ...sc.spec,
      },
    );
    await host.request({ spec });
    saveWorld();
  }
  const final = await host.done();
  await host.idle(); // every committed event printed before the summary
  out(`  ${final.value}: ${phaseSummary(final)}`);
  out(`  event log: ${log.locate(key)}`);
  await log.close();
  return final.value as 'Completed' | 'Failed';
}

/** Runs a scenario in a child process and SIGKILLs it when the log reaches `killAt`; then runs it again. */
async function crashAndResume(
  name: string,
  dir: string,
  killAt: string,
  nats?: { url: string; run: string },
): Promise<boolean> {
  const natsArgs = nats ? ['--nats', nats.url, '--run', nats.run] : [];
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1]!, 'demo', '--child', name, '--dir', dir, ...natsArgs],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let killed = false;
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!killed && chunk.toString().includes(killAt)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (!killed) {
    out(`  the child finished (exit ${code}) before ${killAt}`);
    return code === 0;
  }
  out(`  ✂ killed pid ${child.pid} with SIGKILL right after ${killAt}; restarting the process…`);
  const again = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1]!, 'demo', '--child', name, '--dir', dir, ...natsArgs],
    {
      stdio: 'inherit',
    },
  );
  const code2 = await new Promise<number | null>((resolve) => again.on('exit', (c) => resolve(c)));
  return code2 === 0;
}

export async function demo(opts: {
  dir: string;
  child?: string;
  verbose?: boolean;
  nats?: string;
  run?: string;
}): Promise<number> {
  // JetStream keeps streams across runs: each demo run gets its own stream
  const nats = opts.nats ? { url: opts.nats, run: opts.run ?? Date.now().toString(36).toUpperCase() } : undefined;
  const logger = pino({ level: opts.verbose ? 'info' : 'warn' }, pino.destination(2));
  if (opts.child) {
    await assertDemoDir(opts.dir);
    return (await runScenario(opts.child, opts.dir, logger, nats)) === 'Completed' ? 0 : 1;
  }

  await prepareDemoDir(opts.dir, Object.keys(SCENARIOS), migrationIdOfScenario);
  out('ms2m demo — live migration on the embedded local setup (simulated nodes, real runtime and event log)');
  out(`state and event log: ${opts.dir}\n`);
  let ok = true;
  for (const [name, sc] of Object.entries(SCENARIOS)) {
    if (sc.crash) continue;
    out(`▶ ${sc.title}`);
    ok = (await runScenario(name, opts.dir, logger, nats)) === 'Completed' && ok;
    out();
  }
  out(`▶ ${SCENARIOS['sequential-crash']!.title}`);
  ok = (await crashAndResume('sequential-crash', opts.dir, 'SourceScaledDown', nats)) && ok;
  out();
  out(ok ? 'All migrations completed.' : 'Some migrations did not complete: see the timelines above.');
  return ok ? 0 : 1;
}
