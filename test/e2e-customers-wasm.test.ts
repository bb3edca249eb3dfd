/**
 * The customers on both parse paths end to end: the same files through `run` with the WASM path
 * and the JS path forced give the same customers table and report, for several chunk sizes, with
 * and without a mart on the customer column, a file without a date column, rejected rows, ids the
 * WASM path hands to JS and revenues past 2^53 (the decimal-string cells).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, killAll, report, tmpDir } from './helpers/e2e.js';
import { Rng } from './helpers/prng.js';

const dir = tmpDir();
const dated = path.join(dir, 'dated.csv');
const undated = path.join(dir, 'undated.csv');

/** customer_id,store_id[,sales_date],price,quantity with skewed customers and the odd rows spread out. */
function writeFile(file: string, seed: number, withDate: boolean, rows: number): void {
  const rng = new Rng(seed);
  const ids = Array.from({ length: 4000 }, (_, i) =>
    i % 53 === 0 ? `"Ünïcode ${i}"` : i % 59 === 0 ? `"quoted ${i}"` : `C${String(i).padStart(6, '0')}`,
  );
  const lines = [
    withDate ? 'customer_id,store_id,sales_date,price,quantity' : 'customer_id,store_id,price,quantity',
  ];
  for (let i = 0; i < rows; i++) {
    const id = ids[Math.floor(rng.next() ** 3 * ids.length)];
    const day = new Date(Date.UTC(2021, 0, 1 + rng.int(0, 900))).toISOString().slice(0, 10);
    const huge = rng.chance(0.002);
    const price = huge ? '5629499534213.12' : `${rng.int(1, 499)}.${String(rng.int(0, 99)).padStart(2, '0')}`;
    const qty = huge ? 16 : rng.int(1, 9);
    const cols = withDate
      ? [id, `S${rng.int(1, 20)}`, day, price, qty]
      : [id, `S${rng.int(1, 20)}`, price, qty];
    let line = cols.join(',');
    if (rng.chance(0.003))
      line = rng.pick([
        `${id},S1${withDate ? ',2023-02-30' : ''},1.00,1`,
        `${id},S1`,
        `${id},S1${withDate ? `,${day}` : ''},n/a,1`,
        `${id},S1${withDate ? `,${day}` : ''},-3.50,2`,
        `${id},S1${withDate ? `,${day}` : ''},"$1,234.50",1`,
        `"Smith, ""J""",S1${withDate ? `,${day}` : ''},2.00,1`,
        `${id},S1${withDate ? `,${day}` : ''},2.125,1`,
      ]);
    lines.push(line);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

beforeAll(() => {
  writeFile(dated, 101, true, 60_000);
  writeFile(undated, 202, false, 30_000);
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function runWith(file: string, mode: string, chunk: string, mart: boolean) {
  const db = path.join(dir, `${path.basename(file)}-${mode}-${chunk}-${mart}.db`);
  const args = ['run', file, '--workers', '2', '--chunk-size', chunk, '--db', db, '--quiet'];
  if (mart) args.push('--mart', 'customer_id');
  const p = cli(args, { SALESGRID_PARSE: mode });
  expect(await p.exit, p.err()).toBe(0);
  const d = new Database(db, { readonly: true });
  const customers = d.prepare('SELECT * FROM customers WHERE run_id = 1 ORDER BY customer').all();
  d.close();
  const r = (await report(db)) as unknown as Record<string, unknown>;
  const { workers, runId, ...rest } = r;
  for (const k of Object.keys(rest))
    if (/ms$|At$|time|started|finished|db|wall|chunk/i.test(k)) delete rest[k];
  return { customers, report: rest };
}

describe('customers with the parse path forced: WASM and JS give the same tables', () => {
  for (const [name, file] of [
    ['dated', dated],
    ['undated', undated],
  ] as const) {
    it(`${name} file, chunks of 64 KiB and 1 MiB, with and without a customer mart`, async () => {
      let reference: unknown = null;
      for (const chunk of ['64KiB', '1MiB'])
        for (const mart of [true, false]) {
          const [w, j] = await Promise.all([
            runWith(file, 'wasm', chunk, mart),
            runWith(file, 'js', chunk, mart),
          ]);
          expect(w.customers.length).toBeGreaterThan(1000);
          expect(w.customers).toEqual(j.customers);
          expect(w.report).toEqual(j.report);
          // Every chunking gives the same customers.
          reference ??= j.customers;
          expect(j.customers).toEqual(reference);
        }
    }, 120_000);
  }

  it('keeps sums past 2^53 exact and rows without a date column dateless', async () => {
    const { customers } = await runWith(undated, 'wasm', '64KiB', true);
    const rows = customers as { revenue: string; first_date: string | null }[];
    expect(rows.every((r) => r.first_date === null)).toBe(true);
    // Revenue is decimal text at the run's scale: its digits are the smallest unit.
    expect(rows.some((r) => BigInt(r.revenue.replace('.', '')) > 2n ** 53n)).toBe(true);
  }, 60_000);
});
