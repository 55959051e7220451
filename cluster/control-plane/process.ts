/**
 * One server process of the local cluster: started with its output in a log file, watched for an early exit,
 * stopped by its own PID (SIGTERM, then SIGKILL after a grace period). Never by name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** A running (or exited) server process and where its output goes. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** `null` while running; `code N` or `signal S` once it has exited. */
  exitStatus(): string | null;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
}

const children = new Map<number, ChildProcess>();
let exitHookInstalled = false;

/** If the Node process exits without stopping its servers (an uncaught error), they go with it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of children.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Starts `bin args...` with stdout and stderr appended to `logPath`.
 *
 * @example
 * ```ts
 * const etcd = startServer('etcd', '/cache/etcd', ['--data-dir', dir], join(dir, 'etcd.log'));
 * await stopServer(etcd);
 * ```
 */
export function startServer(name: string, bin: string, args: readonly string[], logPath: string): ServerProcess {
  installExitHook();
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let status: string | null = null;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      status = `spawn error: ${err.message}`;
      resolve();
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (missing binary): the 'error' event follows
    return { name, pid: -1, logPath, exitStatus: () => status ?? `spawn error: ${spawnError?.message}`, exited };
  }
  const pid = child.pid;
  children.set(pid, child);
  void exited.then(() => children.delete(pid));
  return { name, pid, logPath, exitStatus: () => status, exited };
}

/** SIGTERM to the process's PID; SIGKILL if it is still there after `graceMs`. Resolves once it has exited. */
export async function stopServer(proc: ServerProcess, graceMs = 10_000): Promise<void> {
  if (proc.pid < 0 || proc.exitStatus() !== null) return;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(proc.pid, s);
    } catch {
      // exited between the check and the signal
    }
  };
  signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signal('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([proc.exited, killed]);
  clearTimeout(timer);
  await proc.exited;
}

/** The last `lines` lines of a log file ('' if it cannot be read). */
export async function tailLog(path: string, lines = 25, maxBytes = 64 * 1024): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}
