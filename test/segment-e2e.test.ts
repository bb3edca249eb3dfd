/**
 * `salesgrid segment` end to end: generate --layout retail → run (worker processes) → segment.
 * The planted personas are found, lifetime-value deciles match an independent csv-parse + BigInt
 * NTILE(10), the same seed gives the same segments, the tables are replaced on a re-run, and bad
 * input gets one clear message.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIG_SPENDER, LAPSED, ONE_TIME, planRetail, SINGLE_CATEGORY } from '../src/generate/retail-plan.js';
import { referenceCustomers } from './helpers/customer-reference.js';
import { cli, killAll, tmpDir } from './helpers/e2e.js';

const OPTS = { rows: 120_000, customers: 3_000, products: 200, seed: 23 };
const dir = tmpDir();
const csv = path.join(dir, 'retail.csv');
const db = path.join(dir, 'retail.db');

interface SegmentJson {
  runId: number;
  customers: number;
  k: number | null;
  silhouette: number | null;
  explainedVariance: number[];
  clusters: { cluster: number; customers: number; revenue: string; label: string; profile: object }[];
  rfm: { segment: string; customers: number; revenue: string }[];
  clvDeciles: { decile: number; customers: number; revenue: string }[];
  refused?: { code: string; message: string };
}

async function ok(args: string[]): Promise<string> {
  const p = cli(args);
  const code = await p.exit;
  if (code !== 0) throw new Error(`salesgrid ${args.join(' ')} exited ${code}:\n${p.err()}`);
  return p.out();
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

let json: SegmentJson;
let csvOut: string;

beforeAll(async () => {
  await ok(
    [
      'generate',
      '--layout',
      'retail',
      ...Object.entries(OPTS).flatMap(([k, v]) => [`--${k}`, String(v)]),
    ].concat(['--out', csv, '--quiet']),
  );
  await ok(['run', csv, '--db', db, '--workers', '2', '--chunk-size', '256KiB', '--quiet']);
  json = JSON.parse(await ok(['segment', '--db', db, '--seed', '5', '--json']));
  csvOut = await ok(['segment', '--db', db, '--seed', '5', '--csv']);
}, 300_000);
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('segment on the retail layout', () => {
  it('prints the issue JSON shape with exact revenue strings', () => {
    expect(json.runId).toBe(1);
    expect(json.customers).toBe(OPTS.customers);
    expect(json.k).toBeGreaterThanOrEqual(3);
    expect(json.silhouette).toBeGreaterThan(0);
    expect(json.explainedVariance.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    for (const c of json.clusters) expect(c.revenue).toMatch(/^-?\d+\.\d{2}$/);
    for (const r of json.rfm) expect(r.revenue).toMatch(/^-?\d+\.\d{2}$/);
    expect(json.clvDeciles).toHaveLength(10);
  });

  it('finds the planted behaviours', () => {
    const persona = planRetail(OPTS).persona;
    const lines = csvOut.trim().split('\n').slice(1);
    expect(lines).toHaveLength(OPTS.customers);
    const byId = new Map(lines.map((l) => [l.split(',')[0], l.split(',')]));
    const found = (p: number, test: (f: string[]) => boolean) => {
      let n = 0;
      let hit = 0;
      persona.forEach((q, c) => {
        if (q !== p) return;
        n++;
        if (test(byId.get(String(c + 1)) as string[])) hit++;
      });
      return hit / n;
    };
    const report = json.clusters.map((c) => `${c.cluster} ${c.customers} ${c.label}`).join('\n');
    expect(
      found(BIG_SPENDER, (f) => /high spenders/.test(f[2])),
      report,
    ).toBeGreaterThan(0.8);
    expect(
      found(BIG_SPENDER, (f) => f[4] === '1'),
      'big spenders in decile 1',
    ).toBeGreaterThan(0.9);
    expect(found(BIG_SPENDER, (f) => f[3] === 'Champions' || f[3] === 'Loyal')).toBeGreaterThan(0.8);
    expect(
      found(ONE_TIME, (f) => /one-time/.test(f[2])),
      report,
    ).toBeGreaterThan(0.9);
    expect(
      found(LAPSED, (f) => /lapsed/.test(f[2])),
      report,
    ).toBeGreaterThan(0.8);
    expect(
      found(SINGLE_CATEGORY, (f) => /only$/.test(f[2])),
      report,
    ).toBeGreaterThan(0.8);
  });

  it('lifetime-value deciles match an independent NTILE(10) over csv-parse + BigInt revenue', () => {
    const ref = referenceCustomers(csv, undefined, 2);
    const ids = [...ref.customers.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const order = ids
      .map((id, i) => ({ id, i, rev: (ref.customers.get(id) as { revenue: bigint }).revenue }))
      .sort((a, b) => (a.rev > b.rev ? -1 : a.rev < b.rev ? 1 : a.i - b.i));
    const n = order.length;
    const expected: { decile: number; customers: number; revenue: string }[] = [];
    const decileOf = new Map<string, number>();
    for (let d = 0, pos = 0; d < 10; d++) {
      const size = Math.floor(n / 10) + (d < n % 10 ? 1 : 0);
      let sum = 0n;
      for (let j = 0; j < size; j++, pos++) {
        sum += order[pos].rev;
        decileOf.set(order[pos].id, d + 1);
      }
      const s = sum.toString().padStart(3, '0');
      expected.push({ decile: d + 1, customers: size, revenue: `${s.slice(0, -2)}.${s.slice(-2)}` });
    }
    expect(json.clvDeciles.map(({ decile, customers, revenue }) => ({ decile, customers, revenue }))).toEqual(
      expected,
    );
    const stored = query<{ customer: string; clv_decile: number }>(
      'SELECT customer, clv_decile FROM customer_segments WHERE run_id = 1',
    );
    expect(stored).toHaveLength(n);
    for (const s of stored) expect(s.clv_decile).toBe(decileOf.get(s.customer));
  });

  it('the same seed gives the same segments; the tables are replaced, not appended', async () => {
    const again = await ok(['segment', '--db', db, '--seed', '5', '--csv']);
    expect(again).toBe(csvOut);
    expect(query<{ n: number }>('SELECT COUNT(*) AS n FROM customer_segments')[0].n).toBe(OPTS.customers);
    expect(query<{ n: number }>('SELECT COUNT(*) AS n FROM segments')[0].n).toBe(json.k);
    const human = await ok(['segment', '--db', db, '--seed', '5', '--k', '4']);
    expect(human).toMatch(/k = 4/);
    expect(human).toMatch(/RFM segments/);
    expect(query<{ n: number }>('SELECT COUNT(*) AS n FROM segments')[0].n).toBe(4);
    expect(query<{ k: number }>('SELECT k FROM segment_summaries WHERE run_id = 1')[0].k).toBe(4);
  }, 120_000);
});

describe('eda after segment', () => {
  it('draws the six segmentation charts into PNGs and index.html', async () => {
    const out = path.join(dir, 'charts');
    await ok(['eda', '--db', db, '--out', out, '--quiet']);
    const names = [
      'pca-explained-variance',
      'k-choice',
      'pca-scatter',
      'cluster-profiles',
      'rfm-segments',
      'clv-pareto',
    ];
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    for (const n of names) {
      const png = fs.readFileSync(path.join(out, `segments-${n}.png`));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
      expect(html).toContain(`id="segments-${n}"`);
    }
  }, 120_000);
});

describe('segment: bad input', () => {
  it('no customer column: names --customer and the detected names, exit 2', async () => {
    const plain = path.join(dir, 'plain.csv');
    fs.writeFileSync(plain, 'region,date,price,quantity\nEast,2024-01-02,1.50,2\nWest,2024-02-03,2.25,1\n');
    const pdb = path.join(dir, 'plain.db');
    await ok(['run', plain, '--db', pdb, '--workers', '1', '--quiet']);
    const p = cli(['segment', '--db', pdb]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(
      /run 1 has no customers.*customer_id, Customer ID, CustomerID, customer.*--customer COL/,
    );
  }, 60_000);

  it('fewer than 20 customers: segmentation refused, RFM and deciles still given', async () => {
    const small = path.join(dir, 'small.csv');
    const rows = ['customer_id,order_id,sales_date,price,quantity'];
    for (let i = 0; i < 30; i++)
      rows.push(`c${i % 7},o${i},2024-0${1 + (i % 9)}-1${i % 10},${10 + i}.25,${1 + (i % 3)}`);
    fs.writeFileSync(small, `${rows.join('\n')}\n`);
    const sdb = path.join(dir, 'small.db');
    await ok(['run', small, '--db', sdb, '--workers', '1', '--quiet']);
    const p = cli(['segment', '--db', sdb, '--json']);
    expect(await p.exit, p.err()).toBe(0);
    expect(p.err()).toMatch(/segmentation needs at least 20 customers, found 7/);
    const out = JSON.parse(p.out()) as SegmentJson;
    expect(out.k).toBeNull();
    expect(out.refused?.code).toBe('E_TOO_FEW_CUSTOMERS');
    expect(out.rfm.reduce((a, r) => a + r.customers, 0)).toBe(7);
    expect(out.clvDeciles.reduce((a, r) => a + r.customers, 0)).toBe(7);
  }, 60_000);

  it('option and database errors', async () => {
    const both = cli(['segment', '--db', db, '--json', '--csv']);
    expect(await both.exit).toBe(2);
    expect(both.err()).toMatch(/--json and --csv contradict/);
    const k = cli(['segment', '--db', db, '--k', '1']);
    expect(await k.exit).toBe(2);
    expect(k.err()).toMatch(/--k must be an integer from 2 to 50/);
    const none = cli(['segment', '--db', path.join(dir, 'missing.db')]);
    expect(await none.exit).toBe(2);
    expect(none.err()).toMatch(/no database at/);
    const run = cli(['segment', '--db', db, '--run', '9']);
    expect(await run.exit).toBe(2);
    expect(run.err()).toMatch(/no run 9/);
  }, 60_000);
});
