/**
 * `ms2m diagram` and `ms2m ui` through the real entry point (bin/ms2m.ts in a new process): what they print and
 * write, their exit codes (0 ok, 1 failed, 2 wrong usage), and that reading the log changes nothing in it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { toMermaid } from '../../actors/diagram.ts';
import { toDot } from '../../actors/diagram-dot.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { SHADOW_EVAL_DIR } from '../../eval/reference/shadow-eval.ts';
import { silent } from '../support/scenario.ts';
import { appendAs, golden } from './logs.ts';

const repoRoot = join(import.meta.dirname, '../..');
const SHADOW = SHADOW_EVAL_DIR;
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `ms2m ...args`; `onStdout` sees its output as it comes (the ui command prints its URL, then serves). */
function ms2m(args: string[], onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', MS2M_CACHE: cache },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let dir: string;
let cache: string;
let out: string;
const RUNNING_AT = 60;

async function fingerprint(d: string): Promise<string[]> {
  const names = (await readdir(d)).sort();
  return Promise.all(
    names.map(async (n) => `${n} ${(await stat(join(d, n))).size} ${(await stat(join(d, n))).mtimeMs}`),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms2m-ui-cli-log-'));
  cache = await mkdtemp(join(tmpdir(), 'ms2m-ui-cli-cache-'));
  out = await mkdtemp(join(tmpdir(), 'ms2m-ui-cli-out-'));
  const log = await openFileLog({ dir, logger: silent });
  await appendAs(log, 'default/running/uid-r', golden('shadowpod-direct'), 1, RUNNING_AT);
  await appendAs(log, 'default/done/uid-d', golden('sequential'));
  await log.close();
});

afterAll(async () => {
  for (const d of [dir, cache, out]) if (d) await rm(d, { recursive: true, force: true });
});

describe('ms2m diagram', () => {
  it('prints the chart as Mermaid, generated from the machine', async () => {
    const r = await ms2m(['diagram']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(toMermaid(migrationChart.machine));
  });

  it('draws the other charts too: VolumeResize as in docs/volume-resize.mmd', async () => {
    const r = await ms2m(['diagram', '--chart', 'VolumeResize']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(await readFile(join(repoRoot, 'docs/volume-resize.mmd'), 'utf8'));
  });

  it('prints the phase overview as DOT', async () => {
    const r = await ms2m(['diagram', '--phases', '--format', 'dot']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(toDot(migrationChart.machine, { phasesOnly: true }));
  });

  it("writes a running migration's SVG (Graphviz) with its current and visited states, and leaves the log as it was", async () => {
    const before = await fingerprint(dir);
    const file = join(out, 'running.svg');
    const r = await ms2m(['diagram', '--log', dir, '--name', 'default/running', '-o', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Graphviz writes '-' in ids as &#45;
    const svg = (await readFile(file, 'utf8')).replaceAll('&#45;', '-');
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg /);
    expect(svg).toContain('<g id="state:step-stopSource" class="node state visited current">');
    expect(svg).toContain('<g id="state:step-startReplay" class="node state visited">');
    expect(svg).toContain('<g id="state:step-endReplay" class="node state">');
    expect(svg).toContain('StatefulMigration default/running/uid-r: Replaying');
    expect(await fingerprint(dir)).toEqual(before);
  });

  it("draws a finished migration's path in Mermaid: visited phases with their times, the final state current", async () => {
    const r = await ms2m(['diagram', '--log', dir, '--name', 'default/done', '--phases']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  class migration_Completed current\n');
    expect(r.stdout).toMatch(/state "Restoring \([\d.]+ (ms|s)\)" as migration_active_Restoring/);
    expect(r.stdout).toContain(
      'class migration_active_Pending,migration_active_Checkpointing,migration_active_Transferring,migration_active_Restoring,migration_active_Replaying,migration_active_Finalizing visited',
    );
  });

  it.each([
    [['diagram', '--chart', 'VolumeRsize'], /--chart VolumeRsize: .*use StatefulMigration or VolumeResize/],
    [['diagram', '--format', 'png'], /--format png is not a diagram format; use mermaid, svg or dot/],
    [['diagram', '--log', '/tmp'], /--log and --nats need --name NAMESPACE\/NAME/],
    [['diagram', '--name', 'default/x'], /needs --log DIR .* or --nats URL/],
  ])('%j is a usage error (exit 2, one line)', async (args, message) => {
    const r = await ms2m(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('a name the log does not hold fails (exit 1) naming it', async () => {
    const r = await ms2m(['diagram', '--log', dir, '--name', 'default/nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ms2m: StatefulMigration default\/nope not found: /);
  });
});

describe('ms2m ui', () => {
  it('serves the log (and the SHADOW runs) on loopback until SIGINT, then exits 0; refuses other hosts; changes nothing in the log', async () => {
    const before = await fingerprint(dir);
    let url = '';
    const checks: Promise<void>[] = [];
    const r = await ms2m(['ui', '--log', dir, '--port', '0', '--shadow', SHADOW], (text, child) => {
      const m = /ms2m ui: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
      if (!m || url) return;
      url = m[1]!;
      checks.push(
        (async () => {
          try {
            const list = (await (await fetch(`${url}api/instances`)).json()) as {
              instances: Array<{ id: string; phase: string }>;
            };
            expect(list.instances.map((i) => [i.id, i.phase]).sort()).toEqual([
              ['default/done/uid-d', 'Completed'],
              ['default/running/uid-r', 'Replaying'],
            ]);
            const evaluation = (await (await fetch(`${url}api/evaluation`)).json()) as {
              note: string;
              charts: unknown[];
            };
            expect(evaluation.charts).toHaveLength(4);
            expect(evaluation.note).toMatch(
              /^2 migrations in the log \(0 with a message rate\), \d+ SHADOW runs beside them$/,
            );
            const page = await fetch(url);
            expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
            expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');
            const js = await fetch(`${url}app.js`);
            expect(js.status).toBe(200);
            expect((await js.text()).length).toBeGreaterThan(100_000);
            // another Host header (DNS rebinding) is refused
            const port = new URL(url).port;
            const { request } = await import('node:http');
            const status = await new Promise<number>((resolve, reject) =>
              request(
                { host: '127.0.0.1', port, path: '/api/instances', headers: { host: `evil.example:${port}` } },
                (res) => {
                  res.resume();
                  resolve(res.statusCode ?? 0);
                },
              )
                .on('error', reject)
                .end(),
            );
            expect(status).toBe(421);
          } finally {
            child.kill('SIGINT');
          }
        })(),
      );
    });
    await Promise.all(checks);
    expect(url).not.toBe('');
    expect(r.code).toBe(0);
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('refuses to listen beyond loopback (exit 2)', async () => {
    const r = await ms2m(['ui', '--log', dir, '--host', '0.0.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host 0\.0\.0\.0: the UI is served on loopback only/);
  });
});
