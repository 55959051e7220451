/**
 * The evaluation page in Chromium: the committed analysis log set (test/golden/analysis/log, opened read-only)
 * beside SHADOW's published runs, drawn as the analysis' aggregate charts (Vega-Lite, bundled vega-embed).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { chartSpecs, readShadowCsv } from '../../eval/analysis/index.ts';
import { SHADOW_EVAL_DIR } from '../../eval/reference/shadow-eval.ts';
import { evaluationCharts } from '../../eval/ui/evaluation.ts';
import { startUiServer, type UiServer } from '../../eval/ui/server.ts';
import { silent } from '../support/scenario.ts';
import { launchChromium, type TestBrowser } from './browser.ts';

const LOG = join(import.meta.dirname, '../golden/analysis/log');
const SHADOW = SHADOW_EVAL_DIR;

let reader: EventLogReader;
let ui: UiServer;
let browser: TestBrowser;
let page: Page;
const offLoopback: string[] = [];

/** Every file's size and mtime under `dir`: reading must leave them as they were. */
async function fingerprint(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (n) => `${n} ${(await stat(join(dir, n))).size} ${(await stat(join(dir, n))).mtimeMs}`),
  );
}

let before: string[];

beforeAll(async () => {
  before = await fingerprint(LOG);
  reader = await openFileLogReader({ dir: LOG, logger: silent });
  ui = await startUiServer({
    reader,
    source: 'test/golden/analysis/log',
    logger: silent,
    evaluation: evaluationCharts({ reader, shadow: SHADOW }),
  });
  browser = await launchChromium();
  await browser.context.route('**/*', (route) => {
    const url = new URL(route.request().url());
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
});

describe('the evaluation page', () => {
  it("draws the analysis' aggregate charts of the log, SHADOW's runs beside ours", async () => {
    await page.goto(`${ui.url}#/eval`);
    await page.waitForFunction('Number(document.body.dataset.rendered ?? 0) >= 1', null, { timeout: 60_000 });
    const expected = Object.keys(chartSpecs([], [], []));
    const charts = page.locator('.chart');
    expect(await charts.count()).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const marks = charts.nth(i).locator('svg .role-mark path, svg .role-mark line, svg .role-mark rect');
      expect(await marks.count(), `chart ${i} has marks`).toBeGreaterThan(0);
    }
    // 18 runs of the evaluation (labelled with their rate) and one legacy log
    const theirs = (await readShadowCsv(SHADOW)).length;
    expect(await page.locator('#eval-note').textContent()).toBe(
      `19 migrations in the log (18 with a message rate), ${theirs} SHADOW runs beside them`,
    );
    await page.screenshot({ path: join(process.env.MS2M_UI_SHOTS ?? '/tmp', 'evaluation.png'), fullPage: true });
  });

  it('lists the same log on the migrations page, and left the log as it was', async () => {
    await page.goto(ui.url);
    await page.waitForSelector('#instances tr.instance');
    expect(await page.locator('#instances tr.instance').count()).toBe(19);
    expect(await fingerprint(LOG)).toEqual(before);
    expect(offLoopback).toEqual([]);
  });
});
