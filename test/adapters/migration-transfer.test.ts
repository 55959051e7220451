import { statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationHost, migrationChart } from '../../actors/charts/migration.ts';
import { normalizeSpec } from '../../actors/migration-spec.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { Kubelet } from '../../adapters/kubelet/port.ts';
import { ociRegistry } from '../../adapters/oci/registry.ts';
import { type AgentPair, startAgentPair, writeRandomTar } from '../harness/agent.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';
import { crashAt } from '../support/drivers.ts';
import { createFakeWorld, TARGET_NODE } from '../support/fake-world.ts';
import type { Scenario } from '../support/scenario.ts';

// A migration whose checkpoint really moves: real node agents on loopback (node-a -> node-b, or node-a -> a
// real docker-registry), a kubelet stand-in that writes a real checkpoint tar where CRI-O would. Cluster and
// broker are fakes here; the control-plane issue brings the real ones.
let pair: AgentPair;
let registry: RegistryHarness;
beforeAll(async () => {
  [pair, registry] = await Promise.all([startAgentPair(), startRegistry()]);
});
afterAll(async () => {
  await Promise.all([pair?.stop(), registry?.stop()]);
});

const SIZE = 24 * 1024 * 1024;

/** Checkpoints by writing a tar of random content into node-a's checkpoint folder. */
const tarKubelet = (): Kubelet => ({
  async checkpoint(req) {
    const path = join(
      pair.a.checkpointsDir,
      `checkpoint-${req.pod}_${req.namespace}-${req.container}-${Date.now()}.tar`,
    );
    await writeRandomTar(path, SIZE);
    return { path };
  },
});

function scenarioWith(transferMode: 'Direct' | 'Registry', name: string): Scenario {
  const clock = systemClock();
  const world = createFakeWorld({ clock, latencies: 'instant' });
  const sourcePod = world.seed('pod');
  const log = createMemoryEventLog();
  const deps = {
    ...world,
    kubelet: tarKubelet(),
    agents: pair.client,
    log,
    logger: pino({ level: 'silent' }),
    pollMs: 50,
    sampleHeartbeatMs: 500,
  };
  const spec = normalizeSpec(
    { namespace: 'default', name, uid: `uid-${name}` },
    {
      sourcePod,
      targetNode: TARGET_NODE,
      transferMode,
      checkpointImageRepository: transferMode === 'Registry' ? `${registry.host}/ms2m-${name}` : undefined,
      messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://127.0.0.1', exchangeName: 'orders' },
    },
  );
  const migrationId = `default/${name}`;
  const key = { kind: migrationChart.kind, id: migrationId };
  return { world, log, deps, spec, migrationId, key, open: () => MigrationHost.open({ id: migrationId, deps }) };
}

const factsOf = async (s: Scenario, type: string) =>
  (await s.log.read(s.key)).filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);

describe('migration with the real transfer path', () => {
  it('Direct: node-a streams the checkpoint to node-b, which loads it as localhost/checkpoint/<ctr>:sha256-<digest>', async () => {
    const s = scenarioWith('Direct', 'direct');
    const host = await s.open();
    await host.request({ spec: s.spec });
    const final = await host.done();
    expect(final.value).toBe('Completed');
    const [done] = await factsOf(s, 'TransferCompleted');
    expect(done).toMatchObject({
      image: `localhost/checkpoint/consumer:sha256-${done!.sha256}`,
      bytes: statSync(final.context.checkpoint!.path).size,
    });
    const onB = await pair.client.list('node-b');
    expect(onB.filter((e) => e.sha256 === done!.sha256)).toHaveLength(1);
    const progress = await factsOf(s, 'TransferProgressed');
    expect(progress.at(-1)).toEqual({ bytesTransferred: done!.bytes, bytesTotal: done!.bytes });
  });

  it('Registry: node-a pushes <repo>/<pod>:checkpoint, the shadow pod pulls it', async () => {
    const s = scenarioWith('Registry', 'registry');
    const host = await s.open();
    await host.request({ spec: s.spec });
    const final = await host.done();
    expect(final.value).toBe('Completed');
    const ref = `${registry.host}/ms2m-registry/consumer:checkpoint`;
    expect(final.context.image).toBe(ref);
    expect(await ociRegistry({ insecure: true }).exists(ref)).toBe(true);
    const shadow = s.world.cluster.pods.get('default/consumer-shadow')!;
    expect(shadow.containers[0]!.spec).toMatchObject({ image: ref, imagePullPolicy: 'Always' });
  });

  it('a crash in the middle of Transferring resumes and stores the image on node-b exactly once', async () => {
    const s = scenarioWith('Direct', 'crash');
    const before = (await pair.client.list('node-b')).length;
    const final = await crashAt('TransferProgressed')(s);
    expect(final.value).toBe('Completed');
    expect((await pair.client.list('node-b')).length).toBe(before + 1);
    expect(await factsOf(s, 'TransferCompleted')).toHaveLength(1);
  });
});
