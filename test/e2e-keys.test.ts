/**
 * Keyed aggregation end to end, with real processes: star-schema files from `generate --layout
 * star`, marts and dimensions with many keys checked cell by cell against an independent
 * computation (csv-parse and BigInt), `top` from the index, a run whose keys outgrow a small heap,
 * and exactly-once through a killed coordinator and --resume.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { martCells } from '../src/db/mart-blocks.js';
import { Store } from '../src/db/store.js';
import { cli, faultWorker, killAll, listeningPort, query, tmpDir, untilChunksDone } from './helpers/e2e.js';

let dir: string;
let csv: string;
let ref: { marts: Map<string, [number, number, bigint]>; dims: Map<string, [number, number, bigint]> };

function cents(text: string): bigint {
  const [i, f = ''] = text.split('.');
  return BigInt(i + f.padEnd(2, '0'));
}

/** Per (month, customer) and per customer: rows, units, revenue in cents, from the file directly. */
function reference(file: string): typeof ref {
  const records = parse(fs.readFileSync(file), { columns: true }) as Record<string, string>[];
  const marts = new Map<string, [number, number, bigint]>();
  const dims = new Map<string, [number, number, bigint]>();
  for (const r of records) {
    const units = Number(r.quantity);
    const revenue = cents(r.price) * BigInt(units);
    for (const [map, id] of [
      [marts, `${r.sales_date.slice(0, 7)}|${r.customer_id}`],
      [dims, r.customer_id],
    ] as const) {
      const c = map.get(id) ?? [0, 0, 0n];
      map.set(id, [c[0] + 1, c[1] + units, c[2] + revenue]);
    }
  }
  return { marts, dims };
}

/** The stored marts and dimensions in the reference's shape. */
function stored(db: string): typeof ref {
  const marts = new Map<string, [number, number, bigint]>();
  const store = Store.openReadOnly(db);
  try {
    const runId = store.latestRun()?.id ?? -1;
    for (const c of martCells(store.prep, runId, 'customer_id'))
      marts.set(`${c.month}|${c.key}`, [c.rows, Number(c.units), c.revenue]);
  } finally {
    store.close();
  }
  const dims = new Map<string, [number, number, bigint]>();
  for (const r of query<{ key: string; rows: number; units: string; revenue: string }>(
    db,
    "SELECT key, rows, units, revenue FROM dimensions WHERE dimension = 'customer_id'",
  ))
    dims.set(r.key, [r.rows, Number(r.units), cents(r.revenue)]);
  return { marts, dims };
}

async function generateStar(file: string, rows: number, customers: number, seed: number): Promise<void> {
  const g = cli([
    'generate',
    '--layout',
    'star',
    '--rows',
    String(rows),
    '--customers',
    String(customers),
    '--seed',
    String(seed),
    '--out',
    file,
    '--quiet',
  ]);
  expect(await g.exit, g.err()).toBe(0);
}

beforeAll(async () => {
  dir = tmpDir();
  csv = path.join(dir, 'star.csv');
  await generateStar(csv, 20_000, 6_000, 11);
  ref = reference(csv);
}, 60_000);
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MARTS = ['--mart', 'customer_id', '--dimension', 'customer_id'];

describe('keyed cells end to end', () => {
  it('generate --layout star: the fixture columns, exactly N customers, skewed purchases', () => {
    const lines = fs.readFileSync(csv, 'utf8').split('\n');
    expect(lines[0]).toBe('customer_id,store_id,sales_date,sales_person_id,price,quantity,total_cost');
    expect(ref.dims.size).toBe(6_000);
    const counts = [...ref.dims.values()].map((c) => c[0]).sort((a, b) => b - a);
    // A few customers buy often, most rarely: the top 1% hold far more than 1% of the rows.
    const top = counts.slice(0, 60).reduce((a, b) => a + b, 0);
    expect(top / 20_000).toBeGreaterThan(0.1);
    expect(counts[3_000]).toBeLessThanOrEqual(2);
    const months = new Set(lines.slice(1, -1).map((l) => l.split(',')[2].slice(0, 7)));
    expect(months.size).toBe(24);
  });

  it('marts and dimensions over many small chunks equal the independent computation, and top reads the index', async () => {
    const db = path.join(dir, 'run.db');
    const r = cli(['run', csv, '--workers', '2', '--chunk-size', '16KiB', '--db', db, '--quiet', ...MARTS]);
    expect(await r.exit, r.err()).toBe(0);
    const got = stored(db);
    expect(got.marts.size).toBe(ref.marts.size);
    expect(got.marts).toEqual(ref.marts);
    expect(got.dims).toEqual(ref.dims);
    expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n).toBe(0);

    const t = cli(['top', 'customer_id', '--per', 'month', '--limit', '3', '--db', db, '--json']);
    expect(await t.exit, t.err()).toBe(0);
    const { rows } = JSON.parse(t.out()) as {
      rows: { period: string; rank: number; key: string; revenue: string }[];
    };
    const want: { period: string; rank: number; key: string; revenue: string }[] = [];
    const byMonth = new Map<string, [string, bigint][]>();
    for (const [id, [, , rev]] of ref.marts) {
      const [month, key] = id.split('|');
      byMonth.set(month, [...(byMonth.get(month) ?? []), [key, rev]]);
    }
    for (const month of [...byMonth.keys()].sort()) {
      const ranked = (byMonth.get(month) ?? []).sort(([ka, a], [kb, b]) =>
        a === b ? (ka < kb ? -1 : 1) : a > b ? -1 : 1,
      );
      ranked.slice(0, 3).forEach(([key, rev], i) => {
        const s = rev.toString().padStart(3, '0');
        want.push({ period: month, rank: i + 1, key, revenue: `${s.slice(0, -2)}.${s.slice(-2)}` });
      });
    }
    expect(rows.map(({ period, rank, key, revenue }) => ({ period, rank, key, revenue }))).toEqual(want);
  }, 120_000);

  it('a mart closed by two processes at once (split at a pivot; whole in a child beside the customers) equals the reference', async () => {
    for (const customers of [['--no-customers'], []]) {
      const db = path.join(dir, `split${customers.length}.db`);
      const r = cli(
        [
          'run',
          csv,
          '--workers',
          '2',
          '--chunk-size',
          '64KiB',
          '--db',
          db,
          '--quiet',
          '--json',
          ...MARTS,
          // A second mart: two children start at once.
          '--mart',
          'store_id',
          ...customers,
        ],
        {
          SALESGRID_END_SPLIT: '1',
        },
      );
      expect(await r.exit, r.err()).toBe(0);
      expect(r.err()).not.toContain('parallel merge');
      // Each mart's close had a child (a machine with one core would merge here and fail this).
      const { mergeChildren } = JSON.parse(r.out()) as { mergeChildren: { mart: string }[] };
      expect(mergeChildren.map((m) => m.mart).sort()).toEqual(['customer_id', 'store_id']);
      // The second mart counts every row once, as the first does.
      const store = Store.openReadOnly(db);
      let storeRows = 0;
      for (const c of martCells(store.prep, store.latestRun()?.id ?? -1, 'store_id')) storeRows += c.rows;
      store.close();
      expect(storeRows).toBe([...ref.dims.values()].reduce((n, c) => n + c[0], 0));
      const got = stored(db);
      expect(got.marts).toEqual(ref.marts);
      expect(got.dims).toEqual(ref.dims);
      expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n).toBe(0);
      expect(fs.readdirSync(dir).filter((f) => f.includes('-merge-'))).toEqual([]);
    }
  }, 120_000);

  it('more keys than the old in-memory merge could hold, in a 16 MB heap per process', async () => {
    // Before keyed cells, a coordinator with this heap ran out of memory on 150,000 customers.
    const big = path.join(dir, 'many.csv');
    await generateStar(big, 180_000, 150_000, 3);
    const db = path.join(dir, 'many.db');
    const r = cli(['run', big, '--workers', '2', '--chunk-size', '1MiB', '--db', db, '--quiet', ...MARTS], {
      NODE_OPTIONS: '--max-old-space-size=16',
    });
    expect(await r.exit, r.err()).toBe(0);
    const [m] = query<{ keys: number; cells: number }>(
      db,
      "SELECT keys, cells FROM mart_info WHERE mart = 'customer_id'",
    );
    expect(m.keys).toBe(150_000);
    let rows = 0;
    const store = Store.openReadOnly(db);
    for (const c of martCells(store.prep, store.latestRun()?.id ?? -1, 'customer_id')) rows += c.rows;
    store.close();
    expect(rows).toBe(180_000);
    const [d] = query<{ keys: number; rows: number }>(
      db,
      'SELECT COUNT(*) AS keys, SUM(rows) AS rows FROM dimensions',
    );
    expect(d).toEqual({ keys: 150_000, rows: 180_000 });
  }, 240_000);

  it('after a machine crash, done chunks whose spilled cells were lost are counted again on --resume', async () => {
    const db = path.join(dir, 'lost.db');
    // Bad rows between the good ones: a recounted chunk must not record its rejects twice.
    const lines = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
    const withBad = lines.flatMap((l, i) =>
      i > 0 && i % 97 === 0 ? [l, 'C1,1,2020-01-01,1,oops,1,1'] : [l],
    );
    const bad = withBad.length - lines.length;
    const file = path.join(dir, 'lost.csv');
    fs.writeFileSync(file, `${withBad.join('\n')}\n`);
    const c = cli(['coordinator', file, '--port', '0', '--db', db, '--chunk-size', '16KiB', ...MARTS]);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    const w1 = faultWorker(address, 'l1', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 30 });
    await c.waitFor(/worker l1 joined/);
    expect(await untilChunksDone(db, 4)).toBeGreaterThanOrEqual(4);
    c.child.kill('SIGKILL');
    await c.exit;
    // What a power cut can leave: the database's rows, but the spill file's tail never written.
    const spill = `${db}-spill-1`;
    const [{ off }] = query<{ off: number }>(
      db,
      "SELECT MIN(r.off) AS off FROM cell_runs r JOIN chunks c USING (run_id, chunk_id) WHERE c.status = 'done' AND r.chunk_id > (SELECT MIN(chunk_id) FROM chunks WHERE status = 'done')",
    );
    fs.truncateSync(spill, off + 10);
    const again = cli(['coordinator', file, '--port', String(port), '--db', db, '--resume']);
    expect(await again.exit, again.err()).toBe(0);
    expect(again.err()).toMatch(/the keyed cells of \d+ done chunk\(s\) were lost/);
    expect(await w1.exit).toBe(0);
    const got = stored(db);
    expect(got.marts).toEqual(ref.marts);
    expect(got.dims).toEqual(ref.dims);
    expect(query(db, 'SELECT rejected, (SELECT SUM(count) FROM rejects) AS listed FROM runs')).toEqual([
      { rejected: bad, listed: bad },
    ]);
    expect(fs.existsSync(spill)).toBe(false);
  }, 180_000);

  it('a coordinator killed mid-run and resumed counts every chunk’s cells exactly once', async () => {
    const db = path.join(dir, 'resume.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '16KiB', ...MARTS]);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    const w1 = faultWorker(address, 'k1', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 30 });
    const w2 = faultWorker(address, 'k2', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 30 });
    await c.waitFor(/worker k1 joined/);
    await c.waitFor(/worker k2 joined/);
    // Kill once some chunks (and their cell runs) are committed, but not all.
    expect(await untilChunksDone(db, 3)).toBeGreaterThanOrEqual(3);
    c.child.kill('SIGKILL');
    await c.exit;
    const spilled = query<{ n: number }>(db, 'SELECT COUNT(DISTINCT chunk_id) AS n FROM cell_runs')[0].n;
    expect(spilled).toBeGreaterThan(0);
    const again = cli(['coordinator', csv, '--port', String(port), '--db', db, '--resume']);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    const got = stored(db);
    expect(got.marts).toEqual(ref.marts);
    expect(got.dims).toEqual(ref.dims);
  }, 180_000);
});
