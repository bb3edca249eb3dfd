import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildCustomerTable, type CustomerRow } from '../src/segment/customer-table.js';
import { clvDeciles, RFM_SEGMENTS, scoreRfm } from '../src/segment/rfm.js';
import { customerSegments, runSegment } from '../src/segment/run-segment.js';
import { Rng } from './helpers/prng.js';

/** Customers with many ties in orders, recency and revenue, and odd revenue scales. */
function customers(seed: number, n: number): CustomerRow[] {
  const rng = new Rng(seed);
  const rows: CustomerRow[] = [];
  for (let i = 0; i < n; i++) {
    const orders = rng.chance(0.4) ? 1 : rng.int(1, 30);
    const last = `2025-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
    const cents = rng.chance(0.1) ? 5000 : rng.int(1, 5_000_000);
    rows.push({
      customer: `k${rng.int(0, 1e9)}-${i}`,
      rows: orders,
      orders,
      units: orders,
      revenue: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      firstDate: '2024-06-01',
      lastDate: last,
      monthsActive: 1,
    });
  }
  return rows;
}

const cents = (text: string) => BigInt(text.replace('.', ''));

/** The published R×FM map, written as patterns. */
const MAP: Array<[RegExp, string]> = [
  [/^[12][12]$/, 'Hibernating'],
  [/^[12][34]$/, 'At risk'],
  [/^[12]5$/, 'Cannot lose them'],
  [/^3[12]$/, 'About to sleep'],
  [/^33$/, 'Need attention'],
  [/^[34][45]$/, 'Loyal'],
  [/^41$/, 'Promising'],
  [/^51$/, 'New customers'],
  [/^[45][23]$/, 'Potential loyalists'],
  [/^5[45]$/, 'Champions'],
];

describe('RFM', () => {
  it('matches a naive computation: tied values share a score, revenue per segment is exact', () => {
    const rows = customers(5, 237);
    const table = buildCustomerTable(rows);
    const asOf = Date.UTC(2025, 11, 31) / 86_400_000;
    const rfm = scoreRfm(table, asOf);
    const n = rows.length;
    const day = (t: string) => Date.parse(`${t}T00:00:00Z`) / 86_400_000;
    const expected = new Map<string, { customers: number; revenue: bigint }>();
    for (const name of RFM_SEGMENTS) expected.set(name, { customers: 0, revenue: 0n });
    const index = new Map(Array.from({ length: table.n }, (_, i) => [table.ids.get(i), i]));
    for (const row of rows) {
      const rec = asOf - day(row.lastDate);
      const rev = cents(row.revenue);
      const r = 1 + Math.floor((5 * rows.filter((o) => asOf - day(o.lastDate) > rec).length) / n);
      const f = 1 + Math.floor((5 * rows.filter((o) => o.orders < row.orders).length) / n);
      const m = 1 + Math.floor((5 * rows.filter((o) => cents(o.revenue) < rev).length) / n);
      const i = index.get(row.customer) as number;
      expect([rfm.r[i], rfm.f[i], rfm.m[i]]).toEqual([r, f, m]);
      const code = `${r}${Math.round((f + m) / 2)}`;
      const name = MAP.find(([re]) => re.test(code))?.[1] as string;
      expect(RFM_SEGMENTS[rfm.segment[i]]).toBe(name);
      const e = expected.get(name) as { customers: number; revenue: bigint };
      e.customers++;
      e.revenue += rev;
    }
    for (const s of rfm.segments) {
      const e = expected.get(s.segment) as { customers: number; revenue: bigint };
      expect([s.customers, cents(s.revenue)]).toEqual([e.customers, e.revenue]);
    }
  });
});

describe('lifetime-value deciles', () => {
  it("match SQLite's NTILE(10) with exact sums, shares and a Pareto curve ending at 1", () => {
    for (const n of [237, 1000, 7]) {
      const rows = customers(n, n);
      const table = buildCustomerTable(rows);
      const { decile, deciles } = clvDeciles(table);
      const db = new Database(':memory:');
      db.exec('CREATE TABLE c (customer TEXT, cents INTEGER)');
      const ins = db.prepare('INSERT INTO c VALUES (?, ?)');
      for (const r of rows) ins.run(r.customer, cents(r.revenue));
      const ranked = db
        .prepare('SELECT customer, NTILE(10) OVER (ORDER BY cents DESC, customer) AS d FROM c')
        .all() as Array<{ customer: string; d: number }>;
      const perDecile = db
        .prepare(
          `SELECT d, COUNT(*) AS customers, SUM(cents) AS cents FROM
             (SELECT cents, NTILE(10) OVER (ORDER BY cents DESC, customer) AS d FROM c) GROUP BY d ORDER BY d`,
        )
        .safeIntegers(true)
        .all() as Array<{ d: bigint; customers: bigint; cents: bigint }>;
      db.close();
      const index = new Map(Array.from({ length: table.n }, (_, i) => [table.ids.get(i), i]));
      for (const r of ranked) expect(decile[index.get(r.customer) as number]).toBe(r.d);
      expect(deciles.map((d) => [d.decile, d.customers, cents(d.revenue)])).toEqual(
        perDecile.map((d) => [Number(d.d), Number(d.customers), d.cents]),
      );
      const total = perDecile.reduce((s, d) => s + d.cents, 0n);
      let running = 0n;
      for (const [i, d] of deciles.entries()) {
        running += perDecile[i].cents;
        // share to 6 places, rounded half up, from exact integers
        const six = (v: bigint) => {
          const q = (v * 2_000_000n + total) / (2n * total);
          return `${q / 1_000_000n}.${String(q % 1_000_000n).padStart(6, '0')}`;
        };
        expect(d.share).toBe(six(perDecile[i].cents));
        expect(d.cumulativeShare).toBe(six(running));
      }
      expect(deciles[deciles.length - 1].cumulativeShare).toBe('1.000000');
    }
  });

  it('are part of every segmentation result, and agree with the customer list', () => {
    const rows = customers(9, 300);
    const res = runSegment(rows, { seed: 1 });
    const list = [...customerSegments(res)];
    expect(list).toHaveLength(300);
    for (const d of res.summary.clvDeciles) {
      expect(list.filter((c) => c.clvDecile === d.decile)).toHaveLength(d.customers);
    }
    for (const s of res.summary.rfm) {
      expect(list.filter((c) => c.rfmSegment === s.segment)).toHaveLength(s.customers);
    }
  });
});
