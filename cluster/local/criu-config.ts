/**
 * CRIU's configuration for runc. containerd's CRI checkpoint calls runc without `--tcp-established`, so a process
 * holding an established TCP connection (an AMQP consumer) cannot be dumped (`Connected TCP socket, consider using
 * --tcp-established`). runc reads `/etc/criu/runc.conf` for every checkpoint and restore; `tcp-close` there makes
 * CRIU dump such sockets and restore them closed: the restored consumer sees its connection closed and reconnects
 * (ARCHITECTURE.md §8); `skip-in-flight` drops connections not yet accepted. The file is written only if absent and removed only if it is still ours (marker line).
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from './files.ts';

export const RUNC_CRIU_CONFIG = '/etc/criu/runc.conf';
const MARKER = '# written by ms2m cluster up: removed by ms2m cluster down';
const CONTENT = [
  MARKER,
  '# established TCP connections are checkpointed and restored closed: the workload reconnects',
  'tcp-close',
  '# connections not yet accepted (a probe arriving during the dump) are dropped: their client retries',
  'skip-in-flight',
  '',
].join('\n');

export type CriuConfigState = 'ours' | 'foreign-with-tcp-close' | 'foreign-without-tcp-close' | 'absent';

export async function criuConfigState(): Promise<CriuConfigState> {
  if (!existsSync(RUNC_CRIU_CONFIG)) return 'absent';
  const text = await readFile(RUNC_CRIU_CONFIG, 'utf8');
  if (text.startsWith(MARKER)) return 'ours';
  return /^\s*tcp-(close|established)\s*$/m.test(text) ? 'foreign-with-tcp-close' : 'foreign-without-tcp-close';
}

/** Writes the config when there is none; returns a warning when a foreign one lacks a TCP option. */
export async function ensureCriuConfig(): Promise<string | null> {
  const state = await criuConfigState();
  if (state === 'absent' || (state === 'ours' && (await readFile(RUNC_CRIU_CONFIG, 'utf8')) !== CONTENT)) {
    await writeFileAtomic(RUNC_CRIU_CONFIG, CONTENT);
  }
  if (state === 'foreign-without-tcp-close') {
    return `${RUNC_CRIU_CONFIG} exists and is not ms2m's: it has no 'tcp-close' line, so checkpoints of pods with open TCP connections will fail; add 'tcp-close' to it`;
  }
  return null;
}

/** Removes the config only if ms2m wrote it. */
export async function removeCriuConfig(): Promise<void> {
  if ((await criuConfigState()) === 'ours') await rm(RUNC_CRIU_CONFIG, { force: true });
}
