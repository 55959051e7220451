/**
 * The diagram overlay (actors/diagram-overlay.ts) against the reference fold: on every golden log and at every
 * prefix, its current states are the configuration of xstate's own fold, its phase times are the machine's exact
 * phase timings, and a running instance's current states count until "now". The Mermaid and DOT drawings carry
 * the overlay.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { migrationChart } from '../../actors/charts/migration.ts';
import { chartModel, toMermaid } from '../../actors/diagram.ts';
import { renderDot, toDot, toSvg } from '../../actors/diagram-dot.ts';
import { configurationOf, overlayOf } from '../../actors/diagram-overlay.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { fold } from '../../machines/fold.ts';
import { golden } from './logs.ts';

const logs = readdirSync(join(import.meta.dirname, '../golden'))
  .filter((f) => f.endsWith('.jsonl'))
  .map((f) => f.replace(/\.jsonl$/, ''));
const root = migrationChart.machine.root as AnyStateNode;
const reference = (events: ReturnType<typeof golden>) =>
  fold(migrationChart, events[0]!.id, parseLog(migrationChart, events, events[0]!.id))!;

describe('the overlay of an instance, from its events', () => {
  it.each(logs)('%s: at every prefix, the current states are the reference fold configuration', (name) => {
    const events = golden(name);
    for (let n = 1; n <= events.length; n++) {
      const prefix = events.slice(0, n);
      const o = overlayOf(migrationChart, prefix);
      const snap = reference(prefix);
      expect([...o.current].sort(), `after ${n} events`).toEqual(
        configurationOf(root, snap.value)
          .map((s) => s.id)
          .sort(),
      );
      expect(o.phase).toBe(migrationChart.phaseOf(snap));
      expect(o.done).toBe(snap.status === 'done');
      for (const id of o.current) expect(o.visited.has(id)).toBe(true);
    }
  });

  it.each(logs)('%s: phase times are the exact phase timings; the whole run is the time in "active"', (name) => {
    const events = golden(name);
    const o = overlayOf(migrationChart, events);
    const final = reference(events);
    for (const [phase, ms] of Object.entries(final.context.phaseTimings))
      expect(o.visited.get(`migration.active.${phase}`), phase).toBe(ms);
    const end = Date.parse(events.at(-1)!.at);
    expect(o.visited.get('migration.active')).toBe(end - Date.parse(events[0]!.at));
    expect(o.current.has(`migration.${String(final.value)}`)).toBe(true);
  });

  it('a running instance: its current states count until now, the others do not move', () => {
    const events = golden('shadowpod-direct').slice(0, 60);
    const last = Date.parse(events.at(-1)!.at);
    const atLast = overlayOf(migrationChart, events);
    const later = overlayOf(migrationChart, events, last + 5000);
    for (const [id, ms] of atLast.visited)
      expect(later.visited.get(id), id).toBe(atLast.current.has(id) ? ms + 5000 : ms);
  });
});

describe('the drawings carry the overlay', () => {
  const events = golden('shadowpod-direct').slice(0, 60);
  const overlay = overlayOf(migrationChart, events);

  it('Mermaid: visited and current classes, times in the labels; none without an overlay', () => {
    const plain = toMermaid(migrationChart.machine);
    expect(plain).not.toContain('classDef');
    const drawn = toMermaid(migrationChart.machine, { overlay });
    expect(drawn.match(/^ {2}class .* current$/gm)).toEqual(['  class step_stopSource current']);
    expect(drawn).toMatch(/state "stopSource \(49\.0 s\)" as step_stopSource/);
  });

  it('DOT: every drawn state is one node or cluster with its id and classes; Graphviz draws it', async () => {
    const dot = toDot(migrationChart.machine, { overlay });
    const ids: string[] = [];
    const walk = (n: ReturnType<typeof chartModel>['root']) => {
      ids.push(n.id);
      n.children.forEach(walk);
    };
    for (const c of chartModel(migrationChart.machine).root.children) walk(c);
    for (const id of ids) expect(dot.split(`id="state:${id}"`).length - 1, id).toBe(1);
    expect(dot).toContain('id="state:step-stopSource" class="state visited current"');
    const svg = await renderDot(dot);
    expect(svg.match(/class="node state visited current"/g)).toHaveLength(1);
    expect(svg.match(/class="cluster state visited current compound"/g)).toHaveLength(2); // active, Replaying
  });

  it('docs/migration-phases.svg is current (run `npm run diagram` after changing the chart)', async () => {
    const committed = readFileSync(join(import.meta.dirname, '../../docs/migration-phases.svg'), 'utf8');
    expect(committed).toBe(await toSvg(migrationChart.machine, { phasesOnly: true }));
  });

  it('a graph Graphviz cannot read fails with its message', async () => {
    await expect(renderDot('digraph { a -> }')).rejects.toThrow(/Graphviz could not draw the chart: .*syntax error/);
  });
});
