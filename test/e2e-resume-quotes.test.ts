/**
 * Issue 9's resume hole, with real processes: a 400,000-row file whose last 10% quote the Country
 * field (some with line breaks inside), 64 KiB chunks, one worker with one slot, the coordinator
 * killed with SIGKILL after about 20 chunks, then `--resume` with a new worker. The resumed run
 * switches to quote-aware cuts and must still count every row, equal to an independent reading.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  doneChunks,
  faultWorker,
  generate,
  killAll,
  listeningPort,
  type Reference,
  reference,
  report,
  sameTotals,
  sleep,
  tmpDir,
} from './helpers/e2e.js';

const ROWS = 400_000;
let dir: string;
let csv: string;
let ref: Reference;

beforeAll(async () => {
  dir = tmpDir();
  const plain = path.join(dir, 'plain.csv');
  await generate(plain, ROWS, 91);
  const lines = fs.readFileSync(plain, 'latin1').split('\n');
  const from = 1 + Math.floor(ROWS * 0.9);
  for (let i = from; i <= ROWS; i++) {
    const f = lines[i].split(',');
    f[1] = i % 5 === 0 ? `"${f[1]}\nisland ""${i}"""` : `"${f[1]}"`;
    lines[i] = f.join(',');
  }
  csv = path.join(dir, 'sales.csv');
  fs.writeFileSync(csv, lines.join('\n'), 'latin1');
  fs.rmSync(plain);
  ref = reference(csv);
  expect(ref.rows).toBe(ROWS);
}, 180_000);
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('resume, then a switch to quote-aware cuts', () => {
  it('counts all 400,000 rows: nothing done before the kill is lost', async () => {
    const db = path.join(dir, 'resume.db');
    const first = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '64KiB']);
    const port = await listeningPort(first);
    const w1 = faultWorker(`127.0.0.1:${port}`, 'w1', { FAULT_SLOTS: 1, FAULT_DELAY_MS: 25 });
    for (let i = 0; i < 2_000 && doneChunks(db) < 20; i++) await sleep(10);
    first.child.kill('SIGKILL');
    w1.child.kill('SIGKILL');
    await first.exit;
    const before = doneChunks(db);
    expect(before).toBeGreaterThanOrEqual(20);
    // Well before the quoted region (the next line checks it was not reached).
    expect(before).toBeLessThan(500);
    expect(first.err()).not.toMatch(/quote-aware/);

    const again = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '64KiB', '--resume']);
    const port2 = await listeningPort(again);
    const w2 = cli(['worker', '--connect', `127.0.0.1:${port2}`, '--slots', '1', '--id', 'w2', '--quiet']);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(again.err()).toMatch(new RegExp(`resuming run 1: ${before} chunk\\(s\\) already done`));
    expect(again.err()).toMatch(/ends inside a quoted field.*starting over with quote-aware cuts/);
    const r = await report(db);
    expect(r.rows).toBe(ROWS);
    expect(sameTotals(r, ref)).toEqual([]);

    const d = new Database(db, { readonly: true });
    try {
      const run = d.prepare('SELECT data_start, size FROM runs WHERE id = 1').get() as {
        data_start: number;
        size: number;
      };
      const chunks = d
        .prepare(
          "SELECT chunk_id, byte_start, byte_end FROM chunks WHERE run_id = 1 AND status = 'done' ORDER BY byte_start",
        )
        .all() as { chunk_id: number; byte_start: number; byte_end: number }[];
      let pos = run.data_start;
      for (const c of chunks) {
        expect(c.byte_start).toBe(pos);
        pos = c.byte_end;
      }
      expect(pos).toBe(run.size);
      // The chunks of the careful pass have ids never used before it; the old attempts are kept.
      const oldAttempts = d
        .prepare("SELECT COUNT(*) AS n FROM attempts WHERE worker_id = 'w1' AND outcome = 'done'")
        .get() as { n: number };
      expect(oldAttempts.n).toBeGreaterThanOrEqual(before);
      const minCareful = Math.min(...chunks.map((c) => c.chunk_id));
      const maxOld = d.prepare("SELECT MAX(chunk_id) AS m FROM attempts WHERE worker_id = 'w1'").get() as {
        m: number;
      };
      expect(minCareful).toBeGreaterThan(maxOld.m);
    } finally {
      d.close();
    }
  }, 240_000);
});
