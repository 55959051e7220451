/**
 * Reads the log of the migrator and probe pods (the programs of the ms2m/migrator image,
 * cluster/images/migrator/): one JSON object per line. Lines from the scripts carry `"ms2m"`; rclone's JSON log
 * lines carry `level` and `msg`, and once a second `stats` (bytes copied, bytes known so far, transfers). Pure:
 * the caller feeds lines in order.
 */
import type { MigratorProgress, VolumeUsage } from './port.ts';

export interface MigratorResultLine {
  ok: boolean;
  verified?: boolean;
  entries?: number;
  bytes?: number;
  step?: string;
  message?: string;
}

interface RcloneStats {
  bytes?: number;
  totalBytes?: number;
  transfers?: number;
  totalTransfers?: number;
}

/** What the lines so far say. */
export class MigratorLog {
  stage: MigratorProgress['stage'] = 'sync';
  /** The last stats line of the copy. */
  copied: RcloneStats = {};
  result: MigratorResultLine | undefined;
  /** Entries that differ: rclone check's per-file errors and the manifest differences (`-`/`+` lines). */
  readonly differences: string[] = [];
  /** `N differences found` from rclone check. */
  differenceCount: number | undefined;
  /** Entries the copy skipped (sockets), with the reason. */
  readonly skipped: string[] = [];
  /** Lines that are not JSON (a shell error, a panic), kept for the error message. */
  readonly other: string[] = [];

  /** Takes one line; returns the progress it reports, if it is a stats line of the copy. */
  push(line: string): MigratorProgress | null {
    const text = line.trim();
    if (!text) return null;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.other.push(text);
      if (this.other.length > 50) this.other.shift();
      return null;
    }
    if (typeof o !== 'object' || o === null) return null;
    switch (o.ms2m) {
      case 'phase':
        this.stage = o.phase === 'check' ? 'verify' : 'sync';
        return null;
      case 'result':
        this.result = o as unknown as MigratorResultLine;
        return null;
      case 'difference':
        this.differences.push(String(o.entry));
        return null;
      case 'skipped':
        this.skipped.push(`${String(o.path)} (${String(o.reason)})`);
        return null;
    }
    const msg = typeof o.msg === 'string' ? o.msg : '';
    const counted = /^(\d+) differences found/.exec(msg);
    if (counted) this.differenceCount = Number(counted[1]);
    if (o.level === 'error' && this.stage === 'verify' && typeof o.object === 'string')
      this.differences.push(`${o.object}: ${msg}`);
    const stats = o.stats as RcloneStats | undefined;
    if (!stats || typeof stats !== 'object' || this.stage !== 'sync') return null;
    this.copied = stats;
    return {
      stage: 'sync',
      bytesTransferred: stats.bytes ?? 0,
      bytesTotal: stats.totalBytes ?? 0,
      files: stats.transfers ?? 0,
    };
  }
}

/**
 * The usage line of `ms2m-usage`. `usedBytes` is the larger of the apparent size (every hard link and the full
 * length of sparse files: what the copy writes) and the allocated size (small files take whole blocks): the new
 * volume must hold both.
 */
export function parseUsage(log: string): VolumeUsage | null {
  for (const line of log.split('\n').reverse()) {
    try {
      const o = JSON.parse(line) as { ms2m?: string; apparentBytes?: number; allocatedBytes?: number; inodes?: number };
      if (o.ms2m === 'usage' && typeof o.apparentBytes === 'number' && typeof o.inodes === 'number')
        return { usedBytes: Math.max(o.apparentBytes, o.allocatedBytes ?? 0), usedInodes: o.inodes };
    } catch {
      // not the usage line
    }
  }
  return null;
}

/**
 * Splits `timestamps=true` pod log text into `[timestamp, line]` pairs (the kubelet prefixes each line with its
 * RFC 3339 time with nanoseconds, which sorts as text).
 */
export function timestampedLines(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const sp = raw.indexOf(' ');
    if (sp < 0) out.push(['', raw]);
    else out.push([raw.slice(0, sp), raw.slice(sp + 1)]);
  }
  return out;
}
