/**
 * The visualiser on JetStream: `ms2m diagram --nats` and the UI server read the log from a real nats-server
 * (read-only: openJetStreamLogReader) and follow it as a writer appends.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLog, EventLogReader } from '../../adapters/event-log/port.ts';
import { openJetStreamLog, openJetStreamLogReader } from '../../adapters/nats/jetstream-log.ts';
import { runCli } from '../../bin/cli.ts';
import type { InstanceSummary } from '../../eval/ui/api.ts';
import { startUiServer, type UiServer } from '../../eval/ui/server.ts';
import { type NatsServer, startNats } from '../harness/nats.ts';
import { eventually } from '../support/eventually.ts';
import { silent } from '../support/scenario.ts';
import { appendAs, golden } from './logs.ts';

const finished = golden('shadowpod-registry');
const RUNNING_AT = 8;

let nats: NatsServer;
let writer: EventLog;
let reader: EventLogReader;
let ui: UiServer;

beforeAll(async () => {
  nats = await startNats();
  writer = await openJetStreamLog({ servers: nats.url, logger: silent });
  await appendAs(writer, 'default/registry/uid-1', finished, 1, RUNNING_AT);
  reader = await openJetStreamLogReader({ servers: nats.url, logger: silent });
  ui = await startUiServer({ reader, source: nats.url, logger: silent });
});

afterAll(async () => {
  await ui?.close();
  await reader?.close();
  await writer?.close();
  await nats?.stop();
});

const instances = async () =>
  ((await (await fetch(`${ui.url}api/instances`)).json()) as { instances: InstanceSummary[] }).instances;

describe('the UI on a JetStream log', () => {
  it('lists a running migration, then follows it to its end as the writer appends', async () => {
    const [first] = await instances();
    expect(first).toMatchObject({ id: 'default/registry/uid-1', done: false, events: RUNNING_AT });
    const events: string[] = [];
    const stream = await fetch(`${ui.url}api/events`);
    const body = stream.body!.getReader();
    void (async () => {
      for (;;) {
        const { value, done } = await body.read();
        if (done) return;
        events.push(new TextDecoder().decode(value));
      }
    })().catch(() => undefined);
    await appendAs(writer, 'default/registry/uid-1', finished, RUNNING_AT + 1);
    const end = await eventually('the migration Completed in the UI', async () => {
      const [i] = await instances();
      return i?.done ? i : undefined;
    });
    expect(end).toMatchObject({ phase: 'Completed', events: finished.length });
    expect(events.join('')).toContain(
      'event: change\ndata: {"kind":"StatefulMigration","id":"default/registry/uid-1"}',
    );
    await body.cancel();
  });

  it("draws the migration's diagram from the same log", async () => {
    const res = await fetch(
      `${ui.url}api/diagram.svg?kind=StatefulMigration&id=${encodeURIComponent('default/registry/uid-1')}&view=phases`,
    );
    expect(res.status).toBe(200);
    expect((await res.text()).replaceAll('&#45;', '-')).toContain(
      '<g id="state:migration.Completed" class="node state visited current">',
    );
  });

  it('ms2m diagram --nats draws it too (the CLI in this process)', async () => {
    let stdout = '';
    let stderr = '';
    const sink = (add: (s: string) => void) =>
      new Writable({
        write(c: Buffer, _e, cb) {
          add(c.toString('utf8'));
          cb();
        },
      });
    const code = await runCli(['diagram', '--nats', nats.url, '--name', 'default/registry', '--phases'], {
      stdout: sink((s) => (stdout += s)),
      stderr: sink((s) => (stderr += s)),
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('  class migration_Completed current\n');
  });
});
