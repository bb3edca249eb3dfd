import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRetail, type RetailResult } from '../src/generate/retail.js';
import {
  BIG_SPENDER,
  LAPSED,
  LAPSED_END_SHARE,
  ONE_TIME,
  planRetail,
  RETAIL_DAYS,
  RETAIL_FIRST_DAY,
  SINGLE_CATEGORY,
} from '../src/generate/retail-plan.js';
import { cli } from './helpers/e2e.js';
import { type Line, readLines } from './helpers/retail-facts.js';

const OPTS = { rows: 60_000, customers: 2_000, products: 200, seed: 11 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-retail-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const isoDay = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);

describe('generate --layout retail', () => {
  let result: RetailResult;
  let lines: Line[];
  const out = path.join(dir, 'a', 'retail.csv');

  beforeAll(async () => {
    result = await generateRetail({ ...OPTS, out, withDimensions: true });
    lines = readLines(out);
  });

  it('writes exactly the requested rows with valid columns and exact money', () => {
    expect(lines).toHaveLength(OPTS.rows);
    expect(result.rows).toBe(OPTS.rows);
    expect(result.bytes).toBe(fs.statSync(out).size);
    const categoryOf = new Map<string, string>();
    const priceOf = new Map<string, bigint>();
    const bad: string[] = [];
    for (const l of lines) {
      const problems = [
        l.totalCents !== l.priceCents * BigInt(l.quantity) && 'total_cost != price * quantity',
        !(Number.isInteger(l.quantity) && l.quantity >= 1) && 'quantity',
        !(l.customer >= 1 && l.customer <= OPTS.customers) && 'customer_id',
        !(l.date >= '2023-01-01' && l.date <= '2025-12-31') && 'date range',
        new Date(`${l.date}T00:00:00Z`).toISOString().slice(0, 10) !== l.date && 'date',
        // a sales person works in the store of the order
        Math.floor((l.salesPerson - 1) / 4) + 1 !== l.store && 'sales person store',
        // a product always has the same category and price
        (categoryOf.get(l.product) ?? l.category) !== l.category && 'category',
        (priceOf.get(l.product) ?? l.priceCents) !== l.priceCents && 'price',
      ].filter(Boolean);
      if (problems.length > 0) bad.push(`order ${l.order}: ${problems.join(', ')}`);
      categoryOf.set(l.product, l.category);
      priceOf.set(l.product, l.priceCents);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(categoryOf.size).toBeLessThanOrEqual(OPTS.products);
    expect(new Set(lines.map((l) => l.customer)).size).toBe(OPTS.customers);
  });

  it("keeps an order's lines contiguous and orders chronological", () => {
    let prev = lines[0];
    const seen = new Set<number>([prev.order]);
    const bad: number[] = [];
    for (const l of lines.slice(1)) {
      if (l.order === prev.order) {
        const same =
          l.customer === prev.customer &&
          l.store === prev.store &&
          l.salesPerson === prev.salesPerson &&
          l.date === prev.date;
        if (!same) bad.push(l.order);
      } else {
        if (l.order !== prev.order + 1 || seen.has(l.order) || l.date < prev.date) bad.push(l.order);
        seen.add(l.order);
      }
      prev = l;
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(seen.size).toBe(result.orders);
  });

  it('is deterministic by seed', async () => {
    const again = path.join(dir, 'b', 'retail.csv');
    await generateRetail({ ...OPTS, out: again });
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
    const other = path.join(dir, 'c', 'retail.csv');
    await generateRetail({ ...OPTS, seed: 12, out: other });
    expect(fs.readFileSync(other).equals(fs.readFileSync(out))).toBe(false);
  });

  it('plants the customer behaviours, measurably', () => {
    const plan = planRetail(OPTS);
    const revenue = new Map<number, bigint>();
    const orders = new Map<number, Set<number>>();
    const categories = new Map<number, Set<string>>();
    const lastDate = new Map<number, string>();
    let total = 0n;
    for (const l of lines) {
      revenue.set(l.customer, (revenue.get(l.customer) ?? 0n) + l.totalCents);
      total += l.totalCents;
      if (!orders.has(l.customer)) orders.set(l.customer, new Set());
      orders.get(l.customer)?.add(l.order);
      if (!categories.has(l.customer)) categories.set(l.customer, new Set());
      categories.get(l.customer)?.add(l.category);
      if ((lastDate.get(l.customer) ?? '') < l.date) lastDate.set(l.customer, l.date);
    }
    const lapsedEnd = isoDay(RETAIL_FIRST_DAY + Math.floor(LAPSED_END_SHARE * (RETAIL_DAYS - 1)));
    let bigCount = 0;
    let bigRevenue = 0n;
    for (let c = 0; c < OPTS.customers; c++) {
      const id = c + 1;
      const p = plan.persona[c];
      if (p === BIG_SPENDER) {
        bigCount++;
        bigRevenue += revenue.get(id) ?? 0n;
      }
      if (p === ONE_TIME) expect(orders.get(id)?.size).toBe(1);
      else expect(orders.get(id)?.size).toBeGreaterThanOrEqual(2);
      if (p === LAPSED) expect((lastDate.get(id) ?? '') <= lapsedEnd).toBe(true);
      if (p === SINGLE_CATEGORY) expect(categories.get(id)?.size).toBe(1);
    }
    // About 3% of customers hold well over a fifth of the revenue.
    expect(bigCount / OPTS.customers).toBeGreaterThan(0.015);
    expect(bigCount / OPTS.customers).toBeLessThan(0.05);
    expect(Number((bigRevenue * 10_000n) / total) / 10_000).toBeGreaterThan(0.25);
    // Most customers who are not lapsed bought in the last half year; lapsed ones did not.
    const recent = isoDay(RETAIL_FIRST_DAY + RETAIL_DAYS - 183);
    let active = 0;
    let regular = 0;
    for (let c = 0; c < OPTS.customers; c++) {
      if (plan.persona[c] !== BIG_SPENDER && plan.persona[c] !== 1) continue;
      regular++;
      if ((lastDate.get(c + 1) ?? '') >= recent) active++;
    }
    expect(active / regular).toBeGreaterThan(0.8);
  });

  it('plants co-purchase pairs with lift well above 1 (independent count)', () => {
    expect(result.affinities.length).toBeGreaterThanOrEqual(5);
    const baskets = new Map<number, Set<string>>();
    for (const l of lines) {
      if (!baskets.has(l.order)) baskets.set(l.order, new Set());
      baskets.get(l.order)?.add(l.product);
    }
    const n = baskets.size;
    for (const { anchor, partner } of result.affinities) {
      let a = 0;
      let b = 0;
      let ab = 0;
      for (const items of baskets.values()) {
        const hasA = items.has(anchor);
        const hasB = items.has(partner);
        if (hasA) a++;
        if (hasB) b++;
        if (hasA && hasB) ab++;
      }
      expect(a).toBeGreaterThan(20);
      const lift = (ab * n) / (a * b);
      expect(lift).toBeGreaterThan(3);
    }
  });

  it('writes the dimension tables, consistent with the facts', () => {
    const read = (name: string) =>
      fs
        .readFileSync(path.join(dir, 'a', name), 'utf8')
        .trimEnd()
        .split('\n');
    const customers = read('customers.csv');
    expect(customers[0]).toBe('customer_id,name,age,gender,city,signup_date');
    expect(customers).toHaveLength(OPTS.customers + 1);
    const firstDate = new Map<number, string>();
    for (const l of lines) if (!firstDate.has(l.customer)) firstDate.set(l.customer, l.date);
    const stores = read('stores.csv');
    expect(stores[0]).toBe('store_id,city,region');
    const storeCity = new Map(stores.slice(1).map((r) => [r.split(',')[0], r.split(',')[1]]));
    for (const [i, row] of customers.slice(1).entries()) {
      const [id, name, age, gender, city, signup] = row.split(',');
      expect(Number(id)).toBe(i + 1);
      expect(name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
      expect(Number(age)).toBeGreaterThanOrEqual(18);
      expect(['F', 'M']).toContain(gender);
      expect([...storeCity.values()]).toContain(city);
      expect(signup <= (firstDate.get(i + 1) ?? '')).toBe(true);
    }
    const team = read('sales_team.csv');
    expect(team[0]).toBe('sales_person_id,name,store_id');
    for (const row of team.slice(1)) expect(storeCity.has(row.split(',')[2])).toBe(true);
    const salesPeople = new Set(team.slice(1).map((r) => Number(r.split(',')[0])));
    for (const l of lines) expect(salesPeople.has(l.salesPerson)).toBe(true);
    expect(Object.values(result.dimensions ?? {})).toHaveLength(3);
  });

  it('--categories 50: fifty categories, every product in one, the default output unchanged', async () => {
    const fifty = path.join(dir, 'fifty.csv');
    const r = await generateRetail({ ...OPTS, categories: 50, out: fifty });
    const got = readLines(fifty);
    expect(got).toHaveLength(OPTS.rows);
    const categoryOf = new Map<string, string>();
    for (const l of got) {
      expect(categoryOf.get(l.product) ?? l.category).toBe(l.category);
      categoryOf.set(l.product, l.category);
      // Product names start with their category's name.
      expect(l.product.startsWith(`${l.category} #`)).toBe(true);
    }
    expect(new Set(categoryOf.values()).size).toBe(50);
    expect(r.affinities.length).toBeGreaterThanOrEqual(5);
    // Not given and given as the default are the same bytes (one category per five products, at most ten).
    const a = path.join(dir, 'dflt-a.csv');
    const b = path.join(dir, 'dflt-b.csv');
    const small = { ...OPTS, products: 30 };
    await generateRetail({ ...small, out: a });
    await generateRetail({ ...small, categories: 6, out: b });
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
    await expect(
      generateRetail({ ...OPTS, products: 40, categories: 50, out: path.join(dir, 'x.csv') }),
    ).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('--categories') });
  });

  it('--lines-per-order 5: about a fifth as many orders as lines, contiguous; the default bytes unchanged', async () => {
    const five = path.join(dir, 'five.csv');
    const r = await generateRetail({ ...OPTS, linesPerOrder: 5, out: five });
    const got = readLines(five);
    expect(got).toHaveLength(OPTS.rows);
    expect(r.orders / (OPTS.rows / 5)).toBeGreaterThan(0.97);
    expect(r.orders / (OPTS.rows / 5)).toBeLessThan(1.03);
    const seen = new Set<number>();
    let prev = -1;
    for (const l of got) {
      if (l.order !== prev) {
        expect(seen.has(l.order)).toBe(false);
        seen.add(l.order);
      }
      prev = l.order;
    }
    expect(seen.size).toBe(r.orders);
    // The default (no option) is byte for byte what the generator wrote before the option existed.
    const dflt = path.join(dir, 'dflt-200k.csv');
    const d = await generateRetail({ rows: 200_000, customers: 20_000, products: 500, seed: 42, out: dflt });
    expect(d.orders).toBe(90_833);
    expect(createHash('sha256').update(fs.readFileSync(dflt)).digest('hex')).toBe(
      '2363ec5b466eb705e85cf542007c0151372d6957955955d77b64d3dde058cc71',
    );
    await expect(
      generateRetail({ ...OPTS, linesPerOrder: 0, out: path.join(dir, 'x.csv') }),
    ).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('--lines-per-order') });
  });

  it('refuses impossible sizes with a coded error', async () => {
    await expect(
      generateRetail({ ...OPTS, rows: 100, customers: 80, out: path.join(dir, 'x.csv') }),
    ).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringContaining('--rows'),
    });
  });

  it('runs from the CLI, and a bad option exits 2 naming it', async () => {
    const file = path.join(dir, 'cli', 'r.csv');
    const ok = cli(['generate', '--layout', 'retail', '--rows', '5000', '--customers', '300', '--out', file]);
    expect(await ok.exit).toBe(0);
    expect(ok.out()).toMatch(/wrote 5,000 rows .* orders/);
    expect(fs.readFileSync(file, 'utf8').split('\n')[0]).toBe(
      'order_id,customer_id,store_id,sales_person_id,product,category,sales_date,price,quantity,total_cost',
    );
    const bad = cli(['generate', '--layout', 'retail', '--customers', 'many', '--out', file]);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toContain('--customers');
    const wrongLayout = cli(['generate', '--customers', '10', '--out', file]);
    expect(await wrongLayout.exit).toBe(2);
    expect(wrongLayout.err()).toContain('--customers does not apply to --layout reference');
    const cats = cli(['generate', '--categories', '20', '--out', file]);
    expect(await cats.exit).toBe(2);
    expect(cats.err()).toContain('--categories does not apply to --layout reference');
    const tooMany = cli([
      'generate',
      '--layout',
      'retail',
      '--products',
      '10',
      '--categories',
      '11',
      '--out',
      file,
    ]);
    expect(await tooMany.exit).toBe(2);
    expect(tooMany.err()).toContain('--categories must be');
  });
});
