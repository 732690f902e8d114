import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import {
  type OpenDatabase,
  recordCommits,
  recordGitSync,
  recordManifestsLoad,
} from '../../controller/store/index.js';
import { insertEvent, insertRollout, seedFleet, updateRolloutCounts } from '../api/fixtures.js';
import { testBackends } from '../helpers/databases.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const title = hasChromium
  ? 'dashboard in headless Chromium'
  : `dashboard in headless Chromium: SKIPPED because ${CHROMIUM} does not exist (apt-get install chromium)`;

const APPLIED = { sha: `a1b2c3d4e5${'0'.repeat(30)}`, dirty: false };
const ATTEMPTED = { sha: `f6e5d4c3b2${'0'.repeat(30)}`, dirty: false };
const PROBLEMS = [
  '/srv/rollouts/canary.yaml:9:13: downgrade from 2.0.0 to 1.9.0 without allowDowngrade: true',
  '/srv/rollouts/beta.yaml:7:13: Firmware "fw-3.0.0" not found',
  '/srv/rollouts/beta.yaml:12:5: unknown field "stepz"',
];
const REMOTE = { url: 'https://git.example.org/fleet/manifests.git', branch: 'main' };
const ASKED_BY = 'fedcba9876543210fedcba9876543210fedcba98';

/** The page is no wider than the window: nothing to scroll sideways. */
async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
}

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
    const subject = 'canary: approve step 2';
    const ada = { author: 'Ada Lovelace', email: 'ada@example.com', time: '2026-12-04T10:00:00+01:00' };
    await recordCommits(store.db, [{ sha: 'abc1234def', ...ada, subject }]);
    await insertEvent(store.db, { type: 'RolloutStarted', message: 'started <b>canary</b>' });
    // finished, but 6 devices short of the target: never green
    await insertRollout(store.db, 'gamma', {
      phase: 'Completed',
      currentStep: 2,
      counts: {
        selected: 10,
        upToDate: 4,
        failed: 6,
        failedByReason: { 'reported success, still on 1.0.0': 6 },
      },
    });
    // in flight in every phase, some offline: the counts row names each
    await insertRollout(store.db, 'delta', {
      counts: {
        selected: 20,
        pending: 5,
        inFlight: 6,
        downloading: 2,
        downloaded: 1,
        updating: 3,
        offline: 4,
      },
    });
    // dev-001's second attempt was asked for by a later commit than its first
    await store.db
      .updateTable('firmware_updates')
      .set({ git_revision: ASKED_BY })
      .where('endpoint', '=', 'dev-001')
      .where('attempt', '=', 2)
      .execute();
    // the reconciler's wording of a reported failure: `result N: meaning`, shown once
    await store.db
      .updateTable('firmware_updates')
      .set({ failure_reason: 'result 5: integrity check failure' })
      .where('endpoint', '=', 'dev-003')
      .execute();
    await insertEvent(store.db, {
      type: 'UpdateStarted',
      endpoint: 'dev-001',
      message: 'attempt 2 for 1.1.0',
    });
    // a valid commit applied, then one refused; the clone's remote was rewritten
    await recordManifestsLoad(store.db, { ready: true, revision: APPLIED });
    await recordManifestsLoad(store.db, { ready: false, revision: ATTEMPTED, problems: PROBLEMS });
    await recordGitSync(store.db, REMOTE, { ok: true, head: ATTEMPTED.sha });
    await recordGitSync(store.db, REMOTE, {
      ok: false,
      reason: 'not-fast-forward',
      message: 'fatal: Not possible to fast-forward, aborting.',
    });
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
    // who committed it and why (issue 22, point 1); the full sha, email and time in the API
    expect(await canary.locator('.commit').textContent()).toBe('Ada Lovelace: canary: approve step 2');
    const overall = canary.locator('.overall [role="progressbar"]');
    expect(await overall.getAttribute('aria-valuenow')).toBe('50');
    const steps = canary.locator('.step');
    expect(await steps.count()).toBe(3);
    expect(await steps.nth(0).locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBe('100');
    expect(await steps.nth(2).textContent()).toContain('156 / 300 (6 failed)');
    expect(await canary.textContent()).toContain('failed 6 (4 × connection lost, 2 × timeout)');
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
    // the reason repeats the result: said once
    expect(await page.locator('#devices tr td').nth(6).textContent()).toBe(
      'failed: 5 integrity check failure',
    );
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

  it('tells failed devices of a step apart: a red share of its bar and "(N failed)"', async () => {
    // gamma: 10 members, 4 up to date, 6 failed; steps of 1, 5 and 10 devices, all passed (current: 3)
    const steps = page.locator('[data-rollout="gamma"] .step');
    await steps.first().waitFor();
    // Only the current (last) step holds every device started: the earlier ones cannot say which
    // failures were theirs (a later step's must not read as the canary's), so they count the up
    // to date ones alone, capped at their share.
    expect(await steps.locator('.step-count').allTextContents()).toEqual([
      '1 / 1',
      '4 / 5',
      '10 / 10 (6 failed)',
    ]);
    const last = steps.nth(2).locator('[role="progressbar"]');
    expect(await last.getAttribute('aria-valuenow')).toBe('100');
    const fills = await last
      .locator('.fill')
      .evaluateAll((nodes) =>
        nodes.map((n) => [
          n.getAttribute('style')?.match(/width: ([^;]+)/)?.[1],
          n.ownerDocument.defaultView?.getComputedStyle(n).backgroundColor,
        ]),
      );
    expect(fills).toEqual([
      ['40%', 'rgb(31, 157, 85)'], // green: up to date
      ['60%', 'rgb(210, 63, 63)'], // red: failed
    ]);
  });

  it('counts every in-flight phase and the offline devices', async () => {
    const counts = page.locator('[data-rollout="delta"] .counts span');
    await counts.first().waitFor();
    expect(await counts.allTextContents()).toEqual(
      expect.arrayContaining(['in flight 6', 'downloading 2', 'downloaded 1', 'updating 3', 'offline 4']),
    );
  });

  // Issue 22 point 5 (and point 2's banner), on the same page and server.
  it('writes failure counts as "6 × reason" and shows no green badge on a rollout finished short', async () => {
    const gamma = page.locator('[data-rollout="gamma"]');
    await gamma.waitFor();
    expect(await gamma.textContent()).toContain('failed 6 (6 × reported success, still on 1.0.0)');
    expect(await gamma.textContent()).not.toMatch(/1\.0\.0 6/);
    const badge = (name: string) => page.locator(`[data-rollout="${name}"] .phase`);
    const background = (name: string) =>
      badge(name).evaluate((node) => node.ownerDocument.defaultView?.getComputedStyle(node).backgroundColor);
    expect(await badge('beta').getAttribute('class')).toBe('phase phase-Completed clean');
    expect(await background('beta')).toBe('rgb(215, 242, 226)'); // green: every member on the target
    expect(await badge('gamma').textContent()).toBe('Completed');
    expect(await badge('gamma').getAttribute('class')).toBe('phase phase-Completed attention');
    expect(await background('gamma')).toBe('rgb(249, 220, 220)'); // the red of Degraded
    expect(await gamma.locator('.overall .bar').getAttribute('class')).toBe('bar short');
  });

  it('shows invalid manifests and a failing git sync in a banner until they recover', async () => {
    const banner = page.locator('#manifests[data-state="invalid"]');
    await banner.waitFor();
    const text = (await banner.textContent()) ?? '';
    expect(text).toContain('Manifests invalid: 3 problems in the last attempted revision f6e5d4c3b2');
    expect(text).toContain('acting on the last applied revision a1b2c3d4e5');
    expect(await banner.locator('.problems li').allTextContents()).toEqual(PROBLEMS);
    expect(await banner.locator('.git-sync').textContent()).toMatch(
      /^Git sync failing since .+ \(not-fast-forward\): main of https:\/\/git\.example\.org\/fleet\/manifests\.git; the manifests are read from f6e5d4c3b2/,
    );
    expect(await banner.locator('.git-message').textContent()).toBe(
      'fatal: Not possible to fast-forward, aborting.',
    );

    // a fix is pushed and synced: the controller records both and tells it in an event
    await recordGitSync(store.db, REMOTE, { ok: true, head: APPLIED.sha });
    await recordManifestsLoad(store.db, { ready: true, revision: APPLIED });
    await insertEvent(store.db, {
      type: 'ManifestsRecovered',
      rollout: null,
      message: 'manifests valid again',
    });
    const ready = page.locator('#manifests[data-state="ready"]');
    await ready.waitFor();
    expect(await ready.locator('.manifests-line').textContent()).toBe('Manifests ready at a1b2c3d4e5');
    expect(await ready.locator('.git-sync').textContent()).toBe(
      `git sync ok: main of ${REMOTE.url} at a1b2c3d4e5`,
    );
    expect(await ready.getAttribute('class')).toBe('banner');
  });

  it('opens a device: its updates with the revision that asked for each, and its events', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    await page.locator('#devices tr[data-endpoint="dev-001"] td').nth(1).click();
    const panel = page.locator('#device[data-endpoint="dev-001"]');
    await panel.waitFor();
    expect(page.url()).toMatch(/#device=dev-001$/);
    const updates = panel.locator('table.updates tbody tr');
    expect(await updates.count()).toBe(2);
    // newest first: attempt 2 (downloading, asked for by ASKED_BY), then the failed attempt 1
    expect(await updates.nth(0).locator('td').allTextContents()).toEqual(
      expect.arrayContaining(['2', 'canary', '1.0.0 → 1.1.0', 'downloading', ASKED_BY.slice(0, 10)]),
    );
    expect(await updates.nth(0).locator('.revision').getAttribute('title')).toBe(ASKED_BY);
    expect(await updates.nth(1).locator('td').allTextContents()).toEqual(
      expect.arrayContaining(['1', 'failed', 'abc1234def Ada Lovelace: canary: approve step 2']),
    );
    // who asked for it, where the commit is known (issue 22, point 1)
    expect(await updates.nth(1).locator('.commit').getAttribute('title')).toBe(
      'Ada Lovelace <ada@example.com>, 2026-12-04T10:00:00+01:00',
    );
    expect(await updates.nth(0).locator('.commit').count()).toBe(0);
    expect(
      await panel.locator('.device-events li', { hasText: 'attempt 2 for 1.1.0' }).textContent(),
    ).toContain('revision abc1234def');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

    await page.goBack();
    await panel.waitFor({ state: 'hidden' });
    // the API behind it, for scripts: one device with every attempt and its recent events
    const res = await page.request.get(`http://127.0.0.1:${server.port}/api/v1/devices/dev-001`);
    const device = (await res.json()) as { updates: { gitRevision: string }[] };
    expect(device.updates.map((u) => u.gitRevision)).toEqual(['abc1234def', ASKED_BY]);
  });

  it('fits a 400 px phone (cards stacked, the table scrolls in its box) and a 1,400 px desktop', async () => {
    // The page re-renders its cards as events arrive: a card replaced between the wait and the
    // measurement has no box, so measure the one that replaced it.
    const box = async (selector: string) => {
      const element = page.locator(selector);
      for (;;) {
        await element.waitFor({ state: 'visible' });
        const measured = await element.boundingBox();
        if (measured) return measured;
      }
    };
    const table = page.locator('.table-box:has(#devices)');
    const tableWidths = () =>
      table.evaluate((node) => ({ client: node.clientWidth, scroll: node.scrollWidth }));

    await page.setViewportSize({ width: 400, height: 800 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    const [canary, beta] = [await box('[data-rollout="canary"]'), await box('[data-rollout="beta"]')];
    expect(beta.x).toBe(canary.x); // stacked
    const [upper, lower] = beta.y < canary.y ? [beta, canary] : [canary, beta];
    expect(lower.y).toBeGreaterThanOrEqual(upper.y + upper.height);
    expect(canary.x + canary.width).toBeLessThanOrEqual(400);
    expect((await tableWidths()).client).toBeLessThanOrEqual(400);

    await page.setViewportSize({ width: 1400, height: 900 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    const [wideCanary, wideBeta] = [await box('[data-rollout="canary"]'), await box('[data-rollout="beta"]')];
    expect(wideBeta.y).toBe(wideCanary.y); // side by side
    const wide = await tableWidths();
    expect(wide.scroll).toBeLessThanOrEqual(wide.client); // the whole table shows
  });

  it('has a favicon the page can draw', async () => {
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(href).toMatch(/^data:image\/svg\+xml,/);
    const width = await page.evaluate<number>(`new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image.naturalWidth);
      image.onerror = () => reject(new Error('the favicon does not load'));
      image.src = ${JSON.stringify(href)};
    })`);
    expect(width).toBeGreaterThan(0);
  });
});
