/**
 * Running the ms2m CLI in tests: `runCliCapture` (runCli in this process, output captured; optionally a TTY
 * stderr) and `collect` (a child process's exit code and output, SIGKILL at a timeout).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { runCli } from '../../bin/cli.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export const repoRoot = join(import.meta.dirname, '../..');
/** By URL: `--import tsx` would be resolved from the cwd. */
export const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
/** `node --import tsx bin/ms2m.ts` without the arguments: spawn(process.execPath, [...ms2mEntry, ...args]). */
export const ms2mEntry = ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts')];

const sink = (add: (s: string) => void) =>
  new Writable({
    write(c: Buffer, _e, cb) {
      add(c.toString('utf8'));
      cb();
    },
  });

/**
 * `ms2m ...args` through runCli in this process.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runCliCapture(['status', '-o', 'json']);
 * ```
 */
export async function runCliCapture(args: string[], o: { tty?: boolean } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const err = sink((s) => (stderr += s));
  const code = await runCli(args, {
    stdout: sink((s) => (stdout += s)),
    stderr: o.tty ? Object.assign(err, { isTTY: true, columns: 160 }) : err,
  });
  return { code, stdout, stderr };
}

/** A child's exit code and output; SIGKILL after `timeoutMs` (a hang fails the test). */
export function collect(child: ChildProcess, timeoutMs: number): Promise<CliRun> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
