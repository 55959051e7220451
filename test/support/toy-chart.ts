/**
 * A second, tiny chart for tests (issue 8 §1): two steps, `prepare` then `finish`, with retries, a deadline and
 * cancel, run by the same host, fold, rebuild and logs as the migration chart. It proves the runtime is
 * generic: nothing here is known to actors/ or adapters/.
 *
 *   Preparing --Prepared--> Finishing --Finished--> Done
 *   a final StepFailed or DeadlineExceeded -> Failed;  CancelRequested -> Cancelled
 */
import pino from 'pino';
import { assign, fromPromise, setup } from 'xstate';
import { z } from 'zod';
import { defineChart, type Effect, type RuntimeDeps } from '../../actors/chart.ts';
import { virtualClock } from '../../adapters/clock/fake.ts';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { effectKey, type RuntimeEventData, type StepInput } from '../../machines/chart.ts';

export const TOY_KIND = 'Toy';
export const TOY_STEPS = ['prepare', 'finish'] as const;
export type ToyStep = (typeof TOY_STEPS)[number];
type ToyPhase = 'Preparing' | 'Finishing';

interface ToyEventData extends RuntimeEventData<ToyStep, ToyPhase> {
  ToyRequested: { label: string; maxAttempts: number; deadlineMs?: number };
  Prepared: { token: string };
  Finished: { result: string };
}
export type ToyEvent = {
  [K in keyof ToyEventData]: { type: K; at: number; data: ToyEventData[K] };
}[keyof ToyEventData];

export interface ToyContext {
  id: string;
  label: string;
  maxAttempts: number;
  deadlineAt?: number;
  /** Attempt of the running step (1 = first try). */
  attempt: number;
  retryAt?: number;
  token?: string;
  result?: string;
  failure?: string;
}

export interface ToyInput {
  id: string;
  label: string;
  maxAttempts: number;
  at: number;
  deadlineMs?: number;
}

const runsInAHost = fromPromise<void, StepInput<ToyStep, ToyPhase>>(async () => {
  throw new Error('a toy step runs only inside a host, which provides its effect');
});

const toySetup = setup({
  types: {} as { context: ToyContext; events: ToyEvent; input: ToyInput },
  actors: { prepare: runsInAHost, finish: runsInAHost },
  guards: {
    canRetry: ({ context, event }) =>
      event.type === 'StepFailed' && event.data.transient && event.data.attempt < context.maxAttempts,
  },
  actions: {
    countAttempt: assign(({ event }) => ({ attempt: event.type === 'StepFailed' ? event.data.attempt + 1 : 1 })),
    scheduleRetry: assign(({ event }) => (event.type === 'StepFailed' ? { retryAt: event.at + 100 } : {})),
    fail: assign(({ event }) => ({
      failure:
        event.type === 'StepFailed'
          ? `${event.data.step}: ${event.data.message}`
          : event.type === 'DeadlineExceeded'
            ? `deadline of ${event.data.phase} exceeded`
            : event.type,
    })),
  },
});

const stepInput =
  (step: ToyStep, phase: ToyPhase) =>
  ({ context }: { context: ToyContext }): StepInput<ToyStep, ToyPhase> => ({
    step,
    key: effectKey(context.id, step),
    attempt: context.attempt,
    notBefore: context.attempt > 1 ? context.retryAt : undefined,
    deadline: context.deadlineAt === undefined ? undefined : { phase, at: context.deadlineAt },
  });

const onFailure = (self: string) => [
  { guard: 'canRetry' as const, target: self, reenter: true, actions: 'scheduleRetry' as const },
  { target: 'Failed', actions: 'fail' as const },
];

export const toyMachine = toySetup.createMachine({
  id: 'toy',
  context: ({ input }) => ({
    id: input.id,
    label: input.label,
    maxAttempts: input.maxAttempts,
    deadlineAt: input.deadlineMs === undefined ? undefined : input.at + input.deadlineMs,
    attempt: 1,
  }),
  initial: 'Preparing',
  states: {
    Preparing: {
      entry: 'countAttempt',
      invoke: { src: 'prepare', input: stepInput('prepare', 'Preparing') },
      on: {
        Prepared: { target: 'Finishing', actions: assign(({ event }) => ({ token: event.data.token })) },
        StepFailed: onFailure('Preparing'),
        DeadlineExceeded: { target: 'Failed', actions: 'fail' },
        CancelRequested: 'Cancelled',
      },
    },
    Finishing: {
      entry: 'countAttempt',
      invoke: { src: 'finish', input: stepInput('finish', 'Finishing') },
      on: {
        Finished: { target: 'Done', actions: assign(({ event }) => ({ result: event.data.result })) },
        StepFailed: onFailure('Finishing'),
        DeadlineExceeded: { target: 'Failed', actions: 'fail' },
        CancelRequested: 'Cancelled',
      },
    },
    Done: { type: 'final' },
    Failed: { type: 'final' },
    Cancelled: { type: 'final' },
  },
});

/** The toy's side of the world: which effect keys were applied (each once), and failures to inject. */
export class ToyWorld {
  /** Every call of an effect, by key (a retry or a resumed step calls again). */
  readonly calls: string[] = [];
  /** Effect keys whose work was done: an idempotent effect does it at most once per key. */
  readonly applied: string[] = [];
  /** Transient failures still to inject, per step. */
  readonly failNext = new Map<ToyStep, number>();
  /** Steps that never finish (their effect waits until its step is stopped). */
  readonly hang = new Set<ToyStep>();

  apply(key: string): void {
    this.calls.push(key);
    if (!this.applied.includes(key)) this.applied.push(key);
  }
}

export interface ToyDeps extends RuntimeDeps {
  toy: ToyWorld;
}

const effect =
  (step: ToyStep, fact: (ctx: ToyContext) => ReturnType<Effect<ToyContext, ToyEvent, ToyStep, ToyDeps>>) =>
  async (
    input: Parameters<Effect<ToyContext, ToyEvent, ToyStep, ToyDeps>>[0],
    env: Parameters<Effect<ToyContext, ToyEvent, ToyStep, ToyDeps>>[1],
  ) => {
    const { toy } = env.deps;
    const failures = toy.failNext.get(step) ?? 0;
    if (failures > 0) {
      toy.failNext.set(step, failures - 1);
      throw new Ms2mError(ErrorCode.INJECTED_TRANSIENT, `Injected transient failure of ${step}`, { transient: true });
    }
    if (toy.hang.has(step)) await new Promise<never>((_, reject) => env.signal.addEventListener('abort', reject));
    toy.apply(input.key);
    return fact(input.ctx);
  };

const nonEmpty = z.string().min(1);
export const toyChart = defineChart({
  kind: TOY_KIND,
  version: 1,
  machine: toyMachine,
  steps: TOY_STEPS,
  initialEvent: 'ToyRequested' as const,
  input(id, first) {
    if (first.type !== 'ToyRequested') throw new Error(`Log of toy ${id} starts with ${first.type}`);
    return {
      id,
      label: first.data.label,
      maxAttempts: first.data.maxAttempts,
      at: first.at,
      deadlineMs: first.data.deadlineMs,
    };
  },
  phaseOf: (s) => String(s.value),
  terminalPhases: ['Done', 'Failed', 'Cancelled'],
  effects: {
    prepare: effect('prepare', async (ctx) => ({ type: 'Prepared', data: { token: `${ctx.label}-token` } })),
    finish: effect('finish', async (ctx) => ({ type: 'Finished', data: { result: `${ctx.token}:done` } })),
  },
  schemas: {
    ToyRequested: z.object({
      label: nonEmpty,
      maxAttempts: z.number().int().positive(),
      deadlineMs: z.number().int().positive().optional(),
    }),
    Prepared: z.object({ token: nonEmpty }),
    Finished: z.object({ result: nonEmpty }),
    StepFailed: z.object({
      step: z.enum(TOY_STEPS),
      code: nonEmpty,
      message: z.string(),
      transient: z.boolean(),
      attempt: z.number().int().positive(),
    }),
    DeadlineExceeded: z.object({ phase: z.enum(['Preparing', 'Finishing']) }),
    CancelRequested: z.object({ reason: z.string() }),
  },
  upcasters: {},
  module: { url: import.meta.url, name: 'toyChart' },
});

export const T0 = Date.parse('2026-03-16T09:00:00.000Z');

/** A toy world on virtual time with a log (a memory log unless given). */
export function toyScenario(log: EventLog = createMemoryEventLog()) {
  const toy = new ToyWorld();
  const deps = { clock: virtualClock(T0), logger: pino({ level: 'silent' }), toy, log };
  return { toy, deps, log };
}
