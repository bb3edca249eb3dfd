/**
 * The retail layout through the existing distributed pipeline: `generate --layout retail`, then
 * `run` with several chunks and workers, against the test's own BigInt sums of the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, killAll, report, tmpDir } from './helpers/e2e.js';
import { readLines } from './helpers/retail-facts.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir();
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const fmt = (c: bigint) => `${c / 100n}.${String(c % 100n).padStart(2, '0')}`;

describe('retail layout end to end', () => {
  it('runs exactly: totals, months, categories and the top customers per year', async () => {
    const csv = path.join(dir, 'retail.csv');
    const db = path.join(dir, 'r.db');
    const gen = cli([
      'generate',
      '--layout',
      'retail',
      '--rows',
      '40000',
      '--customers',
      '900',
      '--seed',
      '3',
      '--out',
      csv,
      '--quiet',
    ]);
    expect(await gen.exit, gen.err()).toBe(0);
    const run = cli([
      'run',
      csv,
      '--db',
      db,
      '--workers',
      '2',
      '--chunk-size',
      '256KiB',
      '--quiet',
      '--dimension',
      'category',
      '--mart',
      'customer_id',
    ]);
    expect(await run.exit, run.err()).toBe(0);

    const lines = readLines(csv);
    let revenue = 0n;
    let units = 0;
    const monthly = new Map<string, bigint>();
    const byYear = new Map<string, Map<string, bigint>>();
    for (const l of lines) {
      revenue += l.totalCents;
      units += l.quantity;
      const m = l.date.slice(0, 7);
      monthly.set(m, (monthly.get(m) ?? 0n) + l.totalCents);
      const y = byYear.get(l.date.slice(0, 4)) ?? new Map<string, bigint>();
      byYear.set(l.date.slice(0, 4), y);
      y.set(String(l.customer), (y.get(String(l.customer)) ?? 0n) + l.totalCents);
    }
    const r = await report(db);
    expect([r.status, r.rows, r.rejected, r.units, r.revenue]).toEqual([
      'done',
      40_000,
      0,
      String(units),
      fmt(revenue),
    ]);
    expect(new Map(r.monthly.map((m: { month: string; revenue: string }) => [m.month, m.revenue]))).toEqual(
      new Map([...monthly].sort().map(([m, v]) => [m, fmt(v)])),
    );

    const top = cli(['top', 'customer_id', '--db', db, '--per', 'year', '--limit', '3', '--json']);
    expect(await top.exit, top.err()).toBe(0);
    const got = JSON.parse(top.out()).rows.map((x: { period: string; key: string; revenue: string }) => [
      x.period,
      x.key,
      x.revenue,
    ]);
    const want: string[][] = [];
    for (const y of [...byYear.keys()].sort()) {
      const ranked = [...(byYear.get(y) as Map<string, bigint>)].sort((a, b) =>
        a[1] === b[1] ? (a[0] < b[0] ? -1 : 1) : a[1] > b[1] ? -1 : 1,
      );
      for (const [key, v] of ranked.slice(0, 3)) want.push([y, key, fmt(v)]);
    }
    expect(got).toEqual(want);
  });
});
