/**
 * The migration host: one per migration, one writer per migration.
 *
 *   rebuild:  events = log.read(id); snapshot = fold(events) (pure, no effects); actor = createActor(machine, {snapshot})
 *   run:      the machine invokes an effect -> the effect's fact is appended to the log (write-ahead, CAS on the
 *             last seq) -> only then is it sent to the actor -> observers are told, on their own loops.
 *
 * Appends go through one serial queue, so they never interleave. After a crash the current step's effect runs
 * again (xstate restarts invoked actors of a restored snapshot): effects are idempotent on their key.
 * Observers (status projection, Events, metrics, UI) are outside that queue: their failures never reach it.
 */
import { type Actor, createActor, fromPromise } from 'xstate';
import { ErrorCode, Ms2mError, toMs2mError } from '../adapters/errors.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import { StaleWriterError } from '../adapters/event-log/port.ts';
import type { SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { MACHINE_VERSION } from '../machines/envelope.ts';
import { type Fact, type MachineEvent, STEPS, type Step } from '../machines/events.ts';
import { Fold, type MigrationSnapshot } from '../machines/fold.ts';
import { migrationMachine, type StepInput } from '../machines/migration.ts';
import type { MigrationSpec } from '../machines/spec.ts';
import type { EffectDeps, EffectInput } from './effects/deps.ts';
import { effects as defaultEffects } from './effects/index.ts';
import { parseEvent, parseLog } from './event-schema.ts';
import { type Committed, type HostObserver, ObserverLoop, type ObserverRetry } from './observers.ts';
import { toCacheEntry } from './rebuild.ts';

export interface HostDeps extends EffectDeps {
  log: EventLog;
  /** Where a finished migration's snapshot is kept, so a rebuild need not fold its events again. */
  snapshots?: SnapshotCache;
}

export interface MigrationHostOptions {
  migrationId: string;
  deps: HostDeps;
  /**
   * Told of every committed event after the append, each on its own loop (see observers.ts): the history read
   * from the log first (`replayed: true`), then every event this host commits. Their errors are logged and
   * retried by that loop; they never change the migration's course.
   */
  observers?: readonly HostObserver[];
  /** Backoff of observer retries (default 200 ms doubling to 30 s, on `deps.clock`). */
  observerRetry?: ObserverRetry;
  /**
   * Called for each event this host commits, after the commit, on an observer loop.
   * @deprecated use `observers`; kept for callers written against the first host API.
   */
  onEvent?: (event: EventEnvelope, snapshot: MigrationSnapshot) => void;
  /** Aborting it stops the host as `stop()` does ({@link HostGroup} stops all its hosts through it). */
  signal?: AbortSignal;
  /** Replace effects (tests). */
  effects?: Partial<typeof defaultEffects>;
}

/** The host was stopped (lease lost, shutdown, crash test): it appends nothing more. */
export class HostStoppedError extends Ms2mError {
  constructor(migrationId: string, what: string) {
    super(
      ErrorCode.HOST_STOPPED,
      `Migration ${migrationId}: the host was stopped, ${what} was not recorded; the leader that holds the lease now continues it`,
      { details: { migrationId } },
    );
  }
}

type MigrationActor = Actor<typeof migrationMachine>;

export class MigrationHost {
  readonly migrationId: string;
  private readonly deps: HostDeps;
  private readonly opts: MigrationHostOptions;
  private actor: MigrationActor | null = null;
  private seq = 0;
  private lastAt = 0;
  private queue: Promise<void> = Promise.resolve();
  /** Aborted by stop(): the append retry sleep, the observer loops and the effects all end on it. */
  private readonly halted = new AbortController();
  private stopping: Promise<void> | null = null;
  private failure: Error | null = null;
  private readonly loops: ObserverLoop[];
  private readonly waiters: Array<{ resolve: (s: MigrationSnapshot) => void; reject: (e: Error) => void }> = [];

  private constructor(opts: MigrationHostOptions) {
    this.opts = opts;
    this.migrationId = opts.migrationId;
    this.deps = opts.deps;
    const observers = [...(opts.observers ?? []), ...(opts.onEvent ? [onEventObserver(opts.onEvent)] : [])];
    this.loops = observers.map(
      (o) =>
        new ObserverLoop(o, {
          migrationId: opts.migrationId,
          clock: opts.deps.clock,
          logger: opts.deps.logger,
          signal: this.halted.signal,
          retry: opts.observerRetry,
        }),
    );
  }

  /**
   * Opens a host: folds whatever the log holds and, if the migration exists and is not finished, resumes it.
   * Observers get the folded history as their first batch.
   *
   * @example
   * ```ts
   * const host = await MigrationHost.open({ migrationId: 'default/m1', deps, observers: [status] });
   * if (!host.snapshot()) await host.request(spec);
   * const final = await host.done();
   * ```
   */
  static async open(opts: MigrationHostOptions): Promise<MigrationHost> {
    const host = new MigrationHost(opts);
    const { signal } = opts;
    if (signal?.aborted) throw new HostStoppedError(opts.migrationId, 'opening');
    const envelopes = await opts.deps.log.read(opts.migrationId);
    if (signal?.aborted) throw new HostStoppedError(opts.migrationId, 'opening');
    if (signal) {
      const onAbort = () => void host.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      host.halted.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
    }
    const events = parseLog(envelopes, opts.migrationId);
    const last = envelopes.at(-1);
    host.seq = last?.seq ?? 0;
    host.lastAt = last ? Date.parse(last.at) : 0;
    const history = host.replay(envelopes, events);
    if (history) host.start(history.snapshot);
    return host;
  }

  /** Folds the log; when observers listen, keeps the snapshot after every event for them. */
  private replay(envelopes: EventEnvelope[], events: MachineEvent[]): { snapshot: MigrationSnapshot } | null {
    const [first, ...rest] = events;
    if (!first) return null;
    const folding = new Fold(this.migrationId, first);
    const keep = this.loops.length > 0;
    const history: Committed[] = [];
    const note = (i: number) => {
      if (keep)
        history.push({
          migrationId: this.migrationId,
          event: envelopes[i]!,
          snapshot: folding.snapshot,
          replayed: true,
        });
    };
    note(0);
    rest.forEach((ev, i) => {
      folding.apply(ev);
      note(i + 1);
    });
    for (const loop of this.loops) loop.push(history);
    return { snapshot: folding.snapshot };
  }

  /** Starts a new migration (appends MigrationRequested). A migration that exists already is left as it is. */
  async request(spec: MigrationSpec): Promise<void> {
    await this.enqueue(async () => {
      if (this.seq > 0) return;
      const env = await this.append({ type: 'MigrationRequested', data: { spec } });
      if (this.isStopped) return;
      const snapshot = new Fold(this.migrationId, parseEvent(env, this.migrationId, 1)).snapshot;
      this.start(snapshot);
      this.committed(env, this.currentActor().getSnapshot());
    });
  }

  /** Records a cancel (spec.cancel or CR deletion); the chart compensates from any phase before Finalizing. */
  async cancel(reason: string): Promise<void> {
    await this.record({ type: 'CancelRequested', data: { reason } });
  }

  snapshot(): MigrationSnapshot | null {
    return this.actor?.getSnapshot() ?? null;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** True once stop() was called (or the host failed): it appends nothing more. */
  get isStopped(): boolean {
    return this.halted.signal.aborted;
  }

  /**
   * Resolves with the final snapshot (Completed or Failed). Rejects if this host lost the log to another writer
   * (STALE_WRITER), could not write it, or was stopped first (HOST_STOPPED). Observers may still be delivering
   * the last events: `idle()` waits for them.
   */
  done(): Promise<MigrationSnapshot> {
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
    this.halt(new HostStoppedError(this.migrationId, 'the outcome'));
    // the queue settles once the append in flight (if any) answered; nothing after it is sent
    this.stopping = this.queue.then(() => undefined);
    return this.stopping;
  }

  private halt(reason: Error): void {
    if (this.halted.signal.aborted) return;
    this.halted.abort(reason);
    this.actor?.stop();
    for (const w of this.waiters.splice(0)) w.reject(this.failure ?? reason);
  }

  private currentActor(): MigrationActor {
    if (!this.actor) throw new Ms2mError(ErrorCode.INTERNAL, `Migration ${this.migrationId}: the host has no actor`);
    return this.actor;
  }

  private start(snapshot: MigrationSnapshot): void {
    const logic = migrationMachine.provide({ actors: this.provideActors() });
    // the input only seeds a fresh actor; a restored snapshot carries its context already
    this.actor = createActor(logic, {
      snapshot: migrationMachine.getPersistedSnapshot(snapshot),
      input: { migrationId: this.migrationId, spec: snapshot.context.spec, at: snapshot.context.startTime },
    });
    this.actor.subscribe({
      error: (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    });
    this.actor.start();
  }

  private provideActors() {
    const effects = { ...defaultEffects, ...this.opts.effects };
    return Object.fromEntries(
      STEPS.map((step) => [
        step,
        fromPromise<void, StepInput>(async ({ input, signal }) => {
          // invoked children start after the parent's snapshot is updated: this is the context of this step
          const ctx = this.currentActor().getSnapshot().context;
          await Promise.all([
            this.watchDeadline(input, signal),
            this.runEffect(step, effects[step], { ...input, ctx }, signal),
          ]);
        }),
      ]),
    ) as Record<Step, ReturnType<typeof fromPromise<void, StepInput>>>;
  }

  /** Records DeadlineExceeded if the phase deadline passes while this step runs (the chart then stops the step). */
  private async watchDeadline(input: StepInput, signal: AbortSignal): Promise<void> {
    if (!input.deadline) return;
    try {
      await this.deps.clock.sleepUntil(input.deadline.at, signal);
      if (!signal.aborted) await this.record({ type: 'DeadlineExceeded', data: { phase: input.deadline.phase } });
    } catch {
      // the step ended first, or the host stopped
    }
  }

  private async runEffect(
    step: Step,
    effect: (typeof defaultEffects)[Step],
    input: EffectInput,
    signal: AbortSignal,
  ): Promise<void> {
    const log = this.deps.logger.child({ migrationId: this.migrationId, step, attempt: input.attempt });
    const emit = async (fact: Fact) => {
      if (!signal.aborted) await this.record(fact);
    };
    try {
      if (input.notBefore !== undefined) await this.deps.clock.sleepUntil(input.notBefore, signal);
      log.debug('effect started');
      const fact = await effect(input, { deps: this.deps, emit, signal });
      if (!signal.aborted) await this.record(fact);
    } catch (err) {
      if (signal.aborted || this.isStopped) return;
      const e = toMs2mError(err);
      log.warn({ code: e.code, transient: e.transient, err: e.message }, 'effect failed');
      await this.record({
        type: 'StepFailed',
        data: { step, code: e.code, message: e.message, transient: e.transient, attempt: input.attempt },
      }).catch(() => undefined); // only a stopped or failed host rejects here, and it already said why
    }
  }

  /**
   * Appends a fact (write-ahead), then applies it, then tells the observers. Rejects with HOST_STOPPED once the
   * host is stopped; a fact for a finished migration is ignored.
   */
  record(fact: Fact): Promise<void> {
    return this.enqueue(async () => {
      if (this.isStopped) throw new HostStoppedError(this.migrationId, fact.type);
      const actor = this.actor;
      if (actor?.getSnapshot().status !== 'active') return;
      const env = await this.append(fact);
      if (this.isStopped) return; // committed, but a stopped host applies nothing (as if it crashed here)
      actor.send(parseEvent(env, this.migrationId, env.seq));
      const snapshot = actor.getSnapshot();
      this.committed(env, snapshot);
      if (snapshot.status === 'done') await this.cache(env, snapshot);
    });
  }

  /** After a commit: observers are told on their own loops; done() waiters resolve. */
  private committed(event: EventEnvelope, snapshot: MigrationSnapshot): void {
    const c: Committed = { migrationId: this.migrationId, event, snapshot, replayed: false };
    for (const loop of this.loops) loop.push([c]);
    if (snapshot.status === 'done') for (const w of this.waiters.splice(0)) w.resolve(snapshot);
  }

  /** A cache miss only costs a fold later: a failing cache is logged, never a failure of the migration. */
  private async cache(env: EventEnvelope, snapshot: MigrationSnapshot): Promise<void> {
    if (!this.deps.snapshots) return;
    try {
      await this.deps.snapshots.put(
        toCacheEntry({
          migrationId: this.migrationId,
          lastSeq: env.seq,
          lastAt: env.at,
          status: snapshot.status,
          value: snapshot.value,
          persisted: migrationMachine.getPersistedSnapshot(snapshot),
        }),
      );
    } catch (err) {
      this.deps.logger.warn(
        { migrationId: this.migrationId, err: toMs2mError(err).message },
        'Could not cache the final snapshot',
      );
    }
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(fact: Fact): Promise<EventEnvelope> {
    const at = Math.max(this.deps.clock.now(), this.lastAt);
    const signal = this.halted.signal;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new HostStoppedError(this.migrationId, fact.type);
      try {
        const env = await this.deps.log.append(
          this.migrationId,
          { type: fact.type, at: new Date(at).toISOString(), machineVersion: MACHINE_VERSION, data: fact.data },
          this.seq,
        );
        this.seq = env.seq;
        this.lastAt = at;
        return env;
      } catch (err) {
        if (err instanceof StaleWriterError) {
          this.fail(err);
          throw err;
        }
        const e = toMs2mError(err);
        if (!e.transient) {
          this.fail(e);
          throw e;
        }
        if (signal.aborted) throw new HostStoppedError(this.migrationId, fact.type);
        this.deps.logger.warn(
          { migrationId: this.migrationId, attempt, code: e.code, err: e.message },
          'Event log append failed, retrying',
        );
        try {
          await this.deps.clock.sleepUntil(
            this.deps.clock.now() + Math.min(5000, 100 * 2 ** Math.min(attempt, 6)),
            signal,
          );
        } catch {
          throw new HostStoppedError(this.migrationId, fact.type);
        }
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.halt(err);
    this.stopping ??= this.queue.then(() => undefined);
  }
}

/** The deprecated `onEvent` callback as an observer: events this host committed, each once, in order. */
function onEventObserver(onEvent: NonNullable<MigrationHostOptions['onEvent']>): HostObserver {
  let lastSeq = 0;
  return {
    name: 'onEvent',
    observe(batch) {
      for (const c of batch) {
        if (c.replayed || c.event.seq <= lastSeq) continue;
        lastSeq = c.event.seq;
        onEvent(c.event, c.snapshot);
      }
    },
  };
}
