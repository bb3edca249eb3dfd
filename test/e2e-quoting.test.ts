/**
 * Line breaks inside quoted fields. Cuts are fast (last line feed) until a worker finds a chunk
 * that ends inside quotes; then the run starts over with quote-aware cuts. Files whose sample
 * already shows such fields are cut carefully from the start. Either way the totals are exact.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, killAll, report, tmpDir } from './helpers/e2e.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir();
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Rows with quoted multi-line notes from row `from` on; a seeded generator. */
function write(file: string, rows: number, from: number): void {
  let seed = 99;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
  const out = ['Region,Note,Unit Price,Units Sold,Order Date'];
  for (let i = 0; i < rows; i++) {
    const note =
      i < from ? 'plain' : i % 3 === 0 ? '"line one\nline two, with a comma\r\nand ""quotes"""' : '"short"';
    const cents = 100 + rand(99_900);
    out.push(
      `R${rand(5)},${note},${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')},${1 + rand(50)},${1 + rand(12)}/${13 + rand(15)}/2020`,
    );
  }
  fs.writeFileSync(file, `${out.join('\n')}\n`);
}

function expected(file: string): { rows: number; units: string; revenue: string } {
  const recs = parse(fs.readFileSync(file), { columns: true }) as Record<string, string>[];
  let revenue = 0n;
  let units = 0n;
  for (const r of recs) {
    revenue += BigInt(r['Unit Price'].replace('.', '')) * BigInt(r['Units Sold']);
    units += BigInt(r['Units Sold']);
  }
  const s = revenue.toString().padStart(3, '0');
  return { rows: recs.length, units: units.toString(), revenue: `${s.slice(0, -2)}.${s.slice(-2)}` };
}

describe('line breaks inside quotes', () => {
  it('found after the sample: the run starts over with quote-aware cuts and stays exact', async () => {
    const file = path.join(dir, 'late.csv');
    write(file, 40_000, 6_000);
    const db = path.join(dir, 'late.db');
    const p = cli(['run', file, '--workers', '2', '--chunk-size', '16KiB', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    expect(p.err()).toMatch(/ends inside a quoted field: .* starting over with quote-aware cuts/);
    const r = await report(db);
    const e = expected(file);
    expect({ rows: r.rows, rejected: r.rejected, units: r.units, revenue: r.revenue }).toEqual({
      ...e,
      rejected: 0,
    });
    // The stored chunks tile the data section exactly once.
    const d = new Database(db, { readonly: true });
    const chunks = d
      .prepare("SELECT byte_start, byte_end FROM chunks WHERE status = 'done' ORDER BY byte_start")
      .all() as {
      byte_start: number;
      byte_end: number;
    }[];
    d.close();
    for (let i = 1; i < chunks.length; i++) expect(chunks[i].byte_start).toBe(chunks[i - 1].byte_end);
    expect(chunks.at(-1)?.byte_end).toBe(fs.statSync(file).size);
  });

  it('a stray quote inside an unquoted field does not move later cuts: same totals for any chunk size', async () => {
    const file = path.join(dir, 'stray.csv');
    const rows = [
      'Region,Note,Unit Price,Units Sold,Order Date',
      'R1,"first\nsecond",1.00,1,1/13/2020',
      'R2,a 12" pizza,2.00,1,1/13/2020',
    ];
    for (let i = 0; i < 400; i++)
      rows.push(`R${i % 5},${i % 2 ? '"one\ntwo, three"' : 'plain'},3.50,${1 + (i % 4)},2/14/2020`);
    fs.writeFileSync(file, `${rows.join('\n')}\n`);
    const results = [];
    for (const size of ['1KiB', '4MiB']) {
      const db = path.join(dir, `stray-${size}.db`);
      const p = cli(['run', file, '--workers', '2', '--chunk-size', size, '--db', db]);
      expect(await p.exit, p.err()).toBe(0);
      const r = await report(db);
      results.push({ rows: r.rows, rejected: r.rejected, revenue: r.revenue });
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0]).toEqual({ rows: 402, rejected: 0, revenue: '3503.00' });
  });

  it('seen in the sample: quote-aware cuts from the start, no restart', async () => {
    const file = path.join(dir, 'early.csv');
    write(file, 20_000, 10);
    const db = path.join(dir, 'early.db');
    const p = cli(['run', file, '--workers', '2', '--chunk-size', '8KiB', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    expect(p.err()).not.toMatch(/starting over/);
    const r = await report(db);
    const e = expected(file);
    expect({ rows: r.rows, units: r.units, revenue: r.revenue }).toEqual(e);
  });
});
