// `ms2m agent` as a real process (bin/ms2m.ts): it listens where its flags say, answers /v1/healthz only with its
// token, logs JSON lines on stdout, and stops on SIGTERM with exit 0; a bad setting is a one-line usage error.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';

const repoRoot = join(import.meta.dirname, '../..');
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const root = mkdtempSync(join(tmpdir(), 'ms2m-cli-agent-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Child {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
}

function start(args: string[], env: Record<string, string | undefined> = {}): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, out: () => out, err: () => err, done };
}

describe('ms2m agent', () => {
  it('listens on its --host/--port, answers /v1/healthz with the token, stops on SIGTERM (exit 0)', async () => {
    const store = join(root, 'store');
    const tokenFile = join(root, 'token');
    writeFileSync(tokenFile, 'file-token\n');
    const a = start(['agent', '--token-file', tokenFile, '--host', '127.0.0.1', '--port', '0', '--store', store], {
      MS2M_AGENT_TOKEN: undefined,
      MS2M_AGENT_CONTAINERS_STORAGE: 'off',
      MS2M_AGENT_CHECKPOINTS: join(root, 'cp'),
    });
    try {
      const port = await eventually(
        'ms2m agent listening',
        async () => /listening on 127\.0\.0\.1:(\d+); Ctrl-C stops it/.exec(a.err())?.[1],
        150_000,
      );
      const url = `http://127.0.0.1:${port}/v1/healthz`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer file-token' } })).status).toBe(200);
      // pino's JSON lines on stdout, the settings the flags gave
      const listening = a
        .out()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((r) => r.msg === 'Agent listening');
      expect(listening).toMatchObject({
        port: Number(port),
        host: '127.0.0.1',
        storeDir: store,
        containersStorage: false,
      });
    } finally {
      a.child.kill('SIGTERM');
    }
    expect(await a.done).toBe(0);
  });

  it('without a token it is a one-line usage error, exit 2', async () => {
    const a = start(['agent', '--port', '0'], { MS2M_AGENT_TOKEN: undefined, MS2M_AGENT_TOKEN_FILE: undefined });
    expect(await a.done).toBe(2);
    expect(a.err()).toBe(
      "ms2m: ms2m agent needs --token or --token-file (or MS2M_AGENT_TOKEN or MS2M_AGENT_TOKEN_FILE) (run 'ms2m help' for usage)\n",
    );
  });
});
