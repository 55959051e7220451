/**
 * Go's time.Duration.String() for milliseconds, as SHADOW writes phaseTimings: "0s", "396ms", "1.243s",
 * "1m10.099s", "1h2m3.5s". Scripts that parse SHADOW's status keep working.
 */
export function goDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const rounded = Math.round(ms);
  if (rounded < 1000) return `${rounded}ms`;
  const h = Math.floor(rounded / 3_600_000);
  const m = Math.floor((rounded % 3_600_000) / 60_000);
  const s = (rounded % 60_000) / 1000;
  const sec = `${Number(s.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

/** Parses a Go duration string ("1m10.099s", "396ms", "10.094999999999999s") into milliseconds. */
export function parseGoDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(re)) {
    const v = Number(m[1]);
    const unit = m[2];
    total +=
      unit === 'h'
        ? v * 3_600_000
        : unit === 'm'
          ? v * 60_000
          : unit === 's'
            ? v * 1000
            : unit === 'ms'
              ? v
              : unit === 'ns'
                ? v / 1e6
                : v / 1000;
    matched += m[0];
  }
  if (matched !== text.trim() || matched === '') throw new Error(`not a Go duration: '${text}'`);
  return total;
}
