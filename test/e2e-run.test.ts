/**
 * The core pipeline end to end: real processes, real loopback sockets, real SQLite files, and
 * totals checked against an independent computation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  faultWorker,
  freePort,
  generatedFile,
  killAll,
  listeningPort,
  type Reference,
  report,
  sameTotals,
} from './helpers/e2e.js';

let dir: string;
let csv: string;
let ref: Reference;

beforeAll(async () => {
  ({ dir, csv, ref } = await generatedFile(60_000, 11));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('run', () => {
  it('with 2 workers equals an independent computation to the cent', async () => {
    const db = path.join(dir, 'run2.db');
    const p = cli(['run', csv, '--workers', '2', '--chunk-size', '256KiB', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    expect(p.out()).toMatch(/run 1 done/);
    expect(p.out()).toMatch(/next: salesgrid report/);
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    // Both processes start; on a loaded machine the run can end before the second one connects.
    expect(`${p.out()}${p.err()}`).toMatch(/2 worker process\(es\)/);
    const ids = r.workers.map((w) => w.workerId);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(['w1', 'w2']).toContain(id);
    expect(r.workers.reduce((s, w) => s + w.rows, 0)).toBe(ref.rows);
  });

  it('gives identical results for 1 worker with big chunks and 3 workers with small chunks', async () => {
    const a = path.join(dir, 'a.db');
    const b = path.join(dir, 'b.db');
    const p1 = cli(['run', csv, '--workers', '1', '--chunk-size', '8MiB', '--db', a, '--quiet']);
    expect(await p1.exit, p1.err()).toBe(0);
    const p3 = cli(['run', csv, '--workers', '3', '--chunk-size', '16KiB', '--db', b, '--quiet']);
    expect(await p3.exit, p3.err()).toBe(0);
    const ra = await report(a);
    const rb = await report(b);
    const strip = (r: typeof ra) => ({
      ...r,
      workers: [],
      startedAt: 0,
      finishedAt: 0,
      wallMs: 0,
      chunks: 0,
      file: 0,
    });
    expect(strip(rb)).toEqual(strip(ra));
    // A worker that booted after the short run ended has no row.
    expect(rb.workers.length).toBeGreaterThan(0);
    for (const w of rb.workers) expect(['w1', 'w2', 'w3']).toContain(w.workerId);
    expect(sameTotals(ra, ref)).toEqual([]);
  });

  it('--json prints a machine-readable summary', async () => {
    const db = path.join(dir, 'json.db');
    const p = cli(['run', csv, '--workers', '2', '--db', db, '--json']);
    expect(await p.exit, p.err()).toBe(0);
    const s = JSON.parse(p.out());
    expect(s.status).toBe('done');
    expect(s.totals.revenue).toBe(ref.revenue);
    expect(s.totals.rows).toBe(ref.rows);
    expect(s.coordinatorUsage.maxRssKb).toBeGreaterThan(0);
  });
});

describe('multi-terminal mode', () => {
  it('a coordinator and separately started workers, one joining after the run began', async () => {
    const db = path.join(dir, 'multi.db');
    const coord = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '64KiB']);
    const port = await listeningPort(coord);
    // The first worker is slowed down so that the run is still going when the second joins.
    const w1 = faultWorker(`127.0.0.1:${port}`, 'early', { FAULT_DELAY_MS: 120 });
    await coord.waitFor(/worker early joined/);
    await new Promise((r) => setTimeout(r, 400));
    const w2 = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'late']);
    expect(await coord.exit, coord.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit, w2.err()).toBe(0);
    expect(w2.err()).toMatch(/connected to 127\.0\.0\.1/);
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    const byId = Object.fromEntries(r.workers.map((w) => [w.workerId, w.chunks]));
    expect(byId.early).toBeGreaterThan(0);
    expect(byId.late).toBeGreaterThan(0);
  });

  it('a worker started before the coordinator waits for it', async () => {
    const db = path.join(dir, 'before.db');
    const port = await freePort();
    const w = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'eager']);
    await w.waitFor(/waiting for a coordinator/);
    const coord = cli(['coordinator', csv, '--port', String(port), '--db', db, '--quiet']);
    expect(await coord.exit, coord.err()).toBe(0);
    expect(await w.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  });
});

describe('bad input and usage', () => {
  it('a missing file: one clear error, exit 2, nothing in the database', async () => {
    const db = path.join(dir, 'missing.db');
    const p = cli(['run', path.join(dir, 'nope.csv'), '--db', db]);
    expect(await p.exit).toBe(2);
    expect(p.err().trim().split('\n')).toHaveLength(1);
    expect(p.err()).toMatch(/cannot read .*nope\.csv: no such file/);
    expect(fs.existsSync(db)).toBe(false);
  });

  it('a missing column: exit 2, names the columns, no run recorded', async () => {
    const db = path.join(dir, 'col.db');
    const p = cli(['run', csv, '--db', db, '--price', 'Cost Per Unit']);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/--price "Cost Per Unit" is not a column.*Unit Price/);
    const r = cli(['report', '--db', db]);
    expect(await r.exit).toBe(2);
    expect(r.err()).toMatch(/no runs yet/);
  });

  it('a file without a usable header', async () => {
    const bad = path.join(dir, 'noheader.csv');
    fs.writeFileSync(bad, '1,2,3\n4,5,6\n');
    const p = cli(['run', bad, '--db', path.join(dir, 'nh.db')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/header/);
  });

  it('wrong arguments exit 2 with a message naming the option', async () => {
    const p = cli(['run', csv, '--chunk-size', 'lots']);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/--chunk-size must be a size/);
    const q = cli(['worker', '--connect', 'nowhere']);
    expect(await q.exit).toBe(2);
    expect(q.err()).toMatch(/--connect must be host:port/);
    const h = cli(['--help']);
    expect(await h.exit).toBe(0);
    expect(h.out()).toMatch(/coordinator/);
    const u = cli(['frobnicate']);
    expect(await u.exit).toBe(2);
  });

  it('report on a missing database is a clear error', async () => {
    const p = cli(['report', '--db', path.join(dir, 'absent.db')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/no database at/);
  });

  it('a port already in use is a clear error', async () => {
    const a = cli(['coordinator', csv, '--port', '0', '--db', path.join(dir, 'p1.db')]);
    const port = await listeningPort(a);
    const b = cli(['coordinator', csv, '--port', String(port), '--db', path.join(dir, 'p2.db')]);
    expect(await b.exit).toBe(2);
    expect(b.err()).toMatch(/already in use/);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(143);
  });
});
