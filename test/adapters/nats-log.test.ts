import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import type { Ms2mError } from '../../adapters/errors.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import { CorruptEventError, EventLogUnavailableError, StaleWriterError } from '../../adapters/event-log/port.ts';
import { type JetStreamLog, openJetStreamLog } from '../../adapters/nats/jetstream-log.ts';
import { parseReply } from '../../adapters/nats/stream-reader.ts';
import {
  decodeIdToken,
  encodeIdToken,
  legacySubject,
  streamOfSubject,
  streamSubject,
} from '../../adapters/nats/subject.ts';
import { keyText, type NewEvent, type StreamKey } from '../../machines/envelope.ts';
import { fold } from '../../machines/fold.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../../machines/migration-chart.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';
import { eventLogContract } from './event-log.contract.ts';

const logger = pino({ level: 'silent' });
let nats: NatsServer;
let log: JetStreamLog;
let streamNo = 0;

const ev = (type: string, data: unknown = {}): NewEvent => ({
  type,
  at: new Date().toISOString(),
  machineVersion: MIGRATION_VERSION,
  data,
});
const m = (id: string): StreamKey => ({ kind: MIGRATION_KIND, id });
const openFresh = (timeoutMs?: number) =>
  openJetStreamLog({
    servers: nats.url,
    stream: `T${++streamNo}`,
    subjectPrefix: `t${streamNo}.events`,
    logger,
    ...(timeoutMs ? { timeoutMs } : {}),
  });

beforeAll(async () => {
  nats = await startNats();
  log = await openJetStreamLog({ servers: nats.url, stream: 'MAIN', subjectPrefix: 'main.events', logger });
});
afterAll(async () => {
  await log?.close();
  await nats?.stop();
});

describe('stream key subject encoding', () => {
  it('round-trips any id and never yields a subject separator or wildcard', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (id) => {
        const token = encodeIdToken(id);
        expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeIdToken(token)).toBe(id);
        for (const kind of ['StatefulMigration', 'VolumeResize']) {
          const subject = streamSubject('ms2m.events', { kind, id });
          expect(streamOfSubject('ms2m.events', subject)).toEqual({ subject, key: { kind, id }, format: 'current' });
        }
        const legacy = legacySubject('ms2m.events', id);
        expect(streamOfSubject('ms2m.events', legacy)).toEqual({ subject: legacy, key: m(id), format: 'legacy' });
      }),
      { seed: 8_2026, numRuns: 300 },
    );
    expect(encodeIdToken('default/my.app')).toBe('default_2fmy_2eapp');
    expect(streamSubject('ms2m.events', { kind: 'VolumeResize', id: 'default/my.app' })).toBe(
      'ms2m.events.VolumeResize.default_2fmy_2eapp',
    );
  });

  it.each([
    ['another prefix', 'other.events.default_2fm1'],
    ['three tokens', 'ms2m.events.VolumeResize.x.y'],
    ['a kind that is not a kind name', 'ms2m.events.volume-resize.x'],
  ])('a subject with %s names no stream', (_what, subject) => {
    expect(streamOfSubject('ms2m.events', subject)).toBeNull();
  });
});

describe('JetStream event log', () => {
  it('stores envelopes on one subject per migration, in a file-backed limits stream', async () => {
    const l = await openFresh();
    const first = await l.append(m('default/orders'), ev('MigrationRequested', { a: 1 }), 0);
    expect(first).toMatchObject({ ...m('default/orders'), seq: 1, type: 'MigrationRequested', data: { a: 1 } });
    expect(l.locate(m('default/orders'))).toBe(
      `nats:T${streamNo}/t${streamNo}.events.StatefulMigration.default_2forders`,
    );
    const resize = { kind: 'VolumeResize', id: 'default/orders' };
    expect(await l.append(resize, ev('ResizeRequested'), 0)).toMatchObject({ ...resize, seq: 1 });
    expect(l.locate(resize)).toBe(`nats:T${streamNo}/t${streamNo}.events.VolumeResize.default_2forders`);
    await l.close();
  });

  it('two writers appending the same seq: exactly one wins, the other gets StaleWriterError', async () => {
    const other = await openJetStreamLog({ servers: nats.url, stream: 'MAIN', subjectPrefix: 'main.events', logger });
    await log.append(m('ns/race'), ev('A'), 0);
    const results = await Promise.allSettled([
      log.append(m('ns/race'), ev('FromWriter1', { w: 1 }), 1),
      other.append(m('ns/race'), ev('FromWriter2', { w: 2 }), 1),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(StaleWriterError);
    expect(lost[0]?.reason).toMatchObject({ code: 'STALE_WRITER' });
    const stored = await other.read(m('ns/race'));
    expect(stored.map((e) => e.seq)).toEqual([1, 2]);
    // a writer with an old view is rejected even after the duplicate window would have let the msgID through
    await expect(other.append(m('ns/race'), ev('Late'), 1)).rejects.toBeInstanceOf(StaleWriterError);
    await other.close();
  });

  it('a retried append after a lost ack returns the stored envelope and stores no second copy', async () => {
    const e1 = ev('A', { n: 1 });
    const stored = await log.append(m('ns/retry'), e1, 0);
    const again = await log.append(m('ns/retry'), e1, 0);
    expect(again).toEqual(stored);
    const e2 = ev('B', { n: 2 });
    await log.append(m('ns/retry'), e2, 1);
    const fresh = await openJetStreamLog({ servers: nats.url, stream: 'MAIN', subjectPrefix: 'main.events', logger });
    expect(await fresh.append(m('ns/retry'), e2, 1)).toMatchObject({ seq: 2, type: 'B' });
    expect((await fresh.read(m('ns/retry'))).map((e) => e.type)).toEqual(['A', 'B']);
    // the same event at the same seq of another kind is its own stream: stored, not taken for a duplicate msgID
    const otherKind = { kind: 'VolumeResize', id: 'ns/retry' };
    expect(await fresh.append(otherKind, e1, 0)).toMatchObject({ ...otherKind, seq: 1, type: 'A' });
    expect(await fresh.read(otherKind)).toHaveLength(1);
    await fresh.close();
  });

  it('reads from a seq, lists migrations, reads everything grouped in order, and compacts a finished one', async () => {
    const l = await openFresh();
    for (let i = 0; i < 5; i++) for (let s = 0; s < 4; s++) await l.append(m(`ns/m${i}`), ev(`E${s}`), s);
    expect((await l.read(m('ns/m3'), 3)).map((e) => e.seq)).toEqual([3, 4]);
    expect(await l.read(m('ns/unknown'))).toEqual([]);
    expect(await l.list()).toEqual(['ns/m0', 'ns/m1', 'ns/m2', 'ns/m3', 'ns/m4'].map(m));
    const seen = new Map<string, number[]>();
    for await (const e of l.readAll()) seen.set(keyText(e), [...(seen.get(keyText(e)) ?? []), e.seq]);
    expect([...seen.values()]).toEqual(Array.from({ length: 5 }, () => [1, 2, 3, 4]));
    expect(await l.compact(m('ns/m2'))).toBe(4);
    expect(await l.list()).toEqual(['ns/m0', 'ns/m1', 'ns/m3', 'ns/m4'].map(m));
    expect(await l.read(m('ns/m2'))).toEqual([]);
    await l.close();
  });

  it('watch yields only events appended after it started, filtered by migration, until aborted', async () => {
    const l = await openFresh();
    await l.append(m('ns/w1'), ev('Before'), 0);
    const ac = new AbortController();
    const all: string[] = [];
    const one: string[] = [];
    const watchAll = (async () => {
      for await (const e of l.watch({ signal: ac.signal })) all.push(`${e.id}#${e.seq}`);
    })();
    const watchOne = (async () => {
      for await (const e of l.watch({ ...m('ns/w2'), signal: ac.signal })) {
        one.push(`${e.id}#${e.seq}`);
        if (one.length === 2) break;
      }
    })();
    await l.append(m('ns/w1'), ev('After'), 1);
    await l.append(m('ns/w2'), ev('After'), 0);
    await l.append(m('ns/w2'), ev('After2'), 1);
    await watchOne;
    while (all.length < 3) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await watchAll;
    expect(one).toEqual(['ns/w2#1', 'ns/w2#2']);
    expect(all).toEqual(['ns/w1#2', 'ns/w2#1', 'ns/w2#2']);
    await l.close();
  });

  it('nats-server killed mid-append: appends fail typed meanwhile, then resume with no event lost or duplicated', async () => {
    const l = await openFresh(1000);
    const id = m('ns/fault');
    const total = 60;
    const failures: unknown[] = [];
    let killed = false;
    for (let seq = 0; seq < total; ) {
      if (seq === 20 && !killed) {
        killed = true;
        void nats.kill();
      }
      try {
        await l.append(id, ev('Step', { seq: seq + 1 }), seq);
        seq++;
      } catch (err) {
        failures.push(err);
        if (failures.length === 1) await expect(l.read(id)).rejects.toBeInstanceOf(EventLogUnavailableError);
        if (failures.length === 3 && killed) await nats.start();
      }
    }
    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (const f of failures) {
      expect(f).toBeInstanceOf(EventLogUnavailableError);
      expect((f as Ms2mError).transient).toBe(true);
    }
    const stored = await l.read(id);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(stored.map((e) => (e.data as { seq: number }).seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    await l.close();
  });
});

describe('JetStream event log: stored messages are validated like file lines', () => {
  const envelope = (id: string, seq: unknown, extra: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ kind: MIGRATION_KIND, id, seq, ...ev('E', { seq }), ...extra }));
  const cases: Array<[string, (id: string) => Uint8Array, RegExp]> = [
    ['a body that is not JSON', () => Buffer.from('{"kind":'), /at seq 2: event is not JSON/],
    [
      'a body that is not UTF-8',
      (id) => Buffer.concat([envelope(id, 2).subarray(0, 30), Buffer.from([0xc0, 0xaf]), envelope(id, 2).subarray(31)]),
      /at seq 2: event is not valid UTF-8/,
    ],
    ['a string seq', (id) => envelope(id, '2'), /at seq 2: seq must be a number, found string "2"/],
    ['a seq gap', (id) => envelope(id, 3), /at seq 2: seq gap: seq 3 follows seq 1/],
    ['a repeated seq', (id) => envelope(id, 1), /at seq 2: seq 1 repeats or goes back/],
    ['another migration', (id) => envelope(`${id}-other`, 2), /at seq 2: envelope names StatefulMigration "/],
    ['another kind', (id) => envelope(id, 2, { kind: 'VolumeResize' }), /at seq 2: envelope names kind "VolumeResize"/],
    [
      'a legacy body on a current subject',
      (id) => Buffer.from(JSON.stringify({ migrationId: id, seq: 2, ...ev('E') })),
      /at seq 2: kind must be a string, found nothing/,
    ],
    ['a missing type', (id) => envelope(id, 2, { type: undefined }), /at seq 2: type must be a non-empty string/],
  ];
  it.each(cases)('%s is a CorruptEventError naming stream, seq and stream seq', async (_what, body, message) => {
    const l = await openFresh();
    const prefix = `t${streamNo}.events`;
    const id = 'ns/corrupt';
    await l.append(m(id), ev('Good'), 0);
    await l.append(m('ns/fine'), ev('Good'), 0);
    const nc = await connect({ servers: nats.url });
    const ack = await jetstream(nc).publish(streamSubject(prefix, m(id)), body(id));
    await nc.close();
    const err = await l.read(m(id)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`at stream seq ${ack.seq}`);
    expect(err).toMatchObject({
      code: 'CORRUPT_EVENT',
      details: { kind: MIGRATION_KIND, id, seq: 2, streamSeq: ack.seq },
    });
    await expect(
      (async () => {
        for await (const _ of l.readAll());
      })(),
    ).rejects.toBeInstanceOf(CorruptEventError);
    expect(await l.read(m('ns/fine'))).toHaveLength(1); // the rest of the stream is still readable
    await l.close();
  });

  it('an append after a corrupt last message is refused as corruption, not as an outage or a stale writer', async () => {
    const l = await openFresh();
    const id = m('ns/corrupt-tail');
    await l.append(id, ev('Good'), 0);
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish(streamSubject(`t${streamNo}.events`, id), Buffer.from('not json'));
    await nc.close();
    const fresh = await openJetStreamLog({
      servers: nats.url,
      stream: `T${streamNo}`,
      subjectPrefix: `t${streamNo}.events`,
      logger,
    });
    await expect(fresh.append(id, ev('Next'), 1)).rejects.toBeInstanceOf(CorruptEventError);
    await fresh.close();
    await l.close();
  });

  it('a watch stops with CorruptEventError at a corrupt message', async () => {
    const l = await openFresh();
    const id = 'ns/corrupt-watch';
    await l.append(m(id), ev('Good'), 0);
    const watching = (async () => {
      for await (const _ of l.watch(m(id)));
    })().then(
      () => new Error('the watch ended without an error'),
      (err: unknown) => err,
    );
    await l.append(m(id), ev('Good'), 1);
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish(streamSubject(`t${streamNo}.events`, m(id)), envelope(id, 7));
    await nc.close();
    const err = await watching;
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(/at seq 3: seq gap: seq 7 follows seq 2/);
    await l.close();
  });
});

describe('JetStream event log: migrations logged before kinds (legacy subjects) beside streams of every kind', () => {
  const goldenDir = join(import.meta.dirname, '../golden');

  /** A fresh stream holding the sequential golden log on its legacy subject, as an earlier version left it. */
  async function withLegacyMigration() {
    const l = await openFresh();
    const prefix = `t${streamNo}.events`;
    const lines = (await readFile(join(goldenDir, 'sequential.jsonl'), 'utf8')).trimEnd().split('\n');
    const id = JSON.parse(lines[0]!).migrationId as string;
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    for (const [i, line] of lines.entries()) {
      await js.publish(legacySubject(prefix, id), Buffer.from(line), { msgID: `${id}:${i + 1}` });
    }
    await nc.close();
    return { l, prefix, id, count: lines.length, legacy: m(id) };
  }

  it('lists and reads both layouts; legacy events come back upcast and fold to the recorded snapshot', async () => {
    const { l, id, count, legacy } = await withLegacyMigration();
    const fresh = m('default/m2');
    const resize = { kind: 'VolumeResize', id };
    await l.append(fresh, ev('MigrationRequested'), 0);
    await l.append(resize, ev('ResizeRequested'), 0);
    expect(await l.list()).toEqual([legacy, fresh, resize]);
    expect(await l.list(MIGRATION_KIND)).toEqual([legacy, fresh]);
    expect(await l.list('VolumeResize')).toEqual([resize]);
    const events = await l.read(legacy);
    expect(events).toHaveLength(count);
    expect(events.every((e) => e.kind === MIGRATION_KIND && e.id === id && !('migrationId' in e))).toBe(true);
    const final = fold(migrationChart, id, parseLog(migrationChart, events, id))!;
    const recorded = JSON.parse(await readFile(join(goldenDir, 'sequential.snapshot.json'), 'utf8'));
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded);
    expect(await l.read(resize)).toHaveLength(1);
    const last = new Map<string, number>();
    for await (const e of l.readAll()) last.set(keyText(e), e.seq);
    expect(Object.fromEntries(last)).toEqual({ [keyText(legacy)]: count, [keyText(fresh)]: 1, [keyText(resize)]: 1 });
    await l.close();
  });

  it('an append continues a legacy migration on its legacy subject, in the legacy format; a writer at seq 0 is stale', async () => {
    const { l, prefix, id, count, legacy } = await withLegacyMigration();
    // a writer that thinks the migration is new must not start it again on the current-layout subject
    const fromScratch = await openJetStreamLog({
      servers: nats.url,
      stream: `T${streamNo}`,
      subjectPrefix: prefix,
      logger,
    });
    await expect(fromScratch.append(legacy, ev('MigrationRequested'), 0)).rejects.toBeInstanceOf(StaleWriterError);
    await fromScratch.close();
    const stored = await l.append(legacy, ev('Later', { n: 1 }), count);
    expect(stored).toMatchObject({ kind: MIGRATION_KIND, id, seq: count + 1, type: 'Later' });
    expect(l.locate(legacy)).toBe(`nats:T${streamNo}/${legacySubject(prefix, id)}`);
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const body = await jsm.streams.getMessage(`T${streamNo}`, { last_by_subj: legacySubject(prefix, id) });
    expect(JSON.parse(new TextDecoder().decode(body!.data))).toEqual({
      migrationId: id,
      seq: count + 1,
      ...ev('Later', { n: 1 }),
      at: stored.at,
    });
    expect(await jsm.streams.getMessage(`T${streamNo}`, { last_by_subj: streamSubject(prefix, legacy) })).toBeNull();
    await nc.close();
    // a retry after a lost ack, from a new process: recognised by the canonical event
    const again = await openJetStreamLog({ servers: nats.url, stream: `T${streamNo}`, subjectPrefix: prefix, logger });
    expect(await again.append(legacy, { ...ev('Later', { n: 1 }), at: stored.at }, count)).toEqual(stored);
    expect((await again.read(legacy)).map((e) => e.seq)).toEqual(Array.from({ length: count + 1 }, (_, i) => i + 1));
    await again.close();
    await l.close();
  });

  it('a watch of StatefulMigration sees legacy and current subjects; a watch of another kind sees only its own', async () => {
    const { l, id, count, legacy } = await withLegacyMigration();
    const fresh = m('default/m2');
    const resize = { kind: 'VolumeResize', id };
    const ac = new AbortController();
    const collect = async (o: { kind: string; id?: string }, until: number) => {
      const seen: string[] = [];
      for await (const e of l.watch({ ...o, signal: ac.signal })) {
        seen.push(`${keyText(e)}#${e.seq}`);
        if (seen.length === until) break;
      }
      return seen;
    };
    const migrations = collect({ kind: MIGRATION_KIND }, 2);
    const legacyOnly = collect(legacy, 1);
    const resizes = collect({ kind: 'VolumeResize' }, 1);
    await l.append(resize, ev('ResizeRequested'), 0);
    await l.append(legacy, ev('Later'), count);
    await l.append(fresh, ev('MigrationRequested'), 0);
    expect(await migrations).toEqual([`${keyText(legacy)}#${count + 1}`, `${keyText(fresh)}#1`]);
    expect(await legacyOnly).toEqual([`${keyText(legacy)}#${count + 1}`]);
    expect(await resizes).toEqual([`${keyText(resize)}#1`]);
    ac.abort();
    await l.close();
  });

  it('a message on a subject that names no stream is corruption, naming its stream seq', async () => {
    const l = await openFresh();
    await l.append(m('ns/a'), ev('A'), 0);
    const nc = await connect({ servers: nats.url });
    const ack = await jetstream(nc).publish(`t${streamNo}.events.x.y.z`, Buffer.from('{}'));
    await nc.close();
    await expect(
      (async () => {
        for await (const _ of l.readAll());
      })(),
    ).rejects.toMatchObject({ code: 'CORRUPT_EVENT', details: { streamSeq: ack.seq } });
    await l.close();
  });
});

describe('openEventLog', () => {
  it('opens the JetStream log or the file log from configuration', async () => {
    const viaNats = await openEventLog(
      { kind: 'nats', servers: nats.url, stream: 'CFG', subjectPrefix: 'cfg.events' },
      logger,
    );
    expect(viaNats.locate(m('ns/a'))).toBe('nats:CFG/cfg.events.StatefulMigration.ns_2fa');
    expect((await viaNats.append(m('ns/a'), ev('A'), 0)).seq).toBe(1);
    await viaNats.close();
    const dir = await mkdtemp(join(tmpdir(), 'ms2m-open-'));
    const viaFile = await openEventLog({ kind: 'file', dir }, logger);
    expect((await viaFile.append(m('ns/a'), ev('A'), 0)).seq).toBe(1);
    expect(viaFile.locate(m('ns/a'))).not.toContain('nats:');
    await viaFile.close();
    await rm(dir, { recursive: true, force: true });
  });
});

eventLogContract('nats jetstream', () =>
  openJetStreamLog({ servers: nats.url, stream: 'CONTRACT', subjectPrefix: 'contract.events', logger }),
);

describe('push consumer reply subjects', () => {
  it('parses stream sequence and pending count from v1 and v2 ack subjects', () => {
    expect(parseReply('$JS.ACK.MS2M_EVENTS.abc.1.4711.12.1700000000000000000.99')).toEqual({
      streamSeq: 4711,
      pending: 99,
    });
    expect(parseReply('$JS.ACK.hub.ACCHASH.MS2M_EVENTS.abc.1.4711.12.1700000000000000000.0.xyz')).toEqual({
      streamSeq: 4711,
      pending: 0,
    });
  });
});
