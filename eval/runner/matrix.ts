/**
 * The evaluation matrix: configurations (workload kind + strategy + transfer) × message rates × repetitions,
 * expanded into runs in a fixed order, each with its source and target node. The order interleaves the cells
 * (repetition outermost, then rate, then configuration), so an eval stopped half-way has every cell measured
 * about equally often and slow drift of the machine spreads over all of them. The target node alternates from
 * run to run by the run's index in the full matrix, so a resumed eval gives each run the same nodes.
 */
import type { WorkloadKind } from '../scenario.ts';

export type ConfigurationName =
  | 'statefulset-sequential'
  | 'statefulset-shadowpod'
  | 'deployment-registry'
  | 'deployment-direct'
  | 'pod-direct';

export interface Configuration {
  name: ConfigurationName;
  workload: WorkloadKind;
  strategy: 'Sequential' | 'ShadowPod';
  transfer: 'Direct' | 'Registry';
  /** Two letters for object names (`consumer-<eval>-<code>-<rate>-<rep>`). */
  code: string;
  /** Why the operator cannot run it, when it cannot. */
  unsupported?: string;
}

export const CONFIGURATIONS: Readonly<Record<ConfigurationName, Configuration>> = {
  'statefulset-sequential': {
    name: 'statefulset-sequential',
    workload: 'statefulset',
    strategy: 'Sequential',
    transfer: 'Direct',
    code: 'ss',
  },
  'statefulset-shadowpod': {
    name: 'statefulset-shadowpod',
    workload: 'statefulset',
    strategy: 'ShadowPod',
    transfer: 'Direct',
    code: 'sp',
    unsupported:
      'the operator rejects migrationStrategy ShadowPod for a StatefulSet pod until an identity swap exists (API.md, spec.migrationStrategy); compare with SHADOW\'s statefulset-shadowpod figures through "ms2m analyze" instead',
  },
  'deployment-registry': {
    name: 'deployment-registry',
    workload: 'deployment',
    strategy: 'ShadowPod',
    transfer: 'Registry',
    code: 'dr',
  },
  'deployment-direct': {
    name: 'deployment-direct',
    workload: 'deployment',
    strategy: 'ShadowPod',
    transfer: 'Direct',
    code: 'dd',
  },
  'pod-direct': { name: 'pod-direct', workload: 'pod', strategy: 'ShadowPod', transfer: 'Direct', code: 'pd' },
};

/** What `ms2m eval` runs without `--configurations`: every configuration the operator supports. */
export const DEFAULT_CONFIGURATIONS = (Object.keys(CONFIGURATIONS) as ConfigurationName[]).filter(
  (n) => !CONFIGURATIONS[n].unsupported,
);
export const DEFAULT_RATES = [1, 4, 7, 10, 13, 16, 19] as const;
export const DEFAULT_REPETITIONS = 10;

/** A matrix option the user gave wrongly; the message names the value and what is accepted. */
export class MatrixError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatrixError';
  }
}

/** `a,b,c` into configurations: known names, no duplicates, none the operator refuses. */
export function parseConfigurations(text: string): Configuration[] {
  const names = splitList(text, '--configurations');
  const known = Object.keys(CONFIGURATIONS);
  return names.map((name) => {
    if (!known.includes(name)) {
      throw new MatrixError(`--configurations: '${name}' is not a configuration; use some of ${known.join(', ')}`);
    }
    const c = CONFIGURATIONS[name as ConfigurationName];
    if (c.unsupported) throw new MatrixError(`--configurations: ${name} cannot run: ${c.unsupported}`);
    return c;
  });
}

/** `1,4,7` into message rates (positive numbers, messages per second), in the order given. */
export function parseRates(text: string): number[] {
  return splitList(text, '--rates').map((t) => {
    const n = Number(t);
    if (!Number.isFinite(n) || n <= 0 || n > 10_000) {
      throw new MatrixError(`--rates: '${t}' is not a message rate; give positive numbers of messages per second`);
    }
    return n;
  });
}

function splitList(text: string, flag: string): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new MatrixError(`${flag} needs at least one value`);
  const dup = items.find((s, i) => items.indexOf(s) !== i);
  if (dup !== undefined) throw new MatrixError(`${flag}: '${dup}' is listed twice`);
  return items;
}

/** One run of the matrix. */
export interface PlannedRun {
  /** Position in the full matrix (0-based): fixes the nodes. */
  index: number;
  configuration: Configuration;
  rate: number;
  /** 1-based. */
  repetition: number;
  sourceNode: string;
  targetNode: string;
}

/**
 * Expands the matrix in run order.
 *
 * @example
 * ```ts
 * const runs = expandMatrix({ configurations: parseConfigurations('pod-direct'), rates: [1, 4], repetitions: 2,
 *   nodes: ['node-a', 'node-b'] });
 * runs.map((r) => `${r.rate}/${r.repetition}->${r.targetNode}`); // ['1/1->node-b', '4/1->node-a', '1/2->node-b', '4/2->node-a']
 * ```
 */
export function expandMatrix(o: {
  configurations: readonly Configuration[];
  rates: readonly number[];
  repetitions: number;
  /** The two nodes runs alternate between: run 0 migrates from nodes[0] to nodes[1], run 1 back. */
  nodes: readonly [string, string];
}): PlannedRun[] {
  if (!Number.isInteger(o.repetitions) || o.repetitions < 1) {
    throw new MatrixError(`--repetitions must be a positive whole number, not ${o.repetitions}`);
  }
  if (o.nodes[0] === o.nodes[1]) throw new MatrixError(`--nodes: source and target must differ (${o.nodes[0]})`);
  const runs: PlannedRun[] = [];
  for (let repetition = 1; repetition <= o.repetitions; repetition++) {
    for (const rate of o.rates) {
      for (const configuration of o.configurations) {
        const index = runs.length;
        runs.push({
          index,
          configuration,
          rate,
          repetition,
          sourceNode: o.nodes[index % 2] as string,
          targetNode: o.nodes[(index + 1) % 2] as string,
        });
      }
    }
  }
  return runs;
}

/** Kubernetes-safe text of a rate for object names: `0.5` -> `0p5`. */
const rateToken = (rate: number) => String(rate).replace('.', 'p');

/**
 * The run's id in object and queue names: `<evalTag>-<code>-<rate>-<repetition>`, e.g. `e3f9a1c-pd-4-1` (the
 * consumer is `consumer-<runId>`, the migration `mig-<runId>`, the queue `q-<runId>`). `evalTag` keeps two evals
 * in one namespace apart.
 */
export const runIdOf = (evalTag: string, run: Pick<PlannedRun, 'configuration' | 'rate' | 'repetition'>): string =>
  `${evalTag}-${run.configuration.code}-${rateToken(run.rate)}-${run.repetition}`;
