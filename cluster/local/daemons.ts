/**
 * The local cluster's long-running processes: started detached (own session, so they outlive `ms2m cluster up`),
 * optionally inside a network namespace (`nsenter --net`, which execs the program: the PID is the server's own),
 * with a PID file that also records the process's start time, so a PID the kernel reused for something else is
 * never signalled. Stopped by that PID only: SIGTERM, then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './files.ts';

export interface DaemonSpec {
  /** Unique within the cluster: names the PID file and the log. */
  readonly name: string;
  readonly bin: string;
  readonly args: readonly string[];
  /** Run inside `/var/run/netns/<netns>`. */
  readonly netns?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

interface PidRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot. */
  startTime: string;
  bin: string;
  args: readonly string[];
}

export const logPath = (dir: string, name: string): string => join(dir, 'logs', `${name}.log`);
const pidPath = (dir: string, name: string): string => join(dir, 'run', `${name}.pid`);

/** The start time of `pid` (or null when there is no such process). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: count fields after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** The recorded process if it is still the same process, else null. */
export async function runningDaemon(dir: string, name: string): Promise<PidRecord | null> {
  let rec: PidRecord;
  try {
    rec = JSON.parse(await readFile(pidPath(dir, name), 'utf8')) as PidRecord;
  } catch {
    return null;
  }
  const st = processStartTime(rec.pid);
  return st !== null && st === rec.startTime ? rec : null;
}

/**
 * Starts `spec` unless the process its PID file names is still running (idempotent). Returns its PID.
 *
 * @example
 * ```ts
 * await startDaemon(dir, { name: 'nats', bin: '/usr/sbin/nats-server', args: ['-js'], netns: 'ms2m-cp' });
 * ```
 */
export async function startDaemon(dir: string, spec: DaemonSpec): Promise<{ pid: number; started: boolean }> {
  const existing = await runningDaemon(dir, spec.name);
  if (existing) return { pid: existing.pid, started: false };
  await mkdir(join(dir, 'logs'), { recursive: true });
  await mkdir(join(dir, 'run'), { recursive: true });
  const [bin, args] = spec.netns
    ? ['nsenter', [`--net=/var/run/netns/${spec.netns}`, '--', spec.bin, ...spec.args]]
    : [spec.bin, [...spec.args]];
  const fd = openSync(logPath(dir, spec.name), 'a');
  let pid: number | undefined;
  try {
    const child = spawn(bin, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: spec.env ?? process.env,
      cwd: spec.cwd,
    });
    child.once('error', () => {});
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error(`could not start ${spec.name} (${spec.bin}): spawn failed`);
  // the start time is read at once: the process exists until someone reaps it, and we are its parent
  const startTime = processStartTime(pid);
  if (startTime === null) throw new Error(`${spec.name} (${spec.bin}) exited at once: see ${logPath(dir, spec.name)}`);
  await writeFileAtomic(
    pidPath(dir, spec.name),
    `${JSON.stringify({ pid, startTime, bin: spec.bin, args: spec.args } satisfies PidRecord)}\n`,
  );
  return { pid, started: true };
}

/** Every daemon with a PID file whose process is still the recorded one. */
export async function runningDaemons(dir: string): Promise<(PidRecord & { name: string })[]> {
  let files: string[];
  try {
    files = await readdir(join(dir, 'run'));
  } catch {
    return [];
  }
  const out: (PidRecord & { name: string })[] = [];
  for (const f of files.filter((x) => x.endsWith('.pid'))) {
    const name = f.slice(0, -'.pid'.length);
    const rec = await runningDaemon(dir, name);
    if (rec) out.push({ ...rec, name });
  }
  return out;
}

/** True while the process is there (not reaped, not a zombie). */
export function alive(pid: number, startTime: string): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Stops the daemon named `name` by its recorded PID: SIGTERM (to its process group when `group`), SIGKILL after
 * `graceMs`. Removes the PID file. A daemon that is not running is fine.
 */
export async function stopDaemon(
  dir: string,
  name: string,
  opts: { graceMs?: number; group?: boolean } = {},
): Promise<boolean> {
  const rec = await runningDaemon(dir, name);
  if (rec) {
    const target = opts.group ? -rec.pid : rec.pid;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(target, s);
      } catch {
        // gone between the check and the signal
      }
    };
    signal('SIGTERM');
    const deadline = Date.now() + (opts.graceMs ?? 10_000);
    while (alive(rec.pid, rec.startTime) && Date.now() < deadline) await sleep(50);
    if (alive(rec.pid, rec.startTime)) {
      signal('SIGKILL');
      const killDeadline = Date.now() + 5000;
      while (alive(rec.pid, rec.startTime) && Date.now() < killDeadline) await sleep(50);
    }
  }
  await rm(pidPath(dir, name), { force: true });
  return rec !== null;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
