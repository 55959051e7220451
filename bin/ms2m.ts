#!/usr/bin/env -S npx tsx
/**
 * The ms2m command line (see bin/cli.ts, bin/commands/ and `ms2m help`): migrate, status, follow, cancel, logs,
 * timeline, analyze, diagram, ui, eval, demo, cluster, operator, agent. Exit codes: 0 ok, 1 failed, 2 wrong usage.
 */
import { runCli } from './cli.ts';

// stdout and stderr are synchronous for files and pipes on Linux, so exiting right away loses no output
runCli(process.argv.slice(2), process).then((code) => process.exit(code));
