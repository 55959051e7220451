/**
 * The ms2m web app: hash routes `#/` (the instances of the log, live), `#/i/<kind>/<id>` (one instance: its
 * chart with visited and current states, phase timeline, replay depth, bytes, events) and `#/eval` (the
 * evaluation's aggregate charts). Server-sent events from /api/events say which stream changed; the page showing
 * it is drawn again. `body[data-rendered]` counts finished renders (the browser tests wait on it).
 */
import type { EvaluationCharts, InstanceDetail, InstanceSummary } from '../api.ts';
import { bytesSpec, draw, phaseTimelineSpec, replayDepthSpec } from './charts.ts';
import { badge, duration, getJson, h } from './dom.ts';
import { volumeResizePanels } from './volume-resize.ts';

const app = document.getElementById('app') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
let cleanups: Array<() => void> = [];
let diagramView: 'phases' | 'steps' = 'phases';
let rendered = 0;
let generation = 0;

type Route = { page: 'list' } | { page: 'instance'; kind: string; id: string } | { page: 'eval' };

function route(): Route {
  const hash = location.hash.replace(/^#/, '') || '/';
  const m = /^\/i\/([^/]+)\/(.+)$/.exec(hash);
  if (m) return { page: 'instance', kind: decodeURIComponent(m[1]!), id: decodeURIComponent(m[2]!) };
  if (hash === '/eval') return { page: 'eval' };
  return { page: 'list' };
}

const instanceHref = (kind: string, id: string) => `#/i/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`;

async function render(): Promise<void> {
  const mine = ++generation;
  const r = route();
  const next = document.createElement('div');
  const newCleanups: Array<() => void> = [];
  try {
    if (r.page === 'list') await listPage(next);
    else if (r.page === 'eval') await evalPage(next, newCleanups);
    else await instancePage(next, r.kind, r.id, newCleanups);
  } catch (err) {
    next.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
  }
  if (mine !== generation) {
    for (const c of newCleanups) c();
    return;
  }
  for (const c of cleanups) c();
  cleanups = newCleanups;
  app.replaceChildren(...next.childNodes);
  centreCurrentState();
  document.body.dataset.page = r.page;
  document.body.dataset.rendered = String(++rendered);
}

/** Scrolls the chart (not the page) so that its current state is in the middle of the view. */
function centreCurrentState(): void {
  const box = document.getElementById('diagram');
  const current = box?.querySelector('g.current');
  if (!box || !current) return;
  const c = current.getBoundingClientRect();
  const b = box.getBoundingClientRect();
  box.scrollTop += c.top + c.height / 2 - (b.top + b.height / 2);
  box.scrollLeft += c.left + c.width / 2 - (b.left + b.width / 2);
}

async function listPage(root: HTMLElement): Promise<void> {
  const { instances } = await getJson<{ source: string; instances: InstanceSummary[] }>('/api/instances');
  const running = instances.filter((i) => !i.done).length;
  root.append(
    h('h1', {}, 'Migrations ', h('small', {}, `${instances.length} in the log, ${running} running`)),
    instances.length === 0
      ? h('p', { class: 'empty' }, 'No migrations in this log yet: the list fills in as they start.')
      : h(
          'table',
          { id: 'instances', class: 'table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'Name',
                'Phase',
                'Strategy',
                'Transfer',
                'Replay',
                'Kind',
                'Started',
                'Elapsed',
                'Events',
                'Message',
              ].map((t) => h('th', {}, t)),
            ),
          ),
          h(
            'tbody',
            {},
            ...instances.map((i) =>
              h(
                'tr',
                { class: `instance ${i.done ? 'done' : 'running'}`, 'data-id': i.id, 'data-kind': i.kind },
                h('td', {}, h('a', { href: instanceHref(i.kind, i.id), title: i.id }, i.name)),
                h('td', {}, badge(i.phase)),
                h('td', {}, i.details.strategy ?? ''),
                h('td', {}, i.details.transfer ?? ''),
                h('td', {}, i.details.replay ?? ''),
                h('td', { class: 'kind' }, i.kind),
                h('td', { class: 'num' }, new Date(i.startedAt).toLocaleString()),
                h('td', { class: 'num' }, duration(i.elapsedMs)),
                h('td', { class: 'num' }, i.events),
                h('td', { class: 'message' }, i.message),
              ),
            ),
          ),
        ),
  );
}

async function instancePage(root: HTMLElement, kind: string, id: string, cleanups: Array<() => void>): Promise<void> {
  const q = `kind=${encodeURIComponent(kind)}&id=${encodeURIComponent(id)}`;
  const [d, svg] = await Promise.all([
    getJson<InstanceDetail>(`/api/instance?${q}`),
    fetch(`/api/diagram.svg?${q}&view=${diagramView}`).then((r) => r.text()),
  ]);
  const diagram = h('div', { id: 'diagram', class: 'diagram' });
  // the SVG is Graphviz's drawing of the chart, made by this server (labels are escaped by Graphviz)
  diagram.innerHTML = svg;
  const tab = (view: 'phases' | 'steps', label: string) => {
    const b = h('button', { type: 'button', class: diagramView === view ? 'tab on' : 'tab', 'data-view': view }, label);
    b.addEventListener('click', () => {
      diagramView = view;
      void render();
    });
    return b;
  };
  const chart = (name: string) => h('div', { class: 'chart', 'data-chart': name });
  const phasesChart = chart('phases');
  const depthChart = chart('replay-depth');
  const bytesChart = chart('bytes');
  const timings = Object.entries(d.phaseTimings);
  root.append(
    h(
      'section',
      { class: 'instance', 'data-id': d.id },
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Migrations'), ' / ', d.kind),
      h('h1', {}, d.name, ' ', badge(d.phase), d.done ? '' : h('span', { class: 'pulse', title: 'running' })),
      h(
        'p',
        { class: 'meta' },
        h('code', {}, d.id),
        ` · started ${new Date(d.startedAt).toLocaleString()} · ${d.done ? 'took' : 'running for'} `,
        h('strong', { id: 'elapsed' }, duration(d.elapsedMs)),
        ` · ${d.events} events`,
        ...Object.entries(d.details).map(([k, v]) => h('span', { class: 'chip' }, `${k}: ${v}`)),
      ),
      h('p', { class: 'message', id: 'message' }, d.message),
      h(
        'div',
        { class: 'panel' },
        h(
          'div',
          { class: 'panel-head' },
          h('h2', {}, 'Chart'),
          h('div', { class: 'tabs' }, tab('phases', 'Phases'), tab('steps', 'Steps')),
        ),
        diagram,
        h(
          'p',
          { class: 'legend' },
          h('span', { class: 'key visited' }, 'visited (time spent)'),
          h('span', { class: 'key current' }, d.done ? 'final state' : 'current state'),
          h('span', { class: 'key idle' }, 'not visited'),
        ),
      ),
      h(
        'div',
        { class: 'grid' },
        h(
          'div',
          { class: 'panel' },
          h('h2', {}, 'Phase timeline'),
          phasesChart,
          timings.length > 0
            ? h(
                'table',
                { class: 'table compact', id: 'phase-timings' },
                h(
                  'tbody',
                  {},
                  ...timings.map(([p, ms]) => h('tr', {}, h('td', {}, p), h('td', { class: 'num' }, duration(ms)))),
                ),
              )
            : null,
        ),
        d.volumeResize
          ? null
          : h(
              'div',
              { class: 'panel' },
              h('h2', {}, 'Replay depth'),
              d.replayDepth.length > 0 ? depthChart : h('p', { class: 'empty' }, 'No replay depth sampled yet.'),
            ),
        h(
          'div',
          { class: 'panel' },
          h('h2', {}, d.volumeResize ? 'Bytes copied' : 'Checkpoint transfer'),
          d.bytes.length > 0 ? bytesChart : h('p', { class: 'empty' }, 'No transfer progress yet.'),
        ),
      ),
      ...(d.volumeResize ? volumeResizePanels(d.volumeResize) : []),
      h(
        'div',
        { class: 'panel' },
        h('h2', {}, 'Events'),
        h(
          'table',
          { class: 'table', id: 'timeline' },
          h('thead', {}, h('tr', {}, ...['#', 'Offset', 'Phase', 'Event', 'Message'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...d.rows.map((r) =>
              h(
                'tr',
                { class: 'event', 'data-type': r.type },
                h('td', { class: 'num' }, r.seq),
                h('td', { class: 'num' }, `+${(r.offsetMs / 1000).toFixed(3)} s`),
                h('td', {}, badge(r.phase)),
                h('td', {}, r.type),
                h('td', { class: 'message' }, r.message),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  // vega-embed sizes a chart to its container: draw in a laid-out (hidden) copy of the page, then show it
  document.body.append(root);
  root.style.position = 'absolute';
  root.style.visibility = 'hidden';
  root.style.width = `${app.clientWidth}px`;
  const draws = [draw(phasesChart, phaseTimelineSpec(d))];
  if (d.replayDepth.length > 0) draws.push(draw(depthChart, replayDepthSpec(d)));
  if (d.bytes.length > 0) draws.push(draw(bytesChart, bytesSpec(d)));
  try {
    cleanups.push(...(await Promise.all(draws)));
  } finally {
    root.remove();
    root.removeAttribute('style');
  }
}

async function evalPage(root: HTMLElement, cleanups: Array<() => void>): Promise<void> {
  const e = await getJson<EvaluationCharts>('/api/evaluation');
  root.append(h('h1', {}, e.title));
  if (e.charts.length === 0) {
    root.append(h('p', { class: 'empty' }, e.note ?? 'No evaluation runs in this log.'));
    return;
  }
  if (e.note) root.append(h('p', { class: 'meta', id: 'eval-note' }, e.note));
  const panels = e.charts.map((c) => ({ c, el: h('div', { class: 'chart', 'data-chart': c.title }) }));
  root.append(
    h(
      'div',
      { class: 'grid wide' },
      ...panels.map(({ c, el }) => h('div', { class: 'panel' }, h('h2', {}, c.title), el)),
    ),
  );
  document.body.append(root);
  root.style.position = 'absolute';
  root.style.visibility = 'hidden';
  root.style.width = `${app.clientWidth}px`;
  try {
    cleanups.push(...(await Promise.all(panels.map(({ c, el }) => draw(el, c.spec)))));
  } finally {
    root.remove();
    root.removeAttribute('style');
  }
}

let pending: ReturnType<typeof setTimeout> | undefined;
function soon(): void {
  clearTimeout(pending);
  pending = setTimeout(() => void render(), 200);
}

function connect(): void {
  const events = new EventSource('/api/events');
  events.addEventListener('hello', () => {
    live.textContent = 'live';
    live.className = 'live on';
  });
  events.addEventListener('change', (ev) => {
    const key = JSON.parse((ev as MessageEvent<string>).data) as { kind: string; id: string };
    const r = route();
    if (r.page === 'list' || (r.page === 'instance' && r.kind === key.kind && r.id === key.id)) soon();
  });
  events.addEventListener('error', () => {
    live.textContent = 'reconnecting';
    live.className = 'live off';
  });
}

window.addEventListener('hashchange', () => void render());
connect();
void render();
