/**
 * Exact integers end to end: mart money past 2^63 at 9 decimals, unit counts past 2^53 in `report`
 * and `top`, the order-preserving sort keys `top` ranks on, and CSV output that a spreadsheet
 * cannot run as a formula.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromSortKey, toSortKey } from '../src/db/sort-key.js';
import { csvField, topCsv } from '../src/top.js';
import { cli, killAll, tmpDir } from './helpers/e2e.js';
import { Rng } from './helpers/prng.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir();
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('sort keys', () => {
  it('round-trip and sort as the integers do, at any size and sign', () => {
    const rng = new Rng(20261202);
    const values: bigint[] = [0n, 1n, -1n, 9n, 10n, -9n, -10n, 2n ** 63n, -(2n ** 63n), 10n ** 40n];
    for (let i = 0; i < 2000; i++) {
      let digits = '';
      const n = rng.int(1, 45);
      for (let d = 0; d < n; d++) digits += String(rng.int(0, 9));
      const v = BigInt(digits);
      values.push(rng.chance(0.3) ? -v : v);
    }
    for (const v of values) expect(fromSortKey(toSortKey(v))).toBe(v);
    const byValue = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // SQLite's BINARY collation compares bytes, as the default string comparison does for ASCII.
    const byKey = values
      .map((v) => toSortKey(v))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map(fromSortKey);
    expect(byKey).toEqual(byValue);
  });

  it('refuses text that is not a key', () => {
    for (const bad of ['', '12', 'p0002123', 'x00011', 'p00011a']) expect(() => fromSortKey(bad)).toThrow();
  });
});

describe('top --csv against formula injection', () => {
  it('prefixes text starting with = + - @ tab or CR with a quote, and quotes the field', () => {
    expect(csvField('=1+1')).toBe(`"'=1+1"`);
    expect(csvField('+33 1 23')).toBe(`"'+33 1 23"`);
    expect(csvField('-2+3')).toBe(`"'-2+3"`);
    expect(csvField('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvField('\tcmd')).toBe(`"'\tcmd"`);
    expect(csvField('\rcmd')).toBe(`"'\rcmd"`);
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    // Numbers written by salesgrid stay numbers.
    expect(csvField('-12.50', false)).toBe('-12.50');
    const out = topCsv([{ period: 'all', rank: 1, key: '-1', rows: 1, units: '2', revenue: '-3.00' }]);
    expect(out).toBe(`period,rank,key,rows,units,revenue\nall,1,"'-1",1,2,-3.00\n`);
  });
});

describe('money past 2^63 and units past 2^53, through a real run', () => {
  const SCALE = 9;
  const csv = () => path.join(dir, 'huge.csv');
  const db = () => path.join(dir, 'huge.db');

  beforeAll(() => {
    const lines = ['Region,Customer,Unit Price,Units Sold,Order Date'];
    // 400000.123456789 × 30000 at 9 decimals is 1.2e19 in the smallest unit: past 2^63 (9.2e18).
    lines.push('North,"=HYPERLINK(""http://x"")",400000.123456789,30000,1/15/2020');
    lines.push('North,+plus,400000.123456789,30001,1/16/2020');
    lines.push('North,+plus,400000.123456789,30001,2/16/2021');
    // Ten quantities of 999999999999999 add up past 2^53 (9.007e15).
    for (let i = 1; i <= 10; i++) lines.push(`South,@at,0.000000001,999999999999999,2/${i}/2020`);
    lines.push('East,plain,2.5,1,3/17/2020');
    fs.writeFileSync(csv(), `${lines.join('\n')}\n`);
  });

  /** The test's own totals: csv-parse and BigInt at scale 9. */
  function expected() {
    const recs = parse(fs.readFileSync(csv()), { columns: true }) as Record<string, string>[];
    const money = (t: string) => {
      const [i, f = ''] = t.split('.');
      return BigInt(i + f.padEnd(SCALE, '0'));
    };
    const fmt = (v: bigint) => {
      const s = v.toString().padStart(SCALE + 1, '0');
      return `${s.slice(0, -SCALE)}.${s.slice(-SCALE)}`;
    };
    let units = 0n;
    let revenue = 0n;
    const byKey = new Map<string, { rows: number; units: bigint; revenue: bigint }>();
    for (const r of recs) {
      const u = BigInt(r['Units Sold']);
      const rev = money(r['Unit Price']) * u;
      units += u;
      revenue += rev;
      const c = byKey.get(r.Customer) ?? { rows: 0, units: 0n, revenue: 0n };
      byKey.set(r.Customer, { rows: c.rows + 1, units: c.units + u, revenue: c.revenue + rev });
    }
    const ranked = (by: 'units' | 'revenue') =>
      [...byKey]
        .sort((a, b) => (a[1][by] === b[1][by] ? (a[0] < b[0] ? -1 : 1) : a[1][by] > b[1][by] ? -1 : 1))
        .map(([key, c]) => ({ key, rows: c.rows, units: c.units.toString(), revenue: fmt(c.revenue) }));
    return { rows: recs.length, units: units.toString(), revenue: fmt(revenue), ranked };
  }

  it('finishes the run, and report and top keep every digit', async () => {
    const run = cli(['run', csv(), '--workers', '1', '--db', db(), '--mart', 'Customer', '--quiet']);
    expect(await run.exit, run.err()).toBe(0);
    const e = expected();
    expect(BigInt(e.units)).toBeGreaterThan(2n ** 53n);

    const rep = cli(['report', '--db', db(), '--json']);
    expect(await rep.exit, rep.err()).toBe(0);
    const r = JSON.parse(rep.out());
    expect({
      status: r.status,
      rows: r.rows,
      rejected: r.rejected,
      units: r.units,
      revenue: r.revenue,
    }).toEqual({
      status: 'done',
      rows: e.rows,
      rejected: 0,
      units: e.units,
      revenue: e.revenue,
    });
    const yearUnits = r.yearly.reduce((s: bigint, y: { units: string }) => s + BigInt(y.units), 0n);
    expect(yearUnits.toString()).toBe(e.units);

    for (const by of ['revenue', 'units'] as const) {
      const top = cli(['top', 'Customer', '--db', db(), '--per', 'all', '--by', by, '--json']);
      expect(await top.exit, top.err()).toBe(0);
      const rows = JSON.parse(top.out()).rows.map(
        (x: { key: string; rows: number; units: string; revenue: string }) => ({
          key: x.key,
          rows: x.rows,
          units: x.units,
          revenue: x.revenue,
        }),
      );
      expect(rows).toEqual(e.ranked(by));
    }
    // Per year the sums run in SQL too (sg_sum): "+plus" holds a cell past 2^63 in 2020 and in 2021.
    const year = cli(['top', 'Customer', '--db', db(), '--per', 'year', '--limit', '1', '--json']);
    expect(await year.exit, year.err()).toBe(0);
    expect(
      JSON.parse(year.out()).rows.map((x: { period: string; key: string }) => [x.period, x.key]),
    ).toEqual([
      ['2020', '+plus'],
      ['2021', '+plus'],
    ]);

    const csvOut = cli(['top', 'Customer', '--db', db(), '--per', 'all', '--csv']);
    expect(await csvOut.exit, csvOut.err()).toBe(0);
    const parsed = parse(csvOut.out(), { columns: true }) as Record<string, string>[];
    expect(parsed.map((x) => x.key)).toEqual(["'+plus", `'=HYPERLINK("http://x")`, "'@at", 'plain']);
    for (const x of parsed) expect(x.key).not.toMatch(/^[=+\-@\t\r]/);
  });
});
