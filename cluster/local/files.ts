/** Small file helpers of the local cluster: atomic writes and running a command with a timeout. */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic as writeDurably } from '../../adapters/file-log/atomic-file.ts';

const execFileP = promisify(execFile);

/** Writes `data` to `path` atomically and durably (adapters/file-log/atomic-file.ts), creating its directory. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeDurably(path, data, { mode });
}

/** A command of the cluster's setup failed; `stderr` is the command's own message. */
export class CommandError extends Error {
  readonly code = 'CLUSTER_COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`\`${command}\` failed: ${stderr.trim() || '(no output)'}`, options);
    this.name = 'CommandError';
  }
}

/** Runs `bin args` (timeout 60 s by default) and returns stdout; throws CommandError with stderr. */
export async function sh(
  bin: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileP(bin, [...args], {
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 64 * 1024 * 1024,
      env: opts.env ?? process.env,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CommandError([bin, ...args].join(' '), e.stderr || e.message, { cause: err });
  }
}

/** Like `sh`, but a failure is returned as null (for probes and best-effort cleanup). */
export async function trySh(
  bin: string,
  args: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<string | null> {
  try {
    return await sh(bin, args, opts);
  } catch {
    return null;
  }
}
