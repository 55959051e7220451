/**
 * `--inspect`: the Stately inspector attached to a live migration actor. The host's events reach a WebSocket
 * inspector server (the `@statelyai/inspect/server` relay docs/ui.md describes) and, through it, a receiver:
 * what the Stately inspector page in a browser gets.
 */
import { createServer } from 'node:net';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrationHost } from '../../actors/charts/migration.ts';
import {
  addOperatorOptions,
  type OperatorProcessOptions,
  operatorOptionsProblem,
} from '../../actors/controller/operator-options.ts';
import { startInspection } from '../../actors/inspect.ts';
import { eventually } from '../support/eventually.ts';
import { scenario, silent } from '../support/scenario.ts';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** What a received snapshot says (the wire carries plain JSON: value and context of the machine). */
const snap = (e: StatelyInspectionEvent) =>
  e.type === '@xstate.snapshot'
    ? (e.snapshot as { value?: unknown; context?: { phase?: string; source?: { podSpec?: unknown } } })
    : undefined;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('--inspect: the Stately inspector receives the live actors', () => {
  it('a migration run with inspect sends its actor (with the machine), every committed event and its snapshots', async () => {
    const port = await freePort();
    const server = createInspectorServer({ port, autoOpen: false });
    cleanups.push(() => server.stop());
    const received: StatelyInspectionEvent[] = [];
    createWebSocketReceiver({ server: `ws://127.0.0.1:${port}` }).subscribe((e) => void received.push(e));

    const inspection = startInspection(`ws://127.0.0.1:${port}`, silent);
    cleanups.push(() => inspection.stop());
    const s = scenario({ workload: 'statefulset' });
    const host = await MigrationHost.open({ id: s.migrationId, deps: s.deps, inspect: inspection.inspect });
    cleanups.push(() => host.stop());
    await host.request({ spec: s.spec });
    expect((await host.done()).value).toBe('Completed');

    const log = await s.log.read(s.key);
    // the host starts the actor from the first event's snapshot: every later event is sent to it
    const sent = log.slice(1).map((e) => e.type);
    await eventually('the Completed snapshot at the receiver', async () =>
      received.some((e) => snap(e)?.value === 'Completed') ? true : undefined,
    );
    const actor = received.find((e) => e.type === '@xstate.actor' && e.definition?.includes('"id":"migration"'));
    expect(actor, 'the migration actor, with its machine definition').toBeDefined();
    await eventually('every committed event at the receiver', async () => {
      const events = received.filter((e) => e.type === '@xstate.event' && e.rootId === actor?.rootId);
      const types = events.map((e) => (e.type === '@xstate.event' ? e.event.type : ''));
      return sent.every((t) => types.includes(t)) ? true : undefined;
    });
    const snapshots = received.filter((e) => e.type === '@xstate.snapshot' && e.rootId === actor?.rootId);
    const phases = snapshots.map((e) => snap(e)?.context?.phase);
    for (const p of ['Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing', 'Completed'])
      expect(phases).toContain(p);
    // the inspector gets the context without the pod specs (sanitized), the log keeps them
    const withSource = snapshots.find((e) => snap(e)?.context?.source);
    expect(withSource && snap(withSource)?.context?.source?.podSpec).toBe('…');
  });

  it('without inspect nothing is sent, and an unreachable inspector never changes the migration', async () => {
    const port = await freePort(); // nothing listens there
    const inspection = startInspection(`ws://127.0.0.1:${port}`, silent);
    cleanups.push(() => inspection.stop());
    const withInspect = scenario({ workload: 'pod' });
    const a = await MigrationHost.open({
      id: withInspect.migrationId,
      deps: withInspect.deps,
      inspect: inspection.inspect,
    });
    cleanups.push(() => a.stop());
    await a.request({ spec: withInspect.spec });
    const plain = scenario({ workload: 'pod' });
    const b = await plain.open();
    cleanups.push(() => b.stop());
    await b.request({ spec: plain.spec });
    expect((await a.done()).value).toBe('Completed');
    expect((await b.done()).value).toBe('Completed');
    expect(await withInspect.log.read(withInspect.key)).toEqual(await plain.log.read(plain.key));
  });

  it('refuses an inspect URL that is not a WebSocket URL', () => {
    expect(() => startInspection('http://127.0.0.1:8080', silent)).toThrow(/WebSocket URL/);
  });
});

describe('the operator flag --inspect', () => {
  const parse = (...args: string[]) =>
    addOperatorOptions(new Command('ms2m-operator').exitOverride())
      .parse(['--log-dir', '/tmp/log', '--agent-token', 't', ...args], { from: 'user' })
      .opts<OperatorProcessOptions>();

  it('without a URL: the default inspector WebSocket; with one: that URL; off when not given', () => {
    expect(parse('--inspect').inspect).toBe(true);
    expect(parse('--inspect', 'ws://127.0.0.1:9999').inspect).toBe('ws://127.0.0.1:9999');
    expect(parse().inspect).toBeUndefined();
    expect(operatorOptionsProblem(parse('--inspect'))).toBeUndefined();
  });

  it('a URL that is not a WebSocket is a usage problem naming the flag', () => {
    expect(operatorOptionsProblem(parse('--inspect', 'http://127.0.0.1:8080'))).toMatch(
      /^--inspect http:.*WebSocket URL/,
    );
  });
});
