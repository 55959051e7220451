/**
 * `ms2m timeline`: the phase timeline of migrations, from an event log (embedded file log or JetStream), read-only.
 */
import type { Command } from 'commander';
import { outputFormat, text } from '../cli-options.ts';
import type { CliIo, CommandModule } from '../command-context.ts';
import { addLogSourceOptions, type LogSourceOptions, sourceName } from '../log-source-options.ts';

export const timelineCommand: CommandModule = {
  name: 'timeline',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('timeline')
      .description('phase timelines of migrations, folded from an event log (read-only)')
      .option('--id <id>', 'one migration: its stream id, NAMESPACE/NAME/UID (or NAMESPACE/NAME)', text('--id'))
      .option(
        '-o, --output <format>',
        'text or json (one document)',
        outputFormat('timeline', ['text', 'json']),
        'text',
      )
      .addHelpText(
        'after',
        `
Examples:
  $ ms2m timeline --log .ms2m/log
  $ ms2m timeline --nats nats://127.0.0.1:4222 --id default/m1/0b6f… -o json`,
      );
    addLogSourceOptions(cmd).action(async (o: LogSourceOptions & { id?: string; output: 'text' | 'json' }) => {
      const [{ openLogSource }, { foldMigrations, renderTimelines }] = await Promise.all([
        import('../log-source.ts'),
        import('../migration-timelines.ts'),
      ]);
      const reader = await openLogSource(o, 'ms2m timeline', io.stderr);
      try {
        const out = renderTimelines(await foldMigrations(reader, sourceName(o), o.id), sourceName(o), o.output);
        if (out !== '') io.stdout.write(`${out}\n`);
      } finally {
        await reader.close();
      }
    });
  },
};
