import type { Clock } from '../clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../effect-journal.ts';
import type { CheckpointRequest, CheckpointResult, Kubelet } from './port.ts';

/**
 * A kubelet that "checkpoints" instantly (or after `checkpointMs`), answering the path CRI-O would.
 * Like a real kubelet, every call takes a new checkpoint (a new path from the clock): it is not idempotent.
 *
 * @example
 * ```ts
 * const kubelet = new FakeKubelet({ clock });
 * const { path } = await kubelet.checkpoint({ node: 'n1', namespace: 'default', pod: 'app-0', container: 'app' });
 * ```
 */
export class FakeKubelet implements Kubelet {
  readonly journal: EffectJournal;
  constructor(
    private readonly opts: {
      clock: Clock;
      faults?: FaultPlan;
      journal?: EffectJournal;
      checkpointMs?: number;
    },
  ) {
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
  }
  async checkpoint(req: CheckpointRequest): Promise<CheckpointResult> {
    const { clock } = this.opts;
    if (this.opts.checkpointMs) await clock.sleepUntil(clock.now() + this.opts.checkpointMs);
    const object = `${req.namespace}/${req.pod}/${req.container}`;
    // a kubelet checkpoints again on every call: each call is a real (non-idempotent) effect
    return faulty(
      { clock, faults: this.opts.faults ?? noFaults, journal: this.journal },
      'checkpoint',
      object,
      object,
      () => {
        const path = `/var/lib/kubelet/checkpoints/checkpoint-${req.pod}_${req.namespace}-${req.container}-${new Date(clock.now()).toISOString()}.tar`;
        return { applied: true, value: { path } };
      },
    );
  }
}
