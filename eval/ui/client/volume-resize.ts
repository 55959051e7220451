/**
 * The panels of a VolumeResize's page: its plan (every object to be patched, created, deleted or rebound, in
 * order) and each claim's copy (phase, old and new claim and volume, used and copied bytes), from the status
 * projected from its events.
 */
import type { VolumeResizeView } from '../api.ts';
import { badge, h } from './dom.ts';

const mib = (n: number | undefined) => (n === undefined ? '' : `${(n / 2 ** 20).toFixed(1)} MiB`);

function table(id: string, head: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return h(
    'table',
    { class: 'table compact', id },
    h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows),
  );
}

export function volumeResizePanels(v: VolumeResizeView): HTMLElement[] {
  const volumes = h(
    'div',
    { class: 'panel' },
    h('h2', {}, 'Volumes'),
    v.volumes.length === 0
      ? h('p', { class: 'empty' }, 'No claims inspected yet.')
      : table(
          'volumes',
          ['Replica', 'Volume', 'Phase', 'Claim', 'Old PV', 'New PV', 'Used', 'Copied'],
          v.volumes.map((c) =>
            h(
              'tr',
              { class: 'volume', 'data-claim': c.oldPVCName },
              h('td', { class: 'num' }, c.replica),
              h('td', {}, c.volumeName),
              h('td', {}, badge(c.phase)),
              h('td', {}, c.oldPVCName),
              h('td', {}, c.oldPVName ?? ''),
              h('td', {}, c.newPVName ?? ''),
              h('td', { class: 'num' }, mib(c.usedBytes)),
              h('td', { class: 'num' }, c.bytesTotal > 0 ? `${mib(c.bytesCopied)} / ${mib(c.bytesTotal)}` : ''),
            ),
          ),
        ),
  );
  const plan = h(
    'div',
    { class: 'panel' },
    h('h2', {}, 'Plan ', h('small', {}, `${v.plan.length} steps`)),
    v.plan.length === 0
      ? h('p', { class: 'empty' }, 'No plan yet: it is written once validation passes.')
      : table(
          'plan',
          ['#', 'Step', 'Action', 'Object', 'Detail'],
          v.plan.map((p) =>
            h(
              'tr',
              { class: 'plan-step', 'data-step': p.step },
              h('td', { class: 'num' }, p.order),
              h('td', {}, p.step),
              h('td', {}, p.action),
              h('td', {}, `${p.kind} ${p.name}`),
              h('td', { class: 'message' }, p.detail),
            ),
          ),
        ),
  );
  return [volumes, plan];
}
