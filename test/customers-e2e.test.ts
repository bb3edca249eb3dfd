/**
 * The customers table from real runs (coordinator, worker processes, SQLite) against an independent
 * csv-parse + BigInt computation: several chunkings, a worker killed mid-chunk and a coordinator
 * killed and resumed all give the same exact rows (exactly once).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Reference, referenceCustomers, scaled, writeMessyFile } from './helpers/customer-reference.js';
import { cli, faultWorker, killAll, listeningPort, query, sleep, tmpDir } from './helpers/e2e.js';

const dir = tmpDir();
const csv = path.join(dir, 'messy.csv');
let ref: Reference;

beforeAll(() => {
  writeMessyFile(csv, 13);
  ref = referenceCustomers(csv);
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Stored {
  customer: string;
  rows: number;
  orders: number;
  units: string;
  revenue: string;
  first_date: string;
  last_date: string;
  months_active: number;
  days_active: number;
  category_revenue: string;
}

/** Every difference between the stored customers of run 1 and the reference; empty when exact. */
function differences(db: string): string[] {
  const out: string[] = [];
  const rows = query<Stored>(db, 'SELECT * FROM customers WHERE run_id = 1 ORDER BY customer');
  const top = [...ref.categoryTotals]
    .sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : a[0] < b[0] ? -1 : 1))
    .slice(0, 10)
    .map(([name]) => name);
  if (rows.length !== ref.customers.size)
    out.push(`${rows.length} customers, expected ${ref.customers.size}`);
  for (const r of rows) {
    const c = ref.customers.get(r.customer);
    if (c === undefined) {
      out.push(`unexpected customer ${JSON.stringify(r.customer)}`);
      continue;
    }
    const days = [...c.days].sort();
    const months = new Set(days.map((d) => d.slice(0, 7)));
    const expected: Record<string, unknown> = {
      rows: c.rows,
      orders: c.orders.size,
      units: String(c.units),
      revenue: c.revenue,
      first_date: days[0],
      last_date: days[days.length - 1],
      months_active: months.size,
      days_active: days.length,
    };
    const got: Record<string, unknown> = { ...r, revenue: scaled(r.revenue, ref.scale) };
    for (const [k, v] of Object.entries(expected))
      if (got[k] !== v) out.push(`${r.customer}: ${k} ${String(got[k])}, expected ${String(v)}`);
    const cats = new Map<string, bigint>();
    for (const [name, v] of c.categories) {
      const key = top.includes(name) ? name : '(other)';
      cats.set(key, (cats.get(key) ?? 0n) + v);
    }
    const stored = JSON.parse(r.category_revenue) as Record<string, string>;
    for (const [name, v] of cats)
      if (v !== 0n && scaled(stored[name] ?? '0', ref.scale) !== v)
        out.push(`${r.customer}: category ${name} ${stored[name]}, expected ${v}`);
    if (Object.keys(stored).length !== [...cats.values()].filter((v) => v !== 0n).length)
      out.push(`${r.customer}: categories ${Object.keys(stored).join(',')}`);
  }
  return out;
}

describe('customers table from a run', () => {
  it('the reference is not trivial: split orders, quoted ids, >10 categories, rejects, a scale raise', () => {
    expect(ref.customers.size).toBeGreaterThan(250);
    expect(ref.categoryTotals.size).toBe(14);
    expect(ref.rejected).toBeGreaterThan(5);
    expect([...ref.customers.keys()].some((k) => k.includes('"') && k.includes(','))).toBe(true);
    expect(fs.readFileSync(csv, 'utf8')).toMatch(/,\d+\.\d{3},/);
  });

  for (const chunk of ['16KiB', '64KiB', '1MiB']) {
    it(`matches the independent computation exactly with --chunk-size ${chunk}`, async () => {
      const db = path.join(dir, `chunk-${chunk}.db`);
      const p = cli(['run', csv, '--db', db, '--workers', '2', '--chunk-size', chunk, '--quiet']);
      expect(await p.exit, p.err()).toBe(0);
      expect(differences(db)).toEqual([]);
      const [run] = query<{ rejected: number }>(db, 'SELECT rejected FROM runs WHERE id = 1');
      expect(run.rejected).toBe(ref.rejected);
      expect(query(db, 'SELECT * FROM cell_runs')).toEqual([]);
    }, 120_000);
  }

  it('matches it with --mart customer_id too (the customers reuse the mart keys)', async () => {
    const db = path.join(dir, 'mart.db');
    const p = cli([
      'run',
      csv,
      '--db',
      db,
      '--workers',
      '2',
      '--chunk-size',
      '64KiB',
      '--mart',
      'customer_id',
    ]);
    expect(await p.exit, p.err()).toBe(0);
    expect(differences(db)).toEqual([]);
    // A run that builds customers gives its workers one slot each (their peak memory). The run is
    // short: on a loaded machine the second worker may connect after it ended.
    expect(p.err()).toMatch(/worker w[12] joined from \S+ \(1 slot\(s\)\)/);
    expect(p.err()).not.toMatch(/joined from \S+ \((?!1 slot)/);
  }, 120_000);

  it('a worker killed mid-chunk: its chunks go elsewhere, every customer counted once', async () => {
    const db = path.join(dir, 'kill.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '16KiB']);
    const address = `127.0.0.1:${await listeningPort(c)}`;
    const victim = faultWorker(address, 'victim', { FAULT_DELAY_MS: 5_000 });
    const survivor = faultWorker(address, 'survivor', { FAULT_DELAY_MS: 20 });
    await c.waitFor(/worker victim joined/);
    const leased = () =>
      query<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM attempts WHERE worker_id = 'victim' AND outcome = 'leased'",
      )[0].n;
    for (const deadline = Date.now() + 60_000; leased() === 0; await sleep(20)) {
      if (Date.now() > deadline) throw new Error(`the victim never held a lease:\n${c.err()}`);
    }
    victim.child.kill('SIGKILL');
    expect(await c.exit, c.err()).toBe(0);
    expect(await survivor.exit).toBe(0);
    expect(c.err()).toMatch(/worker victim disconnected/);
    expect(differences(db)).toEqual([]);
  }, 180_000);

  it('a coordinator killed mid-run and resumed: every customer counted once', async () => {
    const db = path.join(dir, 'resume.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '16KiB']);
    const port = await listeningPort(c);
    const address = `127.0.0.1:${port}`;
    const w1 = faultWorker(address, 'r1', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 60 });
    const w2 = faultWorker(address, 'r2', { FAULT_DELAY_MS: 40, FAULT_RETRY_FOR: 60 });
    const count = (outcome: string) =>
      query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM attempts WHERE outcome = ?', outcome)[0]?.n ?? 0;
    for (const deadline = Date.now() + 60_000; count('done') < 3 || count('leased') === 0; await sleep(20)) {
      if (Date.now() > deadline) throw new Error(`no chunk done and in flight in 60s:\n${c.err()}`);
    }
    c.child.kill('SIGKILL');
    await c.exit;
    const spilled = query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM cell_runs')[0].n;
    expect(spilled).toBeGreaterThan(0);
    const again = cli(['coordinator', csv, '--port', String(port), '--db', db, '--resume']);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(differences(db)).toEqual([]);
  }, 180_000);

  it('--no-customers and a file without a customer column build no customers', async () => {
    const db = path.join(dir, 'off.db');
    const p = cli(['run', csv, '--db', db, '--workers', '1', '--no-customers', '--quiet']);
    expect(await p.exit, p.err()).toBe(0);
    expect(query(db, 'SELECT * FROM customers')).toEqual([]);
    const bad = cli(['run', csv, '--db', db, '--workers', '1', '--customer', 'nope', '--quiet']);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(/--customer "nope" is not a column of this file; its columns are: order_id/);
  }, 120_000);
});
