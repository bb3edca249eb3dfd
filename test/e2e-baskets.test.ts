/**
 * Orders and baskets end to end with real processes: a retail file from `generate --layout
 * retail`, counted over many small chunks, against a plain SQL self-join over the file's rows;
 * the planted co-purchase pairs; `basket` output; a crashed worker and a killed coordinator with
 * --resume (nothing counted twice); a file whose orders are scattered, counted in a second pass,
 * also with failing chunks and a coordinator killed and resumed during that pass.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planRetail } from '../src/generate/retail-plan.js';
import {
  cli,
  faultWorker,
  killAll,
  listeningPort,
  query,
  sleep,
  tmpDir,
  untilChunksDone,
} from './helpers/e2e.js';

const ROWS = 30_000;
const CUSTOMERS = 3_000;
const PRODUCTS = 200;
const SEED = 5;

let dir: string;
let csv: string;
let lines: Record<string, string>[];

function cents(text: string): bigint {
  const [i, f = ''] = text.split('.');
  return BigInt(i + f.padEnd(2, '0'));
}

interface Expected {
  orders: number;
  lines: number;
  value: string;
  items: Map<string, number>;
  pairs: Map<string, number>;
  sizes: Map<string, number>;
}

/** The self-join: the file's rows loaded into SQLite, supports and pairs counted by SQL alone. */
function selfJoin(rows: Record<string, string>[], item: string): Expected {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE line (order_id TEXT, item TEXT, cents INTEGER)');
  const ins = db.prepare('INSERT INTO line VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const r of rows) ins.run(r.order_id, r[item], cents(r.price) * BigInt(r.quantity));
  })();
  const one = db.prepare('SELECT COUNT(DISTINCT order_id) AS o, COUNT(*) AS l, SUM(cents) AS v FROM line');
  const t = one.get() as { o: number; l: number; v: number };
  const items = new Map(
    (
      db.prepare('SELECT item, COUNT(DISTINCT order_id) AS n FROM line GROUP BY item').all() as {
        item: string;
        n: number;
      }[]
    ).map((r) => [r.item, r.n]),
  );
  const pairs = new Map(
    (
      db
        .prepare(
          `SELECT a.item AS a, b.item AS b, COUNT(DISTINCT a.order_id) AS n
           FROM line a JOIN line b ON a.order_id = b.order_id AND a.item < b.item GROUP BY 1, 2`,
        )
        .all() as { a: string; b: string; n: number }[]
    ).map((r) => [`${r.a}|${r.b}`, r.n]),
  );
  const sizes = new Map(
    (
      db
        .prepare(
          `SELECT 'lines' AS m, n AS size, COUNT(*) AS orders FROM (SELECT COUNT(*) AS n FROM line GROUP BY order_id) GROUP BY n
           UNION ALL
           SELECT 'items', n, COUNT(*) FROM (SELECT COUNT(DISTINCT item) AS n FROM line GROUP BY order_id) GROUP BY n`,
        )
        .all() as { m: string; size: number; orders: number }[]
    ).map((r) => [`${r.m}:${r.size}`, r.orders]),
  );
  db.close();
  const v = String(t.v).padStart(3, '0');
  return { orders: t.o, lines: t.l, value: `${v.slice(0, -2)}.${v.slice(-2)}`, items, pairs, sizes };
}

function stored(db: string, runId = 1): Expected {
  const [s] = query<{ orders: number; lines: number; value: string; non_contiguous: number }>(
    db,
    'SELECT * FROM orders_summary WHERE run_id = ?',
    runId,
  );
  expect(s.non_contiguous).toBe(0);
  return {
    orders: s.orders,
    lines: s.lines,
    value: s.value,
    items: new Map(
      query<{ item: string; orders: number }>(
        db,
        'SELECT item, orders FROM basket_items WHERE run_id = ?',
        runId,
      ).map((r) => [r.item, r.orders]),
    ),
    pairs: new Map(
      query<{ item_a: string; item_b: string; orders: number }>(
        db,
        'SELECT item_a, item_b, orders FROM basket_pairs WHERE run_id = ?',
        runId,
      ).map((r) => [`${r.item_a}|${r.item_b}`, r.orders]),
    ),
    sizes: new Map(
      query<{ measure: string; size: number; orders: number }>(
        db,
        'SELECT measure, size, orders FROM order_sizes WHERE run_id = ?',
        runId,
      ).map((r) => [`${r.measure}:${r.size}`, r.orders]),
    ),
  };
}

const sortMap = <V>(m: Map<string, V>) => new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const norm = (e: Expected) => ({
  ...e,
  items: sortMap(e.items),
  pairs: sortMap(e.pairs),
  sizes: sortMap(e.sizes),
});

let byProduct: Expected;
let byCategory: Expected;

beforeAll(async () => {
  dir = tmpDir();
  csv = path.join(dir, 'retail.csv');
  const g = cli([
    ...['generate', '--layout', 'retail', '--rows', String(ROWS), '--customers', String(CUSTOMERS)],
    ...['--products', String(PRODUCTS), '--seed', String(SEED), '--out', csv, '--quiet'],
  ]);
  expect(await g.exit, g.err()).toBe(0);
  lines = parse(fs.readFileSync(csv), { columns: true }) as Record<string, string>[];
  byProduct = norm(selfJoin(lines, 'product'));
  byCategory = norm(selfJoin(lines, 'category'));
}, 120_000);
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('orders and baskets end to end', () => {
  it('products over many 16 KiB chunks equal the SQL self-join, and the planted pairs have lift > 1', async () => {
    const db = path.join(dir, 'product.db');
    const r = cli([
      ...['run', csv, '--workers', '2', '--chunk-size', '16KiB', '--db', db, '--quiet'],
      ...['--order', 'order_id', '--item', 'product'],
    ]);
    expect(await r.exit, r.err()).toBe(0);
    expect(norm(stored(db))).toEqual(byProduct);
    expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n).toBe(0);
    // Chunk edges cut orders: some were stitched by the coordinator.
    expect(query<{ n: number }>(db, 'SELECT shipped_orders AS n FROM orders_summary')[0].n).toBeGreaterThan(
      10,
    );

    const plan = planRetail({ rows: ROWS, customers: CUSTOMERS, products: PRODUCTS, seed: SEED });
    expect(plan.affinities.length).toBeGreaterThan(0);
    const b = cli(['basket', '--db', db, '--json', '--limit', '1000000']);
    expect(await b.exit, b.err()).toBe(0);
    const out = JSON.parse(b.out()) as {
      runId: number;
      orders: number;
      items: number;
      rules: {
        antecedent: string;
        consequent: string;
        orders: number;
        support: number;
        confidence: number;
        lift: number;
      }[];
    };
    expect(out.runId).toBe(1);
    expect(out.orders).toBe(byProduct.orders);
    expect(out.items).toBe(byProduct.items.size);
    expect(out.rules.length).toBe(2 * byProduct.pairs.size);
    for (const { anchor, partner } of plan.affinities) {
      const a = plan.products[anchor].name;
      const p = plan.products[partner].name;
      const rule = out.rules.find((x) => x.antecedent === a && x.consequent === p);
      expect(rule, `${a} → ${p}`).toBeDefined();
      expect(rule?.lift, `${a} → ${p}`).toBeGreaterThan(1);
      // The ratios come from the exact counts.
      const n = byProduct.orders;
      const na = byProduct.items.get(a) as number;
      const np = byProduct.items.get(p) as number;
      const key = a < p ? `${a}|${p}` : `${p}|${a}`;
      const both = byProduct.pairs.get(key) as number;
      expect(rule).toEqual({
        antecedent: a,
        consequent: p,
        orders: both,
        support: both / n,
        confidence: both / na,
        lift: (both * n) / (na * np),
      });
    }
    // Best first.
    const lifts = out.rules.map((x) => x.lift);
    expect(lifts).toEqual([...lifts].sort((x, y) => y - x));
  }, 180_000);

  it('categories with --basket-items 4: every item counted, pairs among the 4 most frequent only', async () => {
    const db = path.join(dir, 'category.db');
    const r = cli([
      ...['run', csv, '--workers', '2', '--chunk-size', '64KiB', '--db', db],
      ...['--order', 'order_id', '--item', 'category', '--basket-items', '4'],
    ]);
    expect(await r.exit, r.err()).toBe(0);
    expect(r.out()).toMatch(/6 item\(s\) left out of the pair counts/);
    const got = norm(stored(db));
    expect({ ...got, pairs: null }).toEqual({ ...byCategory, pairs: null });
    const top = new Set(
      [...byCategory.items]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, 4)
        .map(([i]) => i),
    );
    const want = new Map([...byCategory.pairs].filter(([k]) => k.split('|').every((i) => top.has(i))));
    expect(want.size).toBe(6);
    expect(got.pairs).toEqual(want);

    const c = cli(['basket', '--db', db, '--csv', '--by', 'confidence', '--limit', '3']);
    expect(await c.exit, c.err()).toBe(0);
    const rows = c.out().trim().split('\n');
    expect(rows[0]).toBe('antecedent,consequent,orders,support,confidence,lift');
    expect(rows).toHaveLength(4);
    const conf = rows.slice(1).map((l) => Number(l.split(',')[4]));
    expect(conf).toEqual([...conf].sort((a, b) => b - a));
    const charts = path.join(dir, 'charts');
    const e = cli(['eda', '--db', db, '--out', charts, '--quiet']);
    expect(await e.exit, e.err()).toBe(0);
    for (const f of ['basket-rules.png', 'basket-cooccurrence.png', 'order-sizes.png'])
      expect(fs.statSync(path.join(charts, f)).size, f).toBeGreaterThan(10_000);
    expect(fs.readFileSync(path.join(charts, 'index.html'), 'utf8')).toMatch(/Top basket rules by lift/);
    const t = cli(['basket', '--db', db, '--min-lift', '1000']);
    expect(await t.exit, t.err()).toBe(0);
    expect(t.out()).toMatch(/no rule passes the thresholds/);
  }, 180_000);

  it('50 categories (generate --categories 50): category baskets equal the self-join, planted pairs found', async () => {
    const file = path.join(dir, 'retail50.csv');
    const g = cli([
      ...['generate', '--layout', 'retail', '--rows', String(ROWS), '--customers', String(CUSTOMERS)],
      ...[
        '--products',
        String(PRODUCTS),
        '--categories',
        '50',
        '--seed',
        String(SEED),
        '--out',
        file,
        '--quiet',
      ],
    ]);
    expect(await g.exit, g.err()).toBe(0);
    const rows = parse(fs.readFileSync(file), { columns: true }) as Record<string, string>[];
    const want = norm(selfJoin(rows, 'category'));
    expect(want.items.size).toBe(50);
    const db = path.join(dir, 'fifty.db');
    const base = [
      'run',
      file,
      '--workers',
      '2',
      '--chunk-size',
      '64KiB',
      '--db',
      db,
      '--quiet',
      '--order',
      'order_id',
    ];
    const r = cli([...base, '--item', 'category']);
    expect(await r.exit, r.err()).toBe(0);
    expect(norm(stored(db, 1))).toEqual(want);
    const p = cli([...base, '--item', 'product']);
    expect(await p.exit, p.err()).toBe(0);
    const b = cli(['basket', '--db', db, '--run', '2', '--json', '--limit', '1000000']);
    expect(await b.exit, b.err()).toBe(0);
    const rules = (
      JSON.parse(b.out()) as { rules: { antecedent: string; consequent: string; lift: number }[] }
    ).rules;
    const plan = planRetail({
      rows: ROWS,
      customers: CUSTOMERS,
      products: PRODUCTS,
      categories: 50,
      seed: SEED,
    });
    expect(plan.affinities.length).toBeGreaterThan(5);
    for (const { anchor, partner } of plan.affinities) {
      const a = plan.products[anchor].name;
      const q = plan.products[partner].name;
      const rule = rules.find((x) => x.antecedent === a && x.consequent === q);
      expect(rule?.lift, `${a} → ${q}`).toBeGreaterThan(1);
    }
  }, 180_000);

  it('a run without baskets: basket says how to get them, exit 2', async () => {
    const db = path.join(dir, 'plain.db');
    const r = cli(['run', csv, '--workers', '1', '--db', db, '--quiet']);
    expect(await r.exit, r.err()).toBe(0);
    expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM orders_summary')[0].n).toBe(0);
    const b = cli(['basket', '--db', db, '--run', '1']);
    expect(await b.exit).toBe(2);
    expect(b.err()).toMatch(/--order <col> --item <col>/);
    const l = cli(['basket', '--db', db]);
    expect(await l.exit).toBe(2);
    expect(l.err()).toMatch(/no run with baskets/);
  }, 120_000);

  it('a crashed worker and a killed coordinator resumed: nothing counted twice', async () => {
    const db = path.join(dir, 'faults.db');
    const args = ['--order', 'order_id', '--item', 'product', '--chunk-size', '16KiB'];
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, ...args]);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    // The crashing worker runs alone until it dies holding chunk 4 (and maybe another lease).
    const crash = faultWorker(address, 'crash', { FAULT_CRASH_CHUNK: 4 });
    expect(await crash.exit).toBe(9);
    const w1 = faultWorker(address, 'k1', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 30 });
    await untilChunksDone(db, 8, 400);
    c.child.kill('SIGKILL');
    await c.exit;
    const spilled = query<{ n: number }>(
      db,
      "SELECT COUNT(DISTINCT chunk_id) AS n FROM cell_runs WHERE kind = 'basket'",
    )[0].n;
    expect(spilled).toBeGreaterThan(0);
    const again = cli(['coordinator', csv, '--port', String(port), '--db', db, '--resume']);
    const w2 = faultWorker(address, 'k2', { FAULT_RETRY_FOR: 30 });
    expect(await again.exit, again.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(norm(stored(db))).toEqual(byProduct);
  }, 240_000);

  it("a resumed run whose spill holds an older worker's name-keyed pairs is refused, not counted short", async () => {
    const db = path.join(dir, 'older.db');
    const args = ['--order', 'order_id', '--item', 'product', '--chunk-size', '64KiB'];
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, ...args]);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    const w = faultWorker(address, 'o1', { FAULT_DELAY_MS: 100, FAULT_RETRY_FOR: 30 });
    await untilChunksDone(db, 2, 600);
    c.child.kill('SIGKILL');
    await c.exit;
    const d = new Database(db);
    d.prepare(
      `INSERT INTO cell_runs (run_id, chunk_id, kind, name, seq, off, len, crc)
       SELECT run_id, chunk_id, kind, 'pairs', seq, off, len, crc FROM cell_runs WHERE name = 'pair-ranks' LIMIT 1`,
    ).run();
    d.close();
    const again = cli(['coordinator', csv, '--port', String(port), '--db', db, '--resume']);
    expect(await again.exit).toBe(2);
    expect(again.err()).toMatch(/item pairs spilled by an older salesgrid/);
    await w.exit;
  }, 120_000);

  it('scattered orders: a second pass counts them exactly, says why, and basket prints rules', async () => {
    const shuffled = shuffledCopy();
    const db = path.join(dir, 'shuffled.db');
    const base = [
      'run',
      shuffled,
      '--workers',
      '2',
      '--chunk-size',
      '64KiB',
      '--db',
      db,
      '--order',
      'order_id',
    ];
    const r = cli([...base, '--item', 'category']);
    expect(await r.exit, r.err()).toBe(0);
    expect(r.out()).toMatch(
      /baskets: counted in a second pass over the file, with every order's items sent to the coordinator: the first pass found [\d,]+ order id\(s\) in more than one chunk/,
    );
    expect(r.err()).toMatch(/counting again in a second pass/);
    expect(r.out()).not.toMatch(/run again/);
    expect(norm(stored(db, 1))).toEqual(byCategory);
    // Every row counted once: the first pass's totals were dropped with its chunks.
    const [run] = query<{ rows: number; status: string }>(db, 'SELECT rows, status FROM runs WHERE id = 1');
    expect(run).toEqual({ rows: lines.length, status: 'done' });
    expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n).toBe(0);
    const b = cli(['basket', '--db', db, '--run', '1', '--json', '--limit', '1000']);
    expect(await b.exit, b.err()).toBe(0);
    const out = JSON.parse(b.out()) as { orders: number; rules: { lift: number }[] };
    expect(out.orders).toBe(byCategory.orders);
    expect(out.rules.length).toBe(2 * byCategory.pairs.size);

    // --orders-scattered ships every order from the start: one pass, the same counts.
    const s = cli([...base, '--item', 'category', '--orders-scattered', '--json']);
    expect(await s.exit, s.err()).toBe(0);
    const summary = JSON.parse(s.out()) as { baskets: { secondPass?: unknown; orders: number } };
    expect(summary.baskets.secondPass).toBeUndefined();
    expect(summary.baskets.orders).toBe(byCategory.orders);
    expect(s.err()).not.toMatch(/second pass/);
    expect(norm(stored(db, 2))).toEqual(byCategory);
  }, 180_000);

  it('scattered orders with failing chunks and a killed coordinator in the second pass: nothing counted twice', async () => {
    const shuffled = shuffledCopy();
    const db = path.join(dir, 'shuffled-faults.db');
    const first = fastCuts(shuffled, 64 * 1024);
    // The second pass cuts the file again under fresh ids, from `first` on: each worker refuses
    // each of six chunks the first time it is handed one, so every one of them fails at least once.
    const refuse = [3, 4, 5, 6, 7, 8].map((k) => first + k);
    const args = [
      '--order',
      'order_id',
      '--item',
      'product',
      '--chunk-size',
      '64KiB',
      '--max-attempts',
      '20',
    ];
    const c = cli(['coordinator', shuffled, '--port', '0', '--db', db, ...args]);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    const env = {
      FAULT_DELAY_MS: 15,
      FAULT_RETRY_FOR: 30,
      FAULT_FAIL_CHUNK: refuse.join(','),
      FAULT_FAIL_ONCE: 1,
    };
    const w1 = faultWorker(address, 'f1', env);
    const w2 = faultWorker(address, 'f2', env);
    const secondPassDone = () =>
      fs.existsSync(db)
        ? query<{ n: number }>(
            db,
            `SELECT COUNT(*) AS n FROM chunks c JOIN runs r ON r.id = c.run_id
             WHERE json_extract(r.options, '$.secondPass') IS NOT NULL AND c.status = 'done' AND c.chunk_id > ?`,
            first + 10,
          )[0].n
        : 0;
    const refused = () =>
      fs.existsSync(db)
        ? query<{ id: number }>(
            db,
            `SELECT DISTINCT chunk_id AS id FROM attempts WHERE outcome = 'failed' AND chunk_id IN (${refuse.join(',')}) ORDER BY 1`,
          ).map((r) => r.id)
        : [];
    // Killed once every refusal is on record and the second pass has gone past them.
    for (let i = 0; i < 1200 && (secondPassDone() < 3 || refused().length < refuse.length); i++)
      await sleep(50);
    expect(secondPassDone()).toBeGreaterThanOrEqual(3);
    expect(refused()).toEqual(refuse);
    c.child.kill('SIGKILL');
    await c.exit;
    // --orders-scattered is what the second pass does, so --resume accepts it with the run's columns.
    const resume = [
      '--resume',
      '--max-attempts',
      '20',
      '--order',
      'order_id',
      '--item',
      'product',
      '--orders-scattered',
    ];
    const again = cli(['coordinator', shuffled, '--port', String(port), '--db', db, ...resume]);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    // The resumed coordinator still says why the baskets took a second pass.
    expect(again.out()).toMatch(/counted in a second pass over the file/);
    expect(norm(stored(db))).toEqual(byProduct);
    const [run] = query<{ rows: number }>(db, 'SELECT rows FROM runs WHERE id = 1');
    expect(run.rows).toBe(lines.length);
    // The second pass's chunks tile the file under their own ids; the refused ones counted on a retry.
    const ids = query<{ lo: number; n: number }>(db, 'SELECT MIN(chunk_id) AS lo, COUNT(*) AS n FROM chunks');
    expect(ids[0]).toEqual({ lo: first, n: first });
    for (const id of refuse)
      expect(
        query<{ status: string }>(db, 'SELECT status FROM chunks WHERE chunk_id = ?', id)[0].status,
      ).toBe('done');
  }, 240_000);
});

/** How many chunks fast cuts make of a file without quotes: each ends at the last line end within `size`. */
function fastCuts(file: string, size: number): number {
  const buf = fs.readFileSync(file);
  let pos = buf.indexOf(10) + 1;
  let n = 0;
  while (pos < buf.length) {
    const end = pos + size >= buf.length ? buf.length : buf.lastIndexOf(10, pos + size - 1) + 1;
    pos = end;
    n++;
  }
  return n;
}

/** A fixed shuffle of the file's lines: most orders end up in several chunks. */
function shuffledCopy(): string {
  const out = path.join(dir, 'shuffled.csv');
  if (fs.existsSync(out)) return out;
  const text = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
  const body = text.slice(1);
  for (let i = body.length - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1);
    [body[i], body[j]] = [body[j], body[i]];
  }
  fs.writeFileSync(out, `${text[0]}\n${body.join('\n')}\n`);
  return out;
}
