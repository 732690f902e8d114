import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { insertEvent, seedFleet, updateRolloutCounts } from '../api/fixtures.js';
import { testBackends } from '../helpers/databases.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const title = hasChromium
  ? 'dashboard in headless Chromium'
  : `dashboard in headless Chromium: SKIPPED because ${CHROMIUM} does not exist (apt-get install chromium)`;

/** Waits for the device table to drop one row and show another. */
async function rowsBecome(page: Page, rows: { gone: string; shown: string }): Promise<void> {
  await page.locator(`#devices tr[data-endpoint="${rows.gone}"]`).waitFor({ state: 'detached' });
  await page.locator(`#devices tr[data-endpoint="${rows.shown}"]`).waitFor();
}

describe.skipIf(!hasChromium)(title, () => {
  let store: OpenDatabase;
  let server: RunningHttpServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    store = await testBackends[0]!.open();
    await seedFleet(store.db);
    await insertEvent(store.db, { type: 'RolloutStarted', message: 'started <b>canary</b>' });
    const app = createHttpApp({ db: store.db, eventPollMs: 100 });
    server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.port}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
  });

  it('shows each rollout with its phase, step, revision, progress and per-step bars', async () => {
    const canary = page.locator('[data-rollout="canary"]');
    await canary.locator('.progress-text', { hasText: '150 / 300 up to date (50%)' }).waitFor();
    expect(await canary.locator('.phase').textContent()).toBe('Progressing');
    expect(await canary.textContent()).toContain('step 2 of 3');
    expect(await canary.locator('.revision').textContent()).toBe('abc1234def');
    const overall = canary.locator('.overall [role="progressbar"]');
    expect(await overall.getAttribute('aria-valuenow')).toBe('50');
    const steps = canary.locator('.step');
    expect(await steps.count()).toBe(3);
    expect(await steps.nth(0).locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBe('100');
    expect(await steps.nth(2).textContent()).toContain('150 / 300');
    expect(await canary.textContent()).toContain('failed 6 (connection lost 4, timeout 2)');
    await page.locator('[data-rollout="beta"] .phase', { hasText: 'Completed' }).waitFor();
  });

  it('lists devices and filters them by state and endpoint', async () => {
    await page.locator('#devices tr[data-endpoint="dev-004"]').waitFor();
    expect(await page.locator('#devices tr').count()).toBe(4);
    expect(await page.locator('tr[data-endpoint="dev-001"]').textContent()).toContain(
      'downloading → 1.1.0 (canary)',
    );
    await page.selectOption('#f-state', 'failed');
    await rowsBecome(page, { gone: 'dev-001', shown: 'dev-003' });
    expect(await page.locator('#devices tr').getAttribute('data-endpoint')).toBe('dev-003');
    expect(await page.locator('#devices tr').textContent()).toContain('5 integrity check failure');
    await page.selectOption('#f-state', '');
    await page.fill('#f-search', '002');
    await rowsBecome(page, { gone: 'dev-003', shown: 'dev-002' });
    expect(await page.locator('#devices tr').count()).toBe(1);
    await page.fill('#f-search', '');
  });

  it('shows recent events as text, never as markup', async () => {
    const event = page.locator('#events li', { hasText: 'started <b>canary</b>' });
    await event.waitFor();
    expect(await page.locator('#events b').count()).toBe(0);
  });

  it('updates live: new events and new counts appear without reloading', async () => {
    await page.locator('#live', { hasText: 'live' }).waitFor();
    await insertEvent(store.db, { type: 'StepAdvanced', message: 'entering step 3 of 3' });
    await updateRolloutCounts(store.db, 'canary', { selected: 300, upToDate: 240, failed: 6 });
    await page.locator('#events li', { hasText: 'entering step 3 of 3' }).waitFor();
    await page
      .locator('[data-rollout="canary"] .progress-text', { hasText: '240 / 300 up to date (80%)' })
      .waitFor();
  });
});
