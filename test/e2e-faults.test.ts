/**
 * Failures a distributed run must survive, each with real processes and real loopback sockets:
 * killed, hung and disconnected workers, a poison chunk, a killed coordinator, signals, no workers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  faultWorker,
  generate,
  generatedFile,
  isAlive,
  killAll,
  listeningPort,
  query,
  type Reference,
  report,
  sameTotals,
  sleep,
} from './helpers/e2e.js';

let dir: string;
let csv: string;
let ref: Reference;

beforeAll(async () => {
  ({ dir, csv, ref } = await generatedFile(60_000, 23));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function coordinator(db: string, extra: string[] = []) {
  // Port 0: the coordinator picks a free port itself, so parallel test files cannot collide.
  const proc = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '64KiB', ...extra]);
  const port = await listeningPort(proc);
  return { proc, address: `127.0.0.1:${port}`, port };
}

describe('worker failures', () => {
  it('a worker killed with SIGKILL mid-chunk: its chunks are leased again, totals exact', async () => {
    const db = path.join(dir, 'kill.db');
    const c = await coordinator(db);
    // The victim takes 5 s per chunk, so once it holds a lease the kill lands mid-chunk.
    const w1 = faultWorker(c.address, 'victim', { FAULT_DELAY_MS: 5_000 });
    const w2 = faultWorker(c.address, 'survivor', { FAULT_DELAY_MS: 30 });
    await c.proc.waitFor(/worker survivor joined/);
    await c.proc.waitFor(/worker victim joined/);
    const leased = () =>
      query<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM attempts WHERE worker_id = 'victim' AND outcome = 'leased'",
      )[0].n;
    for (const deadline = Date.now() + 30_000; leased() === 0; await sleep(20)) {
      if (Date.now() > deadline) throw new Error(`the victim never held a lease:\n${c.proc.err()}`);
    }
    w1.child.kill('SIGKILL');
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(c.proc.err()).toMatch(/worker victim disconnected.*re-queueing \d chunk/);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    const lost = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'lost'")[0].n;
    expect(lost).toBeGreaterThan(0);
  });

  it('a hung worker (SIGSTOP) loses its lease; its late result is not counted twice', async () => {
    const db = path.join(dir, 'stop.db');
    const c = await coordinator(db, ['--lease-timeout', '1']);
    const hung = faultWorker(c.address, 'hung', { FAULT_DELAY_MS: 40 });
    faultWorker(c.address, 'ok', { FAULT_DELAY_MS: 40 });
    await c.proc.waitFor(/worker hung joined/);
    await c.proc.waitFor(/worker ok joined/);
    await sleep(400);
    hung.child.kill('SIGSTOP');
    await c.proc.waitFor(/chunk \d+ on hung passed its 1s lease/, 60_000);
    // It resumes once the other worker has redone that chunk: its result comes late.
    const expired = Number((/chunk (\d+) on hung passed its 1s lease/.exec(c.proc.err()) ?? [])[1]);
    const redone = () =>
      query<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM chunks WHERE run_id = 1 AND chunk_id = ? AND status = 'done'",
        expired,
      )[0].n;
    for (const deadline = Date.now() + 60_000; redone() === 0; await sleep(50)) {
      if (Date.now() > deadline) throw new Error(`chunk ${expired} was never redone:\n${c.proc.err()}`);
    }
    hung.child.kill('SIGCONT');
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(c.proc.err()).toMatch(
      /ignored a late result for chunk \d+ \(attempt 1\) from hung: already counted/,
    );
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    // The stopped worker's attempt either timed out for good or delivered late; either way it is on record.
    const marks = query<{ outcome: string; detail: string | null }>(
      db,
      "SELECT outcome, detail FROM attempts WHERE worker_id = 'hung' AND (outcome IN ('timeout', 'late') OR detail LIKE '%lease timed out%')",
    );
    expect(marks.length).toBeGreaterThan(0);
    // Each chunk is counted once: the done chunks' rows add up to the file's rows.
    const rows = query<{ n: number }>(db, "SELECT SUM(rows) AS n FROM chunks WHERE status = 'done'")[0].n;
    expect(rows).toBe(ref.rows);
  });

  it('a worker whose connection is destroyed reconnects and goes on; nothing is counted twice', async () => {
    const db = path.join(dir, 'drop.db');
    const c = await coordinator(db);
    const w1 = faultWorker(c.address, 'flaky', { FAULT_DELAY_MS: 20, FAULT_DROP_AFTER: 5 });
    const w2 = faultWorker(c.address, 'steady', { FAULT_DELAY_MS: 20 });
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(w1.err()).toMatch(/connection lost.*reconnecting/);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    const sessions = query<{ sessions: number }>(
      db,
      "SELECT sessions FROM workers WHERE worker_id = 'flaky'",
    )[0].sessions;
    expect(sessions).toBe(2);
  });

  it('a chunk that crashes every worker fails the run after --max-attempts, naming the chunk', async () => {
    const db = path.join(dir, 'poison.db');
    const c = await coordinator(db, ['--max-attempts', '3']);
    const ws = ['p1', 'p2', 'p3', 'p4'].map((id) => faultWorker(c.address, id, { FAULT_CRASH_CHUNK: 2 }));
    const code = await c.proc.exit;
    expect(code).toBe(1);
    const m = /chunk 2 \(bytes (\d+)-(\d+), from line (\d+)\) failed 3 time\(s\)/.exec(c.proc.err());
    expect(m, c.proc.err()).not.toBeNull();
    const [start] = [Number(m?.[1])];
    const bytes = fs.readFileSync(csv);
    let line = 1;
    for (let i = 0; i < start; i++) if (bytes[i] === 10) line++;
    expect(Number(m?.[3])).toBe(line);
    const runs = query<{ status: string; error: string }>(db, 'SELECT status, error FROM runs');
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('failed');
    expect(runs[0].error).toMatch(/chunk 2/);
    for (const w of ws) await Promise.race([w.exit, sleep(3000)]);
  });
});

describe('coordinator failures', () => {
  it('killed with SIGKILL mid-run, --resume continues the same run to exact totals', async () => {
    const db = path.join(dir, 'resume.db');
    const c = await coordinator(db);
    const w1 = faultWorker(c.address, 'r1', { FAULT_DELAY_MS: 30, FAULT_RETRY_FOR: 30 });
    const w2 = faultWorker(c.address, 'r2', { FAULT_DELAY_MS: 30, FAULT_RETRY_FOR: 30 });
    await c.proc.waitFor(/worker r2 joined/);
    await c.proc.waitFor(/worker r1 joined/);
    // Kill once some chunks are done and some are in flight, however loaded the machine is.
    const count = (outcome: string) =>
      query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM attempts WHERE outcome = ?', outcome)[0].n;
    for (const deadline = Date.now() + 30_000; count('done') < 2 || count('leased') === 0; await sleep(20)) {
      if (Date.now() > deadline) throw new Error(`no chunk done and in flight in 30s:\n${c.proc.err()}`);
    }
    c.proc.child.kill('SIGKILL');
    await c.proc.exit;
    const before = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM chunks WHERE status = 'done'")[0].n;
    expect(before).toBeGreaterThan(0);
    const again = cli(['coordinator', csv, '--port', String(c.port), '--db', db, '--resume']);
    expect(await again.exit, again.err()).toBe(0);
    expect(again.err()).toMatch(new RegExp(`resuming run 1: ${before} chunk\\(s\\) already done`));
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    const runs = query<{ id: number; status: string }>(db, 'SELECT id, status FROM runs');
    expect(runs).toEqual([{ id: 1, status: 'done' }]);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    // Chunks in flight at the kill were leased again as attempt 2: numbers continue, history stays.
    const released = query<{ chunk_id: number; n: number; last: number; first: string }>(
      db,
      `SELECT chunk_id, COUNT(*) AS n, MAX(attempt) AS last,
         (SELECT outcome FROM attempts b WHERE b.chunk_id = a.chunk_id AND b.attempt = 1) AS first
       FROM attempts a GROUP BY chunk_id HAVING n > 1`,
    );
    expect(released.length).toBeGreaterThan(0);
    for (const r of released) {
      expect(r.last).toBe(r.n);
      expect(r.first).toBe('interrupted');
    }
  });

  it('--resume refuses when the file changed since the run', async () => {
    const copy = path.join(dir, 'changing.csv');
    fs.copyFileSync(csv, copy);
    const db = path.join(dir, 'changed.db');
    const c = cli(['coordinator', copy, '--port', '0', '--db', db]);
    await listeningPort(c);
    c.child.kill('SIGKILL');
    await c.exit;
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(copy, later, later);
    const r = cli(['coordinator', copy, '--port', '0', '--db', db, '--resume']);
    expect(await r.exit).toBe(2);
    expect(r.err()).toMatch(/changed since run 1.*resume refused/);
  });

  it('Ctrl-C (SIGINT) records the run as interrupted, exits 130, and the run can be resumed', async () => {
    const db = path.join(dir, 'sigint.db');
    const c = await coordinator(db);
    const w = faultWorker(c.address, 'slow', { FAULT_DELAY_MS: 30 });
    await c.proc.waitFor(/worker slow joined/);
    await sleep(300);
    c.proc.child.kill('SIGINT');
    expect(await c.proc.exit).toBe(130);
    expect(c.proc.out()).toMatch(/interrupted/);
    expect(c.proc.out()).toMatch(/resume with: salesgrid coordinator .* --resume/);
    expect(await w.exit).toBe(0);
    expect(query<{ status: string }>(db, 'SELECT status FROM runs')[0].status).toBe('interrupted');
    const again = cli(['coordinator', csv, '--port', String(c.port), '--db', db, '--resume']);
    await again.waitFor(/listening/);
    const w2 = cli(['worker', '--connect', c.address, '--id', 'fresh']);
    expect(await again.exit, again.err()).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  });

  it('SIGTERM on `run` exits 143 and leaves no worker process behind', async () => {
    const big = path.join(dir, 'big.csv');
    await generate(big, 300_000, 5);
    const db = path.join(dir, 'runterm.db');
    const p = cli(['run', big, '--workers', '2', '--chunk-size', '8KiB', '--db', db]);
    await p.waitFor(/pids (\d+), (\d+)/);
    const pids = (/pids (\d+), (\d+)/.exec(p.err()) ?? []).slice(1).map(Number);
    await sleep(300);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(143);
    await sleep(200);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(query<{ status: string }>(db, 'SELECT status FROM runs')[0].status).toBe('interrupted');
  });

  it('with no workers it says how to start one, and --wait-timeout gives up clearly', async () => {
    const db = path.join(dir, 'lonely.db');
    const c = cli(['coordinator', csv, '--port', '0', '--db', db, '--wait-timeout', '1']);
    const port = await listeningPort(c);
    expect(await c.exit).toBe(1);
    expect(c.err()).toMatch(
      new RegExp(`start workers with: salesgrid worker --connect 127\\.0\\.0\\.1:${port}`),
    );
    expect(c.err()).toMatch(/no worker connected for 1s; giving up/);
  });

  it('two coordinators on one database and file: the second refuses', async () => {
    const db = path.join(dir, 'twice.db');
    const a = await coordinator(db);
    const b = cli(['coordinator', csv, '--port', '0', '--db', db]);
    expect(await b.exit).toBe(2);
    expect(b.err()).toMatch(/run 1 over .* is in progress/);
    a.proc.child.kill('SIGTERM');
    expect(await a.proc.exit).toBe(143);
  });
});

describe('randomized faults', () => {
  it('kills and stops random workers at random moments; totals stay exact', async () => {
    let seed = 20261122;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 3; round++) {
      const db = path.join(dir, `random-${round}.db`);
      const c = await coordinator(db, ['--lease-timeout', '1', '--max-attempts', '10']);
      const workers = [0, 1, 2].map((i) => faultWorker(c.address, `r${round}w${i}`, { FAULT_DELAY_MS: 15 }));
      let spare = 0;
      const chaos = (async () => {
        for (let k = 0; k < 4; k++) {
          await sleep(150 + rand() * 350);
          const i = Math.floor(rand() * workers.length);
          const w = workers[i];
          if (rand() < 0.5) {
            w.child.kill('SIGKILL');
            workers[i] = faultWorker(c.address, `r${round}s${spare++}`, { FAULT_DELAY_MS: 15 });
          } else {
            w.child.kill('SIGSTOP');
            await sleep(300 + rand() * 1200);
            w.child.kill('SIGCONT');
          }
        }
      })();
      const code = await c.proc.exit;
      await chaos;
      expect(code, c.proc.err()).toBe(0);
      expect(sameTotals(await report(db), ref)).toEqual([]);
      const rows = query<{ n: number }>(db, "SELECT SUM(rows) AS n FROM chunks WHERE status = 'done'")[0].n;
      expect(rows).toBe(ref.rows);
    }
  }, 120_000);
});
