import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import type { ChartEvent } from '../../machines/chart.ts';
import { type EventEnvelope, upcastEnvelope } from '../../machines/envelope.ts';
import { STEPS } from '../../machines/events.ts';
import { migrationCore } from '../../machines/migration-chart.ts';
import { firstDifference } from '../support/fold-differential.ts';
import { execute, runConfigArb } from '../support/property-run.ts';
import { T0, toyChart } from '../support/toy-chart.ts';
import { TRACE_EVENTS, traceCore } from '../support/trace-chart.ts';

// as in invariants.test.ts: ≥ 1,000 runs each by default, PROPERTY_RUNS / PROPERTY_SEED / PROPERTY_PATH replay
const numRuns = Number(process.env.PROPERTY_RUNS ?? 1000);
const seed = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : Date.now() % 2 ** 31;
if (!Number.isInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, got ${process.env.PROPERTY_SEED}`);
const path = process.env.PROPERTY_PATH;
console.info(
  `fast-fold property tests: PROPERTY_SEED=${seed}${path ? ` PROPERTY_PATH=${path}` : ''} (${numRuns} runs each)`,
);
const params = { numRuns, endOnFailure: true, seed, ...(path ? { path } : {}) };

const goldenDir = join(import.meta.dirname, '../golden');
const goldens = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.jsonl'))
  .map((file) => {
    const envelopes = readFileSync(join(goldenDir, file), 'utf8')
      .trim()
      .split('\n')
      .map((l) => upcastEnvelope(JSON.parse(l)) as EventEnvelope);
    return parseLog(migrationChart, envelopes, envelopes[0]!.id) as ChartEvent[];
  });

describe('the compiled fold equals xstate fold at every prefix (machines/compiled-fold.ts)', () => {
  it('of every log a migration writes under arbitrary outcomes, cancels and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(runConfigArb, async (cfg) => {
        const r = await execute(cfg);
        const events = parseLog(migrationChart, await r.s.log.read(r.s.key), r.s.migrationId);
        expect(firstDifference(migrationCore, r.s.migrationId, events)).toBeNull();
      }),
      params,
    );
  });

  it('of golden logs with arbitrary specs and events dropped, repeated and inserted anywhere', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...goldens),
        specArb,
        fc.array(editArb, { maxLength: 10 }),
        deltasArb,
        (log, spec, edits, deltas) => {
          const [first, ...rest] = log;
          const events = [...rest];
          for (const e of edits) {
            const i = e.at % (events.length + 1);
            if (e.op === 'drop') events.splice(i, 1);
            else if (e.op === 'repeat' && events[i]) events.splice(i, 0, events[i]!);
            else events.splice(i, 0, e.event);
          }
          const data = first!.data as { spec: Record<string, unknown> };
          const requested = { ...first!, data: { ...data, spec: { ...data.spec, ...spec } } };
          const timed = timedFrom(first!.at, events, deltas);
          expect(firstDifference(migrationCore, 'default/fuzz', [requested, ...timed])).toBeNull();
        },
      ),
      params,
    );
  });

  it('of arbitrary logs of a chart with every feature the compiler accepts (action order traced in context)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.constantFrom(...TRACE_EVENTS), { maxLength: 30 }), (flag, types) => {
        const events = [{ type: 'Started', data: { flag } }, ...types.map((type) => ({ type, data: {} }))];
        expect(
          firstDifference(
            traceCore,
            'default/trace',
            events.map((e, i) => ({ ...e, at: T0 + i })),
          ),
        ).toBeNull();
      }),
      params,
    );
  });

  it('of arbitrary toy chart logs', () => {
    fc.assert(
      fc.property(toyRequestArb, fc.array(toyEventArb, { maxLength: 12 }), deltasArb, (first, rest, deltas) => {
        const events = [first, ...timedFrom(T0, rest, deltas)];
        expect(firstDifference(toyChart, 'default/toy', events)).toBeNull();
      }),
      params,
    );
  });
});

/** `events` after `start`, `deltas` apart (cycled). */
function timedFrom(start: number, events: readonly ChartEvent[], deltas: readonly number[]): ChartEvent[] {
  let at = start;
  return events.map((ev, i) => {
    at += deltas[i % deltas.length]!;
    return { ...ev, at };
  });
}

const ACTIVE_PHASES = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'] as const;

/** Spec fields the chart's guards read. */
const specArb = fc.record(
  {
    migrationStrategy: fc.constantFrom('ShadowPod', 'Sequential'),
    replayMode: fc.constantFrom('Cutoff', 'Drain'),
    finalizeDeploymentMode: fc.constantFrom('Adopt', 'PatchAffinity'),
    maxAttempts: fc.integer({ min: 1, max: 4 }),
    replayCutoffSeconds: fc.integer({ min: 0, max: 120 }),
    replayMaxSeconds: fc.integer({ min: 1, max: 120 }),
    drainStallSeconds: fc.integer({ min: 1, max: 60 }),
  },
  { requiredKeys: [] },
);

/** Events of the catalogue with data that steers the guards, and the runtime's own facts. */
const eventArb: fc.Arbitrary<ChartEvent> = fc.oneof(
  fc.constantFrom(...goldens.flatMap((g) => g.slice(1))),
  fc
    .record({
      step: fc.constantFrom(...STEPS),
      transient: fc.boolean(),
      attempt: fc.integer({ min: 1, max: 5 }),
    })
    .map((d) => ({ type: 'StepFailed', at: 0, data: { ...d, code: 'INJECTED', message: 'injected' } })),
  fc.constantFrom(...ACTIVE_PHASES).map((phase) => ({ type: 'DeadlineExceeded', at: 0, data: { phase } })),
  fc.constant({ type: 'CancelRequested', at: 0, data: { reason: 'fuzz' } }),
  fc
    .record({
      ready: fc.integer({ min: 0, max: 5 }),
      unacked: fc.integer({ min: 0, max: 5 }),
      settled: fc.boolean(),
      consumerRate: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
      producerRate: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
    })
    .map((d) => ({ type: 'ReplayDepthSampled', at: 0, data: { ...d, depth: d.ready + d.unacked } })),
  fc
    .record({
      kind: fc.constantFrom('StatefulSet', 'ReplicaSet', 'None', 'Other'),
      targetNodeFound: fc.boolean(),
    })
    .map(({ kind, targetNodeFound }) => {
      const inspected = goldens[0]!.find((e) => e.type === 'SourceInspected')!;
      const data = inspected.data as Record<string, unknown>;
      return {
        ...inspected,
        data: { ...data, targetNodeFound, owner: { kind, name: 'owner', deploymentName: 'app' } },
      };
    }),
);

const editArb = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat(), event: eventArb }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), event: eventArb }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), event: eventArb }),
);

/** Time between events (ms), cycled: the cutoff, stall and deadline rules read event times. */
const deltasArb = fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 16 });

const toyRequestArb = fc
  .record({
    label: fc.string({ minLength: 1, maxLength: 4 }),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    deadlineMs: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }),
  })
  .map((data) => ({ type: 'ToyRequested', at: T0, data }));

const toyEventArb: fc.Arbitrary<ChartEvent> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 3 }).map((token) => ({ type: 'Prepared', at: 0, data: { token } })),
  fc.string({ minLength: 1, maxLength: 3 }).map((result) => ({ type: 'Finished', at: 0, data: { result } })),
  fc
    .record({
      step: fc.constantFrom('prepare', 'finish'),
      transient: fc.boolean(),
      attempt: fc.integer({ min: 1, max: 4 }),
    })
    .map((d) => ({ type: 'StepFailed', at: 0, data: { ...d, code: 'X', message: 'boom' } })),
  fc.constantFrom('Preparing', 'Finishing').map((phase) => ({ type: 'DeadlineExceeded', at: 0, data: { phase } })),
  fc.constant({ type: 'CancelRequested', at: 0, data: { reason: 'r' } }),
);
