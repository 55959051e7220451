// SHADOW's published evaluation results (the Go reference controller; github haidinhtuan/shadow, eval/results/,
// Apache-2.0), copied unchanged into eval/reference/shadow-eval. Columns:
//   run,msg_rate,configuration,downtime_ms,down_probes,total_time_s,checkpoint_s,transfer_s,restore_s,replay_s,
//   finalize_s,status
// with Go duration strings. SHADOW has no Pending column: its total is the sum of the five phases.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGoDuration } from '../actors/go-duration.ts';
import { SHADOW_EVAL_DIR } from '../eval/reference/shadow-eval.ts';

/** `SHADOW_REFERENCE_DIR`, default the copy that ships with ms2m (eval/reference/shadow-eval). */
export const shadowReferenceDir = (): string => process.env.SHADOW_REFERENCE_DIR ?? SHADOW_EVAL_DIR;

/** SHADOW's CSV phase columns → our phase names (the same phases of the same state machine). */
export const SHADOW_PHASES = {
  checkpoint_s: 'Checkpointing',
  transfer_s: 'Transferring',
  restore_s: 'Restoring',
  replay_s: 'Replaying',
  finalize_s: 'Finalizing',
} as const;

export interface ShadowRow {
  run: number;
  rate: number;
  configuration: string;
  downtimeMs: number;
  status: string;
  totalS: number;
  /** Our phase name → seconds. */
  phaseS: Record<string, number>;
}

export interface ShadowReference {
  /** The file the rows come from, relative to the reference dir. */
  file: string;
  rows: ShadowRow[];
}

/** The median (mean of the two middle values for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function parseCsv(text: string): ShadowRow[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = (head ?? '').split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const get = (c: string) => cells[cols.indexOf(c)] ?? '';
    const phaseS: Record<string, number> = {};
    for (const [col, phase] of Object.entries(SHADOW_PHASES)) phaseS[phase] = parseGoDuration(get(col)) / 1000;
    return {
      run: Number(get('run')),
      rate: Number(get('msg_rate')),
      configuration: get('configuration'),
      downtimeMs: Number(get('downtime_ms')),
      status: get('status'),
      totalS: parseGoDuration(get('total_time_s')) / 1000,
      phaseS,
    };
  });
}

/** The rows of `file` (in the reference dir) for `configuration` at `rate` that completed. */
export function loadShadowReference(file: string, configuration: string, rate: number): ShadowReference {
  const path = join(shadowReferenceDir(), file);
  const rows = parseCsv(readFileSync(path, 'utf8')).filter(
    (r) => r.configuration === configuration && r.rate === rate && r.status === 'Completed',
  );
  if (rows.length === 0) throw new Error(`${path} has no completed ${configuration} rows at ${rate} msg/s`);
  return { file, rows };
}
