/**
 * The contract between `bin/cli.ts` (the one commander program) and the command files in `bin/commands/`:
 * each file exports one {@link CommandModule} and `bin/commands/index.ts` lists them.
 *
 * Exit codes every command keeps: 0 ok, 1 failed (one line on stderr, no stack trace), 2 wrong usage
 * (throw {@link UsageError}). Long work shows progress on stderr only when it is a TTY; `-o json` prints exactly
 * one JSON document on stdout.
 *
 * Keep a command file's top-level imports light (commander, the option parsers, types) and load what the command
 * runs with `await import()` inside its action: every ms2m invocation registers every command, and the Kubernetes
 * client alone costs 1-3 s to load on a busy machine.
 */
import type { Command } from 'commander';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** One `ms2m <name>` command: `register` adds it (with its options, help and examples) to the program. */
export interface CommandModule {
  name: string;
  register(program: Command, io: CliIo): void;
}

/** A wrong command, option or argument: exit code 2. */
export class UsageError extends Ms2mError {
  constructor(problem: string) {
    super(ErrorCode.USAGE, `${problem} (run 'ms2m help' for usage)`);
  }
}

/**
 * Ends the command with `code` and no further message (the command has already said why on stderr or stdout),
 * e.g. the demo whose accounting failed, or `migrate --wait` that printed the Failed status as JSON.
 */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit code ${code}`);
    this.name = 'ExitCode';
  }
}
