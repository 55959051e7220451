/**
 * The cluster tier's timeout report (test/support/cluster-diagnostics.ts) never throws: with no cluster behind it
 * (no daemons in its dir, an API server that refuses connections) every part says what it could not read, and a
 * wait that times out still fails with its own message first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterDiagnostics, eventuallyOrDiagnose } from '../support/cluster-diagnostics.ts';

const dir = mkdtempSync(join(tmpdir(), 'ms2m-diag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
  users: [{ name: 'u', token: 't' }],
  contexts: [{ name: 'c', cluster: 'none', user: 'u' }],
  currentContext: 'c',
});

describe('clusterDiagnostics', () => {
  it('reports every part, saying what it could not read, without throwing', async () => {
    const report = await clusterDiagnostics(kc, dir, 'ms2m-system');
    expect(report).toMatch(/^cluster diagnostics \(namespace ms2m-system\):/);
    expect(report).toMatch(/daemons:\n {4}etcd: NOT RUNNING, log tail:\n {6}\(no log: /);
    for (const part of ['nodes', 'pods', 'latest events'])
      expect(report).toMatch(new RegExp(`  ${part}:\\n    \\(cannot read: `));
  });

  it('a timed-out wait fails with its own message, then the report', async () => {
    const err = await eventuallyOrDiagnose({ kc, dir, namespace: 'x' }, 'never', async () => undefined, 200).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/^never: not seen within 200 ms\ncluster diagnostics \(namespace x\):/);
  });
});
