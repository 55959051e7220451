/**
 * `ms2m eval` through its real entry point (bin/ms2m.ts in a new process) on the real local cluster: a tiny
 * matrix (pod-direct and deployment-registry at 4 msg/s, one repetition) whose process is SIGKILLed while the
 * second run's migration is in flight, then started again. The second start sweeps the half-done run away, runs
 * only that run, and the operator's JetStream log ends up with one RunMeasured per run (nothing lost, nothing
 * twice, targets alternating), each naming a migration whose MigrationRequested carries the run's labels.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, expect, inject, it } from 'vitest';
import { statefulMigrationResource as R } from '../../../actors/crd/stateful-migration.ts';
import { openEventLog } from '../../../adapters/event-log/open.ts';
import { runIdsWithBrokerLeftovers } from '../../../eval/runner/broker-leftovers.ts';
import { EVALUATION_RUN_KIND, type RunMeasurement } from '../../../eval/runner/evaluation-chart.ts';
import { evalTagOf } from '../../../eval/runner/start.ts';
import { eventually } from '../../support/eventually.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const crs = kc.makeApiClient(CustomObjectsApi);
const repoRoot = join(import.meta.dirname, '../../..');
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const namespace = 'e2e-eval';
const name = `t${Date.now().toString(36)}`;
const out = mkdtempSync(join(tmpdir(), 'ms2m-eval-e2e-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(out, { recursive: true, force: true });
});

const args = [
  'eval',
  ...['--name', name, '--configurations', 'pod-direct,deployment-registry', '--rates', '4', '--repetitions', '1'],
  ...['--seconds', '10', '--warmup-seconds', '2', '--out', out, '--namespace', namespace],
  ...['--kubeconfig', cluster.kubeconfig, '--nats', cluster.endpoints.nats, '--image', cluster.images.workloads],
];

interface Started {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

/** `ms2m eval ...args` as a real process (no shell, stderr not a TTY: one line per event). */
function start(): Started {
  const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    process.stdout.write(`[eval] ${c.toString('utf8')}`);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => stderr, stdout: () => stdout, exited };
}

async function measuredRuns(): Promise<Map<string, RunMeasurement>> {
  const log = await openEventLog({ kind: 'nats', servers: cluster.endpoints.nats }, pino({ level: 'warn' }));
  try {
    const out = new Map<string, RunMeasurement>();
    for (const key of await log.list(EVALUATION_RUN_KIND)) {
      if (!key.id.startsWith(`${name}/`)) continue;
      const events = await log.read(key);
      expect(events.map((e) => e.type)).toEqual(['RunMeasured']);
      out.set(key.id, events[0]?.data as RunMeasurement);
    }
    return out;
  } finally {
    await log.close();
  }
}

async function migrationLabels(id: string): Promise<Record<string, string> | undefined> {
  const log = await openEventLog({ kind: 'nats', servers: cluster.endpoints.nats }, pino({ level: 'warn' }));
  try {
    const [first] = await log.read({ kind: 'StatefulMigration', id });
    expect(first?.type).toBe('MigrationRequested');
    return (first?.data as { labels?: Record<string, string> } | undefined)?.labels;
  } finally {
    await log.close();
  }
}

const crApi = { group: R.group, version: R.version, plural: R.plural, namespace };

it('runs the matrix through the real entry point; killed mid-run and started again, it does only the remaining run', async () => {
  const t0 = Date.now();
  const first = start();
  // the first run is measured, the second run's migration is in flight: kill the eval there
  await eventually(
    'the first run measured',
    async () => (/measured in/.test(first.stderr()) ? true : undefined),
    150_000,
  );
  const killed = await eventually(
    "the second run's StatefulMigration created",
    async () => {
      const list = (await crs.listNamespacedCustomObject({
        ...crApi,
        labelSelector: `ms2m.io/eval-run=${name},ms2m.io/eval-configuration=deployment-registry`,
      })) as { items: { metadata: { uid: string }; status?: { phase?: string } }[] };
      const cr = list.items[0];
      return cr?.status?.phase && cr.status.phase !== 'Pending' ? cr : undefined;
    },
    120_000,
  );
  first.child.kill('SIGKILL');
  await first.exited;
  const firstSeconds = (Date.now() - t0) / 1000;
  const afterKill = await measuredRuns();
  expect([...afterKill.keys()]).toEqual([`${name}/pod-direct/4/1`]);

  const t1 = Date.now();
  const second = start();
  const code = await second.exited;
  const secondSeconds = (Date.now() - t1) / 1000;
  console.log(`[eval-runner] first start ${firstSeconds.toFixed(1)} s (killed), second ${secondSeconds.toFixed(1)} s`);
  expect(second.stderr()).toContain(`eval ${name}: 2 runs, 1 measured already, 1 to do`);
  expect(code, second.stderr()).toBe(0);
  // the half-done run was removed, then run once more, and only it
  const tag = evalTagOf(name);
  expect(second.stderr()).toContain(`removed what earlier attempts left: ${tag}-dr-4-1`);
  expect(second.stderr().match(/: started/g)).toHaveLength(1);
  expect(second.stderr()).toMatch(/\[2\/2\] deployment-registry @ 4 msg\/s #1 \(node-b -> node-a\): measured/);
  expect(second.stdout()).toContain(`eval ${name}: 2 of 2 runs measured (1 now)`);

  const runs = await measuredRuns();
  expect([...runs.keys()].sort()).toEqual([`${name}/deployment-registry/4/1`, `${name}/pod-direct/4/1`]);
  const pd = runs.get(`${name}/pod-direct/4/1`) as RunMeasurement;
  const dr = runs.get(`${name}/deployment-registry/4/1`) as RunMeasurement;
  for (const m of [pd, dr]) {
    expect(m).toMatchObject({ outcome: 'Completed', produced: 40, processed: 40, lost: 0, duplicated: 0, msgRate: 4 });
    expect(m.probes).toBeGreaterThan(100);
  }
  // the target alternates: run 0 to node-b, run 1 back to node-a
  expect([pd.sourceNode, pd.targetNode, dr.sourceNode, dr.targetNode]).toEqual([
    'node-a',
    'node-b',
    'node-b',
    'node-a',
  ]);
  // the redone run is a new migration, not the killed one
  expect(dr.migration.id).toMatch(new RegExp(`^${namespace}/mig-${tag}-dr-4-1/`));
  expect(dr.migration.id.endsWith(killed.metadata.uid)).toBe(false);
  expect(await migrationLabels(dr.migration.id)).toMatchObject({
    'ms2m.io/eval-run': name,
    'ms2m.io/eval-configuration': 'deployment-registry',
    'ms2m.io/eval-rate': '4',
    'ms2m.io/eval-repetition': '1',
  });

  const rows = readFileSync(join(out, 'runs.jsonl'), 'utf8').trim().split('\n');
  expect(rows.map((r) => (JSON.parse(r) as { run: string }).run)).toEqual([
    `${name}/pod-direct/4/1`,
    `${name}/deployment-registry/4/1`,
  ]);
  // nothing of the eval is left: no migration, no pod, no queue
  const selector = `ms2m.io/eval-run=${name}`;
  expect(
    ((await crs.listNamespacedCustomObject({ ...crApi, labelSelector: selector })) as { items: [] }).items,
  ).toEqual([]);
  expect((await core.listNamespacedPod({ namespace, labelSelector: selector })).items).toEqual([]);
  expect(await runIdsWithBrokerLeftovers({ url: cluster.endpoints.rabbitManagement }, tag)).toEqual([]);
});
