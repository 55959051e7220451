#!/usr/bin/env -S npx tsx
/**
 * The ms2m command line (see bin/cli.ts and `ms2m help`).
 *
 *   ms2m demo [--dir DIR] [--nats URL] [--verbose]                 the demo migrations
 *   ms2m timeline --log DIR [--id NS/NAME] [-o text|json]          phase timelines from an embedded event log
 *   ms2m status --log DIR [--id NS/NAME] [-o json|text]            the StatefulMigration status projected from it
 */
import { runCli } from './cli.ts';

// stdout and stderr are synchronous for files and pipes on Linux, so exiting right away loses no output
runCli(process.argv.slice(2), process).then((code) => process.exit(code));
