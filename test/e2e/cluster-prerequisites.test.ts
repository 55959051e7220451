// `ms2m cluster up` refuses clearly, and before it changes anything, when a prerequisite is missing: not root, or
// no CRIU. Runs the real entry point in a new process; never starts a cluster (the checks come first).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { networkState } from '../../cluster/local/network.ts';

const repoRoot = join(import.meta.dirname, '../..');
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const scratch = mkdtempSync(join(tmpdir(), 'ms2m-prereq-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(
  prefix: string[],
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const [bin, ...rest] = [...prefix, process.execPath, '--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args];
    const child = spawn(bin as string, rest, {
      cwd: tmpdir(),
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('ms2m cluster up: prerequisites', () => {
  // a cluster dir of its own: whatever these runs did would show there
  const dir = join(scratch, 'cluster');
  const before = networkState();

  it('not root: one clear line, exit 1, nothing created', async () => {
    const r = await run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], ['cluster', 'up'], {
      MS2M_CLUSTER_DIR: dir,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /the local cluster needs root \(network namespaces, mounts, containerd, CRIU\): run it as root/,
    );
    expect(existsSync(dir)).toBe(false);
    expect(networkState()).toEqual(before);
  });

  it('no CRIU in the private prefix: names the install script, nothing created', async () => {
    const r = await run([], ['cluster', 'up'], { MS2M_CLUSTER_DIR: dir, MS2M_CACHE: join(scratch, 'empty-cache') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /criu [\d.-]+ is not installed under .*empty-cache.*: run `bash scripts\/install-criu.sh`/,
    );
    expect(existsSync(dir)).toBe(false);
    expect(networkState()).toEqual(before);
  });
});
