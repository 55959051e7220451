import type { Logger } from 'pino';
import type { AgentClient } from '../../adapters/agent-client/port.ts';
import type { Clock } from '../../adapters/clock/port.ts';
import type { Kubelet } from '../../adapters/kubelet/port.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import type { Broker, BrokerConfig } from '../../adapters/rabbitmq/port.ts';
import type { MigrationContext } from '../../machines/context.ts';
import type { MachineEvent, Step } from '../../machines/events.ts';
import type { Effect as ChartEffect, EffectEnv as ChartEffectEnv, EffectInput as ChartEffectInput } from '../chart.ts';

/** The ports every effect may use. */
export interface EffectDeps {
  cluster: Cluster;
  kubelet: Kubelet;
  broker: Broker;
  agents: AgentClient;
  clock: Clock;
  logger: Logger;
  /** How often waits poll (pod readiness, queue depth). */
  pollMs: number;
  /** A depth sample is recorded at least this often even when nothing changed (time must reach the chart). */
  sampleHeartbeatMs: number;
  /** Resolves `spec.brokerSecretRef` and the like into the URL the broker adapter needs. */
  brokerConfig?: (ctx: MigrationContext) => Promise<BrokerConfig> | BrokerConfig;
}

/** What a migration effect gets besides its input: the ports, a way to record intermediate facts, its cancellation. */
export type EffectEnv = ChartEffectEnv<MachineEvent, EffectDeps>;

/** A step's input plus the migration's context at the moment the step started. */
export type EffectInput = ChartEffectInput<MigrationContext, Step>;

/** A migration effect: does its (idempotent) work and returns the fact that says it is done. */
export type Effect = ChartEffect<MigrationContext, MachineEvent, Step, EffectDeps>;

export async function brokerConfigOf(ctx: MigrationContext, deps: EffectDeps): Promise<BrokerConfig> {
  if (deps.brokerConfig) return deps.brokerConfig(ctx);
  const m = ctx.spec.messageQueueConfig;
  return { brokerUrl: m.brokerUrl, exchangeName: m.exchangeName, queueName: m.queueName, routingKey: m.routingKey };
}

/**
 * Waits until the pod instance with this UID is gone (deleted and terminated). A pod of the same name with
 * another UID is a successor (a StatefulSet ordinal recreated): the instance waited for is gone.
 */
export async function untilPodGone(
  env: EffectEnv,
  pod: { namespace: string; name: string; uid: string },
): Promise<void> {
  await pollUntil(env, async () => {
    const now = await env.deps.cluster.getPod(pod.namespace, pod.name);
    return now && now.uid === pod.uid ? undefined : true;
  });
}

/** Polls `check` every pollMs until it returns a value (not undefined), or the signal aborts. */
export async function pollUntil<T>(env: EffectEnv, check: () => Promise<T | undefined>): Promise<T> {
  const { clock, pollMs } = env.deps;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await clock.sleepUntil(clock.now() + pollMs, env.signal);
  }
}
