/**
 * `ms2m logs`, `status --nats` and `timeline --nats` against a real nats-server (JetStream): the golden
 * migrations written by the JetStream log, read back by the CLI read-only (the stream is never created, updated
 * or written), `-o jsonl` equal to what the log stores, and `logs -f` following appends until the migration ends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JetStreamLog, openJetStreamLog } from '../../adapters/nats/jetstream-log.ts';
import { runCli } from '../../bin/cli.ts';
import type { NewEvent, StreamKey } from '../../machines/envelope.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';

const goldenDir = join(import.meta.dirname, '../golden');
const logger = pino({ level: 'silent' });
let nats: NatsServer;
let log: JetStreamLog;

/** A golden log's events as the log appends them. */
const golden = (name: string): NewEvent[] =>
  readFileSync(join(goldenDir, `${name}.jsonl`), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => {
      const { type, at, machineVersion, data } = JSON.parse(l);
      return { type, at, machineVersion, data };
    });

const key = (id: string): StreamKey => ({ kind: MIGRATION_KIND, id });

async function appendAll(k: StreamKey, events: NewEvent[], after = 0): Promise<void> {
  for (const [i, e] of events.entries()) await log.append(k, e, after + i);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ms2m(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(c: Buffer, _e, cb) {
        add(c.toString('utf8'));
        cb();
      },
    });
  const code = await runCli(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

/** What the CLI must leave as it was: every stream's config and state. */
async function streams(): Promise<unknown[]> {
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const all: unknown[] = [];
    for await (const s of jsm.streams.list()) {
      const { ts: _ts, ...state } = s.state as typeof s.state & { ts?: unknown };
      all.push({ config: s.config, state });
    }
    return all;
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  nats = await startNats();
  log = await openJetStreamLog({ servers: nats.url, logger });
  await appendAll(key('default/seq/uid-1'), golden('sequential'));
  await appendAll(key('shop/cancelled/uid-2'), golden('cancel-transferring'));
});
afterAll(async () => {
  await log?.close();
  await nats?.stop();
});

describe('ms2m logs --nats', () => {
  it('prints every event of the migration named in -n (text), and exactly the stored envelopes (-o jsonl)', async () => {
    const stored = await log.read(key('default/seq/uid-1'));
    const before = await streams();
    const text = await ms2m('logs', 'seq', '-n', 'default', '--nats', nats.url);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(stored.length);
    expect(lines[0]).toMatch(/^ {3}1 {2}2026-03-16T09:00:00\.000Z +\+0\.000s {2}Pending +MigrationRequested/);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^ +${stored.length} {2}\\S+ +\\+[\\d.]+s {2}Completed +StatefulSetRestored`),
    );
    const jsonl = await ms2m('logs', 'default/seq', '--nats', nats.url, '-o', 'jsonl');
    expect(jsonl.code).toBe(0);
    expect(
      jsonl.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(stored);
    // by stream id, in another namespace
    const cancelled = await ms2m('logs', 'shop/cancelled/uid-2', '--nats', nats.url, '-o', 'jsonl');
    expect(cancelled.stdout.trimEnd().split('\n')).toHaveLength(golden('cancel-transferring').length);
    expect(await streams()).toEqual(before);
  });

  it('status --nats and timeline --nats read the same log', async () => {
    const status = await ms2m('status', 'seq', '-n', 'default', '--nats', nats.url);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'Completed' });
    const tl = await ms2m('timeline', '--nats', nats.url, '-o', 'json');
    expect(JSON.parse(tl.stdout).map((m: { migrationId: string; phase: string }) => [m.migrationId, m.phase])).toEqual([
      ['default/seq/uid-1', 'Completed'],
      ['shop/cancelled/uid-2', 'Failed'],
    ]);
  });

  it('a stream that is not there is one line, exit 1, and is not created; an unknown name lists the known', async () => {
    const before = await streams();
    const run = await ms2m('logs', 'seq', '--nats', nats.url, '--nats-stream', 'NOPE');
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `ms2m: JetStream stream NOPE on ${nats.url} not found: no ms2m event log there: check the NATS URL and the stream name (reading never creates it)\n`,
    });
    expect(await streams()).toEqual(before);
    const unknown = await ms2m('logs', 'nope', '-n', 'default', '--nats', nats.url);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toBe(
      `ms2m: Migration default/nope not found: no events of it in ${nats.url} (known: default/seq/uid-1, shop/cancelled/uid-2)\n`,
    );
  });

  it('an unreachable server is one line, exit 1', async () => {
    const run = await ms2m('logs', 'seq', '--nats', 'nats://127.0.0.1:1');
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toMatch(/^ms2m: [^\n]*connect to nats:\/\/127\.0\.0\.1:1[^\n]*\n$/);
  });

  it('logs -f prints events as they are appended and ends when the migration has ended', async () => {
    const events = golden('sequential');
    const k = key('default/live/uid-3');
    await appendAll(k, events.slice(0, 5));
    const following = ms2m('logs', 'live', '-n', 'default', '--nats', nats.url, '-f', '-o', 'jsonl');
    for (let i = 5; i < events.length; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await log.append(k, events[i] as NewEvent, i);
    }
    const run = await following;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(await log.read(k));
  });

  it('logs -f gives up at --timeout when the migration does not end', async () => {
    const k = key('default/stuck/uid-4');
    await appendAll(k, golden('sequential').slice(0, 3));
    const run = await ms2m('logs', 'stuck', '-n', 'default', '--nats', nats.url, '-f', '--timeout', '2s');
    expect(run.code).toBe(1);
    expect(run.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(run.stderr).toBe('ms2m: Migration default/stuck/uid-4 has not ended after 2s (--timeout)\n');
  });
});
