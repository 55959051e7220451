/**
 * `ms2m analyze`: post-hoc analysis of migrations from an event log (embedded or JetStream, read-only): SHADOW's
 * CSV plus ours, aggregates per rate × configuration, SVG charts, and SHADOW's published runs beside ours.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';
import type { MigrationRecord, ReadProgress, VolumeResizeRecord } from '../../eval/analysis/index.ts';
import { parseLabel } from '../../eval/analysis/labels.ts';
import { summaryTable } from '../../eval/analysis/summary.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { oneOf, outputFormat, text } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import { addLogSourceOptions, type LogSourceOptions, openLogSource, sourceName } from '../log-source.ts';

interface AnalyzeOptions extends LogSourceOptions {
  since?: string;
  until?: string;
  label?: Record<string, string>;
  configuration?: string;
  csv?: string;
  aggregate?: string;
  charts?: string;
  shadow?: string[];
  output: 'text' | 'json';
  kind: 'StatefulMigration' | 'VolumeResize';
}

/** `--kind VolumeResize`: one CSV row per resize (outcome, phase durations, claims, bytes), read-only. */
async function analyzeVolumeResizes(o: AnalyzeOptions, io: CliIo): Promise<void> {
  const { readVolumeResizeRecords, toVolumeResizeCsv } = await import('../../eval/analysis/index.ts');
  const migrationOnly = {
    label: '--label',
    configuration: '--configuration',
    aggregate: '--aggregate',
    charts: '--charts',
    shadow: '--shadow',
  } as const;
  for (const [key, flag] of Object.entries(migrationOnly))
    if (o[key as keyof typeof migrationOnly] !== undefined)
      throw new UsageError(`${flag} is for migrations; with --kind VolumeResize use --since, --until, --csv and -o`);
  const filters = {
    ...(o.since === undefined ? {} : { since: o.since }),
    ...(o.until === undefined ? {} : { until: o.until }),
  };
  const reader = await openLogSource(o, 'ms2m analyze', io.stderr);
  let records: VolumeResizeRecord[];
  try {
    records = await readVolumeResizeRecords(reader, filters);
  } finally {
    await reader.close();
  }
  const csv = toVolumeResizeCsv(records);
  const written: string[] = [];
  if (o.csv === '-') io.stdout.write(csv);
  else if (o.csv !== undefined) {
    await writeFileAtomic(o.csv, csv);
    written.push(o.csv);
  }
  if (o.output === 'json') {
    io.stdout.write(
      `${JSON.stringify({ source: sourceName(o), volumeResizes: records.length, records, written }, null, 2)}\n`,
    );
  } else if (o.csv !== '-') {
    const lines = [`${records.length} volume resize(s) from ${sourceName(o)}`];
    for (const r of records)
      lines.push(
        `  ${r.resize}  ${r.outcome}${r.reason ? ` (${r.reason})` : ''}  ${r.claimsReplaced}/${r.claims} claims  ${r.bytesCopied} bytes copied`,
      );
    for (const f of written) lines.push(`wrote ${f}`);
    io.stdout.write(`${lines.join('\n')}\n`);
  }
}

const collect = (flag: string) => (value: string, previous?: string[]) => [...(previous ?? []), text(flag)(value)];

function label(value: string, previous?: Record<string, string>): Record<string, string> {
  text('--label')(value);
  if (value.indexOf('=') <= 0)
    throw new UsageError(`--label needs key=value, e.g. ms2m.io/eval-rate=10, not '${value}'`);
  const [k, v] = parseLabel(value);
  return { ...(previous ?? {}), [k]: v };
}

function time(flag: string): (value: string) => string {
  return (value) => {
    if (!Number.isFinite(Date.parse(text(flag)(value))))
      throw new UsageError(`${flag} needs a time like 2026-03-16T09:00:00Z, not '${value}'`);
    return value;
  };
}

/** A progress bar of migrations read, on a TTY only; `stop` clears it. */
async function progress(io: CliIo, total: () => Promise<number>) {
  if (!io.stderr.isTTY) return { update: undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: ' reading |{bar}| {value}/{total} migrations  {events} events  ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(await total(), 0, { events: 0 });
  return {
    update: (p: ReadProgress) => bar.update(p.migrations, { events: p.events }),
    stop: () => bar.stop(),
  };
}

export const analyzeCommand: CommandModule = {
  name: 'analyze',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('analyze')
      .description("analyse past migrations from an event log (read-only): SHADOW's CSV, aggregates, SVG charts")
      .option('--since <time>', 'only migrations requested at or after this time (ISO 8601)', time('--since'))
      .option('--until <time>', 'only migrations requested before this time (ISO 8601)', time('--until'))
      .option(
        '--label <key=value>',
        'only migrations whose resource has this label (repeatable: all must match)',
        label,
      )
      .option(
        '--configuration <name>',
        'only this evaluation configuration, e.g. statefulset-shadowpod',
        text('--configuration'),
      )
      .option(
        '--csv <file>',
        "write the per-migration CSV (SHADOW's columns, then ms2m's); - for stdout",
        text('--csv'),
      )
      .option(
        '--aggregate <file>',
        'write the aggregate per rate x configuration (median, IQR, p95) as CSV',
        text('--aggregate'),
      )
      .option(
        '--charts <dir>',
        'write the charts as SVG (phases, total, downtime, replay-depth) and their Vega-Lite specs',
        text('--charts'),
      )
      .option(
        '--shadow <path>',
        "SHADOW's evaluation CSVs (a directory or a file; repeatable) to compare with",
        collect('--shadow'),
      )
      .option('-o, --output <format>', 'text or json (one document)', outputFormat('analyze', ['text', 'json']), 'text')
      .option(
        '--kind <kind>',
        'StatefulMigration, or VolumeResize: one CSV row per resize',
        oneOf('--kind', ['StatefulMigration', 'VolumeResize'] as const, 'a kind ms2m analyze reads'),
        'StatefulMigration',
      )
      .addHelpText(
        'after',
        `
Examples:
  $ ms2m analyze --log .ms2m/log
  $ ms2m analyze --nats nats://127.0.0.1:4222 --label ms2m.io/eval-run=march --csv results.csv --aggregate aggregate.csv
  $ ms2m analyze --log .ms2m/log --configuration statefulset-shadowpod --since 2026-03-16T00:00:00Z --csv -
  $ ms2m analyze --log .ms2m/log --shadow eval/reference/shadow-eval --charts charts/
  $ ms2m analyze --log .ms2m/log --kind VolumeResize --csv resizes.csv

Durations in the CSV are SHADOW's (Go durations: 396ms, 1.243s, 1m10.099s; total_time_s in seconds); ms2m's own
columns after SHADOW's twelve give exact milliseconds. Downtime comes from the evaluation runner's measurements
(EvaluationRun streams in the same log); a migration without one has empty downtime cells.`,
      );
    addLogSourceOptions(cmd).action(async (o: AnalyzeOptions) => {
      if (o.kind === 'VolumeResize') return analyzeVolumeResizes(o, io);
      // loaded here, not at startup: the fold and the readers cost ~0.5 s that `ms2m help` must not pay
      const { aggregate, aggregateCsv, chartSpecs, readRecords, readShadowCsv, recordFilter, renderSvg, toShadowCsv } =
        await import('../../eval/analysis/index.ts');
      const labels = o.label ?? {};
      const filters = {
        ...(o.since === undefined ? {} : { since: o.since }),
        ...(o.until === undefined ? {} : { until: o.until }),
        ...(Object.keys(labels).length === 0 ? {} : { labels }),
        ...(o.configuration === undefined ? {} : { configuration: o.configuration }),
      };
      if (o.since !== undefined && o.until !== undefined && Date.parse(o.since) >= Date.parse(o.until))
        throw new UsageError(`--since ${o.since} is not before --until ${o.until}`);
      recordFilter(filters);
      const shadow: MigrationRecord[] = [];
      for (const path of o.shadow ?? []) shadow.push(...(await readShadowCsv(path)));
      const reader = await openLogSource(o, 'ms2m analyze', io.stderr);
      let records: MigrationRecord[];
      try {
        const bar = await progress(io, async () => (await reader.list(MIGRATION_KIND)).length);
        try {
          records = await readRecords(
            reader,
            filters,
            bar.update ? { onProgress: bar.update, progressEvery: 2000 } : {},
          );
        } finally {
          bar.stop();
        }
      } finally {
        await reader.close();
      }
      const shadowShown =
        o.configuration === undefined ? shadow : shadow.filter((r) => r.configuration === o.configuration);
      const rows = aggregate([...records, ...shadowShown]);
      const written: string[] = [];
      const csv = toShadowCsv(records);
      if (o.csv === '-') io.stdout.write(csv);
      else if (o.csv !== undefined) {
        await writeFileAtomic(o.csv, csv);
        written.push(o.csv);
      }
      if (o.aggregate !== undefined) {
        await writeFileAtomic(o.aggregate, aggregateCsv(rows));
        written.push(o.aggregate);
      }
      if (o.charts !== undefined) {
        await mkdir(o.charts, { recursive: true });
        for (const [name, spec] of Object.entries(chartSpecs(records, rows, shadowShown))) {
          const file = join(o.charts, `${name}.svg`);
          await writeFileAtomic(file, await renderSvg(spec));
          await writeFileAtomic(join(o.charts, `${name}.vl.json`), `${JSON.stringify(spec, null, 2)}\n`);
          written.push(file);
        }
      }
      if (o.output === 'json') {
        const doc = {
          source: sourceName(o),
          migrations: records.length,
          shadowRuns: shadowShown.length,
          aggregates: rows,
          written,
        };
        io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } else if (o.csv !== '-') {
        const lines = [
          `${records.length} migration(s) from ${sourceName(o)}${shadowShown.length ? `, ${shadowShown.length} SHADOW run(s)` : ''}`,
        ];
        if (rows.length > 0) lines.push(summaryTable(rows));
        for (const f of written) lines.push(`wrote ${f}`);
        io.stdout.write(`${lines.join('\n')}\n`);
      }
    });
  },
};
