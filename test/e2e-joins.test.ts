/**
 * `--join` end to end with real processes on `generate --layout retail --with-dimensions`, with
 * dimension files that deliberately miss some ids: the join report (rows, distinct unmatched keys,
 * samples) and totals over joined attributes against an independent join (csv-parse + BigInt),
 * `top` with names, the size cap, bad tables, and exactly-once through a dropped worker (the
 * tables sent again to its new session), a killed coordinator and `--resume`, which refuses
 * another `--join` set.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  doneChunks,
  faultWorker,
  killAll,
  listeningPort,
  query,
  sleep,
  tmpDir,
  untilChunksDone,
} from './helpers/e2e.js';
import { cents, type Line, readLines } from './helpers/retail-facts.js';

let dir: string;
let csv: string;
let lines: Line[];
let stores: Map<string, Record<string, string>>;
let team: Map<string, Record<string, string>>;
const MISSING_STORES = new Set(['2', '5']);
const MISSING_TEAM = new Set(['3', '7', '20']);

type Sums = Map<string, [number, number, bigint]>;

function add(map: Sums, key: string, l: Line): void {
  const c = map.get(key) ?? [0, 0, 0n];
  map.set(key, [c[0] + 1, c[1] + l.quantity, c[2] + l.priceCents * BigInt(l.quantity)]);
}

/** The join done independently: per joined value, and the unmatched keys with their rows. */
function expected(attr: (l: Line) => string | undefined, key: (l: Line) => string) {
  const sums: Sums = new Map();
  const unmatched = new Map<string, number>();
  for (const l of lines) {
    const v = attr(l);
    add(sums, v ?? '(no match)', l);
    if (v === undefined) unmatched.set(key(l), (unmatched.get(key(l)) ?? 0) + 1);
  }
  return { sums, unmatched };
}

function storedDimension(db: string, name: string): Sums {
  const out: Sums = new Map();
  for (const r of query<{ key: string; rows: number; units: string; revenue: string }>(
    db,
    'SELECT key, rows, units, revenue FROM dimensions WHERE dimension = ?',
    name,
  ))
    out.set(r.key, [r.rows, Number(r.units), cents(r.revenue)]);
  return out;
}

interface Stat {
  name: string;
  factColumn: string;
  factRows: number;
  matchedRows: number;
  unmatchedRows: number;
  unmatchedKeys: number;
  sampleKeys: { key: string; rows: number }[];
}

function expectStat(stat: Stat | undefined, unmatched: Map<string, number>): void {
  const rows = [...unmatched.values()].reduce((a, b) => a + b, 0);
  expect(stat).toMatchObject({
    factRows: lines.length,
    matchedRows: lines.length - rows,
    unmatchedRows: rows,
    unmatchedKeys: unmatched.size,
  });
  const top = [...unmatched]
    .map(([key, n]) => ({ key, rows: n }))
    .sort((a, b) => b.rows - a.rows || (a.key < b.key ? -1 : 1))
    .slice(0, 5);
  expect(stat?.sampleKeys).toEqual(top);
}

const storeCity = (l: Line) => stores.get(String(l.store))?.city;
const storeRegion = (l: Line) => stores.get(String(l.store))?.region;
const storeKey = (l: Line) => String(l.store);

beforeAll(async () => {
  dir = tmpDir();
  csv = path.join(dir, 'retail.csv');
  const g = cli([
    ...['generate', '--layout', 'retail', '--rows', '30000', '--customers', '3000'],
    ...['--seed', '13', '--with-dimensions', '--out', csv, '--quiet'],
  ]);
  expect(await g.exit, g.err()).toBe(0);
  lines = readLines(csv);
  // Planted gaps: stores 2 and 5 and three sales people are missing from the tables joined.
  const storeText = fs.readFileSync(path.join(dir, 'stores.csv'), 'utf8').split('\n');
  fs.writeFileSync(
    path.join(dir, 'stores_part.csv'),
    storeText.filter((l, i) => i === 0 || !MISSING_STORES.has(l.split(',')[0])).join('\n'),
  );
  const teamText = fs.readFileSync(path.join(dir, 'sales_team.csv'), 'utf8').split('\n');
  fs.writeFileSync(
    path.join(dir, 'team.csv'),
    ['id,name,store_id', ...teamText.slice(1).filter((l) => !MISSING_TEAM.has(l.split(',')[0]))].join('\n'),
  );
  const table = (file: string, key: string) =>
    new Map(
      (parse(fs.readFileSync(path.join(dir, file)), { columns: true }) as Record<string, string>[]).map(
        (r) => [r[key], r],
      ),
    );
  stores = table('stores_part.csv', 'store_id');
  team = table('team.csv', 'id');
  expect(stores.size).toBeGreaterThanOrEqual(4);
  expect(new Set(lines.map((l) => String(l.store))).has('2')).toBe(true);
}, 120_000);

afterEach(() => killAll());

const JOINS = () => [
  ...['--join', `${path.join(dir, 'stores_part.csv')}:store_id`],
  ...['--join', `${path.join(dir, 'team.csv')}:sales_person_id=id`],
];
const COLUMNS = [
  '--dimension',
  'store_id.city',
  '--dimension',
  'store_id.region',
  '--mart',
  'sales_person_id',
];

describe('run --join', () => {
  it('reports unmatched keys and sums joined attributes exactly; top shows names', async () => {
    const db = path.join(dir, 'run.db');
    const run = cli([
      ...['run', csv, '--db', db, '--workers', '2', '--chunk-size', '64KiB', '--json'],
      ...JOINS(),
      ...COLUMNS,
    ]);
    expect(await run.exit, run.err()).toBe(0);
    const summary = JSON.parse(run.out()) as { status: string; joins: Stat[]; totals: { rows: number } };
    expect(summary.status).toBe('done');
    expect(summary.totals.rows).toBe(lines.length);
    const city = expected(storeCity, storeKey);
    expect(city.unmatched.size).toBe(2);
    expectStat(
      summary.joins.find((j) => j.name === 'stores_part'),
      city.unmatched,
    );
    const people = expected(
      (l) => team.get(String(l.salesPerson))?.name,
      (l) => String(l.salesPerson),
    );
    expect(people.unmatched.size).toBeGreaterThan(0);
    expectStat(
      summary.joins.find((j) => j.name === 'team'),
      people.unmatched,
    );
    expect(storedDimension(db, 'store_id.city')).toEqual(city.sums);
    expect(storedDimension(db, 'store_id.region')).toEqual(expected(storeRegion, storeKey).sums);

    // The same report from the database.
    const report = cli(['report', '--db', db, '--json']);
    expect(await report.exit).toBe(0);
    expect((JSON.parse(report.out()) as { joins: Stat[] }).joins).toEqual(summary.joins);
    const human = cli(['report', '--db', db]);
    expect(await human.exit).toBe(0);
    expect(human.out()).toMatch(/stores_part\s+store_id\s+30,000/);
    expect(human.out()).toMatch(/row\(s\) have a store_id with no row in stores_part/);

    // top: every key with its name from team.csv, or "(no match)" for the planted gaps.
    const top = cli(['top', 'sales_person_id', '--per', 'all', '--limit', '100', '--db', db, '--json']);
    expect(await top.exit, top.err()).toBe(0);
    const rows = (JSON.parse(top.out()) as { rows: { key: string; label: string; revenue: string }[] }).rows;
    expect(rows.length).toBe(new Set(lines.map((l) => l.salesPerson)).size);
    for (const r of rows) expect(r.label).toBe(team.get(r.key)?.name ?? '(no match)');
    const bySeller: Sums = new Map();
    for (const l of lines) add(bySeller, String(l.salesPerson), l);
    for (const r of rows) expect(cents(r.revenue)).toBe(bySeller.get(r.key)?.[2]);
    const text = cli(['top', 'sales_person_id', '--per', 'all', '--limit', '3', '--db', db]);
    expect(await text.exit).toBe(0);
    expect(text.out()).toContain(rows[0].label);
    const badLabel = cli(['top', 'sales_person_id', '--label', 'nope', '--db', db]);
    expect(await badLabel.exit).toBe(2);
    expect(badLabel.err()).toMatch(/no such column; its columns are: name, store_id/);
  }, 180_000);

  it('refuses a table over --max-join-bytes, duplicate keys and a key the fact file lacks, before any work', async () => {
    const db = path.join(dir, 'bad.db');
    const big = cli([
      ...['run', csv, '--db', db, '--workers', '1', '--max-join-bytes', '1KiB'],
      ...['--join', `${path.join(dir, 'customers.csv')}:customer_id`],
    ]);
    expect(await big.exit).toBe(2);
    expect(big.err()).toMatch(
      /customers.*over the 1,024-byte cap for a joined table; raise --max-join-bytes/,
    );
    fs.writeFileSync(path.join(dir, 'dup.csv'), 'store_id,city\n1,A\n2,B\n2,C\n');
    const dup = cli([
      'run',
      csv,
      '--db',
      db,
      '--workers',
      '1',
      '--join',
      `${path.join(dir, 'dup.csv')}:store_id`,
    ]);
    expect(await dup.exit).toBe(2);
    expect(dup.err()).toMatch(/the key "2" appears twice \(lines 3 and 4\)/);
    const lacks = cli([
      ...['run', csv, '--db', db, '--workers', '1'],
      ...['--join', `${path.join(dir, 'stores_part.csv')}:region=store_id`],
    ]);
    expect(await lacks.exit).toBe(2);
    expect(lacks.err()).toMatch(/the fact file has no column "region"/);
    const attr = cli([
      ...['run', csv, '--db', db, '--workers', '1', '--dimension', 'store_id.town'],
      ...['--join', `${path.join(dir, 'stores_part.csv')}:store_id`],
    ]);
    expect(await attr.exit).toBe(2);
    expect(attr.err()).toMatch(/has no column "town"; its columns are: city, region/);
    // No run was recorded for any of them.
    expect(fs.existsSync(db) ? query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0].n : 0).toBe(0);

    // A run's table that changed on disk: --resume refuses to go on with it.
    const copy = path.join(dir, 'stores_copy.csv');
    fs.copyFileSync(path.join(dir, 'stores_part.csv'), copy);
    const changed = path.join(dir, 'changed.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', changed, '--join', `${copy}:store_id`]);
    await listeningPort(c);
    c.child.kill('SIGKILL');
    await c.exit;
    fs.appendFileSync(copy, '\n99,Nowhere,North\n');
    const resumed = cli(['coordinator', csv, '--port', '0', '--db', changed, '--resume']);
    expect(await resumed.exit).toBe(2);
    expect(resumed.err()).toMatch(
      /stores_copy\.csv \(--join stores_copy\) changed since run 1 began; resume refused/,
    );
  }, 120_000);

  it('counts exactly once through a dropped worker, a killed coordinator and --resume, which refuses another --join', async () => {
    const db = path.join(dir, 'resume.db');
    const args = [
      '--db',
      db,
      '--chunk-size',
      '16KiB',
      '--join',
      `${path.join(dir, 'stores_part.csv')}:store_id`,
    ];
    const c = cli(['coordinator', csv, '--port', '0', ...args, '--dimension', 'store_id.city']);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    // w1 drops its connection after 2 chunks (in-flight chunks go back to the queue) and comes back.
    const w1 = faultWorker(address, 'w1', { FAULT_DELAY_MS: 30, FAULT_RETRY_FOR: 60, FAULT_DROP_AFTER: 2 });
    const w2 = faultWorker(address, 'w2', { FAULT_DELAY_MS: 30, FAULT_RETRY_FOR: 60 });
    await w1.waitFor(/fault: dropping the connection/, 60_000);
    await untilChunksDone(db, 4);
    // w2 is killed mid-chunk (each takes 30 ms or more); w3 takes its place.
    const leased = () =>
      query<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM attempts WHERE worker_id = 'w2' AND outcome = 'leased'",
      )[0].n;
    for (const deadline = Date.now() + 60_000; leased() === 0; await sleep(5)) {
      if (Date.now() > deadline) throw new Error(`w2 never held a lease:\n${c.err()}`);
    }
    w2.child.kill('SIGKILL');
    await w2.exit;
    const w3 = faultWorker(address, 'w3', { FAULT_DELAY_MS: 30, FAULT_RETRY_FOR: 60 });
    const atKill = doneChunks(db);
    await untilChunksDone(db, atKill + 4);
    c.child.kill('SIGKILL');
    await c.exit;
    expect(query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'done'")[0].n).toBe(0);

    const other = cli(['coordinator', csv, '--port', '0', '--db', db, '--resume', ...JOINS()]);
    expect(await other.exit).toBe(2);
    expect(other.err()).toMatch(
      /these flags conflict with it: --join .*team\.csv:sales_person_id=id \(the run has .*stores_part\.csv:store_id\)/,
    );

    const again = cli(['coordinator', csv, '--port', String(port), '--db', db, '--resume']);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w3.exit).toBe(0);
    expect(c.err()).toMatch(/worker w2 disconnected.*re-queueing [1-9]/);
    // The table went to each worker once per session (w1 had at least two), never with a chunk.
    for (const w of [w1, w2, w3]) {
      const sessions = w.err().match(/connected to 127\.0\.0\.1:\d+, run/g)?.length ?? 0;
      const tables = w.err().match(/received 1 join table\(s\), \d+ rows/g)?.length ?? 0;
      expect(tables).toBe(sessions);
    }
    expect(w1.err().match(/connected to 127/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    const city = expected(storeCity, storeKey);
    expect(storedDimension(db, 'store_id.city')).toEqual(city.sums);
    const stat = query<Record<string, number | string>>(db, 'SELECT * FROM join_stats')[0];
    expectStat(
      {
        name: String(stat.name),
        factColumn: String(stat.fact_column),
        factRows: Number(stat.fact_rows),
        matchedRows: Number(stat.matched_rows),
        unmatchedRows: Number(stat.unmatched_rows),
        unmatchedKeys: Number(stat.unmatched_keys),
        sampleKeys: JSON.parse(String(stat.sample_keys)),
      },
      city.unmatched,
    );
    expect(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n).toBe(0);
  }, 240_000);
});
