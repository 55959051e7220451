#!/usr/bin/env -S npx tsx
/**
 * The ms2m command line.
 *
 *   ms2m demo [--dir DIR] [--nats URL] [--verbose]   the demo migrations (event log: embedded file, or JetStream)
 *   ms2m timeline --log DIR [--id NS/NAME]     phase timeline of migrations in an embedded event log
 *   ms2m status --log DIR --id NS/NAME         the StatefulMigration status projected from the log
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { projectStatus } from '../actors/status.ts';
import { formatRow, phaseSummary, timeline } from '../actors/timeline.ts';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import { demo } from './demo.ts';

const usage = `usage:
  ms2m demo [--dir DIR] [--nats URL] [--verbose]
  ms2m timeline --log DIR [--id NAMESPACE/NAME]
  ms2m status --log DIR --id NAMESPACE/NAME`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      dir: { type: 'string', default: '.ms2m/demo' },
      child: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      log: { type: 'string' },
      id: { type: 'string' },
      nats: { type: 'string' },
      run: { type: 'string' },
    },
    allowPositionals: false,
  });
  switch (command) {
    case 'demo':
      return demo({
        dir: values.dir!,
        child: values.child,
        verbose: values.verbose,
        nats: values.nats,
        run: values.run,
      });
    case 'timeline':
    case 'status': {
      if (!values.log) throw new Error(`ms2m ${command} needs --log DIR (an embedded event log directory)`);
      const log = await openFileLog({ dir: values.log, logger: pino({ level: 'warn' }, pino.destination(2)) });
      const ids = values.id ? [values.id] : await log.list();
      if (ids.length === 0) console.error(`no migrations in ${values.log}`);
      for (const id of ids) {
        const { rows, final } = timeline(await log.read(id));
        if (!final) {
          console.error(`migration ${id} not found in ${values.log}`);
          return 1;
        }
        if (command === 'status') {
          console.log(JSON.stringify(projectStatus(final, { eventLog: log.locate(id) }), null, 2));
          continue;
        }
        console.log(`${id}`);
        for (const row of rows) console.log(formatRow(row));
        if (final.status === 'done') console.log(`  ${final.value}: ${phaseSummary(final)}`);
      }
      await log.close();
      return 0;
    }
    default:
      console.error(usage);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`ms2m: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
