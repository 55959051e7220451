// An agent from another commit, for before/after figures in one benchmark run (TRANSFER_BEFORE=<ref>). The commit's
// tree is extracted with `git archive` into a temp dir (nothing in the repository or its worktree changes), this
// checkout's node_modules linked into it, and that commit's own harness (test/harness/agent.ts) builds and starts its
// agent: bundled on plain node, exactly as that commit's tests and benchmark ran it.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { startAgentProcess } from '../test/harness/agent.ts';

const run = promisify(execFile);

export type StartAgent = typeof startAgentProcess;

/** Extracts `ref` under `dir`; returns its full commit id and its `startAgentProcess`. */
export async function agentAtCommit(ref: string, dir: string): Promise<{ commit: string; start: StartAgent }> {
  const repo = resolve(import.meta.dirname, '..');
  const commit = (await run('git', ['-C', repo, 'rev-parse', '--verify', `${ref}^{commit}`])).stdout.trim();
  const tree = join(dir, `agent-${commit.slice(0, 12)}`);
  mkdirSync(tree, { recursive: true });
  const archive = spawn('git', ['-C', repo, 'archive', '--format=tar', commit], { stdio: ['ignore', 'pipe', 'pipe'] });
  const untar = spawn('tar', ['-x', '-C', tree], { stdio: ['pipe', 'ignore', 'pipe'] });
  archive.stdout.pipe(untar.stdin);
  let err = '';
  for (const p of [archive, untar]) p.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exit = (p: typeof archive | typeof untar) => new Promise<number | null>((r) => p.once('close', r));
  const [a, t] = await Promise.all([exit(archive), exit(untar)]);
  if (a !== 0 || t !== 0) throw new Error(`agent at ${ref}: git archive | tar failed (${a}, ${t}): ${err.trim()}`);
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'));
  const harness = (await import(pathToFileURL(join(tree, 'test', 'harness', 'agent.ts')).href)) as {
    startAgentProcess: StartAgent;
  };
  return { commit, start: harness.startAgentProcess };
}
