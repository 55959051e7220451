/**
 * Reading the migrator's and the probe's logs (adapters/volumes/migrator-log.ts) and the StatefulSet manifest the
 * real adapter saves and recreates (adapters/volumes/mapping.ts, kubernetes.ts). The log lines are as rclone 1.60
 * and cluster/images/migrator/ms2m-migrate print them.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { withTemplateSizes } from '../../adapters/volumes/kube-statefulset.ts';
import { savedManifest, statefulSetInfo, volumeNodes } from '../../adapters/volumes/mapping.ts';
import { MigratorLog, parseUsage, timestampedLines } from '../../adapters/volumes/migrator-log.ts';

const stats = (bytes: number, total: number, transfers: number) =>
  JSON.stringify({
    level: 'warning',
    msg: '\nTransferred: ...',
    source: 'accounting/stats.go:482',
    stats: { bytes, totalBytes: total, transfers, totalTransfers: 3, errors: 0 },
    time: '2026-12-03T03:00:11.712316+00:00',
  });

describe('MigratorLog', () => {
  it('turns stats lines of the copy into progress and reads the result', () => {
    const log = new MigratorLog();
    const progress = [
      '{"ms2m":"phase","phase":"sync"}',
      stats(1 << 20, 10 << 20, 0),
      '{"level":"warning","msg":"Can\'t transfer non file/directory","object":"sock"}',
      stats(10 << 20, 10 << 20, 3),
      '{"ms2m":"phase","phase":"tree"}',
      '{"ms2m":"skipped","path":"sock","reason":"socket"}',
      '{"ms2m":"phase","phase":"check"}',
      '{"level":"warning","msg":"0 differences found","object":"Local file system at /new"}',
      stats(999, 999, 9), // stats of the check pass are not copy progress
      '{"ms2m":"result","ok":true,"verified":true,"entries":10,"bytes":10016407}',
    ].map((l) => log.push(l));
    expect(progress.filter(Boolean)).toEqual([
      { stage: 'sync', bytesTransferred: 1 << 20, bytesTotal: 10 << 20, files: 0 },
      { stage: 'sync', bytesTransferred: 10 << 20, bytesTotal: 10 << 20, files: 3 },
    ]);
    expect(log.stage).toBe('verify');
    expect(log.copied.bytes).toBe(10 << 20);
    expect(log.skipped).toEqual(['sock (socket)']);
    expect(log.differenceCount).toBe(0);
    expect(log.result).toEqual({ ms2m: 'result', ok: true, verified: true, entries: 10, bytes: 10016407 });
  });

  it("collects rclone check's per-file errors and the manifest differences, and keeps non-JSON lines", () => {
    const log = new MigratorLog();
    for (const l of [
      '{"ms2m":"phase","phase":"check"}',
      '{"level":"error","msg":"sizes differ","object":"a/b/f"}',
      '2026/12/03 03:00:20 Failed to check: 1 differences found',
      '{"level":"warning","msg":"1 differences found","object":"Local file system at /new"}',
      '{"ms2m":"difference","entry":"-d 2750 1234:99 1796266811 ./a"}',
      '{"ms2m":"result","ok":false,"step":"check","message":"rclone check found files that differ"}',
    ])
      log.push(l);
    expect(log.differences).toEqual(['a/b/f: sizes differ', '-d 2750 1234:99 1796266811 ./a']);
    expect(log.differenceCount).toBe(1);
    expect(log.other).toEqual(['2026/12/03 03:00:20 Failed to check: 1 differences found']);
    expect(log.result).toMatchObject({ ok: false, step: 'check' });
  });

  it('reads the usage line: the larger of apparent and allocated bytes', () => {
    expect(parseUsage('noise\n{"ms2m":"usage","apparentBytes":4099,"allocatedBytes":8192,"inodes":2}\n')).toEqual({
      usedBytes: 8192,
      usedInodes: 2,
    });
    expect(parseUsage('{"ms2m":"usage","apparentBytes":10000000,"allocatedBytes":16384,"inodes":3}')).toEqual({
      usedBytes: 10000000,
      usedInodes: 3,
    });
    expect(parseUsage('du: /data: No such file or directory')).toBeNull();
  });

  it('splits kubelet timestamps from lines', () => {
    expect(timestampedLines('2026-12-03T03:00:11.1Z {"a":1}\n2026-12-03T03:00:11.2Z x y\n')).toEqual([
      ['2026-12-03T03:00:11.1Z', '{"a":1}'],
      ['2026-12-03T03:00:11.2Z', 'x y'],
    ]);
  });
});

describe('the saved StatefulSet manifest', () => {
  const read = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'db',
      namespace: 'default',
      uid: 'u1',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: '2026-12-03T00:00:00Z',
      managedFields: [{ manager: 'kubectl' }],
      labels: { app: 'db' },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'db' } },
      serviceName: 'db',
      template: { metadata: { labels: { app: 'db' }, creationTimestamp: null }, spec: { containers: [] } },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', creationTimestamp: null },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          status: { phase: 'Pending' },
        },
        {
          metadata: { name: 'logs' },
          spec: { storageClassName: 'fast', resources: { requests: { storage: '2Gi' } } },
        },
      ],
    },
    status: { replicas: 2, readyReplicas: 2, currentRevision: 'r1', updateRevision: 'r1', updatedReplicas: 2 },
  } as unknown as V1StatefulSet;

  it('keeps what the API accepts back and drops the server fields', () => {
    const m = savedManifest(read) as { metadata: object; status?: unknown; spec: { volumeClaimTemplates: object[] } };
    expect(m.metadata).toEqual({ name: 'db', namespace: 'default', labels: { app: 'db' } });
    expect(m.status).toBeUndefined();
    expect(m.spec.volumeClaimTemplates[0]).toEqual({
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    const info = statefulSetInfo(read);
    expect(info).toMatchObject({ replicas: 2, readyReplicas: 2, updatedReplicas: 2, uid: 'u1' });
    expect(info.claimTemplates.map((t) => [t.name, t.request, t.storageClassName])).toEqual([
      ['data', '1Gi', undefined],
      ['logs', '2Gi', 'fast'],
    ]);
  });

  it('puts the new size (and class) into the named templates only', () => {
    const body = withTemplateSizes(savedManifest(read), { data: { size: '256Mi', storageClassName: 'small' } });
    const [data, logs] = body.spec?.volumeClaimTemplates ?? [];
    expect(data?.spec?.resources?.requests?.storage).toBe('256Mi');
    expect(data?.spec?.storageClassName).toBe('small');
    expect(data?.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(logs?.spec).toEqual({ storageClassName: 'fast', resources: { requests: { storage: '2Gi' } } });
    expect(body.metadata?.uid).toBeUndefined();
  });

  it("reads a local PV's nodes from its required hostname affinity", () => {
    expect(
      volumeNodes({
        spec: {
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] },
              ],
            },
          },
        },
      }),
    ).toEqual(['node-a']);
    expect(volumeNodes({ spec: {} })).toEqual([]);
  });
});
