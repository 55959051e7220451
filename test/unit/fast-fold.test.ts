import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assign, raise, setup } from 'xstate';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import type { ChartCore } from '../../machines/chart.ts';
import { CompiledFold } from '../../machines/compiled-fold.ts';
import { type EventEnvelope, upcastEnvelope } from '../../machines/envelope.ts';
import { FastFold, fastFold } from '../../machines/fast-fold.ts';
import { fold } from '../../machines/fold.ts';
import { compileChart } from '../../machines/fold-compiler.ts';
import { NotCompilableError } from '../../machines/fold-tables.ts';
import { migrationCore } from '../../machines/migration-chart.ts';
import { firstDifference } from '../support/fold-differential.ts';
import { T0, toyChart } from '../support/toy-chart.ts';

const goldenDir = join(import.meta.dirname, '../golden');
const goldens = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.jsonl'))
  .map((file) => {
    const envelopes = readFileSync(join(goldenDir, file), 'utf8')
      .trim()
      .split('\n')
      .map((l) => upcastEnvelope(JSON.parse(l)) as EventEnvelope);
    const id = envelopes[0]!.id;
    return { file, id, events: parseLog(migrationChart, envelopes, id) };
  });

describe('the compiled fold equals xstate fold at every prefix', () => {
  it('covers the golden logs', () => {
    expect(goldens.map((g) => g.file)).toHaveLength(6);
  });

  it.each(goldens.map((g) => [g.file, g] as const))('%s', (_, g) => {
    expect(firstDifference(migrationCore, g.id, g.events)).toBeNull();
    const f = fastFold(migrationCore, g.id, g.events)!;
    expect(f.isCompiled).toBe(true);
    expect(f.value).toEqual(fold(migrationCore, g.id, g.events)!.value);
  });

  it('of the toy chart (a second chart: guards, re-entered steps, three final states)', () => {
    const at = (s: number) => T0 + s * 1000;
    const failed = (step: string, attempt: number, transient = true) => ({
      type: 'StepFailed',
      at: at(attempt),
      data: { step, code: 'X', message: 'boom', transient, attempt },
    });
    const logs = [
      [
        { type: 'Prepared', at: at(1), data: { token: 't' } },
        { type: 'Finished', at: at(2), data: { result: 'r' } },
      ],
      [failed('prepare', 1), failed('prepare', 2), { type: 'Prepared', at: at(5), data: { token: 't' } }],
      [failed('prepare', 1), failed('prepare', 2), failed('prepare', 3)],
      [
        { type: 'Prepared', at: at(1), data: { token: 't' } },
        { type: 'CancelRequested', at: at(2), data: { reason: 'r' } },
      ],
      [{ type: 'DeadlineExceeded', at: at(9), data: { phase: 'Preparing' } }],
    ];
    for (const [i, rest] of logs.entries()) {
      const first = {
        type: 'ToyRequested',
        at: T0,
        data: { label: `l${i}`, maxAttempts: 3, deadlineMs: i ? 5000 : undefined },
      };
      expect(firstDifference(toyChart, `default/t${i}`, [first, ...rest] as never)).toBeNull();
    }
  });
});

describe('the differential check catches a compiled fold broken on purpose', () => {
  /** The migration chart on its own machine instance (own compiled tables), broken by `sabotage`. */
  const broken = (sabotage: (state: (id: string) => Record<string, unknown>) => void): typeof migrationCore => {
    const machine = migrationCore.machine.provide({});
    const { byId } = compileChart(machine);
    sabotage((id) => byId.get(id) as unknown as Record<string, unknown>);
    return { ...migrationCore, machine };
  };
  const anyDifference = (chart: typeof migrationCore) =>
    goldens.map((g) => firstDifference(chart, g.id, g.events)).find((d) => d !== null);

  it('an entry action dropped (context differs)', () => {
    const d = anyDifference(broken((state) => (state('migration.active.Transferring').entry = [])));
    expect(d?.what).toBe('context');
  });

  it('the guards of ReplayDepthSampled taken in reverse order', () => {
    const d = anyDifference(
      broken((state) => {
        const on = state('step-monitorReplay').on as Map<string, unknown[]>;
        on.set('ReplayDepthSampled', [...on.get('ReplayDepthSampled')!].reverse());
      }),
    );
    expect(d).not.toBeNull();
  });

  it("a step's input changed (only the persisted children differ)", () => {
    const d = anyDifference(
      broken((state) => {
        const step = state('step-inspectSource');
        step.invokes = (step.invokes as object[]).map((inv) => ({ ...inv, input: () => ({ attempt: 0 }) }));
      }),
    );
    expect(d?.what).toBe('persisted');
  });
});

describe('the fast fold falls back to xstate fold, and so equals it, where the compiled fold cannot go', () => {
  const tiny = <C extends object>(machine: unknown, input: (id: string) => C) =>
    ({
      kind: 'Tiny',
      version: 1,
      machine,
      steps: [],
      initialEvent: 'Started',
      input: (id: string) => input(id),
      phaseOf: () => 'Tiny',
      terminalPhases: [],
    }) as unknown as ChartCore<
      { n: number; who?: string },
      { type: string; at: number; data: unknown },
      string,
      unknown
    >;
  const started = { type: 'Started', at: T0, data: {} };
  const bump = { type: 'Bump', at: T0 + 1, data: {} };

  it('a chart with a raised event is not compiled: the fold is xstate fold', () => {
    const machine = setup({ types: {} as { context: { n: number } } }).createMachine({
      context: { n: 0 },
      initial: 'a',
      states: {
        a: { on: { Bump: { actions: [assign({ n: ({ context }) => context.n + 1 }), raise({ type: 'Echo' })] } } },
      },
    });
    const chart = tiny(machine, () => ({}));
    expect(() => compileChart(machine)).toThrow(NotCompilableError);
    const f = fastFold(chart, 'x', [started, bump, bump])!;
    expect(f.isCompiled).toBe(false);
    expect(f.persisted()).toEqual(chart.machine.getPersistedSnapshot(fold(chart, 'x', [started, bump, bump])!));
  });

  it('an assign that reads self: the reference takes over at that event', () => {
    const machine = setup({ types: {} as { context: { n: number; who?: string } } }).createMachine({
      context: { n: 0 },
      initial: 'a',
      states: {
        a: {
          on: {
            Bump: [
              { guard: ({ context }) => context.n >= 1, actions: assign({ who: ({ self }) => self.id }) },
              { actions: assign({ n: ({ context }) => context.n + 1 }) },
            ],
          },
        },
      },
    });
    const chart = tiny(machine, () => ({}));
    const f = new FastFold(chart, 'x', started);
    f.apply(bump);
    expect(f.isCompiled).toBe(true);
    f.apply(bump);
    expect(f.isCompiled).toBe(false);
    // self.id is the reference's own actor's (a new one per fold), so only its form can be compared
    expect(f.context).toEqual({ n: 1, who: expect.stringMatching(/^x:\d+$/) });
    expect(fold(chart, 'x', [started, bump, bump])!.context).toEqual({ n: 1, who: expect.stringMatching(/^x:\d+$/) });
  });

  it("an xstate event (xstate.stop): the reference gives it xstate's meaning", () => {
    const f = new FastFold(migrationCore, goldens[0]!.id, goldens[0]!.events[0]!);
    f.apply({ type: 'xstate.stop', at: T0, data: {} } as never);
    expect(f.isCompiled).toBe(false);
    expect(f.status).toBe('stopped');
  });

  it('a wrong first event fails as xstate fold fails', () => {
    const [, second] = goldens[0]!.events;
    expect(() => new FastFold(migrationCore, 'x', second!)).toThrow(/starts with .*expected MigrationRequested/);
    expect(() => new CompiledFold(migrationCore, 'x', second!)).toThrow(/starts with .*expected MigrationRequested/);
  });
});
