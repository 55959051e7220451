/**
 * `ms2m ui` shows VolumeResizes in a real browser (Debian's Chromium via playwright-core): the golden resize logs
 * (runs of the chart's host against the fake volumes) in an embedded file log beside a migration; the list has
 * their kind, the page of a resize its phase, the VolumeResize chart with visited and final states, the phase
 * timings, bytes copied over time, each claim's copy, the plan, and every event; a rolled-back resize says where
 * the data is.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vrStatusFromLog } from '../../actors/volume-resize-status.ts';
import type { EventLog, EventLogReader } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { startUiServer, type UiServer } from '../../eval/ui/server.ts';
import { silent } from '../support/scenario.ts';
import { launchChromium, type TestBrowser } from './browser.ts';
import { appendAs, golden } from './logs.ts';

const completed = golden('volume-resize/completed');
const rolledBack = golden('volume-resize/rollback-after-rebind');
const migration = golden('shadowpod-direct');
const DONE = 'default/vr-done/uid-1';
const FAILED = 'default/vr-failed/uid-2';

let dir: string;
let shots: string;
let writer: EventLog;
let reader: EventLogReader;
let ui: UiServer;
let browser: TestBrowser;
let page: Page;
const pageErrors: string[] = [];

const href = (id: string) => `${ui.url}#/i/VolumeResize/${encodeURIComponent(id)}`;

/** Goes to `url` and waits until the app has rendered it (it counts renders in body[data-rendered]). */
async function open(url: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForFunction('Number(document.body.dataset.rendered ?? 0) >= 1', null, { timeout: 30_000 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms2m-ui-vr-'));
  shots = process.env.MS2M_UI_SHOTS ?? (await mkdtemp(join(tmpdir(), 'ms2m-ui-vr-shots-')));
  writer = await openFileLog({ dir, logger: silent });
  await appendAs(writer, DONE, completed, 1, completed.length, 'VolumeResize');
  await appendAs(writer, FAILED, rolledBack, 1, rolledBack.length, 'VolumeResize');
  await appendAs(writer, 'default/m1/uid-m', migration);
  reader = await openFileLogReader({ dir, logger: silent });
  ui = await startUiServer({ reader, source: dir, logger: silent, cacheDir: `${dir}-cache` });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await reader?.close();
  await writer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (dir) await rm(`${dir}-cache`, { recursive: true, force: true });
});

describe('ms2m ui shows VolumeResizes', () => {
  it('the list has the resizes beside the migration, with their kind and phase', async () => {
    await open(ui.url);
    expect(await page.locator('#instances tr.instance').count()).toBe(3);
    const row = (id: string) => page.locator(`tr[data-id="${id}"]`);
    expect(await row(DONE).locator('td.kind').textContent()).toBe('VolumeResize');
    expect(await row(DONE).locator('.phase').textContent()).toBe('Completed');
    expect(await row(FAILED).locator('.phase').textContent()).toBe('Failed');
    expect(await row('default/m1/uid-m').locator('td.kind').textContent()).toBe('StatefulMigration');
    await page.screenshot({ path: join(shots, 'vr-list.png'), fullPage: true });
  });

  it('a completed resize: chart states, phase timings, bytes copied, every claim, the plan, every event', async () => {
    await open(href(DONE));
    expect(await page.locator('h1 .phase').textContent()).toBe('Completed');
    expect(await page.locator('.chip').allTextContents()).toEqual([
      'statefulSet: db',
      'volumes: data → 256Mi, logs → 64Mi',
    ]);
    const state = (id: string) => page.locator(`#diagram g[id="state:${id}"]`).getAttribute('class');
    expect(await state('vr.Completed')).toContain('current');
    for (const p of ['Validating', 'Syncing', 'Replacing']) expect(await state(`vr.active.${p}`)).toContain('visited');
    const status = vrStatusFromLog(completed)!;
    expect(await page.locator('#phase-timings tr').count()).toBe(Object.keys(status.phaseTimingsMs ?? {}).length);
    const claims = page.locator('#volumes tr.volume');
    expect(await claims.count()).toBe(4);
    expect(await page.locator('#volumes tr[data-claim="data-db-0"] td').allTextContents()).toEqual([
      '0',
      'data',
      'Replaced',
      'data-db-0',
      'pvc-pvc-2',
      'pvc-pvc-12',
      '100.0 MiB',
      '100.0 MiB / 100.0 MiB',
    ]);
    expect(await page.locator('#plan tr.plan-step').count()).toBe(status.plan?.length);
    expect(await page.locator('#plan tr.plan-step').first().locator('td').nth(1).textContent()).toBe(
      status.plan?.[0]?.step,
    );
    expect(await page.locator('#timeline tr.event').count()).toBe(completed.length);
    for (const chart of ['phases', 'bytes'])
      expect(
        await page
          .locator(
            `.chart[data-chart="${chart}"] svg .mark-line path, .chart[data-chart="${chart}"] svg .mark-rect path`,
          )
          .count(),
        `${chart} chart drawn`,
      ).toBeGreaterThan(0);
    expect(await page.locator('.chart[data-chart="replay-depth"]').count()).toBe(0);
    // bytes copied never go back (the checksum pass counts from 0 again) and end at every claim's data
    const detail = (await (
      await fetch(`${ui.url}api/instance?kind=VolumeResize&id=${encodeURIComponent(DONE)}`)
    ).json()) as { bytes: Array<{ mib: number; totalMib: number }> };
    const mibs = detail.bytes.map((b) => b.mib);
    expect(mibs).toEqual([...mibs].sort((a, b) => a - b));
    expect(detail.bytes.at(-1)).toEqual({ t: 12, mib: 220, totalMib: 220 });
    await page.screenshot({ path: join(shots, 'vr-completed.png'), fullPage: true });
  });

  it('a rolled-back resize: Failed, the message says what was undone and where the data is', async () => {
    await open(href(FAILED));
    expect(await page.locator('h1 .phase').textContent()).toBe('Failed');
    expect(await page.locator('#message').textContent()).toContain(
      'Rolled back: Bound PersistentVolumeClaim data-db-0',
    );
    expect(await page.locator('#volumes tr.volume').count()).toBe(4);
    expect(await page.locator('#timeline tr.event').count()).toBe(rolledBack.length);
    await page.screenshot({ path: join(shots, 'vr-failed.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
