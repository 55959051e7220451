/**
 * SHADOW's evaluation CSV, written and read. The first twelve columns are SHADOW's, in its order and formats
 * (eval/reference/README.md): phase columns are Go duration strings (`396ms`, `1.243s`, `1m10.099s`),
 * `total_time_s` is the phases' sum in seconds with an `s` (`46.676s`), downtime in integer ms. ms2m's own
 * columns follow them, so scripts that read SHADOW's files by name or by position keep working.
 *
 * SHADOW sums float seconds in Go map order, so its totals carry float noise (`12.681000000000001s`); ours is
 * the exact sum (`12.681s`): the same number to any parser, without the noise.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { goDuration, parseGoDuration } from '../../actors/go-duration.ts';
import { InvalidInputError } from '../../adapters/errors.ts';
import { type MigrationRecord, PHASE_KEYS, type PhaseKey, SHADOW_PHASES } from './types.ts';

export const SHADOW_COLUMNS = [
  'run',
  'msg_rate',
  'configuration',
  'downtime_ms',
  'down_probes',
  'total_time_s',
  'checkpoint_s',
  'transfer_s',
  'restore_s',
  'replay_s',
  'finalize_s',
  'status',
] as const;

/** ms2m's columns after SHADOW's: exact ms, what the log knows, and the runner's accounting. */
export const MS2M_COLUMNS = [
  'migration',
  'eval_run',
  'repetition',
  'requested_at',
  'strategy',
  'transfer_mode',
  'replay_mode',
  ...PHASE_KEYS.map((p) => `${p}_ms`),
  'total_ms',
  'wall_ms',
  'bytes_transferred',
  'checkpoint_bytes',
  'replayed',
  'cutoff_taken',
  'cutoff_s',
  'produced',
  'processed',
  'measured_replayed',
  'lost',
  'duplicated',
  'source_node',
  'target_node',
  'probes',
  'processing_delay_ms',
  'reason',
  'message',
] as const;

/** RFC 4180: quoted when it holds a comma, a quote or a line break. */
export function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const seconds = (ms: number | null): string => (ms === null ? '' : `${ms / 1000}s`);
const duration = (ms: number | null): string => (ms === null ? '' : goDuration(ms));

/** One record as SHADOW's twelve cells. */
export function shadowCells(r: MigrationRecord): string[] {
  return [
    String(r.run),
    cell(r.msgRate),
    cell(r.configuration),
    cell(r.downtimeMs === null ? null : Math.round(r.downtimeMs)),
    cell(r.downProbes),
    seconds(r.totalMs),
    ...SHADOW_PHASES.map((p) => duration(r.phases[p])),
    cell(r.status),
  ];
}

function ms2mCells(r: MigrationRecord): string[] {
  const m = r.accounting;
  return [
    r.migration,
    r.evalRun,
    r.repetition,
    r.requestedAt,
    r.strategy,
    r.transferMode,
    r.replayMode,
    ...PHASE_KEYS.map((p) => r.phases[p]),
    r.totalMs,
    r.wallMs,
    r.bytesTransferred,
    r.checkpointBytes,
    r.replayed,
    r.cutoffTaken,
    r.cutoffSeconds,
    m?.produced,
    m?.processed,
    m?.replayed,
    m?.lost,
    m?.duplicated,
    m?.sourceNode,
    m?.targetNode,
    m?.probes,
    m?.processingDelayMs,
    r.reason,
    r.message,
  ].map(cell);
}

/**
 * The CSV of `records`: SHADOW's columns, then ms2m's (header line first, `\n` line ends, a final newline).
 *
 * @example
 * ```ts
 * await writeFile('results.csv', toShadowCsv(await readRecords(reader)));
 * ```
 */
export function toShadowCsv(records: readonly MigrationRecord[]): string {
  const lines = [[...SHADOW_COLUMNS, ...MS2M_COLUMNS].join(',')];
  for (const r of records) lines.push([...shadowCells(r), ...ms2mCells(r)].join(','));
  return `${lines.join('\n')}\n`;
}

/** Splits CSV text into rows of cells (RFC 4180 quoting; `\n` or `\r\n`). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cur);
      cur = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cur);
      rows.push(row);
      row = [];
      cur = '';
    } else cur += c;
  }
  if (cur !== '' || row.length > 0) {
    row.push(cur);
    rows.push(row);
  }
  return rows;
}

const roundUs = (ms: number | null): number | null => (ms === null ? null : Math.round(ms * 1000) / 1000);

const emptyPhases = (): Record<PhaseKey, number | null> =>
  Object.fromEntries(PHASE_KEYS.map((p) => [p, null])) as Record<PhaseKey, number | null>;

/**
 * Reads one of SHADOW's evaluation CSVs (or a CSV this tool wrote: its first twelve columns) into records of
 * source `shadow`. Throws InvalidInputError naming the file, line and column for anything it cannot read.
 */
export function parseShadowCsv(text: string, file: string): MigrationRecord[] {
  const [header, ...rows] = parseCsv(text);
  const where = (line: number, col?: string) =>
    `${file}${line > 0 ? ` line ${line}` : ''}${col ? ` column ${col}` : ''}`;
  if (!header || SHADOW_COLUMNS.some((c, i) => header[i] !== c)) {
    throw new InvalidInputError(
      where(1),
      `is not a SHADOW evaluation CSV: the header must start with ${SHADOW_COLUMNS.join(',')}`,
    );
  }
  return rows
    .filter((cells) => cells.some((c) => c !== ''))
    .map((cells, i) => {
      const line = i + 2;
      const get = (col: (typeof SHADOW_COLUMNS)[number]) => cells[SHADOW_COLUMNS.indexOf(col)] ?? '';
      const num = (col: (typeof SHADOW_COLUMNS)[number]): number | null => {
        const t = get(col);
        if (t === '') return null;
        const n = Number(t);
        if (!Number.isFinite(n)) throw new InvalidInputError(where(line, col), `'${t}' is not a number`);
        return n;
      };
      const dur = (col: (typeof SHADOW_COLUMNS)[number]): number | null => {
        const t = get(col);
        if (t === '') return null;
        try {
          return parseGoDuration(t);
        } catch {
          throw new InvalidInputError(where(line, col), `'${t}' is not a Go duration (e.g. 396ms, 1.243s, 1m10.099s)`);
        }
      };
      const phases = emptyPhases();
      for (const p of SHADOW_PHASES) phases[p] = dur(`${p}_s`);
      const run = num('run') ?? i + 1;
      return {
        source: 'shadow' as const,
        run,
        migration: `${basename(file)}#${run}`,
        namespace: null,
        name: null,
        labels: {},
        configuration: get('configuration') || null,
        msgRate: num('msg_rate'),
        evalRun: basename(file).replace(/\.csv$/, ''),
        repetition: null,
        requestedAt: null,
        finishedAt: null,
        strategy: null,
        transferMode: null,
        replayMode: null,
        status: get('status'),
        reason: null,
        failedPhase: null,
        message: null,
        phases,
        // SHADOW's float noise (12.681000000000001s) rounded away: its totals are sums of whole ms
        totalMs: roundUs(dur('total_time_s')),
        wallMs: null,
        bytesTransferred: null,
        checkpointBytes: null,
        replayed: null,
        cutoffTaken: null,
        cutoffSeconds: null,
        depth: [],
        downtimeMs: num('downtime_ms'),
        downProbes: num('down_probes'),
        accounting: null,
        events: 0,
      };
    });
}

/**
 * Reads SHADOW's CSVs: one file, or every `*.csv` in a directory (sorted by name).
 *
 * @example
 * ```ts
 * const shadow = await readShadowCsv('eval/reference/shadow-eval');
 * ```
 */
export async function readShadowCsv(path: string): Promise<MigrationRecord[]> {
  let files: string[];
  try {
    const entries = await readdir(path, { withFileTypes: true });
    files = entries
      .filter((e) => e.isFile() && e.name.endsWith('.csv'))
      .map((e) => join(path, e.name))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new InvalidInputError(
          `SHADOW results ${path}`,
          'not found: give a directory of SHADOW CSVs or one CSV file',
        );
      }
      throw err;
    }
    files = [path];
  }
  const out: MigrationRecord[] = [];
  for (const f of files) out.push(...parseShadowCsv(await readFile(f, 'utf8'), f));
  return out;
}
