/**
 * `ms2m ui`: the local web app over an event log (read-only), served on loopback until Ctrl-C.
 */
import type { Command } from 'commander';
import { evaluationCharts } from '../../eval/ui/evaluation.ts';
import { isLoopback, startUiServer } from '../../eval/ui/server.ts';
import { text, wholeNumber } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import { addLogSourceOptions, cliLogger, type LogSourceOptions, openLogSource, sourceName } from '../log-source.ts';
import { untilSignal } from '../until-signal.ts';

interface UiOptions extends LogSourceOptions {
  port: number;
  host: string;
  shadow?: string;
}

export const uiCommand: CommandModule = {
  name: 'ui',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('ui')
      .description('a local web app: migrations live from the log, their charts, timelines and the evaluation')
      .option('--port <n>', 'port (0: any free one)', wholeNumber('--port', 0), 7070)
      .option(
        '--host <address>',
        'loopback address to listen on: 127.0.0.1, ::1 or localhost',
        text('--host'),
        '127.0.0.1',
      )
      .option(
        '--shadow <path>',
        "SHADOW's CSVs (a file or a directory) drawn beside ours on the evaluation page",
        text('--shadow'),
      );
    addLogSourceOptions(cmd).addHelpText(
      'after',
      `
The log is opened read-only; the page is served on loopback only and loads nothing from elsewhere.

Examples:
  $ ms2m ui --log .ms2m/demo/log                       then open http://127.0.0.1:7070/
  $ ms2m ui --nats nats://127.0.0.1:4222 --port 0      any free port (the URL is printed)
  $ ms2m ui --log .ms2m/eval/log --shadow eval/reference/shadow-eval`,
    );
    cmd.action(async (o: UiOptions) => {
      if (!isLoopback(o.host))
        throw new UsageError(`--host ${o.host}: the UI is served on loopback only (127.0.0.1, ::1 or localhost)`);
      const reader = await openLogSource(o, 'ms2m ui', io.stderr);
      try {
        const ui = await startUiServer({
          reader,
          source: sourceName(o),
          logger: cliLogger(io.stderr),
          host: o.host,
          port: o.port,
          evaluation: evaluationCharts({ reader, ...(o.shadow ? { shadow: o.shadow } : {}) }),
        });
        io.stdout.write(`ms2m ui: ${ui.url} (reading ${sourceName(o)}; Ctrl-C stops)\n`);
        await untilSignal();
        await ui.close();
      } finally {
        await reader.close();
      }
    });
  },
};
