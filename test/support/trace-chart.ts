/**
 * A chart for the compiled fold's differential tests that uses every statechart feature the fold compiler accepts,
 * where the runtime's charts use only some: entry, exit and transition actions and initial-transition actions, all
 * appending their name to `context.trace` (so their order is part of the snapshot); the same event handled by a
 * leaf and by its ancestors; guards inline, named, with params and with params from a function; targetless,
 * internal (parent to child), self (re-entering or not) and cross-tree transitions; eventless transitions that
 * chain, and one that changes nothing; an inline assign with a property map; invocations whose input reads
 * context an entry action just wrote;
 * custom actions (which a fold never runs); a top-level final state with exit actions.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { ChartCore } from '../../machines/chart.ts';

export interface TraceContext {
  flag: boolean;
  n: number;
  trace: string[];
}
export type TraceEvent = { type: string; at: number; data: Record<string, unknown> };

/** The named action `trace` with the name to append. */
const trace = (name: string) => ({ type: 'trace', params: { name } }) as const;

const traceSetup = setup({
  types: {} as { context: TraceContext; events: TraceEvent; input: { flag: boolean } },
  actors: { worker: fromPromise<void, unknown>(async () => undefined) },
  guards: {
    atLeast: ({ context }, p: { n: number }) => context.n >= p.n,
    flagged: ({ context }) => context.flag,
  },
  actions: {
    trace: assign(({ context, event }, p: { name: string }) => ({
      trace: [...context.trace, `${p.name}:${event.type}`],
    })),
    inc: assign(({ context }) => ({ n: context.n + 1 })),
    notify: (_, _p: { n: number }) => undefined,
  },
});

export const traceMachine = traceSetup.createMachine({
  id: 'trace',
  context: ({ input }) => ({ flag: input.flag, n: 0, trace: [] }),
  initial: 'A',
  entry: trace('root.entry'),
  exit: trace('root.exit'),
  on: {
    RESET: { target: '.A', actions: trace('root.RESET') },
    PING: { actions: trace('root.PING') },
    INC: { actions: ['inc', { type: 'notify', params: ({ context }) => ({ n: context.n }) }] },
    DOUBLE: {
      actions: assign({ n: ({ context }) => context.n * 2, trace: ({ context }) => [...context.trace, 'DOUBLE'] }),
    },
    DIE: { target: '.Z', actions: trace('root.DIE') },
  },
  states: {
    A: {
      initial: { target: 'A1', actions: trace('A.initial') },
      entry: trace('A.entry'),
      exit: trace('A.exit'),
      invoke: {
        id: 'a',
        src: 'worker',
        input: ({ context }: { context: TraceContext }) => ({ n: context.n, seen: context.trace.length }),
      },
      on: {
        PING: { guard: { type: 'atLeast', params: { n: 2 } }, actions: trace('A.PING') },
        GO: [
          { guard: ({ context }) => context.n % 2 === 0, target: 'B', actions: trace('A.GO.even') },
          { target: '#trace.B.B2', actions: trace('A.GO.odd') },
        ],
        SELF: { target: 'A', actions: trace('A.SELF') },
        REENTER: { target: 'A', reenter: true, actions: trace('A.REENTER') },
        CHILD: { target: '.A2', actions: trace('A.CHILD') },
      },
      states: {
        A1: {
          entry: trace('A1.entry'),
          exit: trace('A1.exit'),
          always: { guard: 'flagged' },
          on: { PING: { guard: 'flagged', actions: trace('A1.PING') }, NEXT: 'A2' },
        },
        A2: {
          entry: [trace('A2.entry'), 'inc'],
          exit: trace('A2.exit'),
          invoke: { id: 'a2', src: 'worker', input: ({ context }: { context: TraceContext }) => context.n },
          always: { guard: ({ context }) => context.n > 3, target: '#trace.B', actions: trace('A2.always') },
          on: { NEXT: { target: 'A1', reenter: true, actions: trace('A2.NEXT') } },
        },
      },
    },
    B: {
      initial: 'B1',
      entry: trace('B.entry'),
      exit: trace('B.exit'),
      always: { guard: { type: 'atLeast', params: ({ context }) => ({ n: context.flag ? 6 : 8 }) }, target: 'Z' },
      states: {
        B1: { entry: trace('B1.entry'), on: { NEXT: 'B2', PING: { target: 'B1', actions: trace('B1.PING') } } },
        B2: {
          entry: trace('B2.entry'),
          exit: trace('B2.exit'),
          always: { guard: ({ context }) => context.n === 5, target: 'B1', actions: ['inc', trace('B2.always')] },
          on: { NEXT: 'route' },
        },
        route: {
          always: [{ guard: 'flagged', target: 'B1', actions: trace('route.B1') }, { target: '#trace.A.A2' }],
        },
      },
    },
    Z: { type: 'final', entry: trace('Z.entry'), exit: trace('Z.exit') },
  },
});

export const TRACE_EVENTS = [
  'PING',
  'GO',
  'SELF',
  'REENTER',
  'CHILD',
  'NEXT',
  'RESET',
  'INC',
  'DOUBLE',
  'DIE',
  'NOPE',
] as const;

/** The chart's pure part: enough for a fold. */
export const traceCore = {
  kind: 'Trace',
  version: 1,
  machine: traceMachine,
  steps: [],
  initialEvent: 'Started',
  input: (_id: string, first: TraceEvent) => ({ flag: Boolean(first.data.flag) }),
  phaseOf: (s) => JSON.stringify(s.value),
  terminalPhases: ['Z'],
} satisfies ChartCore<TraceContext, TraceEvent, string, { flag: boolean }>;
