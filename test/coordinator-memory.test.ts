/**
 * The Coordinator over the in-memory channel pair with a fake clock (vitest fake timers): scripted
 * peers misbehave in exact ways (silence, a malformed result, a late result for a given-up chunk,
 * too many slots, a hello after the end) and a real worker (runWorker) finishes the run. SQLite
 * and the input file are real.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { aggToWire, emptyAgg } from '../src/aggregate/partial.js';
import { parseCoordinatorOptions, parseWorkerOptions, type RawCoordinatorFlags } from '../src/config.js';
import { Coordinator, type RunSummary } from '../src/coordinator/coordinator.js';
import { type Channel, channelPair } from '../src/protocol/channel.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import type { Listener } from '../src/protocol/socket-channel.js';
import { runWorker } from '../src/worker/run-worker.js';

let dir: string;
let csv: string;
let expected: { rows: number; revenueCents: bigint };

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-mem-'));
  csv = path.join(dir, 'sales.csv');
  const lines = ['Region,Country,Item Type,Order Date,Units Sold,Unit Price'];
  let cents = 0n;
  for (let i = 0; i < 2_000; i++) {
    const units = 1 + ((i * 7) % 13);
    const price = 100 + ((i * 37) % 9_000);
    cents += BigInt(units * price);
    const date = `${1 + (i % 12)}/${1 + (i % 28)}/20${10 + (i % 5)}`;
    lines.push(
      `R${i % 5},C${i % 17},T${i % 3},${date},${units},${Math.floor(price / 100)}.${String(price % 100).padStart(2, '0')}`,
    );
  }
  fs.writeFileSync(csv, `${lines.join('\n')}\n`);
  expected = { rows: 2_000, revenueCents: cents };
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

let dump = () => '';
const turn = () => new Promise<void>((r) => setImmediate(r));

/** Lets real I/O and microtasks run (the fake clock stands still) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dump()}`);
    await turn();
  }
}

/** Awaits a promise while letting real I/O run; times out (real time) with `what`. */
async function settled<T>(p: Promise<T>, what: string): Promise<T> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await until(() => done, what);
  return p;
}

/** Moves the fake clock in steps, letting I/O run between them. */
async function advance(ms: number, step = 250): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await vi.advanceTimersByTimeAsync(Math.min(step, ms - t));
    for (let i = 0; i < 5; i++) await turn();
  }
}

function memoryListener(): { listener: Listener; connect(defer?: boolean): Channel; accepting(): boolean } {
  let onChannel: ((c: Channel) => void) | null = null;
  return {
    accepting: () => onChannel !== null,
    listener: {
      host: 'memory',
      port: 0,
      accept: (cb) => {
        onChannel = cb;
      },
      onError: () => {},
      close: async () => {},
    },
    /** `defer`: the coordinator sees the connection a turn later, once the caller has attached its handlers. */
    connect(defer = false) {
      const accept = onChannel;
      if (accept === null) throw new Error('not accepting yet');
      const [server, client] = channelPair();
      if (defer) setImmediate(() => accept(server));
      else accept(server);
      return client;
    },
  };
}

/** A scripted worker: records what it is sent, answers only when told. */
class Peer {
  readonly got: Record<string, unknown>[] = [];
  closed = false;
  constructor(readonly ch: Channel) {
    ch.onMessage((m) => this.got.push(m));
    ch.onClose(() => {
      this.closed = true;
    });
  }
  of(type: string): Record<string, unknown>[] {
    return this.got.filter((m) => m.type === type);
  }
  async hello(id: string, slots = 1): Promise<void> {
    await until(() => this.of('challenge').length > 0, `${id}: challenge`);
    this.ch.send({ type: 'hello', protocol: PROTOCOL_VERSION, workerId: id, proof: null, slots });
  }
  tasks(): { chunkId: number; attempt: number }[] {
    return this.of('task') as unknown as { chunkId: number; attempt: number }[];
  }
}

interface Harness {
  coordinator: Coordinator;
  mem: ReturnType<typeof memoryListener>;
  warnings: string[];
  infos: string[];
  result: Promise<RunSummary>;
  db: string;
}

async function start(name: string, flags: RawCoordinatorFlags = {}): Promise<Harness> {
  const db = path.join(dir, `${name}.db`);
  const opts = parseCoordinatorOptions(csv, {
    port: '0',
    db,
    chunkSize: '4KiB',
    leaseTimeout: '60',
    peerTimeout: '3',
    linger: '2',
    ...flags,
  });
  const mem = memoryListener();
  const warnings: string[] = [];
  const infos: string[] = [];
  const coordinator = new Coordinator(
    opts,
    { info: (m) => infos.push(m), warn: (m) => warnings.push(m) },
    mem.listener,
  );
  const result = coordinator.run();
  let failed = false;
  result.catch(() => {
    failed = true;
  });
  dump = () => [...infos, ...warnings].join('\n');
  await until(
    () => failed || (mem.accepting() && infos.some((i) => /detected|resuming/.test(i))),
    'the coordinator to listen',
  );
  if (failed) await result;
  return { coordinator, mem, warnings, infos, result, db };
}

/** A real worker over the in-memory pair. */
function realWorker(h: Harness, id: string) {
  const opts = parseWorkerOptions({ connect: '127.0.0.1:1', id, slots: '2', quiet: true });
  const log = (m: string) => h.infos.push(`[${id}] ${m}`);
  return runWorker(opts, { info: log, warn: log }, { connect: async () => h.mem.connect(true) });
}

function cents(revenue: string): bigint {
  const [a, b = ''] = revenue.split('.');
  return BigInt(a + b.padEnd(2, '0').slice(0, 2));
}

function query<T>(db: string, sql: string): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all() as T[];
  } finally {
    d.close();
  }
}

function exact(summary: RunSummary): void {
  expect(summary.status).toBe('done');
  expect(summary.totals.rows).toBe(expected.rows);
  expect(cents(summary.totals.revenue)).toBe(expected.revenueCents);
}

describe('coordinator over the in-memory channel pair, fake clock', () => {
  it('drops a silent peer after --peer-timeout and re-leases its chunk long before the lease timeout', async () => {
    const h = await start('silent');
    const silent = new Peer(h.mem.connect());
    await silent.hello('silent');
    await until(() => silent.tasks().length === 1, 'a task for the silent peer');
    const t0 = Date.now();
    await advance(2_000);
    expect(silent.closed).toBe(false);
    await advance(2_000);
    expect(silent.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(h.warnings.join('\n')).toMatch(/dropped silent: silent for 3\.\d+s \(pings unanswered\)/);
    // It was pinged while silent, and never answered.
    expect(silent.of('ping').length).toBeGreaterThanOrEqual(2);
    await settled(realWorker(h, 'w1'), 'the worker');
    exact(await settled(h.result, 'the run'));
    const lost = query<{ outcome: string }>(h.db, "SELECT outcome FROM attempts WHERE worker_id = 'silent'");
    expect(lost.map((r) => r.outcome)).toEqual(['lost']);
  });

  it('a result without customer cells in a customers run (an older worker) is refused, not counted', async () => {
    const h = await start('old-worker', { customer: 'Country' });
    const old = new Peer(h.mem.connect());
    await old.hello('old');
    await until(() => old.tasks().length === 1, 'a task');
    const { chunkId, attempt } = old.tasks()[0];
    const scale = (old.of('welcome')[0].spec as { scale: number }).scale;
    old.ch.send({ type: 'result', chunkId, attempt, partial: aggToWire(emptyAgg(scale), 0, []), parseMs: 1 });
    await until(() => old.closed, 'the old peer to be dropped');
    const rows = query<{ detail: string }>(h.db, `SELECT detail FROM attempts WHERE chunk_id = ${chunkId}`);
    expect(rows[0].detail).toMatch(/no customer cells in a run with a customer column/);
    await settled(realWorker(h, 'w1'), 'the worker');
    exact(await settled(h.result, 'the run'));
    const customers = query<{ n: number; rows: number }>(
      h.db,
      'SELECT COUNT(*) AS n, SUM(rows) AS rows FROM customers',
    );
    expect(customers).toEqual([{ n: 17, rows: 2_000 }]);
  });

  it('a malformed result puts its chunk back in the queue at once', async () => {
    const h = await start('malformed');
    const bad = new Peer(h.mem.connect());
    await bad.hello('bad');
    await until(() => bad.tasks().length === 1, 'a task');
    const { chunkId, attempt } = bad.tasks()[0];
    bad.ch.send({ type: 'result', chunkId, attempt, partial: { scale: 'x' }, parseMs: 1 } as never);
    await until(() => bad.closed, 'the malformed peer to be dropped');
    const rows = query<{ outcome: string; detail: string }>(
      h.db,
      `SELECT outcome, detail FROM attempts WHERE chunk_id = ${chunkId} ORDER BY attempt`,
    );
    expect(rows[0].outcome).toBe('failed');
    expect(rows[0].detail).toMatch(/malformed/);
    // No clock movement: the next worker gets that chunk without waiting for the 60s lease timeout.
    await settled(realWorker(h, 'w1'), 'the worker');
    exact(await settled(h.result, 'the run'));
    const again = query<{ worker_id: string; outcome: string }>(
      h.db,
      `SELECT worker_id, outcome FROM attempts WHERE chunk_id = ${chunkId} ORDER BY attempt`,
    );
    expect(again[1]).toEqual({ worker_id: 'w1', outcome: 'done' });
  });

  it('a valid late result for a chunk given up by a quote-aware restart is ignored and its worker kept', async () => {
    const h = await start('givenup');
    const p = new Peer(h.mem.connect());
    await p.hello('p', 2);
    await until(() => p.tasks().length === 2, 'two tasks');
    const [first, second] = p.tasks();
    const scale = ((p.of('welcome')[0].spec as { scale: number }) ?? { scale: 2 }).scale;
    // The first chunk "ends inside a quoted field": the run starts over with careful cuts.
    p.ch.send({
      type: 'result',
      chunkId: first.chunkId,
      attempt: first.attempt,
      partial: aggToWire(emptyAgg(scale), 0, [], true),
      parseMs: 1,
    });
    await until(() => h.warnings.some((w) => /starting over with quote-aware cuts/.test(w)), 'the restart');
    p.ch.send({
      type: 'result',
      chunkId: second.chunkId,
      attempt: second.attempt,
      partial: aggToWire(emptyAgg(scale), 0, []),
      parseMs: 1,
    });
    await until(() => p.tasks().length >= 3, 'a new task for the same worker');
    expect(p.closed).toBe(false);
    expect(h.warnings.join('\n')).toMatch(
      new RegExp(
        `ignored a late result for chunk ${second.chunkId} \\(attempt 1\\) from p: the chunk was given up`,
      ),
    );
    expect(p.tasks()[2].chunkId).toBeGreaterThan(second.chunkId);
    p.ch.destroy();
    await settled(realWorker(h, 'w1'), 'the worker');
    exact(await settled(h.result, 'the run'));
  });

  it('a re-leased chunk goes to another free worker, not the one that just lost it', async () => {
    const h = await start('release', { chunkSize: '20KiB' });
    const a = new Peer(h.mem.connect());
    await a.hello('a', 1);
    await until(() => a.tasks().length === 1, 'a task for a');
    const b = new Peer(h.mem.connect());
    await b.hello('b', 3);
    await until(() => b.tasks().length === 2, 'two tasks for b');
    const scale = (b.of('welcome')[0].spec as { scale: number }).scale;
    const [first] = b.tasks();
    b.ch.send({
      type: 'result',
      chunkId: first.chunkId,
      attempt: first.attempt,
      partial: aggToWire(emptyAgg(scale), 0, []),
      parseMs: 1,
    });
    const doneRows = () =>
      query<{ n: number }>(h.db, "SELECT COUNT(*) AS n FROM chunks WHERE status = 'done'")[0].n;
    await until(() => doneRows() === 1, 'b result counted');
    // Every chunk is cut now; a fails its chunk while both a and b have a free slot.
    const lost = a.tasks()[0];
    a.ch.send({
      type: 'failure',
      chunkId: lost.chunkId,
      attempt: lost.attempt,
      code: 'E_INTERNAL',
      message: 'x',
    });
    await until(() => b.tasks().length === 3, 'the lost chunk for b');
    expect(b.tasks()[2]).toEqual(expect.objectContaining({ chunkId: lost.chunkId, attempt: 2 }));
    expect(a.tasks()).toHaveLength(1);
    a.ch.destroy();
    b.ch.destroy();
  });

  it('caps the slots a worker asks for at --max-slots', async () => {
    const h = await start('slots', { maxSlots: '2' });
    const greedy = new Peer(h.mem.connect());
    await greedy.hello('greedy', 64);
    await until(() => greedy.tasks().length === 2, 'two tasks');
    await advance(1_000);
    expect(greedy.tasks().length).toBe(2);
    expect(h.infos.join('\n')).toMatch(
      /worker greedy joined .*\(2 slot\(s\); it asked for 64, --max-slots is 2\)/,
    );
    greedy.ch.destroy();
    await settled(realWorker(h, 'w1'), 'the worker');
    exact(await settled(h.result, 'the run'));
  });

  it('after the end it stays for --linger and answers a new hello with done', async () => {
    const h = await start('linger');
    await settled(realWorker(h, 'w1'), 'the worker');
    const summary = await h.result;
    exact(summary);
    const late = new Peer(h.mem.connect());
    await late.hello('late');
    await until(() => late.of('done').length === 1, 'done for the late worker');
    expect(late.of('done')[0]).toMatchObject({ type: 'done', runId: summary.runId, status: 'done' });
    let closed = false;
    void h.coordinator.closed.then(() => {
      closed = true;
    });
    await advance(1_000);
    expect(closed).toBe(false);
    await advance(1_500);
    expect(closed).toBe(true);
  });

  it('interrupt() while the run is being prepared ends it as interrupted, no unhandled rejection', async () => {
    const db = path.join(dir, 'prepare.db');
    const opts = parseCoordinatorOptions(csv, { port: '0', db, linger: '0' });
    const mem = memoryListener();
    const c = new Coordinator(opts, { info: () => {}, warn: () => {} }, mem.listener);
    const run = c.run();
    c.interrupt();
    const summary = await run;
    expect(summary.status).toBe('interrupted');
    const [row] = query<{ status: string; lock_owner: string | null }>(
      db,
      'SELECT status, lock_owner FROM runs',
    );
    expect(row).toEqual({ status: 'interrupted', lock_owner: null });
  });
});

describe('done only when the done chunks tile the data', () => {
  it('a chunk missing from the database at the end fails the run, naming the byte range; resume repairs it', async () => {
    const db = path.join(dir, 'tiling.db');
    const first = await start('tiling');
    // Whatever memory says, the database is the proof: lose chunk 1's row as it is recorded.
    const d = new Database(db);
    d.exec(
      "CREATE TRIGGER lose_chunk AFTER UPDATE OF status ON chunks WHEN NEW.status = 'done' AND NEW.chunk_id = 1 BEGIN DELETE FROM chunks WHERE run_id = NEW.run_id AND chunk_id = 1; END",
    );
    d.close();
    await settled(realWorker(first, 'w1'), 'the worker');
    const err = (await first.result.then(
      () => null,
      (e: unknown) => e,
    )) as { code: string; exitCode: number; message: string } | null;
    expect(err?.code).toBe('E_TILING');
    expect(err?.exitCode).toBe(1);
    expect(err?.message).toMatch(/run 1 cannot be marked done: bytes \d+-\d+ of the data were never counted/);
    const [row] = query<{ status: string; lock_owner: string | null }>(
      db,
      'SELECT status, lock_owner FROM runs',
    );
    expect(row).toEqual({ status: 'failed', lock_owner: null });
    const fix = new Database(db);
    fix.exec('DROP TRIGGER lose_chunk');
    fix.close();
    const again = await start('tiling', { resume: true });
    await settled(realWorker(again, 'w2'), 'the worker');
    exact(await settled(again.result, 'the resumed run'));
  });
});

describe('end of run not recorded, resume conflicts', () => {
  it('a SQLite error while recording the end fails the run (exit 1) and leaves it resumable', async () => {
    const db = path.join(dir, 'finish.db');
    // An injected failure: the database refuses to mark any run done.
    const first = await start('finish');
    const d = new Database(db);
    d.exec(
      "CREATE TRIGGER refuse_done BEFORE UPDATE OF status ON runs WHEN NEW.status = 'done' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    );
    d.close();
    await realWorker(first, 'w1');
    const err = (await first.result.then(
      () => null,
      (e: unknown) => e,
    )) as { code: string; exitCode: number; message: string } | null;
    expect(err?.code).toBe('E_FINISH');
    expect(err?.exitCode).toBe(1);
    expect(err?.message).toMatch(/could not record the end of run 1 \(injected failure\).*--resume/);
    const [row] = query<{ status: string; lock_owner: string | null }>(
      db,
      'SELECT status, lock_owner FROM runs',
    );
    expect(row).toEqual({ status: 'failed', lock_owner: null });

    // Flags that conflict with the stored run are refused, by name, with exit 2.
    const conflict = await start('finish', { resume: true, price: 'Units Sold', chunkSize: '8KiB' }).then(
      () => null,
      (e: unknown) => e as { code: string; exitCode: number; message: string },
    );
    expect(conflict?.code).toBe('E_RESUME');
    expect(conflict?.exitCode).toBe(2);
    expect(conflict?.message).toMatch(/--price "Units Sold" \(the run has not given \(detected\)\)/);
    expect(conflict?.message).toMatch(/--chunk-size 8192 \(the run has 4096\)/);

    const fix = new Database(db);
    fix.exec('DROP TRIGGER refuse_done');
    fix.close();
    const again = await start('finish', { resume: true, chunkSize: '4KiB' });
    await realWorker(again, 'w2');
    const summary = await again.result;
    exact(summary);
    expect(summary.resumed).toBe(true);
  });
});
