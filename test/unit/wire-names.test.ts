import { describe, expect, it } from 'vitest';
import { targetPodSpec } from '../../actors/effects/target-pod.ts';
import { directCheckpointImage, registryCheckpointImage } from '../../adapters/agent-client/port.ts';
import { MIGRATION_LABEL, ROLE_LABEL, shadowPodName, transferJobName } from '../../adapters/kubernetes/port.ts';
import { CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import { controlQueueName, endReplay, replayQueueName, startReplay } from '../../adapters/rabbitmq/port.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

// Names users, scripts and migration-aware consumers depend on (SHADOW's, API.md "Names on the wire")
describe('names on the wire', () => {
  it('replay and control queues', () => {
    expect(replayQueueName('orders')).toBe('orders.ms2m-replay');
    expect(controlQueueName('consumer-0-shadow')).toBe('ms2m.control.consumer-0-shadow');
  });

  it('START_REPLAY and END_REPLAY bodies, byte for byte', () => {
    expect(JSON.stringify(startReplay('orders.ms2m-replay'))).toBe(
      '{"type":"START_REPLAY","payload":{"queue":"orders.ms2m-replay"}}',
    );
    expect(JSON.stringify(endReplay())).toBe('{"type":"END_REPLAY"}');
  });

  it('pods, jobs, labels, images, annotation', () => {
    expect(shadowPodName('consumer-0')).toBe('consumer-0-shadow');
    expect(transferJobName('m1')).toBe('m1-transfer');
    expect(MIGRATION_LABEL).toBe('migration.ms2m.io/migration');
    expect(ROLE_LABEL).toBe('migration.ms2m.io/role');
    expect(registryCheckpointImage('10.0.0.1:5000/ckpt/', 'consumer-0')).toBe(
      '10.0.0.1:5000/ckpt/consumer-0:checkpoint',
    );
    const digest = 'ab'.repeat(32);
    expect(directCheckpointImage('consumer', digest)).toBe(`localhost/checkpoint/consumer:sha256-${digest}`);
    expect(CHECKPOINT_ANNOTATION).toBe('io.kubernetes.cri-o.annotations.checkpoint.name');
  });

  it('the shadow pod keeps the full container spec, runs the checkpoint image in restore mode, and is labelled and owned', async () => {
    const s = scenario({ workload: 'deployment' });
    const final = await runToEnd(s);
    const pod = targetPodSpec(final.context);
    expect(pod.name).toBe('consumer-abc12-x7k2p-shadow');
    expect(pod.nodeName).toBe('node-b');
    expect(pod.labels).toEqual({
      app: 'consumer',
      'pod-template-hash': 'abc12',
      'migration.ms2m.io/migration': 'm1',
      'migration.ms2m.io/role': 'target',
    });
    const c = pod.containers[0]!;
    expect(c.image).toMatch(/^localhost\/checkpoint\/consumer:sha256-[0-9a-f]{64}$/);
    expect(c.imagePullPolicy).toBe('Never');
    expect(c.env).toEqual([
      { name: 'QUEUE', value: 'orders' },
      { name: 'MS2M_RESTORE_MODE', value: 'true' },
    ]);
    expect(c.volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }]);
    expect(c.readinessProbe).toEqual({ exec: { command: ['cat', '/tmp/ready'] } });
    expect(pod.podSpec).toEqual({ volumes: [{ name: 'data', emptyDir: {} }], serviceAccountName: 'consumer' });
    expect(pod.ownerReferences).toEqual([
      {
        apiVersion: 'migration.ms2m.io/v1alpha1',
        kind: 'StatefulMigration',
        name: 'm1',
        uid: 'cr-uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });
});
