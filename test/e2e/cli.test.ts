// The ms2m command line through its real entry point (bin/ms2m.ts in a new process): help with examples, exit codes
// (0 ok, 1 failed, 2 wrong usage), one-line errors, one JSON document for -o json, and reading commands that change
// nothing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bin/cli.ts';
import { treeState } from '../support/tree-state.ts';

const repoRoot = join(import.meta.dirname, '../..');
const goldenDir = join(repoRoot, 'test/golden');
// by URL: `--import tsx` would be resolved from the cwd, and some cases run elsewhere
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const root = mkdtempSync(join(tmpdir(), 'ms2m-cli-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ms2m ...args` as a real process (no shell), in `cwd`; a hang fails the test through the timeout. */
/** `env` entries set to undefined are removed from the child's environment. */
function ms2m(args: string[], cwd = repoRoot, env: Record<string, string | undefined> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `runCli` in this process (the same program without a process start: for the many help pages). */
async function inProcess(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(c: Buffer, _e, cb) {
        add(c.toString('utf8'));
        cb();
      },
    });
  const code = await runCli(args, {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
  });
  return { code, stdout, stderr };
}

/** A usage error: exit 2, nothing on stdout, exactly one line on stderr. */
function expectUsage(run: Run, message: RegExp) {
  expect(run).toMatchObject({ code: 2, stdout: '' });
  expect(run.stderr).toMatch(/^ms2m: [^\n]+\(run 'ms2m help' for usage\)\n$/);
  expect(run.stderr).toMatch(message);
}

/** A failure: exit 1, nothing on stdout, exactly one line on stderr. */
function expectFailure(run: Run, message: RegExp) {
  expect(run).toMatchObject({ code: 1, stdout: '' });
  expect(run.stderr).toMatch(/^ms2m: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
}

let n = 0;
const fresh = (label: string) => {
  const dir = join(root, `${label}-${++n}`);
  mkdirSync(dir);
  return dir;
};

/** A log directory holding golden logs as migrations `default/<name>` (written by earlier versions: legacy). */
function goldenLog(names: string[]): string {
  const dir = fresh('log');
  for (const name of names) {
    const lines = readFileSync(join(goldenDir, `${name}.jsonl`), 'utf8')
      .trimEnd()
      .split('\n');
    const id = `default/${name}`;
    const out = lines.map((l) => JSON.stringify({ ...JSON.parse(l), migrationId: id })).join('\n');
    writeFileSync(join(dir, `${encodeURIComponent(id)}.jsonl`), `${out}\n`);
  }
  return dir;
}

let logDir: string;
beforeAll(() => {
  logDir = goldenLog(['sequential', 'cancel-transferring', 'shadowpod-direct']);
});

const COMMANDS = ['migrate', 'status', 'follow', 'cancel', 'logs', 'timeline', 'demo', 'cluster', 'operator', 'agent'];

describe.concurrent('ms2m usage', () => {
  it('help prints the usage with every command, examples and the exit codes on stdout, exit 0', async () => {
    for (const arg of ['help', '--help', '-h']) {
      const run = await ms2m([arg]);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(
        /^Usage: ms2m \[options\] \[command\]\n[\s\S]*Examples:[\s\S]*Exit codes: 0 ok, 1 failed, 2 wrong usage\n$/,
      );
      const listed = [...run.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
      expect(listed).toEqual(expect.arrayContaining([...COMMANDS, 'help']));
    }
  });

  it('help <command> and <command> --help print its options and examples on stdout, exit 0', async () => {
    for (const command of COMMANDS) {
      const run = await inProcess(['help', command]);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(new RegExp(`^Usage: ms2m ${command} `));
      expect(run.stdout).toMatch(/\nExamples:\n {2}\$ ms2m /);
    }
    const migrate = await ms2m(['migrate', '--help']);
    expect(migrate).toMatchObject({ code: 0, stderr: '' });
    for (const flag of [
      '--to',
      '--strategy',
      '--transfer',
      '--replay-mode',
      '--cutoff',
      '--no-wait',
      '--timeout',
      '-n,',
    ])
      expect(migrate.stdout).toContain(flag);
    expect((await inProcess(['cluster', 'up', '--help'])).stdout).toMatch(/^Usage: ms2m cluster up \[options\]/);
  });

  it.each([
    [[], /no command given/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['stauts'], /unknown command 'stauts' \(did you mean status\?\)/],
    [['help', 'frobnicate'], /unknown command 'frobnicate'/],
    [['cluster'], /ms2m cluster needs a command: up, down, status/],
    [['cluster', 'sideways'], /unknown command 'sideways' for ms2m cluster/],
    [['timeline'], /ms2m timeline needs --log DIR \(an embedded event log directory\) or --nats URL/],
    [['status', '--id', 'default/m1'], /--id needs --log DIR or --nats URL/],
    [['status', '--log'], /--log needs a value/],
    [['status', '--log', '.', '--nats', 'nats://127.0.0.1:1'], /reads one log: give --log DIR or --nats URL, not both/],
    [['status', '--log', '.', '-o', 'wide'], /-o wide needs the API server/],
    [['status', 'm1', '--id', 'x', '--log', '.'], /give a name or --id, not both/],
    [['timeline', '--log', '--id', 'x'], /--log needs a value/],
    [['timeline', '--log', '.', '--bogus'], /unknown option --bogus for ms2m timeline/],
    [['timeline', '--log', '.', '--verbose'], /unknown option --verbose for ms2m timeline/],
    [['status', '--log', '.', '--dir', 'x'], /unknown option --dir for ms2m status/],
    [['timeline', '--log', '.', 'extra'], /unexpected argument 'extra' for ms2m timeline/],
    [['status', 'a', 'b'], /unexpected argument 'b' for ms2m status/],
    [['timeline', '--log', '.', '-o', 'yaml'], /-o yaml is not an output format of ms2m timeline; use text or json/],
    [
      ['status', '--log', '.', '--output=xml'],
      /-o xml is not an output format of ms2m status; use text, wide, json or yaml/,
    ],
    [['status', '--log', '.', '--id', ''], /--id needs a non-empty value/],
    [['timeline', '--log', ''], /--log needs a non-empty value/],
    [['demo', '--dir'], /--dir needs a value/],
    [['demo', '--keep=yes'], /--keep takes no value/],
    [['demo', '--transfer', 'Carrier'], /--transfer Carrier is not a transfer mode; use Direct or Registry/],
    [['demo', '--rate', '0'], /--rate needs a positive whole number/],
    [['demo', '--log', 'x'], /unknown option --log for ms2m demo/],
    [['migrate'], /ms2m migrate needs --to <node>/],
    [['migrate', '--to', 'node-b'], /ms2m migrate needs <pod>/],
    [['migrate', 'consumer'], /ms2m migrate needs --to <node>/],
    [
      ['migrate', 'consumer', '--to', 'node-b', '--strategy', 'Teleport'],
      /--strategy Teleport is not a strategy; use ShadowPod, Sequential or auto/,
    ],
    [
      ['migrate', 'consumer', '--to', 'node-b', '--replay-mode', 'drain'],
      /--replay-mode drain is not a replay mode; use Cutoff or Drain/,
    ],
    [
      ['migrate', 'consumer', '--to', 'node-b', '--cutoff', '-1'],
      /--cutoff needs a non-negative whole number, not '-1'/,
    ],
    [['migrate', 'consumer', '--to', 'node-b', '--cutoff', '2.5'], /--cutoff needs a non-negative whole number/],
    [
      ['migrate', 'consumer', '--to', 'node-b', '--deadline', 'Sleeping=5'],
      /--deadline needs PHASE=SECONDS with PHASE one of Pending, /,
    ],
    [
      ['migrate', 'consumer', '--to', 'node-b', '--timeout', 'soon'],
      /--timeout needs a duration like 90s, 5m or 1h30m, not 'soon'/,
    ],
    [['migrate', 'consumer', '--to', 'node-b', '--broker-secret', 'just-a-name'], /--broker-secret needs NAME\/KEY/],
    [
      ['migrate', 'consumer', '--to', 'node-b', '-o', 'csv'],
      /-o csv is not an output format of ms2m migrate; use text, json or yaml/,
    ],
    [['follow'], /ms2m follow needs <name>/],
    [['cancel'], /ms2m cancel needs <name>/],
    [['logs'], /ms2m logs needs <name>/],
    [['logs', 'm1'], /ms2m logs needs --log DIR \(an embedded event log directory\) or --nats URL/],
    [['logs', 'm1', '--log', '.', '-o', 'json'], /-o json is not an output format of ms2m logs; use text or jsonl/],
    [['operator', '--agent-token', 't'], /ms2m operator: set --log-dir DIR or --nats URL for the event log/],
    [['agent', '--port', 'x'], /--port needs a non-negative whole number, not 'x'/],
    [
      ['agent', '--containers-storage', 'maybe'],
      /--containers-storage maybe is not a containers-storage mode; use auto, on or off/,
    ],
  ])('ms2m %j is a one-line usage error with exit code 2', async (args, message) => {
    expectUsage(
      await ms2m(args, repoRoot, { KUBECONFIG: undefined, MS2M_NATS_URL: undefined, MS2M_AGENT_TOKEN: undefined }),
      message,
    );
  });
});

describe.concurrent('ms2m timeline and status', () => {
  it('timeline prints every migration of a log written by an earlier version; changes nothing', async () => {
    const before = await treeState(logDir);
    const run = await ms2m(['timeline', '--log', logDir]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const ids = run.stdout.split('\n').filter((l) => l.startsWith('default/'));
    expect(ids).toEqual(['default/cancel-transferring', 'default/sequential', 'default/shadowpod-direct']);
    expect(run.stdout).toMatch(/default\/sequential\n[\s\S]*StatefulSetRestored[\s\S]*Completed: total=/);
    expect(await treeState(logDir)).toEqual(before);
  });

  it('timeline -o json is one JSON document: an array with every row of every migration', async () => {
    const run = await ms2m(['timeline', '--log', logDir, '-o', 'json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const doc = JSON.parse(run.stdout);
    expect(doc.map((m: { migrationId: string }) => m.migrationId)).toEqual([
      'default/cancel-transferring',
      'default/sequential',
      'default/shadowpod-direct',
    ]);
    const sequential = doc[1];
    expect(sequential).toMatchObject({ phase: 'Completed', finished: true, summary: expect.stringMatching(/^total=/) });
    expect(sequential.rows).toHaveLength(
      readFileSync(join(goldenDir, 'sequential.jsonl'), 'utf8').trim().split('\n').length,
    );
    expect(sequential.rows[0]).toMatchObject({ seq: 1, type: 'MigrationRequested' });
  });

  it('status without --id is one JSON document keyed by migration id; with --id it is that status', async () => {
    const all = await ms2m(['status', '--log', logDir]);
    expect(all).toMatchObject({ code: 0, stderr: '' });
    const doc = JSON.parse(all.stdout);
    expect(Object.keys(doc)).toEqual(['default/cancel-transferring', 'default/sequential', 'default/shadowpod-direct']);
    expect(doc['default/sequential']).toMatchObject({ phase: 'Completed' });
    expect(doc['default/cancel-transferring'].phase).toBe('Failed');
    const one = await ms2m(['status', '--log', logDir, '--id', 'default/sequential', '-o', 'json']);
    expect(JSON.parse(one.stdout)).toEqual(doc['default/sequential']);
    const text = await ms2m(['status', '--log', logDir, '-o', 'text']);
    expect(text.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^default\/cancel-transferring {2}Failed {2}/),
      expect.stringMatching(/^default\/sequential {2}Completed {2}/),
      expect.stringMatching(/^default\/shadowpod-direct {2}Completed {2}/),
    ]);
  });

  it('an empty log directory: no migrations, exit 0, and still one JSON document', async () => {
    const dir = fresh('empty');
    expect(await ms2m(['timeline', '--log', dir])).toEqual({
      code: 0,
      stdout: `no migrations in ${dir}\n`,
      stderr: '',
    });
    expect(await ms2m(['timeline', '--log', dir, '-o', 'json'])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect(await ms2m(['status', '--log', dir])).toEqual({ code: 0, stdout: '{}\n', stderr: '' });
    expect(await ms2m(['status', '--log', dir, '-o', 'text'])).toMatchObject({
      code: 0,
      stdout: `no migrations in ${dir}\n`,
    });
  });

  it('a torn last line is reported as a warning and left as it is; the timeline is printed', async () => {
    const dir = goldenLog(['sequential']);
    const file = join(dir, 'default%2Fsequential.jsonl');
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"migrationId":"default/sequential","seq":22,"type":"Sta`);
    const before = await treeState(dir);
    const run = await ms2m(['timeline', '--log', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Completed: total=/);
    expect(run.stderr).toMatch(
      /^ms2m: warning: Ignored the unterminated last line of event log .*sequential\.jsonl at byte offset \d+ [^\n]*\n$/,
    );
    expect(await treeState(dir)).toEqual(before);
  });

  it('a --log that does not exist is an error, and nothing is created', async () => {
    const parent = fresh('missing');
    const run = await ms2m(['timeline', '--log', join(parent, 'a', 'b')]);
    expectFailure(run, /Event log directory .*a\/b not found: check the path \(reading a log never creates it\)/);
    expect(await treeState(parent)).toEqual([expect.objectContaining({ path: '.', kind: 'dir' })]);
    expectFailure(await ms2m(['status', '--log', join(parent, 'a')]), /not found/);
  });

  it.each([
    ['a file', (p: string) => writeFileSync(p, 'x'), /is not a directory \(it is a regular file\)/],
    ['a FIFO', (p: string) => spawnSync('mkfifo', [p]), /is not a directory \(it is a FIFO\)/],
    ['/proc/self/status', () => undefined, /\/proc\/self\/status: is not a directory/],
  ])('a --log that is %s is a one-line error (no errno, no hang)', async (what, make, message) => {
    const path = what.startsWith('/') ? what : join(fresh('notdir'), 'log');
    make(path);
    expectFailure(await ms2m(['timeline', '--log', path]), message);
    expectFailure(await ms2m(['status', '--log', path, '-o', 'json']), message);
  });

  it('/proc is read without hanging: no migrations', async () => {
    expect(await ms2m(['timeline', '--log', '/proc'])).toEqual({
      code: 0,
      stdout: 'no migrations in /proc\n',
      stderr: '',
    });
  });

  it.each([
    ['a FIFO', (p: string) => spawnSync('mkfifo', [p]), /default%2Fodd\.jsonl: is a FIFO, not an event log file/],
    ['a link to /dev/zero', (p: string) => symlinkSync('/dev/zero', p), /is a character device, not an event log file/],
  ])('a *.jsonl in the log that is %s is a one-line error, not a hang', async (_what, make, message) => {
    const dir = goldenLog(['sequential']);
    make(join(dir, 'default%2Fodd.jsonl'));
    const before = await treeState(dir);
    expectFailure(await ms2m(['timeline', '--log', dir]), message);
    expectFailure(await ms2m(['status', '--log', dir, '--id', 'default/odd']), message);
    expect((await ms2m(['status', '--log', dir, '--id', 'default/sequential'])).code).toBe(0);
    expect(await treeState(dir)).toEqual(before);
  });

  it('an --id that is not in the log names the known ones', async () => {
    const run = await ms2m(['status', '--log', logDir, '--id', 'default/nope']);
    expectFailure(
      run,
      /Migration default\/nope not found: no events of it in .* \(known: default\/cancel-transferring, default\/sequential, default\/shadowpod-direct\)/,
    );
    expectFailure(
      await ms2m(['timeline', '--log', fresh('empty'), '--id', 'default/x']),
      /the log holds no migrations/,
    );
  });

  it.each([
    [
      'a complete last line that is not JSON',
      (l: string[]) => [...l.slice(0, -1), `${l.at(-1)?.slice(0, -3)}`],
      /at seq 21: event is not JSON/,
    ],
    [
      'a string seq',
      (l: string[]) => l.map((x, i) => (i === 2 ? x.replace('"seq":3,', '"seq":"3",') : x)),
      /at seq 3: seq must be a number, found string "3"/,
    ],
    [
      'an event of an unknown type',
      (l: string[]) => l.map((x, i) => (i === 4 ? x.replace(/"type":"[A-Za-z]+"/, '"type":"Teleported"') : x)),
      /at seq 5: unknown event type 'Teleported'/,
    ],
    [
      'invalid data',
      (l: string[]) => l.map((x, i) => (i === 0 ? x.replace('"replayMaxSeconds":120', '"replayMaxSeconds":"2m"') : x)),
      /at seq 1: MigrationRequested has invalid data: data\.spec\.replayMaxSeconds: /,
    ],
  ])('%s is one line naming migration and seq, exit 1, log unchanged', async (_what, edit, message) => {
    const dir = goldenLog(['sequential']);
    const file = join(dir, 'default%2Fsequential.jsonl');
    writeFileSync(file, `${edit(readFileSync(file, 'utf8').trimEnd().split('\n')).join('\n')}\n`);
    const before = await treeState(dir);
    for (const command of ['timeline', 'status']) {
      const run = await ms2m([command, '--log', dir]);
      expectFailure(run, message);
      expect(run.stderr).toContain('Event log of StatefulMigration default/sequential');
    }
    expect(await treeState(dir)).toEqual(before);
  });
});
