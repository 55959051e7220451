/**
 * The phase timeline of one migration, derived from its log alone (the log is the truth): each event with its
 * offset from the start, the phase it left the migration in, and the human message of that moment.
 */

import type { MigrationContext, MigrationInput } from '../machines/context.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import type { MachineEvent } from '../machines/events.ts';
import { FastFold } from '../machines/fast-fold.ts';
import type { MigrationSnapshot } from '../machines/migration-chart.ts';
import { migrationChart } from './charts/migration.ts';
import { parseEvent } from './event-schema.ts';
import { goDuration } from './go-duration.ts';

export interface TimelineRow {
  seq: number;
  at: string;
  offsetMs: number;
  type: string;
  phase: string;
  message: string;
}

const phaseOf = (s: Pick<MigrationSnapshot, 'status' | 'value' | 'context'>): string =>
  s.status === 'done' ? String(s.value) : s.context.failure ? `${s.context.phase} (compensating)` : s.context.phase;

/**
 * Builds the timeline one event at a time (the demo prints rows as events are logged).
 *
 * @example
 * ```ts
 * const t = new Timeline();
 * for (const env of await log.read({ kind: 'StatefulMigration', id: 'default/m1' })) console.log(formatRow(t.add(env)));
 * ```
 */
export class Timeline {
  // the compiled fold (equal to xstate's at every event): a row reads status, value and context only
  private folding: FastFold<MigrationContext, MachineEvent, MigrationInput> | null = null;
  private lastMessage = '';
  readonly rows: TimelineRow[] = [];

  get final(): MigrationSnapshot | null {
    return this.folding?.snapshot ?? null;
  }

  add(env: EventEnvelope): TimelineRow {
    const ev = parseEvent(migrationChart, env, env.id, env.seq);
    if (this.folding) this.folding.apply(ev);
    else this.folding = new FastFold(migrationChart, env.id, ev);
    const snap = this.folding;
    const message = snap.context.message === this.lastMessage ? '' : snap.context.message;
    this.lastMessage = snap.context.message;
    const row = {
      seq: env.seq,
      at: env.at,
      offsetMs: ev.at - snap.context.startTime,
      type: env.type,
      phase: phaseOf(snap),
      message: describe(env) ?? message,
    };
    this.rows.push(row);
    return row;
  }
}

/** The whole timeline of one migration's events. */
export function timeline(envelopes: readonly EventEnvelope[]): {
  rows: TimelineRow[];
  final: MigrationSnapshot | null;
} {
  const t = new Timeline();
  for (const env of envelopes) t.add(env);
  return { rows: t.rows, final: t.final };
}

function describe(env: EventEnvelope): string | undefined {
  const d = env.data as Record<string, unknown>;
  switch (env.type) {
    case 'ReplayDepthSampled':
      return `depth ${d.depth} (ready ${d.ready}, unacked ${d.unacked})${d.consumerRate !== undefined ? ` mu=${d.consumerRate}/s lambda=${d.producerRate}/s` : ''}`;
    case 'TransferProgressed':
      return `${((d.bytesTransferred as number) / 2 ** 20).toFixed(1)} / ${((d.bytesTotal as number) / 2 ** 20).toFixed(1)} MiB`;
    case 'StepFailed':
      return `${d.step} attempt ${d.attempt} failed (${d.code}${d.transient ? ', transient' : ''}): ${d.message}`;
    default:
      return undefined;
  }
}

export function formatRow(row: TimelineRow): string {
  const offset = `+${(row.offsetMs / 1000).toFixed(3)}s`.padStart(10);
  return `${offset}  ${row.phase.padEnd(14)} ${row.type.padEnd(22)} ${row.message}`;
}

/** The phase summary in SHADOW's CSV units (Go durations), for a finished migration. */
export function phaseSummary(final: MigrationSnapshot): string {
  const t = final.context.phaseTimings;
  const total = Object.values(t).reduce((a, b) => a + (b ?? 0), 0);
  const cols: Array<[string, number | undefined]> = [
    ['total', total],
    ['pending', t.Pending],
    ['checkpoint', t.Checkpointing],
    ['transfer', t.Transferring],
    ['restore', t.Restoring],
    ['replay', t.Replaying],
    ['finalize', t.Finalizing],
  ];
  return cols.map(([k, v]) => `${k}=${goDuration(v ?? 0)}`).join('  ');
}
