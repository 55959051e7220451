// 200 runs each by default (each run is a whole resize with crashes, ~40 ms); PROPERTY_RUNS=1000 for exploration
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { volumeResizeChart } from '../../actors/charts/volume-resize.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { FastFold } from '../../machines/fast-fold.ts';
import { fold } from '../../machines/fold.ts';
import { executeResize, type VrRunConfig, type VrRunResult, vrRunConfigArb } from '../support/volume-property-run.ts';

const numRuns = Number(process.env.PROPERTY_RUNS ?? 200);
const seed = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : Date.now() % 2 ** 31;
if (!Number.isInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, got ${process.env.PROPERTY_SEED}`);
const path = process.env.PROPERTY_PATH;
console.info(
  `volume-resize property tests: PROPERTY_SEED=${seed}${path ? ` PROPERTY_PATH=${path}` : ''} (${numRuns} runs each)`,
);
const params = { numRuns, endOnFailure: true, seed, ...(path ? { path } : {}) };

function property(name: string, check: (r: VrRunResult, cfg: VrRunConfig) => Promise<void> | void) {
  it(name, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(vrRunConfigArb, async (cfg) => {
        const r = await executeResize(cfg);
        await check(r, cfg);
      }),
      params,
    );
  });
}

const events = async (r: VrRunResult) => parseLog(volumeResizeChart, await r.s.log.read(r.s.key), r.s.resizeId);

describe('VolumeResize chart safety invariants, arbitrary outcomes, cancels and crashes', () => {
  property(
    '1. every run ends Completed or Failed, the StatefulSet exists, and the fold of the log is the live end',
    async (r) => {
      expect(r.final.status).toBe('done');
      expect(['Completed', 'Failed']).toContain(r.final.value);
      expect(await r.s.volumes.getStatefulSet('default', 'db')).not.toBeNull();
      const evs = await events(r);
      const folded = fold(volumeResizeChart, r.s.resizeId, evs)!;
      expect(folded.value).toEqual(r.final.value);
      expect(folded.context).toEqual(r.final.context);
      // the compiled fold (rebuilds, analysis) agrees with xstate's
      const fast = new FastFold(volumeResizeChart, r.s.resizeId, evs[0]!);
      for (const e of evs.slice(1)) fast.apply(e);
      expect(fast.value).toEqual(folded.value);
      expect(fast.context).toEqual(folded.context);
    },
  );

  property('2. no claim is deleted before its data is verified elsewhere and its PV retained', (r) => {
    const originals = new Set(r.originalPVs.values());
    for (const removal of r.s.volumes.removals) {
      if (!removal.data) continue;
      const where = `${removal.claim} on ${removal.pv} (${removal.policy})`;
      if (removal.pv && originals.has(removal.pv)) {
        // an original volume's claim: its PV is retained and a verified copy exists
        expect(removal.policy, where).toBe('Retain');
        expect(
          removal.elsewhere.some((e) => e.verified),
          where,
        ).toBe(true);
      } else {
        // a copy's claim: either its PV is retained, or the data is on a PV still bound to a claim
        expect(removal.policy === 'Retain' || removal.elsewhere.some((e) => e.bound), where).toBe(true);
      }
    }
  });

  property('3. crash at any point + rebuild from the log resumes without redoing a finished copy', async (r) => {
    for (const [pod, n] of r.s.volumes.copiesCompleted) {
      if (pod.includes('-migrator-')) expect(n, pod).toBe(1);
    }
    const evs = await events(r);
    const copied = new Set<string>();
    for (const e of evs) {
      if (e.type !== 'VolumeCopied' && e.type !== 'CopyProgressed') continue;
      const unit = `${e.data.replica}/${e.data.volume}`;
      if (e.type === 'CopyProgressed' && e.data.stage === 'sync') expect(copied.has(unit), unit).toBe(false);
      if (e.type === 'VolumeCopied') {
        expect(copied.has(unit), unit).toBe(false);
        copied.add(unit);
      }
    }
    if (r.final.value === 'Completed') expect(copied.size).toBe(r.final.context.units.length);
  });

  property(
    '4. every run ends with the data reachable: a claim of the original name, or instructions naming its PV',
    (r) => {
      const v = r.s.volumes;
      for (const [claim, pvName] of r.originalPVs) {
        const digest = `${claim}-original`;
        const holders = v.holders(digest);
        expect(holders.length, `${claim}: some PV still holds its data`).toBeGreaterThan(0);
        const current = v.claimOf('default', claim);
        const reachable = current?.phase === 'Bound' && v.pv(current.volumeName!)?.data?.digest === digest;
        if (r.final.value === 'Completed') {
          expect(reachable, claim).toBe(true);
          expect(v.pv(pvName)?.reclaimPolicy, `${claim}: the old PV is retained`).toBe('Retain');
        } else if (!reachable) {
          expect(r.final.context.message).toContain(pvName);
          expect(v.pv(pvName)?.reclaimPolicy).toBe('Retain');
        }
        // a touched old PV is never given back to its Delete policy by the resize
        if (v.pv(pvName)?.annotations['storage.ms2m.io/original-reclaim-policy'])
          expect(v.pv(pvName)?.reclaimPolicy).toBe('Retain');
      }
    },
  );
});
