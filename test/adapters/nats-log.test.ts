import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ms2mError } from '../../adapters/errors.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import { CorruptEventError, EventLogUnavailableError, StaleWriterError } from '../../adapters/event-log/port.ts';
import { type JetStreamLog, openJetStreamLog } from '../../adapters/nats/jetstream-log.ts';
import { parseReply } from '../../adapters/nats/stream-reader.ts';
import { decodeMigrationId, encodeMigrationId, migrationSubject } from '../../adapters/nats/subject.ts';
import { MACHINE_VERSION, type NewEvent } from '../../machines/envelope.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';
import { eventLogContract } from './event-log.contract.ts';

const logger = pino({ level: 'silent' });
let nats: NatsServer;
let log: JetStreamLog;
let streamNo = 0;

const ev = (type: string, data: unknown = {}): NewEvent => ({
  type,
  at: new Date().toISOString(),
  machineVersion: MACHINE_VERSION,
  data,
});
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

describe('migration id subject encoding', () => {
  it('round-trips any id and never yields a subject separator or wildcard', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (id) => {
        const token = encodeMigrationId(id);
        expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeMigrationId(token)).toBe(id);
      }),
    );
    expect(encodeMigrationId('default/my.app')).toBe('default_2fmy_2eapp');
  });
});

describe('JetStream event log', () => {
  it('stores envelopes on one subject per migration, in a file-backed limits stream', async () => {
    const l = await openFresh();
    const first = await l.append('default/orders', ev('MigrationRequested', { a: 1 }), 0);
    expect(first).toMatchObject({ migrationId: 'default/orders', seq: 1, type: 'MigrationRequested', data: { a: 1 } });
    expect(l.locate('default/orders')).toBe(`nats:T${streamNo}/t${streamNo}.events.default_2forders`);
    await l.close();
  });

  it('two writers appending the same seq: exactly one wins, the other gets StaleWriterError', async () => {
    const other = await openJetStreamLog({ servers: nats.url, stream: 'MAIN', subjectPrefix: 'main.events', logger });
    await log.append('ns/race', ev('A'), 0);
    const results = await Promise.allSettled([
      log.append('ns/race', ev('FromWriter1', { w: 1 }), 1),
      other.append('ns/race', ev('FromWriter2', { w: 2 }), 1),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(StaleWriterError);
    expect(lost[0]?.reason).toMatchObject({ code: 'STALE_WRITER' });
    const stored = await other.read('ns/race');
    expect(stored.map((e) => e.seq)).toEqual([1, 2]);
    // a writer with an old view is rejected even after the duplicate window would have let the msgID through
    await expect(other.append('ns/race', ev('Late'), 1)).rejects.toBeInstanceOf(StaleWriterError);
    await other.close();
  });

  it('a retried append after a lost ack returns the stored envelope and stores no second copy', async () => {
    const e1 = ev('A', { n: 1 });
    const stored = await log.append('ns/retry', e1, 0);
    const again = await log.append('ns/retry', e1, 0);
    expect(again).toEqual(stored);
    const e2 = ev('B', { n: 2 });
    await log.append('ns/retry', e2, 1);
    const fresh = await openJetStreamLog({ servers: nats.url, stream: 'MAIN', subjectPrefix: 'main.events', logger });
    expect(await fresh.append('ns/retry', e2, 1)).toMatchObject({ seq: 2, type: 'B' });
    expect((await fresh.read('ns/retry')).map((e) => e.type)).toEqual(['A', 'B']);
    await fresh.close();
  });

  it('reads from a seq, lists migrations, reads everything grouped in order, and compacts a finished one', async () => {
    const l = await openFresh();
    for (let m = 0; m < 5; m++) for (let s = 0; s < 4; s++) await l.append(`ns/m${m}`, ev(`E${s}`), s);
    expect((await l.read('ns/m3', 3)).map((e) => e.seq)).toEqual([3, 4]);
    expect(await l.read('ns/unknown')).toEqual([]);
    expect(await l.list()).toEqual(['ns/m0', 'ns/m1', 'ns/m2', 'ns/m3', 'ns/m4']);
    const seen = new Map<string, number[]>();
    for await (const e of l.readAll()) seen.set(e.migrationId, [...(seen.get(e.migrationId) ?? []), e.seq]);
    expect([...seen.values()]).toEqual(Array.from({ length: 5 }, () => [1, 2, 3, 4]));
    expect(await l.compact('ns/m2')).toBe(4);
    expect(await l.list()).toEqual(['ns/m0', 'ns/m1', 'ns/m3', 'ns/m4']);
    expect(await l.read('ns/m2')).toEqual([]);
    await l.close();
  });

  it('watch yields only events appended after it started, filtered by migration, until aborted', async () => {
    const l = await openFresh();
    await l.append('ns/w1', ev('Before'), 0);
    const ac = new AbortController();
    const all: string[] = [];
    const one: string[] = [];
    const watchAll = (async () => {
      for await (const e of l.watch({ signal: ac.signal })) all.push(`${e.migrationId}#${e.seq}`);
    })();
    const watchOne = (async () => {
      for await (const e of l.watch({ migrationId: 'ns/w2', signal: ac.signal })) {
        one.push(`${e.migrationId}#${e.seq}`);
        if (one.length === 2) break;
      }
    })();
    await l.append('ns/w1', ev('After'), 1);
    await l.append('ns/w2', ev('After'), 0);
    await l.append('ns/w2', ev('After2'), 1);
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
    const id = 'ns/fault';
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
    Buffer.from(JSON.stringify({ migrationId: id, seq, ...ev('E', { seq }), ...extra }));
  const cases: Array<[string, (id: string) => Uint8Array, RegExp]> = [
    ['a body that is not JSON', () => Buffer.from('{"migrationId":'), /at seq 2: event is not JSON/],
    [
      'a body that is not UTF-8',
      (id) => Buffer.concat([envelope(id, 2).subarray(0, 30), Buffer.from([0xc0, 0xaf]), envelope(id, 2).subarray(31)]),
      /at seq 2: event is not valid UTF-8/,
    ],
    ['a string seq', (id) => envelope(id, '2'), /at seq 2: seq must be a number, found string "2"/],
    ['a seq gap', (id) => envelope(id, 3), /at seq 2: seq gap: seq 3 follows seq 1/],
    ['a repeated seq', (id) => envelope(id, 1), /at seq 2: seq 1 repeats or goes back/],
    ['another migration', (id) => envelope(`${id}-other`, 2), /at seq 2: envelope names migration/],
    ['a missing type', (id) => envelope(id, 2, { type: undefined }), /at seq 2: type must be a non-empty string/],
  ];
  it.each(cases)('%s is a CorruptEventError naming migration, seq and stream seq', async (_what, body, message) => {
    const l = await openFresh();
    const prefix = `t${streamNo}.events`;
    const id = 'ns/corrupt';
    await l.append(id, ev('Good'), 0);
    await l.append('ns/fine', ev('Good'), 0);
    const nc = await connect({ servers: nats.url });
    const ack = await jetstream(nc).publish(migrationSubject(prefix, id), body(id));
    await nc.close();
    const err = await l.read(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`at stream seq ${ack.seq}`);
    expect(err).toMatchObject({ code: 'CORRUPT_EVENT', details: { migrationId: id, seq: 2, streamSeq: ack.seq } });
    await expect(
      (async () => {
        for await (const _ of l.readAll());
      })(),
    ).rejects.toBeInstanceOf(CorruptEventError);
    expect(await l.read('ns/fine')).toHaveLength(1); // the rest of the stream is still readable
    await l.close();
  });

  it('an append after a corrupt last message is refused as corruption, not as an outage or a stale writer', async () => {
    const l = await openFresh();
    const id = 'ns/corrupt-tail';
    await l.append(id, ev('Good'), 0);
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish(migrationSubject(`t${streamNo}.events`, id), Buffer.from('not json'));
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
    await l.append(id, ev('Good'), 0);
    const watching = (async () => {
      for await (const _ of l.watch({ migrationId: id }));
    })().then(
      () => new Error('the watch ended without an error'),
      (err: unknown) => err,
    );
    await l.append(id, ev('Good'), 1);
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish(migrationSubject(`t${streamNo}.events`, id), envelope(id, 7));
    await nc.close();
    const err = await watching;
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(/at seq 3: seq gap: seq 7 follows seq 2/);
    await l.close();
  });
});

describe('openEventLog', () => {
  it('opens the JetStream log or the file log from configuration', async () => {
    const viaNats = await openEventLog(
      { kind: 'nats', servers: nats.url, stream: 'CFG', subjectPrefix: 'cfg.events' },
      logger,
    );
    expect(viaNats.locate('ns/a')).toBe('nats:CFG/cfg.events.ns_2fa');
    expect((await viaNats.append('ns/a', ev('A'), 0)).seq).toBe(1);
    await viaNats.close();
    const dir = await mkdtemp(join(tmpdir(), 'ms2m-open-'));
    const viaFile = await openEventLog({ kind: 'file', dir }, logger);
    expect((await viaFile.append('ns/a', ev('A'), 0)).seq).toBe(1);
    expect(viaFile.locate('ns/a')).not.toContain('nats:');
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
