/**
 * The migration host: one per migration, one writer per migration.
 *
 *   rebuild:  events = log.read(id); snapshot = fold(events) (pure, no effects); actor = createActor(machine, {snapshot})
 *   run:      the machine invokes an effect -> the effect's fact is appended to the log (write-ahead, CAS on the
 *             last seq) -> only then is it sent to the actor.
 *
 * Appends go through one serial queue, so they never interleave. After a crash the current step's effect runs
 * again (xstate restarts invoked actors of a restored snapshot): effects are idempotent on their key.
 */
import { type Actor, createActor, fromPromise } from 'xstate';
import { toMs2mError } from '../adapters/errors.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import { StaleWriterError } from '../adapters/event-log/port.ts';
import type { SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { MACHINE_VERSION } from '../machines/envelope.ts';
import { type Fact, STEPS, type Step } from '../machines/events.ts';
import { fold, type MigrationSnapshot } from '../machines/fold.ts';
import { migrationMachine, type StepInput } from '../machines/migration.ts';
import type { MigrationSpec } from '../machines/spec.ts';
import type { EffectDeps, EffectInput } from './effects/deps.ts';
import { effects as defaultEffects } from './effects/index.ts';
import { parseEvent, parseLog } from './event-schema.ts';
import { toCacheEntry } from './rebuild.ts';

export interface HostDeps extends EffectDeps {
  log: EventLog;
  /** Where a finished migration's snapshot is kept, so a rebuild need not fold its events again. */
  snapshots?: SnapshotCache;
}

export interface MigrationHostOptions {
  migrationId: string;
  deps: HostDeps;
  /** Called after every event is appended and applied (status projection, metrics, UI). */
  onEvent?: (event: EventEnvelope, snapshot: MigrationSnapshot) => void;
  /** Replace effects (tests). */
  effects?: Partial<typeof defaultEffects>;
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
  private stopped = false;
  private failure: Error | null = null;
  private readonly waiters: Array<{ resolve: (s: MigrationSnapshot) => void; reject: (e: Error) => void }> = [];

  private constructor(opts: MigrationHostOptions) {
    this.opts = opts;
    this.migrationId = opts.migrationId;
    this.deps = opts.deps;
  }

  /**
   * Opens a host: folds whatever the log holds and, if the migration exists and is not finished, resumes it.
   *
   * @example
   * ```ts
   * const host = await MigrationHost.open({ migrationId: 'default/m1', deps });
   * if (!host.snapshot()) await host.request(spec);
   * const final = await host.done();
   * ```
   */
  static async open(opts: MigrationHostOptions): Promise<MigrationHost> {
    const host = new MigrationHost(opts);
    const envelopes = await opts.deps.log.read(opts.migrationId);
    const events = parseLog(envelopes, opts.migrationId);
    const last = envelopes.at(-1);
    host.seq = last?.seq ?? 0;
    host.lastAt = last ? Date.parse(last.at) : 0;
    const snapshot = fold(opts.migrationId, events);
    if (snapshot) host.start(snapshot);
    return host;
  }

  /** Starts a new migration (appends MigrationRequested). A migration that exists already is left as it is. */
  async request(spec: MigrationSpec): Promise<void> {
    await this.enqueue(async () => {
      if (this.seq > 0 || this.stopped) return;
      const env = await this.append({ type: 'MigrationRequested', data: { spec } });
      const snapshot = fold(this.migrationId, [parseEvent(env, this.migrationId, 1)])!;
      this.start(snapshot);
      this.opts.onEvent?.(env, this.actor!.getSnapshot());
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

  /** Resolves with the final snapshot (Completed or Failed); rejects if this host lost the log to another writer. */
  done(): Promise<MigrationSnapshot> {
    const snap = this.snapshot();
    if (snap && snap.status === 'done') return Promise.resolve(snap);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops like a crash would: the actor and its effects stop, facts not yet appended are dropped. */
  stop(): void {
    this.stopped = true;
    this.actor?.stop();
  }

  private start(snapshot: MigrationSnapshot): void {
    const logic = migrationMachine.provide({ actors: this.provideActors() });
    // the input only seeds a fresh actor; a restored snapshot carries its context already
    this.actor = createActor(logic, {
      snapshot: migrationMachine.getPersistedSnapshot(snapshot),
      input: { migrationId: this.migrationId, spec: snapshot.context.spec, at: snapshot.context.startTime },
    });
    this.actor.subscribe({
      next: (s) => {
        if (s.status === 'done') for (const w of this.waiters.splice(0)) w.resolve(s);
      },
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
          const ctx = this.actor!.getSnapshot().context;
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
    } catch {
      return; // the step ended first
    }
    if (!signal.aborted) await this.record({ type: 'DeadlineExceeded', data: { phase: input.deadline.phase } });
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
      if (signal.aborted || this.stopped) return;
      const e = toMs2mError(err);
      log.warn({ code: e.code, transient: e.transient, err: e.message }, 'effect failed');
      await this.record({
        type: 'StepFailed',
        data: { step, code: e.code, message: e.message, transient: e.transient, attempt: input.attempt },
      });
    }
  }

  /** Appends a fact (write-ahead) and then applies it. */
  record(fact: Fact): Promise<void> {
    return this.enqueue(async () => {
      if (this.stopped || !this.actor || this.actor.getSnapshot().status !== 'active') return;
      const env = await this.append(fact);
      if (this.stopped) return;
      this.actor.send(parseEvent(env, this.migrationId, env.seq));
      const snapshot = this.actor.getSnapshot();
      this.opts.onEvent?.(env, snapshot);
      if (snapshot.status === 'done' && this.deps.snapshots) {
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
      }
    });
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(fact: Fact): Promise<EventEnvelope> {
    const at = Math.max(this.deps.clock.now(), this.lastAt);
    for (let attempt = 1; ; attempt++) {
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
        if (!e.transient || this.stopped) {
          this.fail(e);
          throw e;
        }
        this.deps.logger.warn(
          { migrationId: this.migrationId, attempt, err: e.message },
          'Event log append failed, retrying',
        );
        await this.deps.clock.sleepUntil(this.deps.clock.now() + Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  private fail(err: Error): void {
    this.failure = err;
    this.stop();
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
