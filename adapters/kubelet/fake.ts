import type { Clock } from '../clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../effect-journal.ts';
import type { CheckpointRequest, CheckpointResult, Kubelet } from './port.ts';

/**
 * A kubelet that "checkpoints" instantly (or after `checkpointMs`), answering the path CRI-O would.
 * The path is derived from the request and the clock so a retried call for the same key gets the same path.
 *
 * @example
 * ```ts
 * const kubelet = new FakeKubelet({ clock });
 * const { path } = await kubelet.checkpoint({ node: 'n1', namespace: 'default', pod: 'app-0', container: 'app' });
 * ```
 */
export class FakeKubelet implements Kubelet {
  readonly journal: EffectJournal;
  private readonly taken = new Map<string, string>();
  constructor(
    private readonly opts: {
      clock: Clock;
      faults?: FaultPlan;
      journal?: EffectJournal;
      checkpointMs?: number;
      sizeBytes?: number;
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
        this.taken.set(object, path);
        return { applied: true, value: { path } };
      },
    );
  }
  /** Size the fake reports for a checkpoint archive. */
  get sizeBytes(): number {
    return this.opts.sizeBytes ?? 30 * 1024 * 1024;
  }
}
