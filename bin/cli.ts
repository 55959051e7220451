/**
 * The ms2m command line, built apart from the process it runs in (bin/ms2m.ts wires stdout, stderr and exit).
 * Exit codes: 0 done, 1 failed (the error is one line on stderr), 2 wrong usage. `-o json` prints exactly one
 * JSON document. Reading commands open the log read-only: they never create, lock or change anything.
 */

import { Writable } from 'node:stream';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { projectStatus } from '../actors/status.ts';
import { formatRow, phaseSummary, type TimelineRow, timeline } from '../actors/timeline.ts';
import { ErrorCode, Ms2mError, NotFoundError } from '../adapters/errors.ts';
import type { EventLogReader } from '../adapters/event-log/port.ts';
import { openFileLogReader } from '../adapters/file-log/file-log-reader.ts';
import { runClusterCli } from '../cluster/local/cli.ts';
import { MIGRATION_KIND } from '../machines/migration-chart.ts';
import { type CliIo, UsageError } from './command-context.ts';
import { demo } from './demo.ts';

export const USAGE = `usage:
  ms2m cluster up|down|status [--json]                      the local cluster (two real kubelets, containerd, CRIU)
  ms2m demo [--keep] [--transfer Direct|Registry] [--rate N] [--seconds N] [--dir DIR]
                                                            migrate a live consumer between the local cluster's nodes
  ms2m timeline --log DIR [--id NAMESPACE/NAME] [-o text|json]   phase timelines from an embedded event log
  ms2m status --log DIR [--id NAMESPACE/NAME] [-o json|text]     StatefulMigration status projected from the log
  ms2m help
exit codes: 0 ok, 1 failed, 2 wrong usage`;

export { type CliIo, UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;

const readOptions = {
  log: { type: 'string' },
  id: { type: 'string' },
  output: { type: 'string', short: 'o' },
} satisfies Options;

const demoOptions = {
  dir: { type: 'string' },
  keep: { type: 'boolean' },
  transfer: { type: 'string' },
  rate: { type: 'string' },
  seconds: { type: 'string' },
} satisfies Options;

/**
 * Runs one ms2m command and returns its exit code; never throws.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['timeline', '--log', '.ms2m/demo/log', '-o', 'json'], process);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const say = (stream: NodeJS.WritableStream, text: string) => stream.write(`${text}\n`);
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'help':
      case '--help':
      case '-h':
        say(io.stdout, USAGE);
        return 0;
      case 'cluster':
        return await runClusterCli(rest, io);
      case 'demo': {
        const v = parseOptions('demo', rest, demoOptions);
        const transfer = nonEmpty('--transfer', v.transfer) ?? 'Direct';
        if (transfer !== 'Direct' && transfer !== 'Registry') {
          throw new UsageError(`--transfer ${transfer} is not a transfer mode; use Direct or Registry`);
        }
        const positive = (flag: string, value: string | undefined, dflt: number) => {
          const n = value === undefined ? dflt : Number(value);
          if (!Number.isInteger(n) || n <= 0)
            throw new UsageError(`${flag} needs a positive whole number, not '${value}'`);
          return n;
        };
        return await demo({
          dir: nonEmpty('--dir', v.dir) ?? '.ms2m/demo',
          keep: v.keep ?? false,
          transferMode: transfer,
          rate: positive('--rate', v.rate, 10),
          seconds: positive('--seconds', v.seconds, 20),
          out: (line) => say(io.stdout, line),
          err: (line) => say(io.stderr, line),
        });
      }
      case 'timeline':
      case 'status': {
        const v = parseOptions(command, rest, readOptions);
        const dir = nonEmpty('--log', v.log);
        if (dir === undefined)
          throw new UsageError(`ms2m ${command} needs --log DIR (an embedded event log directory)`);
        const formats = command === 'timeline' ? ['text', 'json'] : ['json', 'text'];
        const output = v.output ?? formats[0];
        if (!formats.includes(output as string)) {
          throw new UsageError(`-o ${output} is not an output format of ms2m ${command}; use ${formats.join(' or ')}`);
        }
        const reader = await openFileLogReader({ dir, logger: cliLogger(io.stderr) });
        try {
          const text = await report(command, reader, dir, nonEmpty('--id', v.id), output as 'text' | 'json');
          if (text !== '') say(io.stdout, text);
        } finally {
          await reader.close();
        }
        return 0;
      }
      case undefined:
        throw new UsageError('no command given');
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    say(io.stderr, `ms2m: ${oneLine(err instanceof Error ? err.message : String(err))}`);
    return err instanceof Ms2mError && err.code === ErrorCode.USAGE ? 2 : 1;
  }
}

/** One migration as the reading commands see it. */
interface Folded {
  id: string;
  rows: TimelineRow[];
  final: NonNullable<ReturnType<typeof timeline>['final']>;
}

async function report(
  command: 'timeline' | 'status',
  reader: EventLogReader,
  dir: string,
  id: string | undefined,
  output: 'text' | 'json',
): Promise<string> {
  // the migrations of the log (its streams of kind StatefulMigration; other kinds have their own commands)
  const migrationIds = async () => (await reader.list(MIGRATION_KIND)).map((k) => k.id);
  const key = (mid: string) => ({ kind: MIGRATION_KIND, id: mid });
  const ids = id === undefined ? await migrationIds() : [id];
  const migrations: Folded[] = [];
  for (const mid of ids) {
    const { rows, final } = timeline(await reader.read(key(mid)));
    if (final) migrations.push({ id: mid, rows, final });
    else if (id !== undefined) {
      const known = await migrationIds();
      const hint =
        known.length === 0
          ? 'the log holds no migrations'
          : `known: ${known.slice(0, 5).join(', ')}${known.length > 5 ? ', …' : ''}`;
      throw new NotFoundError('Migration', id, `no events of it in ${dir} (${hint})`);
    }
  }
  const status = (m: Folded) => projectStatus(m.final, { eventLog: reader.locate(key(m.id)) });
  if (command === 'status') {
    if (output === 'json') {
      if (id !== undefined && migrations[0]) return JSON.stringify(status(migrations[0]), null, 2);
      return JSON.stringify(Object.fromEntries(migrations.map((m) => [m.id, status(m)])), null, 2);
    }
    if (migrations.length === 0) return `no migrations in ${dir}`;
    return migrations.map((m) => `${m.id}  ${status(m).phase}  ${status(m).message}`).join('\n');
  }
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
  if (migrations.length === 0) return `no migrations in ${dir}`;
  const lines: string[] = [];
  for (const m of migrations) {
    lines.push(m.id, ...m.rows.map(formatRow));
    if (m.final.status === 'done') lines.push(`  ${m.final.value}: ${phaseSummary(m.final)}`);
  }
  return lines.join('\n');
}

/** Parses `args` for `command`: every option known and well-formed, no positional arguments. */
function parseOptions<O extends Options>(command: string, args: string[], options: O) {
  const { values, tokens } = parseArgs({ args, options, strict: false, tokens: true, allowPositionals: true });
  for (const t of tokens) {
    if (t.kind === 'positional') throw new UsageError(`unexpected argument '${t.value}' for ms2m ${command}`);
    if (t.kind !== 'option') throw new UsageError(`unexpected '--' for ms2m ${command}`);
    const spec = options[t.name];
    if (!spec || (t.rawName.startsWith('--') ? t.rawName.slice(2) !== t.name : spec.short !== t.rawName.slice(1))) {
      throw new UsageError(`unknown option ${t.rawName} for ms2m ${command}`);
    }
    if (spec.type === 'string' && (t.value === undefined || (!t.inlineValue && t.value.startsWith('-')))) {
      throw new UsageError(`${t.rawName} needs a value`);
    }
    if (spec.type === 'boolean' && t.inlineValue) throw new UsageError(`${t.rawName} takes no value`);
  }
  return values as { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };
}

function nonEmpty(flag: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${flag} needs a non-empty value`);
  return value;
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ');
}

/** Warnings as `ms2m: warning: <message>` lines on stderr (the CLI's user reads them, not a log collector). */
function cliLogger(stderr: NodeJS.WritableStream): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        const rec = JSON.parse(line) as { level: number; msg?: string };
        stderr.write(`ms2m: ${rec.level >= 50 ? 'error' : 'warning'}: ${oneLine(rec.msg ?? '')}\n`);
      }
      cb();
    },
  });
  return pino({ level: 'warn' }, sink);
}
