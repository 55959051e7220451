/**
 * Records the golden event logs in test/golden/: each scenario runs on the fake world (virtual time), its log is
 * written as JSON Lines and its final snapshot (value + context) beside it. CI replays them (test/golden).
 *
 * An existing golden file is never overwritten: a change that folds an old log differently needs a
 * machineVersion bump and an upcaster (ARCHITECTURE.md §2). `--force NAME` re-records one on purpose. New
 * recordings are in the current envelope format (`kind`, `id`); the committed ones predate kinds.
 *
 *   npx tsx scripts/record-golden.ts            # records the missing ones
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrationChart } from '../actors/charts/migration.ts';
import { parseLog } from '../actors/event-schema.ts';
import { fold } from '../machines/fold.ts';
import { cancelAt, crashAt, type Driver } from '../test/support/drivers.ts';
import { scriptedFaults } from '../test/support/faults.ts';
import { writeGolden } from '../test/support/golden-files.ts';
import { runToEnd, type ScenarioOptions, scenario } from '../test/support/scenario.ts';

const dir = join(import.meta.dirname, '../test/golden');
const force = new Set(
  process.argv.slice(process.argv.indexOf('--force') + 1).filter(() => process.argv.includes('--force')),
);

const plain: Driver = runToEnd;

const scenarios: Record<string, { opts: ScenarioOptions; drive: Driver }> = {
  'shadowpod-registry': {
    opts: {
      workload: 'deployment',
      spec: { checkpointImageRepository: '10.0.0.5:5000/ckpt' },
      producerRate: 10,
      consumerRate: 40,
    },
    drive: plain,
  },
  'shadowpod-direct': { opts: { workload: 'pod', producerRate: 20, consumerRate: 15 }, drive: plain },
  sequential: { opts: { workload: 'statefulset' }, drive: plain },
  'drain-stall-failed': {
    opts: { workload: 'pod', spec: { replayMode: 'Drain', drainStallSeconds: 10 }, consumerRate: 0 },
    drive: plain,
  },
  'cancel-transferring': { opts: { workload: 'pod' }, drive: cancelAt('CheckpointCreated') },
  'crash-resume': {
    opts: {
      workload: 'statefulset',
      faults: scriptedFaults([{ op: 'agentSend', nth: 1, outcome: { kind: 'transient' } }]),
    },
    drive: crashAt('SourceScaledDown'),
  },
};

mkdirSync(dir, { recursive: true });
for (const [name, { opts, drive }] of Object.entries(scenarios)) {
  const logFile = join(dir, `${name}.jsonl`);
  if (existsSync(logFile) && !force.has(name)) {
    console.log(`kept      ${name} (exists; --force ${name} to re-record)`);
    continue;
  }
  const s = scenario(opts);
  await drive(s);
  const envelopes = await s.log.read(s.key);
  const final = fold(migrationChart, s.migrationId, parseLog(migrationChart, envelopes, s.migrationId))!;
  writeGolden(dir, name, envelopes, { value: final.value, context: final.context });
  console.log(`recorded  ${name}: ${envelopes.length} events -> ${JSON.stringify(final.value)}`);
}
