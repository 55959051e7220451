/**
 * The hosts of one chart in one leadership term. The leader opens a host per instance through its group; losing
 * the lease (or shutting down) stops them all at once: every host halts in the same turn, then `stopAll`
 * resolves once the appends already sent have answered. After that no host of the group appends, and the group
 * opens no more hosts: a new term (lease acquired again) starts a new group.
 */
import { setMaxListeners } from 'node:events';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import type { Lease } from '../adapters/lease/port.ts';
import type { SnapshotOf } from '../machines/chart.ts';
import type { AnyChart } from './chart.ts';
import { Host, type HostOptions } from './host.ts';
import { HostStoppedError } from './host-stopped-error.ts';
import type { HostObserver, ObserverRetry } from './observers.ts';

export interface HostGroupOptions<C extends AnyChart> {
  /** The chart every host of the group runs. */
  chart: C;
  deps: HostOptions<C>['deps'];
  /** Observers of every host of the group (status projection, Events, metrics). */
  observers?: readonly HostObserver<SnapshotOf<C>>[];
  observerRetry?: ObserverRetry;
  /** Replace effects (tests). */
  effects?: HostOptions<C>['effects'];
  /** Told of every host's live actor's inspection events (`--inspect`, actors/inspect.ts). */
  inspect?: HostOptions<C>['inspect'];
}

/**
 * @example
 * ```ts
 * const group = new HostGroup({ chart: migrationChart, deps, observers: [statusObserver({ write })] });
 * const unsubscribe = group.stopOnLoss(lease);
 * const host = await group.open('default/m1/uid');
 * if (!host.snapshot()) await host.request({ spec });
 * // lease lost -> every host stops; `await group.stopAll(...)` to know no append follows
 * ```
 */
export class HostGroup<C extends AnyChart> {
  private readonly term = new AbortController();
  private readonly hosts = new Map<string, Promise<Host<C>>>();
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: HostGroupOptions<C>) {
    setMaxListeners(0, this.term.signal); // one listener per host: hundreds are normal
  }

  /** True once stopAll() began: the group's hosts are halted and it opens no more. */
  get isStopped(): boolean {
    return this.term.signal.aborted;
  }

  /**
   * The host of an instance, opened on first use (one per instance: concurrent calls share it). Rejects with
   * HOST_STOPPED once the group is stopped, and with what `Host.open` rejects with (a corrupt log).
   */
  open(id: string): Promise<Host<C>> {
    if (this.isStopped) return Promise.reject(new HostStoppedError({ kind: this.opts.chart.kind, id }, 'opening'));
    const existing = this.hosts.get(id);
    if (existing) return existing;
    const host = Host.open(this.opts.chart, {
      id,
      deps: this.opts.deps,
      observers: this.opts.observers,
      observerRetry: this.opts.observerRetry,
      effects: this.opts.effects,
      ...(this.opts.inspect ? { inspect: this.opts.inspect } : {}),
      signal: this.term.signal,
    });
    this.hosts.set(id, host);
    // a host that failed to open is not kept: the next open() tries again
    host.catch(() => {
      if (this.hosts.get(id) === host) this.hosts.delete(id);
    });
    return host;
  }

  /** The instances with a host (open or opening). */
  ids(): string[] {
    return [...this.hosts.keys()];
  }

  /**
   * Stops and forgets one instance's host (resource deleted, or finished and no longer watched). Like stop(), it
   * drops observer deliveries still pending: `await host.idle()` first to let a finished instance's last
   * status land. The group keeps every host it opened until it is closed here.
   */
  async close(id: string): Promise<void> {
    const host = this.hosts.get(id);
    if (!host) return;
    this.hosts.delete(id);
    await host.then(
      (h) => h.stop(),
      () => undefined,
    );
  }

  /**
   * Stops every host at once (each halts in this very turn: its effects and retry sleeps abort, it sends no
   * new append). Resolves when the appends already sent have answered: after that no host of this group writes.
   * Idempotent.
   */
  stopAll(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.term.abort(new Ms2mError(ErrorCode.HOST_STOPPED, `${this.opts.chart.kind} hosts stopped: ${reason}`));
    const all = [...this.hosts.values()];
    this.stopping = Promise.all(
      all.map((h) =>
        h.then(
          (host) => host.stop(),
          () => undefined, // it never opened (opening saw the abort): nothing to wait for
        ),
      ),
    ).then(() => undefined);
    return this.stopping;
  }

  /**
   * Stops every host when the lease is reported lost. Returns the unsubscribe.
   *
   * @example
   * ```ts
   * const off = group.stopOnLoss(lease);
   * ```
   */
  stopOnLoss(lease: Pick<Lease, 'onLost' | 'holder'>): () => void {
    return lease.onLost(() => void this.stopAll(`leader lease of ${lease.holder} lost`));
  }
}
