/**
 * `ms2m status [name]`: StatefulMigrations and VolumeResizes (`--kind`) from the API server (a table each, or
 * `-o wide|json|yaml`), or, with
 * `--log DIR` / `--nats URL`, the status projected from the event log alone (read-only).
 */
import type { Command } from 'commander';
import { oneOf, outputFormat, text } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import type { StatefulMigrationObject } from '../kube.ts';
import { addKubeOptions, type KubeOptions } from '../kube-options.ts';
import { addLogSourceOptions, type LogSourceOptions, sourceName } from '../log-source-options.ts';

const FORMATS = ['text', 'wide', 'json', 'yaml'] as const;
type Format = (typeof FORMATS)[number];

interface StatusOptions extends KubeOptions, LogSourceOptions {
  output?: Format;
  id?: string;
  allNamespaces?: boolean;
  kind?: Kind;
}

const KINDS = ['all', 'StatefulMigration', 'VolumeResize'] as const;
type Kind = (typeof KINDS)[number];

/** `5m`, `3h`, `2d`: kubectl's AGE. */
export function age(from: string | undefined, now = Date.now()): string {
  if (!from) return '-';
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Columns padded to their widest cell, three spaces apart (kubectl's layout). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ')).join('\n');
}

function rowsOf(
  items: StatefulMigrationObject[],
  wide: boolean,
  allNamespaces: boolean,
  progressText: (s: StatefulMigrationObject['status']) => string,
): string[][] {
  const head = ['NAME', 'PHASE', 'SOURCE', 'TARGET', 'STRATEGY', 'TRANSFER', 'TOTAL', 'AGE'];
  if (allNamespaces) head.unshift('NAMESPACE');
  if (wide) head.push('SOURCE-NODE', 'TARGET-POD', 'PROGRESS', 'MESSAGE');
  const rows = items.map((m) => {
    const s = m.status ?? {};
    const row = [
      m.metadata.name,
      s.phase ?? 'Pending',
      m.spec.sourcePod,
      m.spec.targetNode,
      s.strategy ?? '-',
      s.transferMode ?? '-',
      s.phaseTimings?.Total ?? '-',
      age(m.metadata.creationTimestamp),
    ];
    if (allNamespaces) row.unshift(m.metadata.namespace);
    if (wide) row.push(s.sourceNode ?? '-', s.targetPod ?? '-', progressText(s) || '-', s.message ?? '');
    return row;
  });
  return [head, ...rows];
}

async function fromApi(name: string | undefined, o: StatusOptions, io: CliIo): Promise<void> {
  const [{ connect }, { progressText }, { dumpYaml }, vr] = await Promise.all([
    import('../kube.ts'),
    import('../migration-follow.ts'),
    import('@kubernetes/client-node'),
    import('../volume-resizes.ts'),
  ]);
  const m = connect(o);
  if (name !== undefined && o.allNamespaces) throw new UsageError('give a name or --all-namespaces, not both');
  const output = o.output ?? 'text';
  const kind = o.kind ?? 'all';
  const resizes = new vr.VolumeResizes(m);
  const write = (doc: unknown, rows: () => string[][]) => {
    if (output === 'json') io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    else if (output === 'yaml') io.stdout.write(dumpYaml(doc));
    else io.stdout.write(`${table(rows())}\n`);
  };
  if (name !== undefined) {
    // one name: the StatefulMigration unless --kind VolumeResize says otherwise
    if (kind === 'VolumeResize') {
      const obj = await resizes.get(name);
      write(obj, () => vr.volumeResizeRows([obj], output === 'wide', false, age));
    } else {
      const obj = await m.get(name);
      write(obj, () => rowsOf([obj], output === 'wide', false, progressText));
    }
    return;
  }
  const all = Boolean(o.allNamespaces);
  const migrations = kind === 'VolumeResize' ? [] : await m.list(all);
  // listing both kinds on a server without the VolumeResize CRD lists the migrations alone
  const vrs = kind === 'StatefulMigration' ? [] : ((await resizes.list(all, kind === 'all')) ?? []);
  const items = [...migrations, ...vrs];
  if (output === 'json' || output === 'yaml') return write({ apiVersion: 'v1', kind: 'List', items }, () => []);
  const what = {
    all: 'StatefulMigrations or VolumeResizes',
    StatefulMigration: 'StatefulMigrations',
    VolumeResize: 'VolumeResizes',
  }[kind];
  if (items.length === 0) io.stderr.write(`No ${what} in ${all ? 'any namespace' : `namespace ${m.namespace}`}\n`);
  const tables = [
    migrations.length > 0 ? table(rowsOf(migrations, output === 'wide', all, progressText)) : '',
    vrs.length > 0 ? table(vr.volumeResizeRows(vrs, output === 'wide', all, age)) : '',
  ].filter(Boolean);
  if (tables.length > 0) io.stdout.write(`${tables.join('\n\n')}\n`);
}

/** The status projected from the log: JSON by default (as before the API mode existed), or one line each. */
async function fromLog(name: string | undefined, o: StatusOptions, io: CliIo): Promise<void> {
  const output = o.output ?? 'json';
  if (output === 'wide') throw new UsageError('-o wide needs the API server; with a log use text, json or yaml');
  const [
    { openLogSource, findMigration },
    { foldMigrations },
    { projectStatus },
    { MIGRATION_KIND },
    { namespaceOf },
    { dumpYaml },
  ] = await Promise.all([
    import('../log-source.ts'),
    import('../migration-timelines.ts'),
    import('../../actors/status.ts'),
    import('../../machines/migration-chart.ts'),
    import('../kube.ts'),
    import('@kubernetes/client-node'),
  ]);
  const reader = await openLogSource(o, 'ms2m status', io.stderr);
  const where = sourceName(o);
  try {
    let id = o.id;
    if (name !== undefined) {
      if (id !== undefined) throw new UsageError('give a name or --id, not both');
      id = (await findMigration(reader, namespaceOf(o), name, where)).key.id;
    }
    const migrations = await foldMigrations(reader, where, id);
    // the log's VolumeResizes too, when listing everything (their status from their own chart's projection)
    const resizes =
      id === undefined ? await (await import('../../actors/volume-resize-status.ts')).vrStatusesFromLog(reader) : [];
    const status = (mid: string, final: (typeof migrations)[number]['final']) =>
      projectStatus(final, { eventLog: reader.locate({ kind: MIGRATION_KIND, id: mid }) });
    if (output === 'text') {
      if (migrations.length === 0) io.stdout.write(`no migrations in ${where}\n`);
      for (const m of migrations) {
        const s = status(m.id, m.final);
        io.stdout.write(`${m.id}  ${s.phase}  ${s.message}\n`);
      }
      for (const r of resizes) io.stdout.write(`VolumeResize ${r.id}  ${r.status.phase}  ${r.status.message}\n`);
      return;
    }
    const doc =
      id !== undefined && migrations[0]
        ? status(migrations[0].id, migrations[0].final)
        : Object.fromEntries([
            ...migrations.map((m) => [m.id, status(m.id, m.final)]),
            ...resizes.map((r) => [r.id, r.status]),
          ]);
    io.stdout.write(output === 'yaml' ? dumpYaml(doc) : `${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    await reader.close();
  }
}

export const statusCommand: CommandModule = {
  name: 'status',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('status')
      .description(
        'StatefulMigrations and VolumeResizes from the API server, or their status projected from an event log',
      )
      .argument('[name]', 'one StatefulMigration (default: all of the namespace)')
      .option('-o, --output <format>', 'text, wide, json or yaml', outputFormat('status', FORMATS))
      .option('-A, --all-namespaces', 'every namespace (API mode)')
      .option(
        '--kind <kind>',
        'API mode: StatefulMigration, VolumeResize or all',
        oneOf('--kind', KINDS, 'a kind ms2m status lists'),
      )
      .option('--id <id>', 'with a log: one stream id, NAMESPACE/NAME/UID', text('--id'))
      .addHelpText(
        'after',
        `
With --log or --nats the status is projected from the event log (default -o json); otherwise it is read from
the API server (default: a table).

Examples:
  $ ms2m status                                  the table of the namespace
  $ ms2m status m1 -o yaml                       one resource, as YAML
  $ ms2m status -A -o wide                       every namespace, with progress and message
  $ ms2m status --kind VolumeResize              the VolumeResizes alone (one name: --kind VolumeResize NAME)
  $ ms2m status --log .ms2m/log -o text          projected from an embedded event log`,
      );
    addLogSourceOptions(addKubeOptions(cmd)).action(async (name: string | undefined, o: StatusOptions) => {
      if ((o.log !== undefined || o.nats !== undefined) && o.kind !== undefined)
        throw new UsageError('--kind is for the API server: with a log, status lists both kinds (or --id one stream)');
      if (o.log !== undefined || o.nats !== undefined) await fromLog(name, o, io);
      else if (o.id !== undefined) throw new UsageError('--id needs --log DIR or --nats URL (it names a log stream)');
      else await fromApi(name, o, io);
    });
  },
};
