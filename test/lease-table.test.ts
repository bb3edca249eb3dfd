/**
 * The lease table, model-based: random sequences of dispatch, result, late result, failure,
 * disconnect, expiry, quote-aware restart and resume (a coordinator killed and restarted from what
 * the database holds) run against the real lease table and the real chunker over a small file with
 * line breaks inside quotes. The reference model is a count per byte of the data section.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chunker } from '../src/coordinator/chunker.js';
import * as lt from '../src/coordinator/lease-table.js';

const NUM_RUNS = Number(process.env.LEASE_MODEL_RUNS ?? 300);
const MAX_ATTEMPTS = 4;
const LEASE_MS = 1_000;

let dir: string;
let csv: string;
let file: FileHandle;
let size = 0;
let dataStart = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-lease-'));
  csv = path.join(dir, 'q.csv');
  const header = 'Region,Country,Units\n';
  let body = '';
  for (let i = 0; i < 120; i++) {
    const country = i % 5 === 3 ? `"Land ${i}\nsecond line"` : i % 3 === 0 ? `"Land, ${i}"` : `Land ${i}`;
    body += `R${i % 4},${country},${i}\n`;
  }
  fs.writeFileSync(csv, header + body);
  dataStart = header.length;
  size = fs.statSync(csv).size;
  file = await fs.promises.open(csv, 'r');
});
afterAll(async () => {
  await file?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What the database would hold: done chunks, every chunk row (for ids on resume), attempt numbers. */
interface Db {
  done: Map<number, lt.ChunkRange>;
  chunkIds: Map<number, number>;
  attempts: Map<number, number>;
  careful: boolean;
}

interface Real {
  table: lt.LeaseTable;
  chunker: Chunker;
  db: Db;
  holders: number[];
  nextHolder: number;
  now: number;
  chunkSize: number;
  /** Chunks cut since the last restart or resume (the ids the run is responsible for). */
  cut: Map<number, lt.ChunkRange>;
  failed: boolean;
}

/** The reference model: how many times each byte of the data section was counted. */
interface Model {
  counted: Uint8Array;
}

function newChunker(r: Pick<Real, 'db' | 'chunkSize'>, resume: boolean): Chunker {
  const done = [...r.db.done.values()];
  let maxId = -1;
  for (const id of r.db.attempts.keys()) maxId = Math.max(maxId, id);
  // A snapshot, as resume reads it from the database once.
  const ids = new Map(r.db.chunkIds);
  return new Chunker(file, {
    dataStart,
    fileSize: size,
    chunkSize: r.chunkSize,
    maxChunk: 1 << 20,
    careful: r.db.careful,
    readData: true,
    ...(resume ? { skip: done, idAt: (s: number) => ids.get(s), firstId: maxId + 1 } : {}),
  });
}

function freshTable(): lt.LeaseTable {
  return lt.newLeaseTable({ dataStart, dataEnd: size, maxAttempts: MAX_ATTEMPTS, leaseMs: LEASE_MS });
}

function count(m: Model, range: lt.ChunkRange): void {
  for (let i = range.byteStart; i < range.byteEnd; i++) m.counted[i - dataStart]++;
}

/** What the coordinator does on a result: classify, and commit (store, then memory) when told. */
function deliver(m: Model, r: Real, holder: number, chunkId: number): lt.ResultVerdict {
  const v = lt.classifyResult(r.table, holder, chunkId);
  if (v.kind === 'commit') {
    r.db.done.set(v.range.chunkId, v.range);
    lt.complete(r.table, v.range);
    count(m, v.range);
  }
  return v;
}

function afterRelease(r: Real, v: lt.ReleaseVerdict): void {
  if (v.kind === 'give-up') r.failed = true;
}

/** The coordinator's pump for one holder: a queued chunk, else a fresh cut. */
async function dispatch(r: Real, holder: number): Promise<void> {
  const others = r.holders.length > 1;
  let range = lt.takeQueued(r.table, holder, others);
  let fresh = false;
  if (range === null) {
    const c = await r.chunker.next();
    if (c === null) return;
    range = { chunkId: c.chunkId, byteStart: c.byteStart, byteEnd: c.byteEnd };
    fresh = true;
    r.cut.set(range.chunkId, range);
  }
  if (!fresh && (r.table.done.has(range.chunkId) || lt.isAbandoned(r.table, range.chunkId))) return;
  const l = lt.lease(r.table, range, holder, r.now);
  r.db.chunkIds.set(range.byteStart, range.chunkId);
  r.db.attempts.set(range.chunkId, l.attempt);
}

function checkInvariants(m: Model, r: Real): void {
  // Never a byte counted twice.
  for (let i = 0; i < m.counted.length; i++) {
    if (m.counted[i] > 1) throw new Error(`byte ${dataStart + i} counted ${m.counted[i]} times`);
  }
  // No chunk lost: every chunk cut for this pass is done, leased or queued (or the run failed).
  if (!r.failed) {
    for (const [id, range] of r.cut) {
      const where =
        (r.table.done.has(id) ? 1 : 0) +
        (r.table.leases.has(id) ? 1 : 0) +
        (r.table.queue.some((q) => q.chunkId === id) ? 1 : 0);
      if (where !== 1)
        throw new Error(`chunk ${id} (${range.byteStart}-${range.byteEnd}) is in ${where} places`);
    }
  }
  // Attempts bounded.
  for (const [id, n] of r.table.tries) {
    if (n > MAX_ATTEMPTS) throw new Error(`chunk ${id} tried ${n} times`);
  }
  // `done` (chunker at the end, nothing outstanding) never holds with a gap.
  if (r.chunker.finished && lt.idle(r.table)) {
    expect(lt.tilingFault(r.table.done.values(), dataStart, size)).toBeNull();
    expect(m.counted.every((c) => c === 1)).toBe(true);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;
const live = (r: Real) => !r.failed;

class Dispatch implements Cmd {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (!live(r) || r.holders.length === 0) return;
    await dispatch(r, r.holders[this.pick % r.holders.length]);
    checkInvariants(m, r);
  }
  toString = () => `dispatch(${this.pick})`;
}

class Result implements Cmd {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const leases = [...r.table.leases.values()];
    if (!live(r) || leases.length === 0) return;
    const l = leases[this.pick % leases.length];
    expect(deliver(m, r, l.holder, l.range.chunkId).kind).toBe('commit');
    checkInvariants(m, r);
  }
  toString = () => `result(${this.pick})`;
}

class LateResult implements Cmd {
  constructor(
    readonly pick: number,
    readonly holderPick: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const past = [...r.table.leasedTo].filter(([, hs]) => hs.size > 0);
    if (!live(r) || past.length === 0) return;
    const [id, hs] = past[this.pick % past.length];
    const holder = [...hs][this.holderPick % hs.size];
    const v = deliver(m, r, holder, id);
    expect(v.kind).not.toBe('never-leased');
    checkInvariants(m, r);
  }
  toString = () => `late(${this.pick},${this.holderPick})`;
}

class Failure implements Cmd {
  constructor(
    readonly pick: number,
    readonly poison: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const leases = [...r.table.leases.values()];
    if (!live(r) || leases.length === 0) return;
    const l = leases[this.pick % leases.length];
    const v = lt.release(r.table, l.holder, l.range.chunkId, this.poison ? 'E_TOO_MANY_KEYS' : 'E_INTERNAL');
    expect(v.kind).not.toBe('ignored');
    if (this.poison) expect(v.kind).toBe('give-up');
    afterRelease(r, v);
    checkInvariants(m, r);
  }
  toString = () => `failure(${this.pick},${this.poison})`;
}

class Disconnect implements Cmd {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (!live(r) || r.holders.length === 0) return;
    const h = r.holders.splice(this.pick % r.holders.length, 1)[0];
    for (const { verdict } of lt.releaseHolder(r.table, h)) afterRelease(r, verdict);
    r.holders.push(r.nextHolder++);
    checkInvariants(m, r);
  }
  toString = () => `disconnect(${this.pick})`;
}

class Expire implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (!live(r)) return;
    r.now += this.ms;
    for (const { lease, verdict } of lt.expire(r.table, r.now)) {
      expect(lease.deadlineMs).toBeLessThanOrEqual(r.now);
      afterRelease(r, verdict);
    }
    checkInvariants(m, r);
  }
  toString = () => `expire(${this.ms})`;
}

class QuoteRestart implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    if (!live(r) || r.db.careful) return;
    lt.restartCareful(r.table, r.chunker.nextChunkId);
    r.chunker.restartCareful();
    // The store forgets every chunk of the run in the same step.
    r.db.done.clear();
    r.db.chunkIds.clear();
    r.db.careful = true;
    r.cut.clear();
    m.counted.fill(0);
    checkInvariants(m, r);
  }
  toString = () => 'quoteRestart';
}

class Resume implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    if (!live(r)) return;
    // The coordinator dies; a new one rebuilds from the database. Old connections are gone.
    r.table = freshTable();
    lt.resumeTable(r.table, r.db.done.values(), r.db.attempts);
    r.chunker = newChunker(r, true);
    r.holders = [r.nextHolder++, r.nextHolder++];
    r.cut = new Map(r.db.done);
    checkInvariants(m, r);
  }
  toString = () => 'resume';
}

const commands = [
  fc.nat().map((n) => new Dispatch(n)),
  fc.nat().map((n) => new Dispatch(n)),
  fc.nat().map((n) => new Result(n)),
  fc.nat().map((n) => new Result(n)),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => new LateResult(a, b)),
  fc.tuple(fc.nat(), fc.boolean()).map(([a, p]) => new Failure(a, p && a % 7 === 0)),
  fc.nat().map((n) => new Disconnect(n)),
  fc.integer({ min: 1, max: 2 * LEASE_MS }).map((ms) => new Expire(ms)),
  fc.constant(new QuoteRestart()),
  fc.constant(new Resume()),
];

/** After the random sequence: one worker drives the run to its end, as a coordinator would. */
async function drain(m: Model, r: Real): Promise<void> {
  for (let guard = 0; guard < 10_000 && !r.failed; guard++) {
    if (r.chunker.finished && lt.idle(r.table)) break;
    if (r.holders.length === 0) r.holders.push(r.nextHolder++);
    for (const h of r.holders) await dispatch(r, h);
    for (const l of [...r.table.leases.values()]) deliver(m, r, l.holder, l.range.chunkId);
    checkInvariants(m, r);
  }
  if (r.failed) return;
  expect(r.chunker.finished && lt.idle(r.table)).toBe(true);
  expect(lt.tilingFault(r.table.done.values(), dataStart, size)).toBeNull();
  expect([...m.counted].every((c) => c === 1)).toBe(true);
}

describe('lease table (model-based)', () => {
  it(`every byte counted exactly once over ${NUM_RUNS} random sequences`, async () => {
    let ran = 0;
    let completed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands, { maxCommands: 80 }),
        fc.integer({ min: 24, max: 400 }),
        fc.boolean(),
        async (cmds, chunkSize, careful) => {
          ran++;
          const db: Db = { done: new Map(), chunkIds: new Map(), attempts: new Map(), careful };
          const real: Real = {
            table: freshTable(),
            chunker: newChunker({ db, chunkSize }, false),
            db,
            holders: [1, 2, 3],
            nextHolder: 4,
            now: 0,
            chunkSize,
            cut: new Map(),
            failed: false,
          };
          const model: Model = { counted: new Uint8Array(size - dataStart) };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await drain(model, real);
          if (!real.failed) completed++;
        },
      ),
      { numRuns: NUM_RUNS },
    );
    console.log(`lease-table model: ${ran} sequences ran, ${completed} driven to done`);
    expect(ran).toBeGreaterThanOrEqual(NUM_RUNS);
    expect(completed).toBeGreaterThan(NUM_RUNS / 2);
  }, 300_000);
});

describe('lease table (examples)', () => {
  const range = (chunkId: number, byteStart: number, byteEnd: number) => ({ chunkId, byteStart, byteEnd });

  it('a re-leased chunk skips the worker that lost it while another is free', () => {
    const t = lt.newLeaseTable({ dataStart: 0, dataEnd: 10, maxAttempts: 3, leaseMs: 10 });
    lt.lease(t, range(0, 0, 10), 1, 0);
    expect(lt.release(t, 1, 0, 'E_INTERNAL')).toEqual({ kind: 'requeued' });
    expect(lt.takeQueued(t, 1, true)).toBeNull();
    expect(lt.takeQueued(t, 2, true)?.chunkId).toBe(0);
    lt.requeue(t, range(0, 0, 10));
    // Alone, the worker takes it back rather than leave it waiting.
    expect(lt.takeQueued(t, 1, false)?.chunkId).toBe(0);
  });

  it('attempt numbers continue across a resume; the retry budget starts again', () => {
    const t = lt.newLeaseTable({ dataStart: 0, dataEnd: 10, maxAttempts: 3, leaseMs: 10 });
    lt.resumeTable(t, [], [[5, 4]]);
    expect(lt.lease(t, range(5, 0, 10), 1, 0).attempt).toBe(5);
    expect(t.tries.get(5)).toBe(1);
  });

  it('a result for a chunk given up by a quote-aware restart is ignored, not a reason to drop', () => {
    const t = lt.newLeaseTable({ dataStart: 0, dataEnd: 10, maxAttempts: 3, leaseMs: 10 });
    lt.lease(t, range(0, 0, 5), 1, 0);
    lt.lease(t, range(1, 5, 10), 1, 0);
    lt.restartCareful(t, 2);
    expect(lt.classifyResult(t, 1, 1)).toEqual({ kind: 'given-up' });
    expect(() => lt.lease(t, range(1, 5, 10), 1, 0)).toThrow(/invariant/);
    expect(lt.classifyResult(t, 9, 7)).toEqual({ kind: 'never-leased' });
  });

  it('tiling names the first gap or overlap', () => {
    expect(lt.tilingFault([range(0, 10, 20), range(1, 20, 30)], 10, 30)).toBeNull();
    expect(lt.tilingFault([range(0, 10, 20), range(1, 25, 30)], 10, 30)).toEqual({
      kind: 'gap',
      start: 20,
      end: 25,
    });
    expect(lt.tilingFault([range(0, 10, 22), range(1, 20, 30)], 10, 30)).toEqual({
      kind: 'overlap',
      start: 20,
      end: 22,
    });
    expect(lt.tilingFault([range(0, 10, 20)], 10, 30)).toEqual({ kind: 'gap', start: 20, end: 30 });
    expect(lt.tilingFault([], 10, 10)).toBeNull();
  });
});
