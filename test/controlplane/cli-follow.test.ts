/**
 * `ms2m follow` against a real kube-apiserver where no operator runs: the test writes the status itself, so what
 * the CLI shows is checked against known figures (bytes, rate, ETA, replay depth), on a TTY (a cli-progress bar)
 * and off one (plain lines), with --timeout and Ctrl-C; and `ms2m operator` as a real process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collect, ms2mEntry, runCliCapture } from '../support/cli-run.ts';
import { eventually } from '../support/eventually.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';

const cp = inject('controlPlane');
const stamp = Date.now().toString(36);
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
type Smig = { metadata: { name: string }; status?: { phase?: string; message?: string } };

let operatorKubeconfigPath: string;
let core: CoreV1Api;
let crs: CustomObjectsApi;
let dir: string;

beforeAll(async () => {
  const installed = await installOperatorPrerequisites(cp);
  operatorKubeconfigPath = installed.operatorKubeconfigPath;
  core = installed.admin.makeApiClient(CoreV1Api);
  crs = installed.admin.makeApiClient(CustomObjectsApi);
  dir = mkdtempSync(join(tmpdir(), 'ms2m-cli-follow-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('follow shows what the status reports (no operator in this namespace: the test writes the status)', () => {
  const ns = `cli-np-${stamp}`;
  const MiB = 2 ** 20;
  const statusPatch = (name: string, status: Record<string, unknown>) =>
    crs.patchNamespacedCustomObjectStatus(
      { ...GROUP, namespace: ns, name, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const name of ['m-plain', 'm-tty', 'm-stuck'])
      await crs.createNamespacedCustomObject({
        ...GROUP,
        namespace: ns,
        body: {
          apiVersion: 'migration.ms2m.io/v1alpha1',
          kind: 'StatefulMigration',
          metadata: { name },
          spec: {
            sourcePod: 'app',
            targetNode: 'node-b',
            messageQueueConfig: { queueName: 'q', exchangeName: 'x', brokerUrl: 'amqp://fake:5672' },
          },
        },
      });
  });
  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  /** Transferring 100 MiB at ~10 MiB/s for `seconds`, then Replaying with a falling depth, then Completed. */
  async function play(name: string, seconds: number) {
    await statusPatch(name, {
      phase: 'Transferring',
      progress: { bytesTransferred: 0, bytesTotal: 100 * MiB, replayed: 0 },
    });
    for (let i = 1; i <= seconds * 2; i++) {
      await sleep(500);
      await statusPatch(name, { progress: { bytesTransferred: i * 5 * MiB, bytesTotal: 100 * MiB, replayed: 0 } });
    }
    await statusPatch(name, {
      phase: 'Replaying',
      progress: { bytesTransferred: 100 * MiB, bytesTotal: 100 * MiB, replayDepth: 40, replayed: 0 },
    });
    for (let depth = 30; depth >= 0; depth -= 10) {
      await sleep(1500);
      await statusPatch(name, {
        progress: { bytesTransferred: 100 * MiB, bytesTotal: 100 * MiB, replayDepth: depth, replayed: 40 - depth },
      });
    }
    await statusPatch(name, {
      phase: 'Completed',
      phaseTimings: { Pending: '10ms', Transferring: `${seconds}s`, Replaying: '6s', Total: `${seconds + 6}.01s` },
      message: 'Migrated app to node-b',
    });
  }

  it('not a TTY: a line per phase, and a progress line every 5 s (bytes, rate, ETA, replay depth)', async () => {
    const following = runCliCapture(['follow', 'm-plain', '--kubeconfig', cp.kubeconfigPath, '-n', ns]);
    await play('m-plain', 6);
    const run = await following;
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toBe(
      `StatefulMigration ${ns}/m-plain Completed in 12.01s (Pending 10ms, Transferring 6s, Replaying 6s)\n`,
    );
    const lines = run.stderr.trimEnd().split('\n');
    const id = `${ns}/m-plain`;
    expect(lines[0]).toMatch(new RegExp(`^ +\\+\\d+\\.\\ds {2}${id} {2}(Pending|Transferring)`));
    expect(lines).toContainEqual(expect.stringMatching(/ {2}Transferring {3}\d+\.\d MiB\/100\.0 MiB/));
    // five seconds into the transfer: bytes, a rate near 10 MiB/s and an ETA
    const progress = lines.find((l) => / MiB\/s {2}ETA \d+s$/.test(l));
    expect(progress).toMatch(/Transferring +\d+\.\d MiB\/100\.0 MiB {2}(\d+\.\d) MiB\/s {2}ETA \d+s$/);
    const rate = Number(/(\d+\.\d) MiB\/s/.exec(progress as string)?.[1]);
    expect(rate).toBeGreaterThan(5);
    expect(rate).toBeLessThan(20);
    expect(lines).toContainEqual(expect.stringMatching(/ {2}Replaying +100\.0 MiB\/100\.0 MiB {2}replay depth 40$/));
    expect(lines).toContainEqual(
      expect.stringMatching(/ {2}Replaying +100\.0 MiB\/100\.0 MiB {2}replay depth [0-2]0 {2}replayed [234]0$/),
    );
    expect(lines.at(-1)).toMatch(
      / {2}Completed +100\.0 MiB\/100\.0 MiB {2}replay depth 0 {2}replayed 40 {2}· Migrated app to node-b$/,
    );
  }, 60_000);

  it('follow gives up at --timeout (exit 1, the migration goes on); status -A shows every namespace', async () => {
    const run = await runCliCapture([
      'follow',
      'm-stuck',
      '--timeout',
      '1s',
      '--kubeconfig',
      cp.kubeconfigPath,
      '-n',
      ns,
    ]);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(
      `ms2m: StatefulMigration ${ns}/m-stuck is still Pending after 1s (--timeout); it goes on: ms2m follow m-stuck -n ${ns}`,
    );
    const all = await runCliCapture(['status', '-A', '--kubeconfig', cp.kubeconfigPath]);
    expect(all.code).toBe(0);
    const rows = all.stdout
      .trimEnd()
      .split('\n')
      .map((r) => r.split(/ {3,}/));
    expect(rows[0]?.slice(0, 3)).toEqual(['NAMESPACE', 'NAME', 'PHASE']);
    expect(rows).toContainEqual(expect.arrayContaining([ns, 'm-stuck', 'Pending']));
  });

  it('Ctrl-C stops following with exit 130 and says how to follow again (a real process)', async () => {
    const child = spawn(process.execPath, [...ms2mEntry, 'follow', 'm-stuck', '-n', ns], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const done = collect(child, 150_000);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    await eventually('following m-stuck', async () => (/ {2}Pending/.test(stderr) ? true : undefined), 140_000);
    child.kill('SIGINT');
    const run = await done;
    expect(run.code).toBe(130);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(
      `ms2m: stopped following StatefulMigration ${ns}/m-stuck (Pending); it goes on: ms2m follow m-stuck -n ${ns}`,
    );
  }, 170_000);

  it('on a TTY: a progress bar (cli-progress) with the same figures, cleared at the end', async () => {
    const following = runCliCapture(['follow', 'm-tty', '--kubeconfig', cp.kubeconfigPath, '-n', ns], { tty: true });
    await play('m-tty', 3);
    const { code, stdout, stderr } = await following;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^StatefulMigration \S+\/m-tty Completed in 9\.01s/);
    expect(stderr).toMatch(/Transferring +\|[\u2588\u2591]{40}\| \d+% {2}\d+\.\d MiB\/100\.0 MiB/);
    expect(stderr).toMatch(/ MiB\/s {2}ETA \d+s/);
    expect(stderr).toMatch(/Replaying +\|\u2588{40}\| 100% {2}100\.0 MiB\/100\.0 MiB {2}replay depth \d+/);
    expect(stderr).toContain('\u001b[?25l'); // the cursor hidden while the bar runs...
    expect(stderr).toContain('\u001b[?25h'); // ...and shown again
  }, 60_000);
});

describe('ms2m operator as a real process', () => {
  it('runs the StatefulMigrations of its namespace, serves /readyz, and stops on SIGTERM with exit 0', async () => {
    const ns = `cli-op-${stamp}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const opLog = join(dir, 'operator-log');
    const child = spawn(
      process.execPath,
      [
        ...ms2mEntry,
        'operator',
        '--kubeconfig',
        operatorKubeconfigPath,
        '--namespace',
        ns,
        '--log-dir',
        opLog,
        '--agent-token',
        'test-token',
        '--no-leader-elect',
        '--http-port',
        '0',
        '--log-level',
        'warn',
      ],
      { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const done = collect(child, 170_000);
    try {
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const port = await eventually(
        'ms2m operator running',
        async () => /running \(http :(\d+)\)/.exec(stderr)?.[1],
        150_000,
      );
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      await crs.createNamespacedCustomObject({
        ...GROUP,
        namespace: ns,
        body: {
          apiVersion: 'migration.ms2m.io/v1alpha1',
          kind: 'StatefulMigration',
          metadata: { name: 'm-op' },
          spec: {
            sourcePod: 'absent',
            targetNode: 'node-b',
            messageQueueConfig: { queueName: 'q', exchangeName: 'x', brokerUrl: 'amqp://fake:5672' },
          },
        },
      });
      const failed = await eventually(
        'm-op Failed',
        async () => {
          const m = (await crs.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'm-op' })) as Smig & {
            status?: { message?: string };
          };
          return m.status?.phase === 'Failed' ? m : undefined;
        },
        60_000,
      );
      expect(failed.status?.message).toMatch(/absent/);
      expect(readdirSync(opLog).length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await done).code).toBe(0);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });
});
