/**
 * `eda` over a real database made by the real CLI (needs `npm run build`, which `npm test` runs):
 * every chart file exists and is a 2× PNG, index.html embeds them, bad inputs fail with E_NO_RUN.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEda } from '../src/eda/run-eda.js';
import { storeWithRun } from './helpers/store.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'salesgrid.js');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-eda-'));
const csv = path.join(dir, 's.csv');
const db = path.join(dir, 'r.db');

async function salesgrid(...args: string[]): Promise<void> {
  await run(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 });
}

beforeAll(async () => {
  await salesgrid('generate', '--rows', '20000', '--out', csv, '--quiet');
  await salesgrid('run', csv, '--workers', '2', '--chunk-size', '64KiB', '--db', db, '--quiet');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectPng(file: string): void {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE), file).toBe(true);
  // IHDR width and height, big-endian, at bytes 16-19 and 20-23; rendered at 2×.
  expect(bytes.readUInt32BE(16), file).toBeGreaterThanOrEqual(1800);
  expect(bytes.readUInt32BE(20), file).toBeGreaterThanOrEqual(1000);
}

describe('eda', () => {
  it('draws every chart of a finished run and an index.html that embeds them', async () => {
    const out = path.join(dir, 'charts');
    const result = await runEda({ db, out, svg: false, topN: 10 });
    expect(result.runId).toBe(1);
    expect(result.skipped).toEqual([]);
    const names = result.files.map((f) => path.basename(f));
    expect(names).toEqual([
      'rows-per-worker.png',
      'revenue-share.png',
      'price-per-worker.png',
      'monthly-revenue.png',
      'yearly-revenue.png',
      'chunk-timeline.png',
      'revenue-by-region.png',
      'revenue-by-item-type.png',
      'revenue-by-sales-channel.png',
      'throughput.png',
      'index.html',
    ]);
    for (const f of result.files) expect(fs.existsSync(f), f).toBe(true);
    const pngs = result.files.filter((f) => f.endsWith('.png'));
    for (const f of pngs) expectPng(f);

    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html.match(/src="data:image\/png;base64,/g)).toHaveLength(pngs.length);
    const first = fs.readFileSync(pngs[0]).toString('base64');
    expect(html).toContain(first);
    expect(html).toContain('20,000');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('writes SVG files too when asked', async () => {
    const out = path.join(dir, 'svg');
    const result = await runEda({ db, runId: 1, out, svg: true, topN: 3 });
    const svgs = result.files.filter((f) => f.endsWith('.svg'));
    expect(svgs).toHaveLength(10);
    for (const f of svgs) expect(fs.readFileSync(f, 'utf8')).toMatch(/^<svg/);
  });

  it('skips the date charts for a run without a date column', async () => {
    // Region, Item Type, Sales Channel, Units Sold, Unit Price: no date columns left.
    const lines = fs.readFileSync(csv, 'latin1').split('\n');
    const cut = lines
      .filter((l) => l !== '')
      .map((l) => {
        const f = l.split(',');
        return [f[0], f[2], f[3], f[8], f[9]].join(',');
      });
    const noDate = path.join(dir, 'nodate.csv');
    fs.writeFileSync(noDate, `${cut.join('\n')}\n`);
    const noDateDb = path.join(dir, 'nodate.db');
    await salesgrid('run', noDate, '--workers', '1', '--db', noDateDb, '--quiet');
    const result = await runEda({ db: noDateDb, out: path.join(dir, 'nodate'), svg: false, topN: 10 });
    expect(result.skipped).toEqual([
      'monthly revenue: the run has no date column',
      'yearly revenue: the run has no date column',
    ]);
    const names = result.files.map((f) => path.basename(f));
    expect(names).not.toContain('monthly-revenue.png');
    expect(names).toContain('chunk-timeline.png');
    expect(fs.readFileSync(path.join(dir, 'nodate', 'index.html'), 'utf8')).toContain(
      'monthly revenue: the run has no date column',
    );
  });

  it('draws one chart per data mart, the top keys by month', async () => {
    const martDb = path.join(dir, 'mart.db');
    await salesgrid(
      'run',
      csv,
      '--workers',
      '2',
      '--chunk-size',
      '64KiB',
      '--db',
      martDb,
      '--mart',
      'Country',
      '--quiet',
    );
    const out = path.join(dir, 'mart');
    const result = await runEda({ db: martDb, out, svg: true, topN: 5 });
    expect(result.skipped).toEqual([]);
    const names = result.files.map((f) => path.basename(f));
    expect(names).toContain('mart-country.png');
    expect(names.indexOf('mart-country.png')).toBe(names.indexOf('revenue-by-sales-channel.svg') + 1);
    expectPng(path.join(out, 'mart-country.png'));
    const svg = fs.readFileSync(path.join(out, 'mart-country.svg'), 'utf8');
    expect(svg).toContain('Top 5 Country by revenue');
    expect(svg).toContain('1. ');
    expect(svg).not.toContain('6. ');
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).toContain('id="mart-country"');
    expect(html).toContain('alt="Top 5 Country by revenue"');
  });

  it('fails with E_NO_RUN for a missing database file', async () => {
    await expect(
      runEda({ db: path.join(dir, 'missing.db'), out: path.join(dir, 'x'), svg: false, topN: 10 }),
    ).rejects.toMatchObject({ code: 'E_NO_RUN', exitCode: 2 });
  });

  it('fails with E_NO_RUN when no run is finished, or the asked run is missing or unfinished', async () => {
    const empty = path.join(dir, 'empty.db');
    const { store, runId: id } = storeWithRun(empty, { file: csv, chunkSize: 1024 });
    store.close();
    const out = path.join(dir, 'none');
    await expect(runEda({ db: empty, out, svg: false, topN: 10 })).rejects.toMatchObject({
      code: 'E_NO_RUN',
    });
    await expect(runEda({ db: empty, runId: id, out, svg: false, topN: 10 })).rejects.toMatchObject({
      code: 'E_NO_RUN',
      message: expect.stringMatching(/is running, not done/),
    });
    await expect(runEda({ db, runId: 99, out, svg: false, topN: 10 })).rejects.toMatchObject({
      code: 'E_NO_RUN',
      message: expect.stringMatching(/no run 99/),
    });
    expect(fs.existsSync(out)).toBe(false);
  });
});
