// Records the VolumeResize golden logs in test/golden/volume-resize/ (run once per new scenario; a change that
// breaks an existing one needs a machineVersion bump and an upcaster, never a re-recorded file).
// `npx tsx scripts/record-volume-resize-golden.ts <scenario>`
import { join } from 'node:path';
import { VolumeResizeHost, volumeResizeChart } from '../actors/charts/volume-resize.ts';
import { parseLog } from '../actors/event-schema.ts';
import { fold } from '../machines/fold.ts';
import { crashAfter } from '../test/support/crash-log.ts';
import { scriptedFaults } from '../test/support/faults.ts';
import { writeGolden } from '../test/support/golden-files.ts';
import { MiB, runResize, type VolumeScenario, volumeScenario } from '../test/support/volume-scenario.ts';

const dir = join(import.meta.dirname, '../test/golden/volume-resize');

const scenarios: Record<string, () => Promise<VolumeScenario>> = {
  async completed() {
    const s = volumeScenario();
    await runResize(s);
    return s;
  },
  async 'dry-run'() {
    const s = volumeScenario({ spec: { dryRun: true } });
    await runResize(s);
    return s;
  },
  async 'used-bytes-too-large'() {
    const s = volumeScenario({ usedBytes: (_n, v) => (v === 'data' ? 300 * MiB : MiB) });
    await runResize(s);
    return s;
  },
  async 'rollback-after-rebind'() {
    const s = volumeScenario({
      faults: scriptedFaults([{ op: 'createClaim', nth: 5, outcome: { kind: 'permanent' } }]),
      maxAttempts: 1,
    });
    await runResize(s);
    return s;
  },
  async 'crash-mid-copy'() {
    const s = volumeScenario();
    let host: VolumeResizeHost | undefined;
    let crashed = false;
    const log = crashAfter(
      s.log,
      (e) => e.type === 'CopyProgressed' && !crashed,
      () => {
        crashed = true;
        void host?.stop();
      },
    );
    host = await VolumeResizeHost.open({ id: s.resizeId, deps: { ...s.deps, log } });
    await host.request({ spec: s.spec });
    await host.done().catch(() => undefined);
    await host.stop();
    const resumed = await VolumeResizeHost.open({ id: s.resizeId, deps: s.deps });
    await resumed.done();
    return s;
  },
};

const name = process.argv[2] ?? '';
const run = scenarios[name];
if (!run) throw new Error(`unknown scenario ${name}: one of ${Object.keys(scenarios).join(', ')}`);
const s = await run();
const envelopes = await s.log.read(s.key);
const final = fold(volumeResizeChart, s.resizeId, parseLog(volumeResizeChart, envelopes, s.resizeId))!;
writeGolden(dir, name, envelopes, { value: final.value, context: final.context });
console.log(`wrote test/golden/volume-resize/${name}.jsonl (${envelopes.length} events) and its snapshot`);
