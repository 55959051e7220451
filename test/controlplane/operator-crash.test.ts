/**
 * The operator as a real process on a real control plane: SIGKILLed at every event boundary of one ShadowPod
 * migration and restarted (each run completes, each effect applied once), and two processes sharing a Lease
 * (one leads, the other waits; killing the leader hands over with no duplicate effect).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, type CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JournalEntry } from '../../adapters/effect-journal.ts';
import { eventually } from '../support/eventually.ts';
import { type OperatorNamespace, startOperatorNamespace } from '../support/operator-env.ts';
import { savedJournal } from '../support/persistent-fakes.ts';

const cp = inject('controlPlane');
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const root = join(import.meta.dirname, '../..');
const namespace = `crash-${Date.now().toString(36)}`;

let testNamespace: OperatorNamespace;
let admin: KubeConfig;
let operatorKubeconfig: string;
let core: CoreV1Api;
let crs: CustomObjectsApi;
let work: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  testNamespace = await startOperatorNamespace(cp, { namespace, tmpPrefix: 'ms2m-crash-' });
  ({ admin, operatorKubeconfigPath: operatorKubeconfig, core, dir: work } = testNamespace);
  crs = admin.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await testNamespace?.stop();
});

interface Run {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Starts an operator process and waits until it says it started. */
async function startOperator(env: Record<string, string>): Promise<Run> {
  // node itself with tsx's loader (not the tsx wrapper), so the pid that SIGKILLs itself is the child we watch
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/operator-child.ts')], {
    cwd: root,
    env: { ...process.env, KUBECONFIG: operatorKubeconfig, MS2M_NAMESPACE: namespace, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`operator did not start within 60 s: ${err}`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(); // a process that kills itself at once (a kill point before it printed) is fine too
    });
  });
  return { child, exited, stderr: () => err };
}

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function stopOperator(run: Run): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  run.child.kill('SIGTERM');
  await within('operator exit after SIGTERM', run.exited, 30_000);
}

async function sourcePod(name: string): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { app: name } },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
    },
  });
  await eventually(`Pod ${name} Running`, async () =>
    (await core.readNamespacedPod({ namespace, name })).status?.phase === 'Running' ? true : undefined,
  );
}

async function createMigration(name: string, pod: string): Promise<void> {
  await crs.createNamespacedCustomObject({
    ...GROUP,
    namespace,
    body: {
      apiVersion: 'migration.ms2m.io/v1alpha1',
      kind: 'StatefulMigration',
      metadata: { name },
      spec: {
        sourcePod: pod,
        targetNode: 'node-b',
        replayCutoffSeconds: 1,
        messageQueueConfig: { queueName: `q-${name}`, exchangeName: `x-${name}`, brokerUrl: 'amqp://fake:5672' },
      },
    },
  });
}

const phaseOf = async (name: string) =>
  ((await crs.getNamespacedCustomObject({ ...GROUP, namespace, name })) as { status?: { phase?: string } }).status
    ?.phase;

const untilDone = (name: string, ms = 90_000) =>
  eventually(
    `${name} Completed or Failed`,
    async () => {
      const p = await phaseOf(name);
      return p === 'Completed' || p === 'Failed' ? p : undefined;
    },
    ms,
  );

/** Events in the embedded log dir (one JSON Lines file per migration). */
const eventCount = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .reduce(
      (n, f) =>
        n +
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{"')).length,
      0,
    );

/** Every applied effect, by op and object: each must appear once. */
function appliedTwice(journal: JournalEntry[]): string[] {
  const seen = new Map<string, number>();
  for (const e of journal) if (e.applied) seen.set(`${e.op} ${e.object}`, (seen.get(`${e.op} ${e.object}`) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
}

describe('operator processes on a real control plane', () => {
  it('SIGKILLed at every event boundary of a migration and restarted: each run completes, each effect once', async () => {
    // a run without a crash tells how many events the migration logs
    const ref = { log: join(work, 'ref-log'), world: join(work, 'ref-world.json') };
    await sourcePod('src-ref');
    await createMigration('m-ref', 'src-ref');
    const first = await startOperator({ MS2M_LOG_DIR: ref.log, MS2M_WORLD_FILE: ref.world });
    expect(await untilDone('m-ref')).toBe('Completed');
    await stopOperator(first);
    const events = eventCount(ref.log);
    expect(events).toBeGreaterThan(10);
    expect(appliedTwice(savedJournal(ref.world))).toEqual([]);

    for (let k = 1; k < events; k++) {
      const run = { log: join(work, `log-${k}`), world: join(work, `world-${k}.json`) };
      await sourcePod(`src-${k}`);
      await createMigration(`m-${k}`, `src-${k}`);
      const crashing = await startOperator({
        MS2M_LOG_DIR: run.log,
        MS2M_WORLD_FILE: run.world,
        MS2M_KILL_AFTER_SEQ: String(k),
      });
      const end = await within(`operator killing itself after seq ${k}`, crashing.exited, 90_000);
      expect(end.signal, crashing.stderr()).toBe('SIGKILL');
      const again = await startOperator({ MS2M_LOG_DIR: run.log, MS2M_WORLD_FILE: run.world });
      expect(await untilDone(`m-${k}`), `kill after seq ${k}`).toBe('Completed');
      await stopOperator(again);
      // the run may log fewer replay samples than the reference one: the crash point may be its last event
      expect(eventCount(run.log), `kill after seq ${k}: the log kept the crash point`).toBeGreaterThanOrEqual(k);
      expect(appliedTwice(savedJournal(run.world)), `kill after seq ${k}`).toEqual([]);
    }
  }, 1_800_000);

  it('two processes share the Lease: one leads, the other waits; killing the leader hands over with no duplicate effect', async () => {
    const run = { log: join(work, 'leader-log'), world: join(work, 'leader-world.json') };
    await sourcePod('src-lead');
    const a = await startOperator({
      MS2M_LOG_DIR: run.log,
      MS2M_WORLD_FILE: run.world,
      MS2M_LEASE_HOLDER: 'operator-a',
      MS2M_KILL_AFTER_SEQ: '6',
    });
    const coordination = admin.makeApiClient(CoordinationV1Api);
    await eventually('operator-a holds the Lease', async () => {
      const lease = await coordination.readNamespacedLease({ namespace: 'ms2m-system', name: 'ms2m-operator' });
      return lease.spec?.holderIdentity === 'operator-a' ? lease : undefined;
    });
    const b = await startOperator({
      MS2M_LOG_DIR: run.log,
      MS2M_WORLD_FILE: run.world,
      MS2M_LEASE_HOLDER: 'operator-b',
    });
    await createMigration('m-lead', 'src-lead');
    const end = await within('the leader killing itself after seq 6', a.exited, 90_000);
    expect(end.signal, a.stderr()).toBe('SIGKILL');
    const outcome = await untilDone('m-lead').catch((err: Error) => {
      throw new Error(`${err.message}\noperator-b:\n${b.stderr().slice(-4000)}`);
    });
    expect(outcome).toBe('Completed');
    const lease = await coordination.readNamespacedLease({ namespace: 'ms2m-system', name: 'ms2m-operator' });
    expect(lease.spec?.holderIdentity).toBe('operator-b');
    expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
    await stopOperator(b);
    expect(appliedTwice(savedJournal(run.world))).toEqual([]);
    // a's part of the journal and b's part together hold every effect of a complete migration once
    const ops = new Set(
      savedJournal(run.world)
        .filter((e) => e.applied)
        .map((e) => e.op),
    );
    expect([...ops]).toEqual(expect.arrayContaining(['checkpoint', 'createPod', 'deletePod']));
  }, 300_000);
});
