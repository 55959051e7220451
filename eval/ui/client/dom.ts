/** Small DOM helpers of the client: elements built from data (never from HTML strings of log content). */

type Child = Node | string | number | null | undefined | false;

/**
 * An element with attributes and children; text children become text nodes (so log content is never parsed as
 * HTML).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** `1234` -> `1.23 s`, `75000` -> `1 min 15 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const min = Math.floor(ms / 60_000);
  return `${min} min ${Math.round((ms - min * 60_000) / 1000)} s`;
}

/** The CSS class of a phase badge (`phase-Replaying`, `phase-Failed`, `phase-compensating`). */
export function phaseClass(phase: string): string {
  return `phase phase-${phase.includes('compensating') ? 'compensating' : phase.replace(/[^A-Za-z]/g, '')}`;
}

export function badge(phase: string): HTMLSpanElement {
  return h('span', { class: phaseClass(phase), 'data-phase': phase }, phase);
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${path}: HTTP ${res.status}`);
  return body;
}
