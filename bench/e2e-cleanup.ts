// Removes one e2e run completely before the next starts, so runs do not load each other: the scenario's objects
// (cleanupScenario), then a wait until its pods are gone, then the run's queues and exchange in RabbitMQ (the
// operator deletes the replay queue itself; the primary queue, the consumers' control queues and the exchange
// outlive the pods).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { connect } from 'amqplib';
import { controlQueueName } from '../adapters/rabbitmq/port.ts';
import { cleanupScenario } from '../eval/scenario.ts';

/** Deletes what run `runId` left; errors are reported through `log`, never thrown. */
export async function cleanupRun(
  kc: KubeConfig,
  namespace: string,
  runId: string,
  amqpUrl: string,
  log: (line: string) => void,
): Promise<void> {
  await cleanupScenario(kc, namespace, runId);
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + 60_000;
  let left: string[] = [];
  while (Date.now() < deadline) {
    const pods = await core.listNamespacedPod({ namespace }).catch(() => null);
    left = (pods?.items ?? [])
      .map((p) => p.metadata?.name ?? '')
      .filter((n) => n.endsWith(runId) || n.includes(`${runId}-`));
    if (pods && left.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (left.length > 0) log(`cleanup: pods still there after 60 s: ${left.join(', ')}`);
  const consumer = `consumer-${runId}`;
  const queues = [`q-${runId}`, controlQueueName(consumer), controlQueueName(`${consumer}-shadow`)];
  try {
    const conn = await connect(amqpUrl);
    try {
      const ch = await conn.createChannel();
      for (const q of queues) await ch.deleteQueue(q);
      await ch.deleteExchange(`x-${runId}`);
      await ch.close();
    } finally {
      await conn.close();
    }
  } catch (err) {
    log(`cleanup: RabbitMQ objects of ${runId}: ${(err as Error).message}`);
  }
}
