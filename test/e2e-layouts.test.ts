/**
 * Other sales layouts end to end, each against an independent computation: a star schema with ISO
 * dates (and the two business questions `top` answers on it), beverage sales with 4-decimal prices
 * and a discounted line total, shopping data without date or quantity, and a European file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, killAll, ROOT, report, tmpDir } from './helpers/e2e.js';

const FIX = path.join(ROOT, 'test', 'fixtures');
let dir: string;
beforeAll(() => {
  dir = tmpDir();
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SCALE = 9;
/** Independent money parser (the test's own, not the worker's): "$1,234.50", "1.234,50", "957.5775" → integer at scale 9. */
function money(text: string, decimalComma = false): bigint {
  let t = text.trim().replace('$', '');
  t = decimalComma ? t.replaceAll('.', '').replace(',', '.') : t.replaceAll(',', '');
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(t);
  if (!m) throw new Error(`not money: ${text}`);
  const v = BigInt(m[2] + (m[3] ?? '').padEnd(SCALE, '0'));
  return m[1] ? -v : v;
}
/** A report's decimal string at scale 9, for comparison. */
function fromReport(text: string): bigint {
  return money(text);
}

interface Expect {
  rows: number;
  revenue: bigint;
  min: bigint;
  max: bigint;
  monthly: Map<string, bigint>;
}

function expected(
  file: string,
  opts: { delimiter?: string; decimalComma?: boolean; price?: string; qty?: string; total?: string },
): Expect {
  const records = parse(fs.readFileSync(path.join(FIX, file)), {
    columns: true,
    delimiter: opts.delimiter ?? ',',
  }) as Record<string, string>[];
  const out: Expect = { rows: 0, revenue: 0n, min: 0n, max: 0n, monthly: new Map() };
  let first = true;
  for (const r of records) {
    let price: bigint;
    let rev: bigint;
    try {
      price = money(r[opts.price ?? opts.total ?? ''], opts.decimalComma);
      const q = opts.qty ? BigInt(r[opts.qty]) : 1n;
      rev =
        opts.total && !opts.price ? price : opts.total ? money(r[opts.total], opts.decimalComma) : price * q;
    } catch {
      continue;
    }
    out.rows++;
    out.revenue += rev;
    if (first || price < out.min) out.min = price;
    if (first || price > out.max) out.max = price;
    first = false;
  }
  return out;
}

function check(r: Awaited<ReturnType<typeof report>>, e: Expect): void {
  expect(r.status).toBe('done');
  expect(r.rows).toBe(e.rows);
  expect(fromReport(r.revenue)).toBe(e.revenue);
  expect(fromReport(r.minPrice)).toBe(e.min);
  expect(fromReport(r.maxPrice)).toBe(e.max);
  expect(r.monthly.length).toBe(e.monthly.size);
  for (const m of r.monthly) expect(fromReport(m.revenue), m.month).toBe(e.monthly.get(m.month));
}

async function runFixture(file: string, db: string, extra: string[] = []): Promise<string> {
  const p = cli([
    'run',
    path.join(FIX, file),
    '--workers',
    '2',
    '--chunk-size',
    '2KiB',
    '--db',
    db,
    ...extra,
  ]);
  expect(await p.exit, p.err()).toBe(0);
  return p.err();
}

describe('star schema (ISO dates and date-times)', () => {
  const db = () => path.join(dir, 'star.db');
  it('exact totals and monthly revenue', async () => {
    const log = await runFixture('star-schema.csv', db(), [
      '--mart',
      'customer_id',
      '--mart',
      'sales_person_id',
    ]);
    expect(log).toMatch(/detected date: "sales_date" \(ymd\)/);
    const records = parse(fs.readFileSync(path.join(FIX, 'star-schema.csv')), { columns: true }) as Record<
      string,
      string
    >[];
    const e = expected('star-schema.csv', { price: 'price', qty: 'quantity' });
    for (const r of records) {
      const m = r.sales_date.slice(0, 7);
      e.monthly.set(m, (e.monthly.get(m) ?? 0n) + money(r.price) * BigInt(r.quantity));
    }
    check(await report(db()), e);
  });

  it('answers "top 10 customers per month" and "best seller per month" exactly', async () => {
    const records = parse(fs.readFileSync(path.join(FIX, 'star-schema.csv')), { columns: true }) as Record<
      string,
      string
    >[];
    const rank = (col: string, limit: number) => {
      const by = new Map<string, Map<string, bigint>>();
      for (const r of records) {
        const m = r.sales_date.slice(0, 7);
        const keys = by.get(m) ?? new Map<string, bigint>();
        by.set(m, keys);
        keys.set(r[col], (keys.get(r[col]) ?? 0n) + money(r.price) * BigInt(r.quantity));
      }
      const out: { period: string; rank: number; key: string; revenue: bigint }[] = [];
      for (const m of [...by.keys()].sort()) {
        const sorted = [...(by.get(m) as Map<string, bigint>)].sort((a, b) =>
          a[1] === b[1] ? (a[0] < b[0] ? -1 : 1) : a[1] > b[1] ? -1 : 1,
        );
        for (const [i, [key, revenue]] of sorted.slice(0, limit).entries()) {
          out.push({ period: m, rank: i + 1, key, revenue });
        }
      }
      return out;
    };
    for (const [col, limit] of [
      ['customer_id', 10],
      ['sales_person_id', 1],
    ] as const) {
      const p = cli(['top', col, '--db', db(), '--per', 'month', '--limit', String(limit), '--json']);
      expect(await p.exit, p.err()).toBe(0);
      const got = JSON.parse(p.out()).rows.map(
        (r: { period: string; rank: number; key: string; revenue: string }) => ({
          period: r.period,
          rank: r.rank,
          key: r.key,
          revenue: money(r.revenue),
        }),
      );
      expect(got).toEqual(rank(col, limit));
    }
    const csv = cli(['top', 'sales_person_id', '--db', db(), '--per', 'year', '--limit', '2', '--csv']);
    expect(await csv.exit).toBe(0);
    expect(csv.out().split('\n')[0]).toBe('period,rank,key,rows,units,revenue');
    expect(csv.out().trim().split('\n')).toHaveLength(1 + 2 * 2);
  });
});

describe('bounded keys', () => {
  it('a mart wider than --max-keys fails the run with a message naming the column', async () => {
    const db = path.join(dir, 'wide.db');
    const p = cli([
      'run',
      path.join(FIX, 'star-schema.csv'),
      '--workers',
      '2',
      '--chunk-size',
      '2KiB',
      '--db',
      db,
      '--mart',
      'customer_id',
      '--max-keys',
      '10',
    ]);
    expect(await p.exit).toBe(1);
    expect(p.err()).toMatch(/column "customer_id" has more than 10 distinct values; raise --max-keys/);
    const r = await report(db);
    expect(r.status).toBe('failed');
  });
});

describe('edge cases found in review', () => {
  it('a non-retryable failure of the only chunk fails the run (exit 1, status failed)', async () => {
    const db = path.join(dir, 'one-chunk.db');
    const p = cli([
      'run',
      path.join(FIX, 'star-schema.csv'),
      '--workers',
      '1',
      '--db',
      db,
      '--mart',
      'customer_id',
      '--max-keys',
      '10',
    ]);
    expect(await p.exit).toBe(1);
    expect(p.err()).toMatch(/chunk 0 .* failed 1 time\(s\); last: E_TOO_MANY_KEYS/);
    expect((await report(db)).status).toBe('failed');
  });

  it('a chunk of nothing but bad lines is counted exactly without itemizing every one', async () => {
    const file = path.join(dir, 'blank.csv');
    fs.writeFileSync(
      file,
      `Region,Unit Price,Units Sold,Order Date\nEurope,1.00,1,1/13/2020\n${'\n'.repeat(250_000)}`,
    );
    const db = path.join(dir, 'blank.db');
    const p = cli(['run', file, '--workers', '2', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    const r = await report(db);
    expect([r.rows, r.rejected]).toEqual([1, 250_000]);
    expect(r.rejects).toEqual([{ reason: 'empty line', count: 250_000, firstLine: 3 }]);
  });

  it('"2.500" in a decimal-comma file is two thousand five hundred, not 2.5', async () => {
    const file = path.join(dir, 'eu2.csv');
    fs.writeFileSync(
      file,
      'Date;Price;Quantity\n01/02/2023;1.234,50;1\n13/02/2023;2.500;1\n14/03/2023;12,75;2\n',
    );
    const db = path.join(dir, 'eu2.db');
    const p = cli(['run', file, '--workers', '1', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    const r = await report(db);
    expect([r.rows, r.rejected, r.revenue, r.maxPrice]).toEqual([3, 0, '3760.00', '2500.00']);
  });

  it('two columns that could both be the date: refused with the candidates and the columns listed', async () => {
    const file = path.join(dir, 'amb.csv');
    fs.writeFileSync(file, 'order_date,ship_date,date,Sales,qty\n1/13/2020,1/14/2020,1/13/2020,1.00,1\n');
    const p = cli(['run', file, '--workers', '1', '--db', path.join(dir, 'amb.db')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(
      /more than one column could be the date \("order_date", "date"\); choose one with --date\. Columns:/,
    );
    const ok = cli([
      'run',
      file,
      '--workers',
      '1',
      '--db',
      path.join(dir, 'amb.db'),
      '--date',
      'date',
      '--quiet',
    ]);
    expect(await ok.exit, ok.err()).toBe(0);
  });

  it('a 9-decimal price after the sample and a wide price later: same rows and total for any chunk size', async () => {
    const file = path.join(dir, 'wide.csv');
    const rows = ['Region,Unit Price,Units Sold,Order Date'];
    for (let i = 0; i < 3000; i++) {
      const price = i === 2000 ? '0.123456789' : i === 2100 ? '5000000.00' : '1.00';
      rows.push(`R${i % 3},${price},1,3/14/2021`);
    }
    fs.writeFileSync(file, `${rows.join('\n')}\n`);
    const seen = [];
    for (const size of ['1KiB', '4MiB']) {
      const db = path.join(dir, `wide-${size}.db`);
      const p = cli(['run', file, '--workers', '2', '--chunk-size', size, '--db', db]);
      expect(await p.exit, p.err()).toBe(0);
      const r = await report(db);
      seen.push([r.rows, r.rejected, r.revenue, r.maxPrice, r.minPrice]);
    }
    expect(seen[0]).toEqual([3000, 0, '5002998.123456789', '5000000.000000000', '0.123456789']);
    expect(seen[1]).toEqual(seen[0]);
  });

  it('an impossible date in the sample is a rejected row, not a stopped run', async () => {
    const file = path.join(dir, 'baddate.csv');
    fs.writeFileSync(
      file,
      'Region,Unit Price,Units Sold,Order Date\nA,1.00,1,13/45/2015\nB,2.00,1,1/20/2015\n',
    );
    const db = path.join(dir, 'baddate.db');
    const p = cli(['run', file, '--workers', '1', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    const r = await report(db);
    expect([r.rows, r.rejected, r.revenue]).toEqual([1, 1, '2.00']);
    expect(r.rejects[0]).toMatchObject({ reason: 'Order Date is not a valid date', firstLine: 2 });
  });
});

describe('beverage sales (4-decimal prices, a discounted line total)', () => {
  it('revenue is price × quantity by default, with a warning that the line total differs', async () => {
    const db = path.join(dir, 'bev.db');
    const log = await runFixture('beverage-sales.csv', db);
    expect(log).toMatch(/"Total_Price" differs from "Unit_Price" × "Quantity"/);
    expect(log).toMatch(/money precision: 4 decimals/);
    const records = parse(fs.readFileSync(path.join(FIX, 'beverage-sales.csv')), { columns: true }) as Record<
      string,
      string
    >[];
    const e = expected('beverage-sales.csv', { price: 'Unit_Price', qty: 'Quantity' });
    for (const r of records) {
      const m = r.Order_Date.slice(0, 7);
      e.monthly.set(m, (e.monthly.get(m) ?? 0n) + money(r.Unit_Price) * BigInt(r.Quantity));
    }
    const r = await report(db);
    check(r, e);
    expect(r.revenue).toMatch(/\.\d{4}$/);
  });

  it('--revenue Total_Price uses the line total', async () => {
    const db = path.join(dir, 'bev-total.db');
    await runFixture('beverage-sales.csv', db, ['--revenue', 'Total_Price']);
    const records = parse(fs.readFileSync(path.join(FIX, 'beverage-sales.csv')), { columns: true }) as Record<
      string,
      string
    >[];
    const e = expected('beverage-sales.csv', { price: 'Unit_Price', qty: 'Quantity', total: 'Total_Price' });
    for (const r of records) {
      const m = r.Order_Date.slice(0, 7);
      e.monthly.set(m, (e.monthly.get(m) ?? 0n) + money(r.Total_Price));
    }
    check(await report(db), e);
  });
});

describe('shopping behaviour (no date, no quantity)', () => {
  it('revenue and price statistics are over the purchase amount; no monthly results', async () => {
    const db = path.join(dir, 'shop.db');
    const log = await runFixture('shopping-behavior.csv', db);
    expect(log).toMatch(/line total "Purchase Amount \(USD\)" \(price statistics are over the line amount\)/);
    expect(log).toMatch(/date: none/);
    const e = expected('shopping-behavior.csv', { total: 'Purchase Amount (USD)' });
    const r = await report(db);
    check(r, e);
    expect((r as unknown as { priceBasis: string }).priceBasis).toBe('line amount');
    const human = cli(['report', '--db', db]);
    expect(await human.exit).toBe(0);
    expect(human.out()).toMatch(/no date column: no monthly or yearly results/);
  });
});

describe('European file (semicolons, D/M/YYYY, decimal commas)', () => {
  it('parses exactly and rejects the two bad rows with their line numbers', async () => {
    const db = path.join(dir, 'eu.db');
    const log = await runFixture('european-sales.csv', db);
    expect(log).toMatch(/delimiter ";"/);
    expect(log).toMatch(/"Date" \(dmy\)/);
    expect(log).toMatch(/decimal comma/);
    const records = parse(fs.readFileSync(path.join(FIX, 'european-sales.csv')), {
      columns: true,
      delimiter: ';',
    }) as Record<string, string>[];
    const e: Expect = { rows: 0, revenue: 0n, min: 0n, max: 0n, monthly: new Map() };
    let first = true;
    for (const r of records) {
      const [d, m, y] = r.Date.split('/').map(Number);
      if (r.Price === 'abc' || (m === 2 && d > 29)) continue;
      const p = money(r.Price, true);
      const rev = p * BigInt(r.Quantity);
      e.rows++;
      e.revenue += rev;
      if (first || p < e.min) e.min = p;
      if (first || p > e.max) e.max = p;
      first = false;
      const key = `${y}-${String(m).padStart(2, '0')}`;
      e.monthly.set(key, (e.monthly.get(key) ?? 0n) + rev);
    }
    const r = await report(db);
    check(r, e);
    expect(r.rejected).toBe(2);
    expect(r.rejects).toEqual([
      { reason: 'Date is not a valid date', count: 1, firstLine: 202 },
      { reason: 'Price is not a number', count: 1, firstLine: 102 },
    ]);
  });
});
