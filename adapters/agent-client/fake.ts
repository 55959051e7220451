import type { Clock } from '../clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../effect-journal.ts';
import {
  type AgentClient,
  type CheckpointEntry,
  directCheckpointImage,
  type PredumpRequest,
  type PredumpStatus,
  type ProgressListener,
  type PushRequest,
  type SendRequest,
  type TransferResult,
} from './port.ts';

/**
 * Node agents in memory: `send`/`push` take `bytes / bytesPerSecond` of clock time, report progress in ten
 * steps, and are idempotent per checkpoint (a second transfer of the same archive is a no-op). Like the real agent,
 * a Direct image is named by content (`directCheckpointImage(container, sha256)`), one per archive and container.
 *
 * @example
 * ```ts
 * const agents = new FakeAgentClient({ clock, bytesPerSecond: 500e6, sizeOf: () => 30e6 });
 * ```
 */
export class FakeAgentClient implements AgentClient {
  readonly journal: EffectJournal;
  /** node -> image name -> result */
  readonly images = new Map<string, Map<string, TransferResult>>();
  readonly pushed = new Map<string, TransferResult>();

  constructor(
    private readonly opts: {
      clock: Clock;
      faults?: FaultPlan;
      journal?: EffectJournal;
      bytesPerSecond?: number;
      sizeOf?: (checkpointPath: string) => number;
    },
  ) {
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
  }

  private async move(bytes: number, onProgress?: ProgressListener): Promise<void> {
    const { clock } = this.opts;
    const rate = this.opts.bytesPerSecond ?? 1e9;
    for (let i = 1; i <= 10; i++) {
      await clock.sleepUntil(clock.now() + (bytes / rate / 10) * 1000);
      onProgress?.({ bytesTransferred: Math.round((bytes * i) / 10), bytesTotal: bytes });
    }
  }

  private digest(path: string): string {
    let h = 0;
    for (const ch of path) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return h.toString(16).padStart(64, '0');
  }

  async send(req: SendRequest, onProgress?: ProgressListener): Promise<TransferResult> {
    const bytes = this.opts.sizeOf?.(req.checkpointPath) ?? 30 * 1024 * 1024;
    const image = directCheckpointImage(req.container, this.digest(req.checkpointPath));
    if (!this.images.get(req.targetNode)?.has(image)) await this.move(bytes, onProgress);
    const ctx = { clock: this.opts.clock, faults: this.opts.faults ?? noFaults, journal: this.journal };
    return faulty(ctx, 'agentSend', req.key, `${req.targetNode}:${image}`, () => {
      const result = { image, bytes, sha256: this.digest(req.checkpointPath) };
      const node = this.images.get(req.targetNode) ?? new Map<string, TransferResult>();
      const same = node.get(image)?.sha256 === result.sha256;
      node.set(image, result);
      this.images.set(req.targetNode, node);
      return { applied: !same, value: result };
    });
  }

  async push(req: PushRequest, onProgress?: ProgressListener): Promise<TransferResult> {
    const bytes = this.opts.sizeOf?.(req.checkpointPath) ?? 30 * 1024 * 1024;
    const sha256 = this.digest(req.checkpointPath);
    if (this.pushed.get(req.imageRef)?.sha256 !== sha256) await this.move(bytes, onProgress);
    const ctx = { clock: this.opts.clock, faults: this.opts.faults ?? noFaults, journal: this.journal };
    return faulty(ctx, 'agentPush', req.key, req.imageRef, () => {
      const same = this.pushed.get(req.imageRef)?.sha256 === sha256;
      const result = { image: req.imageRef, bytes, sha256 };
      this.pushed.set(req.imageRef, result);
      return { applied: !same, value: result };
    });
  }

  toJSON() {
    return {
      images: [...this.images.entries()].map(([n, m]) => [n, [...m.entries()]] as const),
      pushed: [...this.pushed.entries()],
    };
  }
  load(state: ReturnType<FakeAgentClient['toJSON']>): void {
    for (const [n, entries] of state.images) this.images.set(n, new Map(entries));
    for (const [k, v] of state.pushed) this.pushed.set(k, v);
  }

  async list(node: string): Promise<CheckpointEntry[]> {
    return [...(this.images.get(node)?.entries() ?? [])].map(([image, r]) => ({
      id: r.sha256,
      // the real agent lists the container name, not the image name
      container: image.replace(/^localhost\/checkpoint\//, '').replace(/:[^:]*$/, ''),
      bytes: r.bytes,
      sha256: r.sha256,
      createdAt: new Date(this.opts.clock.now()).toISOString(),
    }));
  }
  async remove(node: string, id: string): Promise<void> {
    const images = this.images.get(node);
    for (const [image, r] of images ?? []) if (r.sha256 === id) images?.delete(image);
  }
  async gc(): Promise<number> {
    return 0;
  }
  async predump(_node: string, _req: PredumpRequest): Promise<PredumpStatus> {
    return { supported: false, reason: 'fake agent: no CRIU memory tracking' };
  }
}
