/**
 * Kubernetes resource quantities (`1Gi`, `500M`, `1.5Gi`, `2e9`, `1024`) as bytes, for comparing sizes in the
 * VolumeResize chart. Binary suffixes are powers of 1024 (Ki Mi Gi Ti Pi Ei), decimal ones powers of 1000
 * (k M G T P E); `m` is milli (a storage size in milli-bytes is legal and rounds up here).
 *
 * @example
 * ```ts
 * quantityBytes('1Gi'); // 1073741824
 * quantityBytes('1.5G'); // 1500000000
 * quantityBytes('abc'); // null
 * formatBytes(1_610_612_736); // '1.5 GiB'
 * ```
 */
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/;

/** Bytes of a quantity (rounded up to a whole byte), or null when it is not a valid non-negative quantity. */
export function quantityBytes(q: string): number | null {
  const m = QUANTITY.exec(q.trim());
  if (!m) return null;
  const [, num, exp, suffix] = m;
  const base = Number(num);
  const scale = exp ? 10 ** Number(exp.slice(1)) : SUFFIX[suffix ?? '']!;
  const bytes = Math.ceil(base * scale - 1e-9);
  return Number.isFinite(bytes) && bytes >= 0 ? bytes : null;
}

/** Human size in binary units, one decimal: `512 B`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${Math.round(v * 10) / 10} ${units[i]}`;
}
