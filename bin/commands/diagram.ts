/**
 * `ms2m diagram`: the chart as Mermaid, DOT or SVG, generated from the machine; with `--name`, one instance's
 * visited states and time spent in each drawn over it (read from the log, read-only), its current state
 * highlighted.
 */

import type { Command } from 'commander';
import { toMermaid } from '../../actors/diagram.ts';
import { toDot, toSvg } from '../../actors/diagram-dot.ts';
import { overlayOf } from '../../actors/diagram-overlay.ts';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';
import { chartOf, DIAGRAM_CHARTS, findInstance } from '../../eval/ui/log-source.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { oneOf, text } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import { addLogSourceOptions, type LogSourceOptions, openLogSource } from '../log-source.ts';

const FORMATS = ['mermaid', 'svg', 'dot'] as const;
type Format = (typeof FORMATS)[number];

interface DiagramOptions extends LogSourceOptions {
  format?: Format;
  chart: string;
  name?: string;
  phases?: boolean;
  output?: string;
}

/** The format `-o FILE` implies by its extension (mermaid otherwise). */
const formatOf = (file: string | undefined): Format =>
  file?.endsWith('.svg') ? 'svg' : file?.endsWith('.dot') || file?.endsWith('.gv') ? 'dot' : 'mermaid';

export const diagramCommand: CommandModule = {
  name: 'diagram',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('diagram')
      .description("the chart as Mermaid, SVG or DOT, from the machine; with --name, a migration's path over it")
      .option(
        '--format <format>',
        'mermaid, svg or dot (default: from -o FILE, else mermaid)',
        oneOf('--format', FORMATS, 'a diagram format'),
      )
      .option('--chart <kind>', `the chart: ${[...DIAGRAM_CHARTS.keys()].join(', ')}`, text('--chart'), MIGRATION_KIND)
      .option(
        '--name <ns/name>',
        'draw this instance over the chart: visited states, time in each, current state',
        text('--name'),
      )
      .option('--phases', 'the phase overview (each phase one box) instead of every step')
      .option('-o, --output <file>', 'write to FILE (atomically) instead of stdout', text('-o'));
    addLogSourceOptions(cmd).addHelpText(
      'after',
      `
Examples:
  $ ms2m diagram                                             the whole chart as Mermaid
  $ ms2m diagram --phases -o chart.svg                       the phase overview as SVG (Graphviz layout)
  $ ms2m diagram --log .ms2m/demo/log --name default/m1 -o m1.svg
                                                             m1's visited states and durations, current highlighted
  $ ms2m diagram --nats nats://127.0.0.1:4222 --name default/m1 --format dot`,
    );
    cmd.action(async (o: DiagramOptions) => {
      const chart = (() => {
        try {
          return chartOf(o.chart);
        } catch (err) {
          throw new UsageError(`--chart ${o.chart}: ${(err as Error).message}`);
        }
      })();
      const format = o.format ?? formatOf(o.output);
      let overlay: ReturnType<typeof overlayOf> | undefined;
      let title: string | undefined;
      if (o.name !== undefined) {
        const reader = await openLogSource(o, 'ms2m diagram --name', io.stderr);
        try {
          const { key, events } = await findInstance(reader, chart.kind, o.name);
          overlay = overlayOf(chart, events, Date.now());
          title = `${chart.kind} ${key.id}: ${overlay.phase}`;
        } finally {
          await reader.close();
        }
      } else if (o.log !== undefined || o.nats !== undefined) {
        throw new UsageError('--log and --nats need --name NAMESPACE/NAME (the instance to draw)');
      }
      const opts = { phasesOnly: o.phases === true, ...(overlay ? { overlay } : {}), ...(title ? { title } : {}) };
      const out =
        format === 'mermaid'
          ? toMermaid(chart.machine, opts)
          : format === 'dot'
            ? toDot(chart.machine, opts)
            : await toSvg(chart.machine, opts);
      if (o.output !== undefined) await writeFileAtomic(o.output, out);
      else io.stdout.write(out);
    });
  },
};
