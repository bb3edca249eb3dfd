/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core): pages load without
 * console errors and draw their charts; hostile keys show as text; a click on a region filters the
 * monthly chart's data; a live run started during the test grows on the page until done, with no
 * reload; the login form works. With SALESGRID_SCREENSHOTS=<dir>, each page is saved there as PNG.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BAD_RAW_MARK,
  hostileCsv,
  monthlyOf,
  runToEnd,
  serve,
  XSS_ITEM,
  XSS_REGION,
} from './helpers/dashboard.js';
import { cli, faultWorker, killAll, listeningPort, type Proc, sleep, tmpDir } from './helpers/e2e.js';

const CHROMIUM = process.env.SALESGRID_CHROMIUM ?? '/usr/bin/chromium';
// Under CI the browser tests must run: a missing chromium fails them instead of skipping.
const run = fs.existsSync(CHROMIUM) || process.env.CI ? describe : describe.skip;
const SHOTS = process.env.SALESGRID_SCREENSHOTS;

let browser: Browser;
let dir: string;
let csv: string;
let db: string;

/** A page that records console errors, page errors and dialogs. */
async function openPage(): Promise<{ page: Page; problems: string[]; dialogs: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  return { page, problems, dialogs };
}

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const marks = (page: Page, selector: string) => page.locator(selector).count();

run('the dashboard in a browser', () => {
  let base: string;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
    dir = tmpDir();
    csv = path.join(dir, 'sales.csv');
    db = path.join(dir, 'results.db');
    await hostileCsv(csv, 6000, 500);
    await runToEnd([csv, '--db', db, '--workers', '2', '--chunk-size', '64KiB', '--mart', 'Region']);
    base = (await serve(['--db', db])).url;
  }, 180_000);

  afterAll(async () => {
    killAll();
    await browser?.close();
  });

  it('loads every page without console errors, and the charts have marks', async () => {
    const { page, problems, dialogs } = await openPage();
    await page.goto(`${base}/`);
    await expect.poll(() => page.getByRole('link', { name: '#1' }).count()).toBe(1);
    expect(await page.locator('table').first().innerText()).toMatch(/done/);
    await shot(page, 'dashboard-runs');

    await page.goto(`${base}/runs/1`);
    await page.waitForFunction(
      () => (globalThis as unknown as Win).salesgrid?.views?.timeline !== undefined,
      null,
      { timeout: 30_000 },
    );
    expect(await marks(page, '#timeline svg .mark-rect.role-mark path')).toBe(await attemptsCount(base));
    await expect.poll(() => page.locator('#headline').innerText()).toMatch(/revenue/);
    await shot(page, 'dashboard-run');

    await page.goto(`${base}/runs/1/explore`);
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid?.ready === true, null, {
      timeout: 60_000,
    });
    expect(await marks(page, '#monthly svg .mark-line.role-mark path')).toBeGreaterThan(0);
    expect(await marks(page, '#monthly svg .mark-symbol.role-mark path')).toBe(monthlyOf(csv, null).size);
    const years = new Set([...monthlyOf(csv, null).keys()].map((m) => m.slice(0, 4)));
    expect(await marks(page, '#yearly svg .mark-rect.role-mark path')).toBe(years.size);
    expect(await marks(page, '#dim-Region svg .mark-rect.role-mark path')).toBe(8);
    expect(await marks(page, '#dim-Item_Type svg .mark-rect.role-mark path')).toBeGreaterThan(10);
    await shot(page, 'dashboard-explore');

    expect(problems).toEqual([]);
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('shows hostile keys and raw rejects as text, and no dialog opens', async () => {
    const { page, problems, dialogs } = await openPage();
    await page.goto(`${base}/runs/1/explore`);
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid?.ready === true, null, {
      timeout: 60_000,
    });
    await expect.poll(() => page.getByText(XSS_REGION, { exact: true }).count()).toBeGreaterThan(0);
    await expect.poll(() => page.getByText(XSS_ITEM, { exact: true }).count()).toBeGreaterThan(0);
    expect(await page.getByText(BAD_RAW_MARK).count()).toBeGreaterThan(0);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('b', { hasText: 'not-a-price' }).count()).toBe(0);
    expect(
      await page.evaluate(
        () =>
          [...(globalThis as unknown as Win).document.scripts].filter((s) => s.text.includes('alert')).length,
      ),
    ).toBe(0);
    await page.goto(`${base}/runs/1`);
    await expect.poll(() => page.locator('#live-rejects').innerText()).toContain(BAD_RAW_MARK);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('filters the monthly and yearly charts when a region is clicked', async () => {
    const { page, problems } = await openPage();
    await page.goto(`${base}/runs/1/explore`);
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid?.ready === true, null, {
      timeout: 60_000,
    });
    const shown = () =>
      page.evaluate(() =>
        (
          (globalThis as unknown as Win).salesgrid.views.monthly.data('monthly') as {
            period: string;
            revenueText: string;
          }[]
        ).map((d): [string, string] => [d.period, d.revenueText.replaceAll(',', '')]),
      );
    expect(new Map(await shown())).toEqual(monthlyOf(csv, null));

    await page.locator('#dim-Region svg path[aria-label*="Region: Asia;"]').first().click();
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid.filterApplied === 1);
    expect(await page.locator('#filter-text').innerText()).toBe('Region = Asia');
    expect(new Map(await shown())).toEqual(monthlyOf(csv, 'Asia'));
    const yearly = await page.evaluate(
      () =>
        ((globalThis as unknown as Win).salesgrid.views.yearly.data('yearly') as { period: string }[]).length,
    );
    expect(yearly).toBe(new Set([...monthlyOf(csv, 'Asia').keys()].map((m) => m.slice(0, 4))).size);
    await shot(page, 'dashboard-explore-filtered');

    // The key list filters too, even for a key that is markup.
    await page.getByRole('button', { name: XSS_REGION, exact: true }).first().click();
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid.filterApplied === 2);
    expect(await shown()).toEqual([['2014-03', '1050.00']]);
    await page.getByRole('button', { name: 'clear filter' }).click();
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid.filterApplied === 3);
    expect(new Map(await shown())).toEqual(monthlyOf(csv, null));
    expect(problems).toEqual([]);
    await page.close();
  });

  it('logs in through the form when the server has a token', async () => {
    const token = 'browser-token-42';
    const { url } = await serve(['--db', db, '--token', token]);
    const { page, problems } = await openPage();
    await page.goto(`${url}/runs/1/explore`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot(page, 'dashboard-login');
    await page.getByLabel('Token').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/not right/);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction(() => (globalThis as unknown as Win).salesgrid?.ready === true, null, {
      timeout: 60_000,
    });
    expect(new URL(page.url()).pathname).toBe('/runs/1/explore');
    expect(page.url()).not.toContain(token);
    const cookies = await page.context().cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // The wrong-password page logs a 401 for the form post; nothing else may fail.
    expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
    await page.close();
  });
});

run('lost attempts in the timeline', () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  afterEach(() => killAll());
  afterAll(async () => {
    await browser?.close();
  });

  it("draws a crashed worker's attempt in the lost colour", async () => {
    const faultDir = tmpDir();
    const faultCsv = path.join(faultDir, 'sales.csv');
    const faultDb = path.join(faultDir, 'results.db');
    await hostileCsv(faultCsv, 20_000, 10_000, 3);
    const coord = cli(['coordinator', faultCsv, '--port', '0', '--db', faultDb, '--chunk-size', '64KiB']);
    const address = `127.0.0.1:${await listeningPort(coord)}`;
    // The crasher is alone at first, so chunk 3 is leased to it; the other worker joins later.
    faultWorker(address, 'crasher', { FAULT_CRASH_CHUNK: 3, FAULT_DELAY_MS: 20 });
    await coord.waitFor(/worker crasher joined/);
    faultWorker(address, 'steady', { FAULT_DELAY_MS: 20 });
    expect(await coord.exit, coord.err()).toBe(0);
    const { url } = await serve(['--db', faultDb]);
    const { page, problems } = await openPage();
    await page.goto(`${url}/runs/1`);
    await page.waitForFunction(
      () => (globalThis as unknown as Win).salesgrid?.views?.timeline !== undefined,
      null,
      {
        timeout: 30_000,
      },
    );
    const outcomes = await page.evaluate(() =>
      ((globalThis as unknown as Win).salesgrid.views.timeline.data('attempts') as { outcome: string }[]).map(
        (a) => a.outcome,
      ),
    );
    expect(outcomes).toContain('lost');
    expect(outcomes).toContain('done');
    // The lost attempt is drawn in its own colour (#ef6c00), the done ones in green (#2e7d32).
    expect(await marks(page, '#timeline svg .mark-rect.role-mark path[fill="#ef6c00"]')).toBe(
      outcomes.filter((o) => o === 'lost').length,
    );
    expect(await marks(page, '#timeline svg .mark-rect.role-mark path[fill="#2e7d32"]')).toBe(
      outcomes.filter((o) => o === 'done').length,
    );
    await shot(page, 'dashboard-run-lost');
    expect(problems).toEqual([]);
    await page.close();
  });
});

async function attemptsCount(base: string): Promise<number> {
  const res = await fetch(`${base}/api/runs/1/attempts`);
  return ((await res.json()) as { total: number }).total;
}

run('a live run in the browser', () => {
  let runProc: Proc | null = null;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  afterEach(() => killAll());
  afterAll(async () => {
    await browser?.close();
  });

  it('shows progress growing until done, without a reload', async () => {
    const liveDir = tmpDir();
    const liveCsv = path.join(liveDir, 'sales.csv');
    const liveDb = path.join(liveDir, 'results.db');
    const { bad: liveBad } = await hostileCsv(liveCsv, 300_000, 25_000, 5);
    runProc = cli([
      'run',
      liveCsv,
      '--db',
      liveDb,
      '--workers',
      '2',
      '--chunk-size',
      '32KiB',
      '--mart',
      'Region',
      '--ui',
      '--ui-port',
      '0',
    ]);
    await runProc.waitFor(/dashboard: http:\/\/\S+?:\d+/, 60_000);
    const url = (/dashboard: (http:\/\/\S+?:\d+)/.exec(runProc.err()) ?? [])[1];

    // Wait for the run's row, then open its page while it runs.
    let id = 0;
    await expect
      .poll(
        async () => {
          const r = (await (await fetch(`${url}/api/runs`)).json()) as {
            items: { id: number; status: string }[];
          };
          id = r.items[0]?.status === 'running' ? r.items[0].id : 0;
          return id;
        },
        { timeout: 60_000, interval: 50 },
      )
      .toBeGreaterThan(0);
    const { page, problems } = await openPage();
    await page.goto(`${url}/runs/${id}`);
    await page.evaluate(() => {
      (globalThis as unknown as Win).noReload = true;
    });

    const seen: number[] = [];
    let midShot = false;
    const deadline = Date.now() + 150_000;
    for (;;) {
      const now = Number((await page.getByRole('progressbar').getAttribute('aria-valuenow')) ?? 'NaN');
      if (Number.isFinite(now) && seen[seen.length - 1] !== now) seen.push(now);
      if (!midShot && now > 20 && now < 90) {
        midShot = true;
        await shot(page, 'dashboard-live');
      }
      if ((await page.locator('#live-status').innerText()) === 'done') break;
      if (Date.now() > deadline)
        throw new Error(`the live page never said done; progress seen: ${seen.join(', ')}`);
      await sleep(100);
    }
    expect(seen.filter((p) => p > 0 && p < 100).length).toBeGreaterThanOrEqual(2);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    await expect.poll(() => page.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100.0');
    expect(await page.evaluate(() => (globalThis as unknown as Win).noReload)).toBe(true);
    expect(
      await page.evaluate(() => (globalThis as unknown as Win).salesgrid.live.states),
    ).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.locator('#headline').innerText()).toMatch(/300,0\d\d/);
    await expect.poll(() => page.locator('#live-rejects tbody tr').count()).toBe(liveBad);
    // Once the run is done, its rejects carry file line numbers instead of chunk positions.
    await expect.poll(() => page.locator('#live-rejects').innerText()).not.toMatch(/chunk \d+/);
    expect(await page.locator('#live-workers tbody tr').count()).toBe(2);
    expect(await marks(page, '#timeline svg .mark-rect.role-mark path')).toBeGreaterThan(100);
    await shot(page, 'dashboard-live-done');
    expect(problems).toEqual([]);
    await page.close();

    // `run --ui` keeps the dashboard up after the run, until Ctrl-C. The page can say done
    // (from the database) before the run has printed its last lines.
    await runProc.waitFor(/the dashboard stays up/, 60_000);
    runProc.child.kill('SIGINT');
    expect(await runProc.exit).toBe(0);
  });
});

/** What the page exposes (see web/app.js); typed here because tests compile without the DOM lib. */
interface Win {
  salesgrid: {
    views: Record<string, { data(name: string): unknown[] }>;
    ready?: boolean;
    filterApplied?: number;
    live: { states: number; rejects: number; done: boolean };
  };
  document: { scripts: ArrayLike<{ text: string }> & Iterable<{ text: string }> };
  noReload?: boolean;
}
