import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { VolumeResizeHost } from '../../actors/charts/volume-resize.ts';
import { vrStatusesFromLog } from '../../actors/volume-resize-status.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { runCli } from '../../bin/cli.ts';
import { VOLUME_RESIZE_KIND } from '../../machines/volume-resize-chart.ts';
import { silent } from '../support/scenario.ts';
import { runResize, volumeScenario } from '../support/volume-scenario.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A file log holding one completed resize and one failed validation. The runs use the memory log (virtual time
 * needs promise-only I/O); their envelopes are then appended to a file log, as the operator would have.
 */
async function logWithResizes() {
  const memory = createMemoryEventLog();
  await runResize(volumeScenario({ log: memory }));
  const failed = volumeScenario({ log: memory, spec: { statefulSetName: 'nope' } });
  const host = await VolumeResizeHost.open({ id: 'default/vr2/vr-uid-2', deps: failed.deps });
  await host.request({ spec: { ...failed.spec, name: 'vr2', uid: 'vr-uid-2' } });
  await host.done();
  const dir = mkdtempSync(join(tmpdir(), 'vr-status-'));
  dirs.push(dir);
  const log = await openFileLog({ dir, logger: silent, fsync: false });
  for (const key of await memory.list(VOLUME_RESIZE_KIND)) {
    for (const e of await memory.read(key)) {
      await log.append(key, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, e.seq - 1);
    }
  }
  await log.close();
  return dir;
}

async function cli(args: string[]) {
  let stdout = '';
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      stdout += c.toString('utf8');
      cb();
    },
  });
  const code = await runCli(args, { stdout: sink, stderr: new Writable({ write: (_c, _e, cb) => cb() }) });
  return { code, stdout };
}

describe('VolumeResize status from the event log', () => {
  it('projects every VolumeResize of a log: phase, plan, volumes, conditions, where its log is', async () => {
    const dir = await logWithResizes();
    const log = await openFileLog({ dir, logger: silent, fsync: false });
    try {
      const all = await vrStatusesFromLog(log);
      expect(all.map((r) => [r.id, r.status.phase])).toEqual([
        ['default/vr1/vr-uid-1', 'Completed'],
        ['default/vr2/vr-uid-2', 'Failed'],
      ]);
      const done = all[0]!.status;
      expect(done.volumeStatuses?.every((v) => v.phase === 'Replaced' && v.bytesCopied === v.bytesTotal)).toBe(true);
      expect(done.plan?.[0]).toMatchObject({ order: 1, action: 'Record', kind: 'StatefulSet', name: 'db' });
      expect(done.eventLog).toContain(dir);
      const failed = all[1]!.status;
      expect(failed.conditions?.find((c) => c.type === 'Failed')).toMatchObject({
        status: 'True',
        reason: 'ValidationFailed',
      });
      expect(failed.message).toMatch(/Validation failed \(StatefulSetExists\)/);
    } finally {
      await log.close();
    }
  });

  it('ms2m status --log lists the VolumeResizes beside the migrations', async () => {
    const dir = await logWithResizes();
    const text = await cli(['status', '--log', dir, '-o', 'text']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^VolumeResize default\/vr1\/vr-uid-1 {2}Completed {2}2 replicas of StatefulSet db are Ready/m,
    );
    expect(text.stdout).toMatch(
      /^VolumeResize default\/vr2\/vr-uid-2 {2}Failed {2}Validation failed \(StatefulSetExists\)/m,
    );
    const json = await cli(['status', '--log', dir, '-o', 'json']);
    expect(JSON.parse(json.stdout)['default/vr1/vr-uid-1']).toMatchObject({ phase: 'Completed' });
  });
});
