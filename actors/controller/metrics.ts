/**
 * The operator's Prometheus metrics (prom-client), on a registry of its own (no global default registry):
 * phase durations, migrations by phase and by outcome, bytes transferred, replay depth.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  phaseDuration: Histogram<'phase'>;
  migrationsByPhase: Gauge<'phase'>;
  outcomes: Counter<'outcome' | 'reason'>;
  bytesTransferred: Counter;
  replayDepth: Gauge<'migration'>;
  reconciles: Counter<'result'>;
  reconcileLatency: Histogram;
  /** Where `ms2m_migrations{phase}` is read from at each scrape (the operator sets it to its running hosts). */
  setPhaseSource(source: () => Iterable<string>): void;
}

/**
 * @example
 * ```ts
 * const metrics = createOperatorMetrics();
 * metrics.phaseDuration.observe({ phase: 'Checkpointing' }, 0.41);
 * res.end(await metrics.registry.metrics());
 * ```
 */
export function createOperatorMetrics(registry = new Registry()): OperatorMetrics {
  let phases: () => Iterable<string> = () => [];
  return {
    registry,
    setPhaseSource(source) {
      phases = source;
    },
    phaseDuration: new Histogram({
      name: 'ms2m_migration_phase_duration_seconds',
      help: 'Time a migration spent in a phase',
      labelNames: ['phase'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers: [registry],
    }),
    migrationsByPhase: new Gauge({
      name: 'ms2m_migrations',
      help: 'Migrations this operator runs, by phase',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const phase of phases()) this.inc({ phase });
      },
    }),
    outcomes: new Counter({
      name: 'ms2m_migrations_finished_total',
      help: 'Migrations that ended, by outcome (Completed, Failed) and reason',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    bytesTransferred: new Counter({
      name: 'ms2m_checkpoint_bytes_transferred_total',
      help: 'Checkpoint bytes moved by Transferring',
      registers: [registry],
    }),
    replayDepth: new Gauge({
      name: 'ms2m_replay_queue_depth',
      help: 'Messages left in the replay queue (ready + unacked), per migration while Replaying',
      labelNames: ['migration'],
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'ms2m_reconciles_total',
      help: 'Reconcile runs, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    reconcileLatency: new Histogram({
      name: 'ms2m_reconcile_duration_seconds',
      help: 'Time one reconcile run took',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
