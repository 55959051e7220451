// What a benchmark reads about its child processes from /proc (Linux): peak RSS and CPU time.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`: 100 on every Linux we run on). */
const CLK_TCK = 100;

/** Peak resident set size (VmHWM) of a running process, MiB. */
export function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export interface CpuTime {
  /** Seconds in user space. */
  user: number;
  /** Seconds in the kernel (system calls: socket reads, page-cache copies, fsync). */
  sys: number;
}

/** CPU time a running process has used so far (utime, stime of /proc/<pid>/stat). */
export function cpuTime(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
}

/** CPU time used between two readings. */
export const cpuSince = (before: CpuTime, after: CpuTime): CpuTime => ({
  user: after.user - before.user,
  sys: after.sys - before.sys,
});
