/**
 * `ms2m ui` in a real browser: Debian's Chromium driven by playwright-core loads the pages of a running, a
 * finished and a failed migration (golden logs in an embedded file log) and of one run live by the fake-world
 * harness while the page is open; asserts what is shown, takes screenshots (into $MS2M_UI_SHOTS or a temp dir),
 * and checks that the page loads nothing from anywhere but the loopback server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLog, EventLogReader } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { startUiServer, type UiServer } from '../../eval/ui/server.ts';
import { runToEnd, scenario, silent } from '../support/scenario.ts';
import { launchChromium, type TestBrowser } from './browser.ts';
import { appendAs, golden } from './logs.ts';

const finished = golden('shadowpod-direct');
const failed = golden('drain-stall-failed');
const RUNNING_AT = 60; // in Replaying, the source stopped

let dir: string;
let shots: string;
let writer: EventLog;
let reader: EventLogReader;
let ui: UiServer;
let browser: TestBrowser;
let page: Page;
const requested: string[] = [];
const offLoopback: string[] = [];

const href = (id: string) => `${ui.url}#/i/StatefulMigration/${encodeURIComponent(id)}`;

/**
 * Waits for the app to finish a render after `action`: it counts them in body[data-rendered]; a navigation to a
 * new document starts the count again (the old window's mark is gone then).
 */
async function rendered(action: () => Promise<unknown>): Promise<void> {
  const before = Number(await page.evaluate('window.__ms2mMark = true; Number(document.body.dataset.rendered ?? 0)'));
  await action();
  await page.waitForFunction(
    `(window.__ms2mMark === true ? Number(document.body.dataset.rendered ?? 0) > ${before} : Number(document.body.dataset.rendered ?? 0) >= 1)`,
    null,
    { timeout: 30_000 },
  );
}

const classOf = (id: string) => page.locator(`#diagram g[id="state:${id}"]`).getAttribute('class');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms2m-ui-log-'));
  shots = process.env.MS2M_UI_SHOTS ?? (await mkdtemp(join(tmpdir(), 'ms2m-ui-shots-')));
  writer = await openFileLog({ dir, logger: silent });
  await appendAs(writer, 'default/done/uid-d', finished);
  await appendAs(writer, 'default/failed/uid-f', failed);
  await appendAs(writer, 'default/running/uid-r', finished, 1, RUNNING_AT);
  reader = await openFileLogReader({ dir, logger: silent, watchPollMs: 200 });
  const runningLast = Date.parse(finished[RUNNING_AT - 1]!.at);
  ui = await startUiServer({
    reader,
    source: dir,
    logger: silent,
    cacheDir: join(dir, '..', `${dir.split('/').at(-1)}-cache`),
    now: () => runningLast + 2000,
  });
  browser = await launchChromium();
  await browser.context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    requested.push(url.href);
    if (url.hostname !== '127.0.0.1') {
      offLoopback.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  page = await browser.context.newPage();
  page.on('pageerror', (err) => offLoopback.push(`page error: ${err.message}`));
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await reader?.close();
  await writer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (dir) await rm(join(dir, '..', `${dir.split('/').at(-1)}-cache`), { recursive: true, force: true });
});

describe('ms2m ui in Chromium', () => {
  it('lists the migrations of the log with their phase', async () => {
    await rendered(() => page.goto(ui.url));
    const rows = page.locator('#instances tr.instance');
    expect(await rows.count()).toBe(3);
    const phaseOf = (id: string) => page.locator(`tr[data-id="${id}"] .phase`).textContent();
    expect(await phaseOf('default/done/uid-d')).toBe('Completed');
    expect(await phaseOf('default/failed/uid-f')).toBe('Failed');
    expect(await phaseOf('default/running/uid-r')).toBe('Replaying');
    expect(await page.locator('h1 small').textContent()).toBe('3 in the log, 1 running');
    expect(await page.locator('#live').textContent()).toBe('live');
    await page.screenshot({ path: join(shots, 'list.png'), fullPage: true });
  });

  it('a running migration: its phase, current and visited states, timeline and charts', async () => {
    await rendered(() => page.goto(href('default/running/uid-r')));
    expect(await page.locator('h1 .phase').textContent()).toBe('Replaying');
    expect(await page.locator('.pulse').count()).toBe(1);
    expect(await classOf('migration.active.Replaying')).toContain('current');
    for (const p of ['Pending', 'Checkpointing', 'Transferring', 'Restoring'])
      expect(await classOf(`migration.active.${p}`)).toMatch(/\bvisited\b(?!.*current)/);
    expect(await classOf('migration.active.Finalizing')).not.toContain('visited');
    expect(await classOf('migration.Completed')).not.toContain('visited');
    // time spent is drawn on the states: Replaying from its start to "now" (2 s after the last event)
    const replaying = finished.find((e) => e.type === 'TargetPodReady')!;
    const spent = (Date.parse(finished[RUNNING_AT - 1]!.at) + 2000 - Date.parse(replaying.at)) / 1000;
    expect(await page.locator('#diagram g[id="state:migration.active.Replaying"] text').textContent()).toBe(
      `Replaying (${spent.toFixed(1)} s)`,
    );
    expect(await page.locator('#timeline tr.event').count()).toBe(RUNNING_AT);
    expect(await page.locator('#timeline tr.event').last().locator('td').nth(3).textContent()).toBe(
      finished[RUNNING_AT - 1]!.type,
    );
    for (const chart of ['phases', 'replay-depth', 'bytes']) {
      const marks = page.locator(
        `.chart[data-chart="${chart}"] svg .mark-line path, .chart[data-chart="${chart}"] svg .mark-rect path, .chart[data-chart="${chart}"] svg .mark-area path, .chart[data-chart="${chart}"] svg .mark-symbol path`,
      );
      expect(await marks.count(), `${chart} chart drawn`).toBeGreaterThan(0);
    }
    await page.screenshot({ path: join(shots, 'running.png'), fullPage: true });
    await rendered(() => page.locator('button[data-view="steps"]').click());
    expect(await classOf('step-stopSource')).toContain('current');
    expect(await classOf('step-startReplay')).toContain('visited');
    expect(await classOf('step-endReplay')).not.toContain('visited');
    await page.screenshot({ path: join(shots, 'running-steps.png'), fullPage: true });
    await rendered(() => page.locator('button[data-view="phases"]').click());
  });

  it('a finished migration: Completed, every phase visited, exact phase timings, all its events', async () => {
    await rendered(() => page.goto(href('default/done/uid-d')));
    expect(await page.locator('h1 .phase').textContent()).toBe('Completed');
    expect(await page.locator('.pulse').count()).toBe(0);
    expect(await classOf('migration.Completed')).toContain('current');
    for (const p of ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'])
      expect(await classOf(`migration.active.${p}`)).toContain('visited');
    expect(await classOf('step-compensate')).not.toContain('visited');
    expect(await page.locator('#phase-timings tr').count()).toBe(6);
    expect(await page.locator('#timeline tr.event').count()).toBe(finished.length);
    await page.screenshot({ path: join(shots, 'finished.png'), fullPage: true });
  });

  it('a failed migration: Failed after compensating, with the reason', async () => {
    await rendered(() => page.goto(href('default/failed/uid-f')));
    expect(await page.locator('h1 .phase').textContent()).toBe('Failed');
    expect(await classOf('migration.Failed')).toContain('current');
    expect(await classOf('step-compensate')).toContain('visited');
    expect(await page.locator('#message').textContent()).toMatch(/^Replay stalled: depth stayed at 2/);
    await page.screenshot({ path: join(shots, 'failed.png'), fullPage: true });
  });

  it('follows the log live: a running migration advances on its page, a new one appears in the list', async () => {
    await rendered(() => page.goto(href('default/running/uid-r')));
    const documents = requested.filter((u) => new URL(u).pathname === '/').length;
    // the operator carries on: the rest of the log is appended while the page is open
    await rendered(() => appendAs(writer, 'default/running/uid-r', finished, RUNNING_AT + 1));
    await page.waitForSelector('h1 .phase-Completed', { timeout: 30_000 });
    expect(await page.locator('#timeline tr.event').count()).toBe(finished.length);
    expect(await classOf('migration.Completed')).toContain('current');

    await rendered(() => page.goto(ui.url));
    // a migration run by the fake-world harness (on its virtual clock, in memory), its events then appended to
    // the log the page follows one by one, as its operator would
    const s = scenario({ workload: 'statefulset' });
    expect((await runToEnd(s)).value).toBe('Completed');
    await appendAs(writer, s.migrationId, await s.log.read(s.key));
    await page.waitForSelector('tr[data-id="default/m1"] .phase-Completed', { timeout: 30_000 });
    expect(await page.locator('#instances tr.instance').count()).toBe(4);
    expect(await page.locator('tr[data-id="default/m1"] td').nth(2).textContent()).toBe('Sequential');
    // updated in place over server-sent events, not by loading the page again
    expect(requested.filter((u) => new URL(u).pathname === '/').length).toBe(documents + 1);
    await page.screenshot({ path: join(shots, 'list-live.png'), fullPage: true });
  });

  it('the evaluation page says when the log holds no evaluation runs', async () => {
    await rendered(() => page.goto(`${ui.url}#/eval`));
    expect(await page.locator('main h1').textContent()).toBe('Evaluation');
    expect(await page.locator('main .empty').count()).toBe(1);
  });

  it('loaded nothing but the loopback server: no CDN, no other host', () => {
    expect(requested.some((u) => u.endsWith('/app.js'))).toBe(true);
    expect(requested.some((u) => u.includes('/api/diagram.svg'))).toBe(true);
    expect(offLoopback).toEqual([]);
  });
});
