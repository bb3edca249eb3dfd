/**
 * The ends of a run with real processes: a worker that connects after the end learns that its run
 * is over; with a large spill, workers are released before the merge; a run whose end cannot be recorded exits 1 and stays resumable; --resume refuses flags
 * that conflict with the stored run.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  faultWorker,
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
  ({ dir, csv, ref } = await generatedFile(20_000, 31));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the end of a run', () => {
  it('a worker that connects during --linger is told the run is done and exits 0', async () => {
    const db = path.join(dir, 'linger.db');
    const c = cli([
      'coordinator',
      csv,
      '--port',
      '0',
      '--db',
      db,
      '--chunk-size',
      '256KiB',
      '--linger',
      '30',
    ]);
    const port = await listeningPort(c);
    const w1 = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'w1', '--quiet']);
    expect(await w1.exit).toBe(0);
    await c.waitFor(/run 1 done/);
    const started = Date.now();
    const late = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'late', '--retry-for', '60']);
    expect(await late.exit, late.err()).toBe(0);
    // Within the linger, so long before its --retry-for 60: the lingering coordinator answered it.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(late.out() + late.err()).toMatch(/run 1 already ended \(done\)/);
    await c.waitFor(/worker late connected after the end; told it run 1 is done/);
    expect(await c.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    // The coordinator stays its whole --linger of 30 s.
  }, 120_000);

  it('a large spill releases the workers before the merge (a small one tells them the status); the run is done', async () => {
    // 1.2M distinct customer-month cells (~40 MB of spill) against a 20,000-row mart (~0.1 MB).
    const star = path.join(dir, 'star.csv');
    const g = cli([
      'generate',
      '--layout',
      'star',
      '--customers',
      '1000000',
      '--rows',
      '1200000',
      '--out',
      star,
      '--quiet',
    ]);
    expect(await g.exit, g.err()).toBe(0);
    for (const [file, mart, said] of [
      [star, 'customer_id', /w1: run 1 has every chunk counted; the coordinator is merging its results/],
      [csv, 'Country', /w1: run 1 is done/],
    ] as const) {
      const db = path.join(dir, `release-${mart}.db`);
      const c = cli(['coordinator', file, '--port', '0', '--db', db, '--mart', mart, '--no-customers']);
      const port = await listeningPort(c);
      const w1 = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'w1']);
      expect(await w1.exit, w1.err()).toBe(0);
      expect(w1.out() + w1.err()).toMatch(said);
      expect(w1.out() + w1.err()).not.toMatch(/could not reach|connection lost/);
      await c.waitFor(/run 1 done/);
      expect(await c.exit).toBe(0);
    }
  }, 120_000);

  it('an end that cannot be recorded exits 1, leaves the run resumable; --resume refuses conflicting flags', async () => {
    const db = path.join(dir, 'finish.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '64KiB', '--linger', '0']);
    const port = await listeningPort(c);
    // The injected failure: SQLite refuses to mark the run done.
    const d = new Database(db);
    d.exec(
      "CREATE TRIGGER refuse_done BEFORE UPDATE OF status ON runs WHEN NEW.status = 'done' BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    d.close();
    faultWorker(`127.0.0.1:${port}`, 'w1');
    expect(await c.exit).toBe(1);
    expect(c.err()).toMatch(
      /could not record the end of run 1 \(disk says no\); it is left unfinished: resume it with --resume/,
    );
    const check = new Database(db);
    expect(check.prepare('SELECT status, lock_owner FROM runs').all()).toEqual([
      { status: 'failed', lock_owner: null },
    ]);
    check.exec('DROP TRIGGER refuse_done');
    check.close();

    const bad = cli([
      'coordinator',
      csv,
      '--port',
      '0',
      '--db',
      db,
      '--resume',
      '--chunk-size',
      '1MiB',
      '--dimension',
      'Country',
    ]);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(
      /these flags conflict with it: --dimension \["Country"\] \(the run has not given \(detected\)\); --chunk-size 1048576 \(the run has 65536\)/,
    );

    const again = cli(['coordinator', csv, '--port', '0', '--db', db, '--resume', '--linger', '0']);
    const port2 = await listeningPort(again);
    faultWorker(`127.0.0.1:${port2}`, 'w2');
    expect(await again.exit, again.err()).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  }, 90_000);
});
