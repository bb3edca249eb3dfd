/**
 * Reads a retail-layout CSV with plain string splits and BigInt cents (independent of the
 * generator and of salesgrid's parser) into per-order and per-customer facts for the tests.
 */
import fs from 'node:fs';
import type { CustomerRow } from '../../src/segment/customer-table.js';

export const HEADER =
  'order_id,customer_id,store_id,sales_person_id,product,category,sales_date,price,quantity,total_cost';

export interface Line {
  order: number;
  customer: number;
  store: number;
  salesPerson: number;
  product: string;
  category: string;
  date: string;
  priceCents: bigint;
  quantity: number;
  totalCents: bigint;
}

export function cents(text: string): bigint {
  if (!/^\d+\.\d\d$/.test(text)) throw new Error(`not money with two decimals: ${text}`);
  return BigInt(text.replace('.', ''));
}

export function readLines(file: string): Line[] {
  const text = fs.readFileSync(file, 'latin1');
  if (!text.endsWith('\n')) throw new Error('no final newline');
  const rows = text.slice(0, -1).split('\n');
  if (rows[0] !== HEADER) throw new Error(`bad header ${rows[0]}`);
  return rows.slice(1).map((r) => {
    const f = r.split(',');
    if (f.length !== 10) throw new Error(`bad row ${r}`);
    return {
      order: Number(f[0]),
      customer: Number(f[1]),
      store: Number(f[2]),
      salesPerson: Number(f[3]),
      product: f[4],
      category: f[5],
      date: f[6],
      priceCents: cents(f[7]),
      quantity: Number(f[8]),
      totalCents: cents(f[9]),
    };
  });
}

/** Per-customer rows as the keyed aggregation will store them. */
export function customerRows(lines: Line[]): CustomerRow[] {
  const by = new Map<
    number,
    {
      rows: number;
      orders: Set<number>;
      units: number;
      cents: bigint;
      dates: string[];
      cat: Map<string, bigint>;
    }
  >();
  for (const l of lines) {
    let c = by.get(l.customer);
    if (!c) {
      c = { rows: 0, orders: new Set(), units: 0, cents: 0n, dates: [], cat: new Map() };
      by.set(l.customer, c);
    }
    c.rows++;
    c.orders.add(l.order);
    c.units += l.quantity;
    c.cents += l.totalCents;
    c.dates.push(l.date);
    c.cat.set(l.category, (c.cat.get(l.category) ?? 0n) + l.totalCents);
  }
  return [...by].map(([id, c]) => {
    c.dates.sort();
    const shares: Record<string, number> = {};
    for (const [name, v] of c.cat) shares[name] = Number(v) / Number(c.cents);
    return {
      customer: String(id),
      rows: c.rows,
      orders: c.orders.size,
      units: c.units,
      revenue: `${c.cents / 100n}.${String(c.cents % 100n).padStart(2, '0')}`,
      firstDate: c.dates[0],
      lastDate: c.dates[c.dates.length - 1],
      monthsActive: new Set(c.dates.map((d) => d.slice(0, 7))).size,
      categoryShares: shares,
    };
  });
}
