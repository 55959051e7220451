/**
 * The host: runs one instance of any chart (actors/chart.ts), one writer per stream `(kind, id)`.
 *
 *   rebuild:  events = log.read(key); snapshot = fold(events) (pure, no effects); actor = createActor(machine, {snapshot})
 *   run:      the machine invokes an effect -> the effect's fact is checked against the chart's schema and
 *             appended to the log (write-ahead, CAS on the last seq) -> only then is it sent to the actor ->
 *             observers are told, on their own loops.
 *
 * Appends go through one serial queue, so they never interleave. After a crash the current step's effect runs
 * again (xstate restarts invoked actors of a restored snapshot): effects are idempotent on their key.
 * Observers (status projection, Events, metrics, UI) are outside that queue: their failures never reach it.
 *
 * `createHost(chart)` gives the host of a chart (`MigrationHost = createHost(migrationChart)`, charts/migration.ts).
 * This file holds the instance's lifecycle (open, request, record, stop); the serial queue and the append are
 * stream-writer.ts, the effects run as step actors in step-actors.ts, the observer loops are observers.ts and a
 * finished instance's snapshot is cached by final-snapshot-cache.ts.
 */
import { type Actor, type ActorOptions, createActor } from 'xstate';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import type { SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { EventOf, FactOf, SnapshotOf } from '../machines/chart.ts';
import type { EventEnvelope, StreamKey } from '../machines/envelope.ts';
import { Fold } from '../machines/fold.ts';
import type { AnyChart, DepsOf, EffectsOf, RuntimeDeps } from './chart.ts';
import { parseFact, parseLog } from './event-schema.ts';
import { cacheFinalSnapshot } from './final-snapshot-cache.ts';
import { HostStoppedError } from './host-stopped-error.ts';
import { type Committed, type HostObserver, ObserverLoop, type ObserverRetry, onEventObserver } from './observers.ts';
import { stepActors } from './step-actors.ts';
import { StreamWriter } from './stream-writer.ts';

/** The dependencies of a host: its chart's (clock, logger and whatever the effects use), the log and a cache. */
export type HostDeps<TDeps extends RuntimeDeps = RuntimeDeps> = TDeps & {
  log: EventLog;
  /** Where a finished instance's snapshot is kept, so a rebuild need not fold its events again. */
  snapshots?: SnapshotCache;
};

/** The data of a chart's initial event: what `request` takes. */
export type RequestOf<C extends AnyChart> = Extract<EventOf<C>, { type: C['initialEvent'] }>['data'];

export interface HostOptions<C extends AnyChart> {
  /** The instance: its stream in the log is `(chart.kind, id)`. */
  id: string;
  deps: HostDeps<DepsOf<C>>;
  /**
   * Told of every committed event after the append, each on its own loop (see observers.ts): the history read
   * from the log first (`replayed: true`), then every event this host commits. Their errors are logged and
   * retried by that loop; they never change the instance's course.
   */
  observers?: readonly HostObserver<SnapshotOf<C>>[];
  /** Backoff of observer retries (default 200 ms doubling to 30 s, on `deps.clock`). */
  observerRetry?: ObserverRetry;
  /**
   * Called for each event this host commits, after the commit, on an observer loop.
   * @deprecated use `observers`; kept for callers written against the first host API.
   */
  onEvent?: (event: EventEnvelope, snapshot: SnapshotOf<C>) => void;
  /** Aborting it stops the host as `stop()` does ({@link HostGroup} stops all its hosts through it). */
  signal?: AbortSignal;
  /** Replace effects (tests). */
  effects?: Partial<EffectsOf<C>>;
  /**
   * Told of the live actor's inspection events (xstate's `inspect` option): `--inspect` passes the Stately
   * inspector's (actors/inspect.ts). It only watches; the log stays the only record.
   */
  inspect?: InspectOption;
}

/** xstate's `inspect` option of `createActor`. */
export type InspectOption = ActorOptions<AnyChart['machine']>['inspect'];

/** Opens hosts of one chart. */
export interface HostFactory<C extends AnyChart> {
  readonly chart: C;
  open(opts: HostOptions<C>): Promise<Host<C>>;
}

/**
 * The host factory of a chart.
 *
 * @example
 * ```ts
 * const MigrationHost = createHost(migrationChart);
 * const host = await MigrationHost.open({ id: 'default/m1/uid', deps, observers: [status] });
 * if (!host.snapshot()) await host.request({ spec });
 * const final = await host.done();
 * ```
 */
export function createHost<C extends AnyChart>(chart: C): HostFactory<C> {
  return { chart, open: (opts) => Host.open(chart, opts) };
}

type ChartActor = Actor<AnyChart['machine']>;

export class Host<C extends AnyChart> {
  readonly chart: C;
  readonly key: StreamKey;
  private readonly deps: HostDeps<DepsOf<C>>;
  private readonly opts: HostOptions<C>;
  private actor: ChartActor | null = null;
  /** Aborted by stop(): the append retry sleep, the observer loops and the effects all end on it. */
  private readonly halted = new AbortController();
  private stopping: Promise<void> | null = null;
  private failure: Error | null = null;
  private readonly loops: ObserverLoop<SnapshotOf<C>>[];
  private readonly waiters: Array<{ resolve: (s: SnapshotOf<C>) => void; reject: (e: Error) => void }> = [];
  private readonly writer: StreamWriter;

  private constructor(chart: C, opts: HostOptions<C>) {
    this.chart = chart;
    this.opts = opts;
    this.key = { kind: chart.kind, id: opts.id };
    this.deps = opts.deps;
    this.writer = new StreamWriter({
      key: this.key,
      log: opts.deps.log,
      clock: opts.deps.clock,
      logger: opts.deps.logger,
      machineVersion: chart.version,
      signal: this.halted.signal,
      onFatal: (err) => this.fail(err),
    });
    const observers = [...(opts.observers ?? []), ...(opts.onEvent ? [onEventObserver(opts.onEvent)] : [])];
    this.loops = observers.map(
      (o) =>
        new ObserverLoop(o, {
          key: this.key,
          clock: opts.deps.clock,
          logger: opts.deps.logger,
          signal: this.halted.signal,
          retry: opts.observerRetry,
        }),
    );
  }

  /**
   * Opens a host: folds whatever the log holds for `(chart.kind, opts.id)` and, if the instance exists and is not
   * finished, resumes it. Observers get the folded history as their first batch.
   *
   * @example
   * ```ts
   * const host = await Host.open(migrationChart, { id: 'default/m1/uid', deps, observers: [status] });
   * ```
   */
  static async open<C extends AnyChart>(chart: C, opts: HostOptions<C>): Promise<Host<C>> {
    const host = new Host(chart, opts);
    const { signal } = opts;
    if (signal?.aborted) throw new HostStoppedError(host.key, 'opening');
    const envelopes = await opts.deps.log.read(host.key);
    if (signal?.aborted) throw new HostStoppedError(host.key, 'opening');
    if (signal) {
      const onAbort = () => void host.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      host.halted.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
    }
    const events = parseLog(chart, envelopes, opts.id);
    host.writer.resumeAfter(envelopes.at(-1));
    const history = host.replay(envelopes, events);
    if (history) host.start(history);
    return host;
  }

  get kind(): string {
    return this.key.kind;
  }

  get id(): string {
    return this.key.id;
  }

  /** Folds the log; when observers listen, keeps the snapshot after every event for them. */
  private replay(envelopes: EventEnvelope[], events: EventOf<C>[]): SnapshotOf<C> | null {
    const [first, ...rest] = events;
    if (!first) return null;
    const folding = new Fold(this.chart, this.id, first);
    const keep = this.loops.length > 0;
    const history: Committed<SnapshotOf<C>>[] = [];
    const note = (i: number) => {
      if (keep) history.push({ ...this.key, event: envelopes[i]!, snapshot: folding.snapshot, replayed: true });
    };
    note(0);
    rest.forEach((ev, i) => {
      folding.apply(ev);
      note(i + 1);
    });
    for (const loop of this.loops) loop.push(history);
    return folding.snapshot;
  }

  /**
   * Starts a new instance: appends the chart's initial event with `data` (for a migration: `{ spec }`). An
   * instance that exists already is left as it is.
   */
  async request(data: RequestOf<C>): Promise<void> {
    await this.writer.enqueue(async () => {
      if (this.writer.lastSeq > 0) return;
      const checked = parseFact(this.chart, { type: this.chart.initialEvent, data }, this.key, 1);
      const env = await this.writer.append(checked);
      if (this.isStopped) return;
      const first = { type: checked.type, at: Date.parse(env.at), data: checked.data } as EventOf<C>;
      const snapshot = new Fold(this.chart, this.id, first).snapshot;
      this.start(snapshot);
      this.committed(env, this.currentActor().getSnapshot());
    });
  }

  /** Records a cancel (spec.cancel, resource deletion); what it means is the chart's business. */
  async cancel(reason: string): Promise<void> {
    await this.record({ type: 'CancelRequested', data: { reason } } as FactOf<EventOf<C>>);
  }

  snapshot(): SnapshotOf<C> | null {
    return (this.actor?.getSnapshot() as SnapshotOf<C> | undefined) ?? null;
  }

  get lastSeq(): number {
    return this.writer.lastSeq;
  }

  /** True once stop() was called (or the host failed): it appends nothing more. */
  get isStopped(): boolean {
    return this.halted.signal.aborted;
  }

  /**
   * Resolves with the final snapshot (a final state). Rejects if this host lost the log to another writer
   * (STALE_WRITER), could not write it, or was stopped first (HOST_STOPPED). Observers may still be delivering
   * the last events: `idle()` waits for them.
   */
  done(): Promise<SnapshotOf<C>> {
    const snap = this.snapshot();
    if (snap && snap.status === 'done') return Promise.resolve(snap);
    if (this.failure) return Promise.reject(this.failure);
    if (this.isStopped) return Promise.reject(this.halted.signal.reason);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Resolves once every observer has handled everything committed so far (at once when the host is stopped). */
  async idle(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.idle()));
  }

  /**
   * Stops like a crash would: the actor, its effects and the observer loops stop at once, facts not yet appended
   * are dropped (a retry waiting to append gives up), and so are observer deliveries not yet made (after a lost
   * lease the new leader reports; for a graceful close, `await idle()` first). Resolves when an append already
   * sent to the log has settled: after that, this host issues no append. Idempotent.
   *
   * @example
   * ```ts
   * lease.onLost(() => void host.stop());
   * ```
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.halt(new HostStoppedError(this.key, 'the outcome'));
    // the queue settles once the append in flight (if any) answered; nothing after it is sent
    this.stopping = this.writer.settled();
    return this.stopping;
  }

  private halt(reason: Error): void {
    if (this.halted.signal.aborted) return;
    this.halted.abort(reason);
    this.actor?.stop();
    for (const w of this.waiters.splice(0)) w.reject(this.failure ?? reason);
  }

  private currentActor(): ChartActor {
    if (!this.actor) throw new Ms2mError(ErrorCode.INTERNAL, `${this.kind} ${this.id}: the host has no actor`);
    return this.actor;
  }

  private start(snapshot: SnapshotOf<C>): void {
    const machine = this.chart.machine;
    const logic = machine.provide({
      actors: stepActors({
        chart: this.chart,
        key: this.key,
        deps: this.deps,
        effects: this.opts.effects,
        context: () => this.currentActor().getSnapshot().context,
        record: (fact) => this.record(fact),
        isStopped: () => this.isStopped,
      }),
    });
    // the input only seeds a fresh actor; a restored snapshot carries its context already
    this.actor = createActor(logic, {
      snapshot: machine.getPersistedSnapshot(snapshot),
      ...(this.opts.inspect ? { inspect: this.opts.inspect } : {}),
    });
    this.actor.subscribe({
      error: (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    });
    this.actor.start();
  }

  /**
   * Checks a fact against the chart's schema, appends it (write-ahead), then applies it, then tells the
   * observers. Rejects with HOST_STOPPED once the host is stopped, and with CORRUPT_EVENT (nothing appended) for
   * a fact the chart does not accept; a fact for a finished instance is ignored.
   */
  record(fact: FactOf<EventOf<C>>): Promise<void> {
    return this.writer.enqueue(async () => {
      if (this.isStopped) throw new HostStoppedError(this.key, fact.type);
      const actor = this.actor;
      if (actor?.getSnapshot().status !== 'active') return;
      const checked = parseFact(this.chart, fact, this.key, this.writer.lastSeq + 1);
      const env = await this.writer.append(checked);
      if (this.isStopped) return; // committed, but a stopped host applies nothing (as if it crashed here)
      actor.send({ type: checked.type, at: Date.parse(env.at), data: checked.data });
      const snapshot = actor.getSnapshot() as SnapshotOf<C>;
      this.committed(env, snapshot);
      if (snapshot.status === 'done') await cacheFinalSnapshot(this.chart, this.deps, this.key, env, snapshot);
    });
  }

  /** After a commit: observers are told on their own loops; done() waiters resolve. */
  private committed(event: EventEnvelope, snapshot: SnapshotOf<C>): void {
    const c: Committed<SnapshotOf<C>> = { ...this.key, event, snapshot, replayed: false };
    for (const loop of this.loops) loop.push([c]);
    if (snapshot.status === 'done') for (const w of this.waiters.splice(0)) w.resolve(snapshot);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.halt(err);
    this.stopping ??= this.writer.settled();
  }
}
