/**
 * The in-process operator of the controlplane tier: real API server, real CRD and RBAC (it runs as the user bound
 * to crds/rbac.yaml), with the instant fakes as its kubelet, broker and agents, so migrations run through their
 * phases in about a second. `instantFakes` are those fakes alone (for files that wire their own operator),
 * `startFakeEffectsOperator` the whole setup on a namespace of its own with simulated nodes and a file event log.
 */
import { join } from 'node:path';
import pino from 'pino';
import { createOperatorMetrics, type OperatorMetrics } from '../../actors/controller/metrics.ts';
import { createOperator, type Operator, type OperatorDeps } from '../../actors/controller/operator.ts';
import { FakeAgentClient } from '../../adapters/agent-client/fake.ts';
import type { Clock } from '../../adapters/clock/port.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { EffectJournal } from '../../adapters/effect-journal.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { FakeKubelet } from '../../adapters/kubelet/fake.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { FakeBroker } from '../../adapters/rabbitmq/fake.ts';
import type { ControlPlaneInfo } from '../harness/control-plane.ts';
import { type OperatorNamespace, startOperatorNamespace } from './operator-env.ts';

const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };

/** The instant fakes on one system clock and effect journal; `effects` is what createOperator takes. */
export interface InstantFakes {
  clock: Clock;
  journal: EffectJournal;
  broker: FakeBroker;
  agents: FakeAgentClient;
  /**
   * Each checkpoint waits this long first (default 0): tests that cancel or delete mid-migration raise it, so the
   * migration is caught in its checkpoint, and set it back to 0.
   */
  checkpointDelayMs: number;
  effects: Omit<OperatorDeps['effects'], 'cluster'>;
}

/**
 * @example
 * ```ts
 * const fakes = instantFakes();
 * createOperator({ ..., effects: { cluster: new KubeCluster({ kubeConfig, logger }), ...fakes.effects } });
 * fakes.checkpointDelayMs = 4000;
 * ```
 */
export function instantFakes(): InstantFakes {
  const clock = systemClock();
  const journal = new EffectJournal(clock);
  const kubelet = new FakeKubelet({ clock, journal });
  const broker = new FakeBroker({ clock, journal, producerRate: 10, consumerRate: 100 });
  const agents = new FakeAgentClient({ clock, journal, bytesPerSecond: 1e12, sizeOf: () => 30 * 1024 * 1024 });
  const fakes: InstantFakes = {
    clock,
    journal,
    broker,
    agents,
    checkpointDelayMs: 0,
    effects: {
      kubelet: {
        async checkpoint(req) {
          if (fakes.checkpointDelayMs) await clock.sleepUntil(clock.now() + fakes.checkpointDelayMs);
          return kubelet.checkpoint(req);
        },
      },
      broker,
      agents,
      clock,
      pollMs: 100,
      sampleHeartbeatMs: 500,
    },
  };
  return fakes;
}

/** The running operator, what it works in (namespace, nodes, temp dir) and its fakes; stop() takes it all down. */
export interface FakeEffectsOperator extends OperatorNamespace {
  operator: Operator;
  metrics: OperatorMetrics;
  fakes: InstantFakes;
  /** The operator's file event log (`ms2m logs --log` reads it). */
  logDir: string;
}

/**
 * Starts the operator on `namespace` (created, with node-a and node-b simulated), as the RBAC-bound user, with
 * the instant fakes, a file event log in the temp dir and 3 attempts per step (100 ms backoff). Logs at
 * MS2M_TEST_LOG (default warn).
 *
 * @example
 * ```ts
 * let env: FakeEffectsOperator;
 * beforeAll(async () => {
 *   env = await startFakeEffectsOperator(inject('controlPlane'), { namespace: 'op-x1', tmpPrefix: 'ms2m-operator-' });
 * });
 * afterAll(() => env?.stop());
 * ```
 */
export async function startFakeEffectsOperator(
  cp: ControlPlaneInfo,
  o: { namespace: string; tmpPrefix: string },
): Promise<FakeEffectsOperator> {
  const env = await startOperatorNamespace(cp, o);
  let operator: Operator | undefined;
  const stop = async () => {
    await operator?.stop();
    await env.stop();
  };
  try {
    const logger = pino({ level: process.env.MS2M_TEST_LOG ?? 'warn' });
    const fakes = instantFakes();
    const metrics = createOperatorMetrics();
    const logDir = join(env.dir, 'log');
    operator = createOperator({
      logger,
      migrations: new CustomResourceClient(env.operatorKc, { ...GROUP, kind: 'StatefulMigration' }, o.namespace),
      effects: { cluster: new KubeCluster({ kubeConfig: env.operatorKc, logger }), ...fakes.effects },
      log: await openFileLog({ dir: logDir, logger }),
      metrics,
      runtime: { maxAttempts: 3, retryBaseMs: 100 },
    });
    await operator.start();
    return { ...env, operator, metrics, fakes, logDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
