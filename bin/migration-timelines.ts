/**
 * Migrations folded from an event log into phase timelines (what `ms2m timeline` and `ms2m status --log` show).
 */
import { formatRow, phaseSummary, type TimelineRow, timeline } from '../actors/timeline.ts';
import { NotFoundError } from '../adapters/errors.ts';
import type { EventLogReader } from '../adapters/event-log/port.ts';
import { MIGRATION_KIND } from '../machines/migration-chart.ts';

/** One migration as the reading commands see it. */
export interface FoldedMigration {
  id: string;
  rows: TimelineRow[];
  final: NonNullable<ReturnType<typeof timeline>['final']>;
}

/**
 * Every migration of the log (or the one stream `id`), folded. NotFoundError names the known ones when `id` has
 * no events.
 *
 * @example
 * ```ts
 * const all = await foldMigrations(reader, '.ms2m/log');
 * ```
 */
export async function foldMigrations(reader: EventLogReader, where: string, id?: string): Promise<FoldedMigration[]> {
  // the migrations of the log (its streams of kind StatefulMigration; other kinds have their own commands)
  const migrationIds = async () => (await reader.list(MIGRATION_KIND)).map((k) => k.id);
  const ids = id === undefined ? await migrationIds() : [id];
  const migrations: FoldedMigration[] = [];
  for (const mid of ids) {
    const { rows, final } = timeline(await reader.read({ kind: MIGRATION_KIND, id: mid }));
    if (final) migrations.push({ id: mid, rows, final });
    else if (id !== undefined) {
      const known = await migrationIds();
      const hint =
        known.length === 0
          ? 'the log holds no migrations'
          : `known: ${known.slice(0, 5).join(', ')}${known.length > 5 ? ', …' : ''}`;
      throw new NotFoundError('Migration', id, `no events of it in ${where} (${hint})`);
    }
  }
  return migrations;
}

/** The timelines as text, or as one JSON document. */
export function renderTimelines(migrations: FoldedMigration[], where: string, output: 'text' | 'json'): string {
  if (output === 'json') {
    return JSON.stringify(
      migrations.map((m) => ({
        migrationId: m.id,
        phase: m.rows.at(-1)?.phase,
        finished: m.final.status === 'done',
        summary: m.final.status === 'done' ? phaseSummary(m.final) : undefined,
        rows: m.rows,
      })),
      null,
      2,
    );
  }
  if (migrations.length === 0) return `no migrations in ${where}`;
  const lines: string[] = [];
  for (const m of migrations) {
    lines.push(m.id, ...m.rows.map(formatRow));
    if (m.final.status === 'done') lines.push(`  ${m.final.value}: ${phaseSummary(m.final)}`);
  }
  return lines.join('\n');
}
