/**
 * An independent per-customer computation for the customers-table tests: csv-parse over the whole
 * file and BigInt money, with none of salesgrid's parser, keyed cells or merge. Also a seeded
 * messy file for it: orders split and shuffled across the file, quoted ids with commas and doubled
 * quotes, more than ten categories, three-decimal prices (a scale raise), and bad rows.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { Rng } from './prng.js';

export interface RefCustomer {
  rows: number;
  orders: Set<string>;
  units: bigint;
  /** Revenue × 10^scale. */
  revenue: bigint;
  days: Set<string>;
  categories: Map<string, bigint>;
}

export interface Reference {
  scale: number;
  customers: Map<string, RefCustomer>;
  categoryTotals: Map<string, bigint>;
  rejected: number;
}

const MONEY = /^(\d+)(?:\.(\d{1,9}))?$/;

/** Per-customer facts of a file with customer/order/category/date/price/quantity columns. */
export function referenceCustomers(
  file: string,
  cols = { customer: 'customer_id', order: 'order_id', category: 'category', date: 'sales_date' },
  scale = 3,
): Reference {
  const records = parse(fs.readFileSync(file), { columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  const customers = new Map<string, RefCustomer>();
  const categoryTotals = new Map<string, bigint>();
  let rejected = 0;
  for (const r of records) {
    const p = MONEY.exec(r.price);
    const q = /^\d+$/.test(r.quantity) ? BigInt(r.quantity) : null;
    if (p === null || q === null || !/^\d{4}-\d\d-\d\d$/.test(r[cols.date])) {
      rejected++;
      continue;
    }
    const frac = (p[2] ?? '').padEnd(scale, '0');
    if (frac.length > scale) throw new Error(`reference scale ${scale} too small for ${r.price}`);
    const price = BigInt(p[1] + frac);
    const rev = price * q;
    const id = r[cols.customer];
    let c = customers.get(id);
    if (c === undefined) {
      c = { rows: 0, orders: new Set(), units: 0n, revenue: 0n, days: new Set(), categories: new Map() };
      customers.set(id, c);
    }
    c.rows++;
    c.orders.add(r[cols.order]);
    c.units += q;
    c.revenue += rev;
    c.days.add(r[cols.date]);
    const cat = r[cols.category];
    c.categories.set(cat, (c.categories.get(cat) ?? 0n) + rev);
    categoryTotals.set(cat, (categoryTotals.get(cat) ?? 0n) + rev);
  }
  return { scale, customers, categoryTotals, rejected };
}

/** "12.345" at `scale` → scaled bigint (the text may have fewer decimals). */
export function scaled(text: string, scale: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (m === null) throw new Error(`not a decimal: ${text}`);
  const frac = (m[3] ?? '').padEnd(scale, '0');
  if (frac.length > scale) throw new Error(`${text} has more than ${scale} decimals`);
  const v = BigInt(m[2] + frac);
  return m[1] === '-' ? -v : v;
}

/** The messy file described above; returns its path. */
export function writeMessyFile(file: string, seed: number, rows = 6000): void {
  const rng = new Rng(seed);
  const customers = Array.from({ length: 300 }, (_, i) =>
    i % 37 === 0 ? `"Smith, ""J"" ${i}"` : i % 41 === 0 ? `"Ünïcode ${i}"` : `C${String(i).padStart(4, '0')}`,
  );
  const categories = Array.from({ length: 14 }, (_, i) => `cat${String.fromCharCode(65 + i)}`);
  const lines: string[] = [];
  let order = 0;
  while (lines.length < rows) {
    order++;
    const cust = customers[Math.floor(rng.next() ** 2 * customers.length)];
    const day = 1 + Math.floor(rng.next() * 700);
    const date = new Date(Date.UTC(2023, 0, day)).toISOString().slice(0, 10);
    const n = 1 + Math.floor(rng.next() * 4);
    for (let k = 0; k < n; k++) {
      const cat = categories[Math.floor(rng.next() ** 1.5 * categories.length)];
      const cents = 100 + Math.floor(rng.next() * 50_000);
      const price =
        rng.next() < 0.01
          ? `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}5`
          : `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
      const qty = 1 + Math.floor(rng.next() * 3);
      const bad = rng.next() < 0.004;
      lines.push(`${order},${cust},${cat},${date},${bad ? 'n/a' : price},${qty}`);
    }
  }
  // Shuffle: an order's lines land in different chunks, out of order.
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  fs.writeFileSync(file, `order_id,customer_id,category,sales_date,price,quantity\n${lines.join('\n')}\n`);
}
