/**
 * The ms2m command line: one commander program built from the command files in `bin/commands/` (listed in
 * `bin/commands/index.ts`), apart from the process it runs in (bin/ms2m.ts wires stdout, stderr and exit).
 * Exit codes: 0 done, 1 failed (the error is one line on stderr), 2 wrong usage. `-o json` prints exactly one
 * JSON document. Reading commands open the log read-only: they never create, lock or change anything.
 */
import { Command, CommanderError } from 'commander';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import { type CliIo, ExitCode, UsageError } from './command-context.ts';
import { commands } from './commands/index.ts';

export { type CliIo, UsageError };

const EXAMPLES = `
Examples:
  $ ms2m cluster up                                   the local two-node cluster (real kubelets, CRIU)
  $ ms2m migrate consumer-0 --to node-b               migrate a pod and follow it to the end
  $ ms2m status                                       the StatefulMigrations of the namespace
  $ ms2m logs m1 --log .ms2m/log                      a migration's event log
  $ ms2m help migrate                                 the options of one command

Exit codes: 0 ok, 1 failed, 2 wrong usage`;

/**
 * The program with every command registered, writing to `io`; it never exits the process.
 *
 * @example
 * ```ts
 * const program = buildProgram(process);
 * console.log(program.commands.map((c) => c.name()));
 * ```
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command('ms2m')
    .description('ms2m: live migration of stateful pods with zero message loss (checkpoint, transfer, replay)')
    .addHelpText('after', EXAMPLES)
    .helpCommand('help [command]', 'the usage of ms2m or of one command');
  const sorted = [...commands].sort((a, b) => order(a.name) - order(b.name));
  for (const module of sorted) module.register(program, io);
  return program;
}

/** `ms2m help` lists the commands in the issue's order: what users do first comes first. */
const ORDER = [
  'migrate',
  'status',
  'follow',
  'cancel',
  'logs',
  'timeline',
  'analyze',
  'diagram',
  'ui',
  'eval',
  'demo',
  'cluster',
  'operator',
  'agent',
];
const order = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

/**
 * Runs one ms2m command and returns its exit code; never throws.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['timeline', '--log', '.ms2m/demo/log', '-o', 'json'], process);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let current: Command | undefined;
  try {
    const program = buildProgram(io);
    current = program;
    prepare(program, io, (c) => {
      current = c;
    });
    if (argv.length === 0) throw new UsageError('no command given');
    const [first, asked] = argv;
    if (first === 'help' && asked !== undefined && !program.commands.some((c) => c.name() === asked))
      throw new UsageError(`unknown command '${asked}'`);
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof ExitCode) return err.code;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help' && err.exitCode === 0) return 0;
      io.stderr.write(`ms2m: ${oneLine(new UsageError(usageProblem(err, current)).message)}\n`);
      return 2;
    }
    io.stderr.write(`ms2m: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return err instanceof Ms2mError && err.code === ErrorCode.USAGE ? 2 : 1;
  }
}

/**
 * The same settings on every command (commands added with `addCommand` do not inherit them): errors thrown, not
 * printed or exited on; help on `io.stdout`; extra arguments a usage error naming the first one.
 */
function prepare(cmd: Command, io: CliIo, entered: (c: Command) => void): void {
  cmd
    .exitOverride()
    .allowExcessArguments(true)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // commander's own error lines and help-on-error are replaced by one `ms2m: ...` line
      writeErr: () => undefined,
      outputError: () => undefined,
    });
  cmd.hook('preSubcommand', (_parent, sub) => entered(sub));
  cmd.hook('preAction', (_self, action) => {
    const expected = action.registeredArguments;
    if (expected.at(-1)?.variadic) return;
    const extra = action.args[expected.length];
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for ${path(action)}`);
  });
  for (const sub of cmd.commands) prepare(sub, io, entered);
}

/** `ms2m cluster up`. */
function path(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** commander's error, said the ms2m way (the flag, the command, what to do). */
function usageProblem(err: CommanderError, cmd: Command | undefined): string {
  const where = cmd ? path(cmd) : 'ms2m';
  const message = err.message.replace(/^error: /, '');
  switch (err.code) {
    case 'commander.unknownOption': {
      const flag = /unknown option '([^']+)'/.exec(message)?.[1] ?? message;
      const [name, value] = flag.split('=', 2);
      if (value !== undefined && cmd?.options.some((o) => o.long === name && !o.required && !o.optional))
        return `${name} takes no value`;
      return `unknown option ${flag} for ${where}${suggestion(message)}`;
    }
    case 'commander.optionMissingArgument': {
      const flags = /option '([^']+)'/.exec(message)?.[1] ?? '';
      const long = flags.match(/--[\w-]+/)?.[0] ?? flags.split(/[ ,]/)[0];
      return `${long} needs a value`;
    }
    case 'commander.missingMandatoryOptionValue': {
      const flags = /option '([^']+)'/.exec(message)?.[1] ?? '';
      return `${where} needs ${flags}`;
    }
    case 'commander.missingArgument': {
      const name = /argument '([^']+)'/.exec(message)?.[1];
      return `${where} needs <${name}>`;
    }
    case 'commander.unknownCommand': {
      const name = /unknown command '([^']+)'/.exec(message)?.[1];
      return `unknown command '${name}'${where === 'ms2m' ? '' : ` for ${where}`}${suggestion(message)}`;
    }
    case 'commander.help':
      return `${where} needs a command: ${cmd?.commands.map((c) => c.name()).join(', ')}`;
    default:
      return message;
  }
}

const suggestion = (message: string) => {
  const s = /\(Did you mean ([^?]+)\?\)/.exec(message)?.[1];
  return s ? ` (did you mean ${s}?)` : '';
};

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ');
}
