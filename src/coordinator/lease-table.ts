/**
 * The scheduler's state as plain data plus transitions: leases, the re-lease queue, attempt
 * numbers, done and given-up chunks, expiry against a clock passed in. No I/O and no clock of its
 * own: the coordinator performs what these functions decide (store writes, sends, logs).
 * Holders are opaque numbers (one per worker connection).
 */
import { shouldRetry } from '../retry.js';

export interface ChunkRange {
  chunkId: number;
  byteStart: number;
  byteEnd: number;
}

export interface Lease {
  range: ChunkRange;
  attempt: number;
  holder: number;
  dispatchedMs: number;
  deadlineMs: number;
}

export interface LeaseTable {
  readonly dataStart: number;
  readonly dataEnd: number;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  /** Chunks waiting to be leased again, front first. */
  queue: ChunkRange[];
  leases: Map<number, Lease>;
  /** Last attempt number used per chunk; continues across resumes. */
  attempts: Map<number, number>;
  /** Leases per chunk since this table was built (resume or careful restart): the retry budget. */
  tries: Map<number, number>;
  done: Map<number, ChunkRange>;
  /** Every holder a chunk was ever leased to (a late answer from one of them is legal). */
  leasedTo: Map<number, Set<number>>;
  /** The holder that last lost a chunk, so a re-lease prefers another one. */
  lostBy: Map<number, number>;
  /** Chunk ids below this were cut before a careful restart: given up, their answers ignored. */
  abandonedBelow: number;
  /** A chunk that ran out of attempts: the run fails. */
  failed: ChunkRange | null;
}

export function newLeaseTable(o: {
  dataStart: number;
  dataEnd: number;
  maxAttempts: number;
  leaseMs: number;
}): LeaseTable {
  return {
    ...o,
    queue: [],
    leases: new Map(),
    attempts: new Map(),
    tries: new Map(),
    done: new Map(),
    leasedTo: new Map(),
    lostBy: new Map(),
    abandonedBelow: 0,
    failed: null,
  };
}

/** Rebuilds the state of a resumed run: its done chunks and the last attempt number of each chunk. */
export function resumeTable(
  t: LeaseTable,
  done: Iterable<ChunkRange>,
  attempts: Iterable<[number, number]>,
): void {
  for (const r of done) t.done.set(r.chunkId, { ...r });
  for (const [id, n] of attempts) t.attempts.set(id, Math.max(n, t.attempts.get(id) ?? 0));
}

export function bytesDone(t: LeaseTable): number {
  let n = 0;
  for (const r of t.done.values()) n += r.byteEnd - r.byteStart;
  return n;
}

export function isAbandoned(t: LeaseTable, chunkId: number): boolean {
  return chunkId < t.abandonedBelow;
}

/**
 * The next queued chunk for `holder`, taken off the queue. A chunk this holder just lost is skipped
 * while `othersFree` (another worker could take it); it stays queued for them.
 */
export function takeQueued(t: LeaseTable, holder: number, othersFree: boolean): ChunkRange | null {
  for (let i = 0; i < t.queue.length; i++) {
    const r = t.queue[i];
    if (othersFree && t.lostBy.get(r.chunkId) === holder) continue;
    t.queue.splice(i, 1);
    return r;
  }
  return null;
}

/** Puts a chunk back at the front of the queue (it was taken but could not be sent). */
export function requeue(t: LeaseTable, range: ChunkRange): void {
  if (!t.queue.some((r) => r.chunkId === range.chunkId)) t.queue.unshift(range);
}

/** Leases a chunk to a holder. Throws on a chunk that is done, given up or leased: that would count it twice. */
export function lease(t: LeaseTable, range: ChunkRange, holder: number, nowMs: number): Lease {
  const id = range.chunkId;
  if (t.done.has(id) || isAbandoned(t, id) || t.leases.has(id)) {
    throw new Error(`scheduler invariant: chunk ${id} leased while done, given up or already leased`);
  }
  const attempt = (t.attempts.get(id) ?? 0) + 1;
  t.attempts.set(id, attempt);
  t.tries.set(id, (t.tries.get(id) ?? 0) + 1);
  const l: Lease = { range, attempt, holder, dispatchedMs: nowMs, deadlineMs: nowMs + t.leaseMs };
  t.leases.set(id, l);
  let holders = t.leasedTo.get(id);
  if (holders === undefined) t.leasedTo.set(id, (holders = new Set()));
  holders.add(holder);
  return l;
}

export function leasesOf(t: LeaseTable, holder: number): Lease[] {
  return [...t.leases.values()].filter((l) => l.holder === holder);
}

export type ResultVerdict =
  /** Count it. `superseded`: the live lease of another holder, ended by this (late but first) answer. */
  | { kind: 'commit'; range: ChunkRange; late: boolean; superseded: Lease | null }
  /** Already counted: ignore, keep the worker. */
  | { kind: 'duplicate' }
  /** The chunk was given up (careful restart) or is no longer outstanding: ignore, keep the worker. */
  | { kind: 'given-up' }
  /** Never leased to this holder: the peer is lying. */
  | { kind: 'never-leased' };

/** What a result for `chunkId` from `holder` means. Changes nothing; `complete` applies a commit. */
export function classifyResult(t: LeaseTable, holder: number, chunkId: number): ResultVerdict {
  if (!t.leasedTo.get(chunkId)?.has(holder)) {
    return isAbandoned(t, chunkId) ? { kind: 'given-up' } : { kind: 'never-leased' };
  }
  if (isAbandoned(t, chunkId)) return { kind: 'given-up' };
  if (t.done.has(chunkId)) return { kind: 'duplicate' };
  const live = t.leases.get(chunkId);
  if (live !== undefined) {
    return {
      kind: 'commit',
      range: live.range,
      late: live.holder !== holder,
      superseded: live.holder === holder ? null : live,
    };
  }
  const queued = t.queue.find((r) => r.chunkId === chunkId);
  if (queued !== undefined) return { kind: 'commit', range: queued, late: true, superseded: null };
  return { kind: 'given-up' };
}

/** Marks a committed chunk done: its lease ends, it leaves the queue. */
export function complete(t: LeaseTable, range: ChunkRange): void {
  const id = range.chunkId;
  t.leases.delete(id);
  t.queue = t.queue.filter((r) => r.chunkId !== id);
  t.done.set(id, { ...range });
  t.lostBy.delete(id);
}

export type ReleaseVerdict =
  | { kind: 'requeued' }
  /** Out of attempts: the run fails with this chunk. */
  | { kind: 'give-up'; tries: number }
  /** Not this holder's live lease (done, given up, or re-leased meanwhile). */
  | { kind: 'ignored' };

/**
 * Ends `holder`'s lease of a chunk without a result (failure, lost connection, timeout) and
 * re-queues the chunk at the front, or gives it up past the attempt limit. `code` is the worker's
 * error code (non-retryable codes give up at once); null for lost and timed-out leases.
 */
export function release(
  t: LeaseTable,
  holder: number,
  chunkId: number,
  code: string | null,
  requeueOnly = false,
): ReleaseVerdict {
  const l = t.leases.get(chunkId);
  if (l === undefined || l.holder !== holder) return { kind: 'ignored' };
  t.leases.delete(chunkId);
  t.lostBy.set(chunkId, holder);
  const tries = t.tries.get(chunkId) ?? 0;
  if (!requeueOnly && !shouldRetry(code, tries, t.maxAttempts)) {
    t.failed = l.range;
    return { kind: 'give-up', tries };
  }
  requeue(t, l.range);
  return { kind: 'requeued' };
}

/** A holder is gone: every lease it held goes back to the queue (or gives up past the limit). */
export function releaseHolder(
  t: LeaseTable,
  holder: number,
  requeueOnly = false,
): { lease: Lease; verdict: ReleaseVerdict }[] {
  return leasesOf(t, holder).map((l) => ({
    lease: l,
    verdict: release(t, holder, l.range.chunkId, null, requeueOnly),
  }));
}

/** Leases past their deadline at `nowMs`, released (timeout). */
export function expire(t: LeaseTable, nowMs: number): { lease: Lease; verdict: ReleaseVerdict }[] {
  const out: { lease: Lease; verdict: ReleaseVerdict }[] = [];
  for (const l of [...t.leases.values()]) {
    if (l.deadlineMs > nowMs) continue;
    out.push({ lease: l, verdict: release(t, l.holder, l.range.chunkId, null) });
  }
  return out;
}

/**
 * A fast cut was wrong: every chunk cut so far (ids below `nextId`, the chunker's next fresh id) is
 * given up, done ones included. Returns the leases that were live, whose answers will be ignored.
 */
export function restartCareful(t: LeaseTable, nextId: number): Lease[] {
  const live = [...t.leases.values()];
  t.abandonedBelow = Math.max(t.abandonedBelow, nextId);
  t.leases.clear();
  t.queue = [];
  t.done.clear();
  t.tries.clear();
  t.lostBy.clear();
  return live;
}

/** All work handed out is answered and nothing waits: with the chunker at the end, the run is complete. */
export function idle(t: LeaseTable): boolean {
  return t.queue.length === 0 && t.leases.size === 0 && t.failed === null;
}

export type TilingFault = { kind: 'gap' | 'overlap'; start: number; end: number };

/**
 * Whether ranges cover [dataStart, dataEnd) exactly once: the first gap or overlap, or null.
 * Pure; the store runs it in the transaction that marks a run done.
 */
export function tilingFault(
  ranges: Iterable<{ byteStart: number; byteEnd: number }>,
  dataStart: number,
  dataEnd: number,
): TilingFault | null {
  const sorted = [...ranges].sort((a, b) => a.byteStart - b.byteStart || a.byteEnd - b.byteEnd);
  let pos = dataStart;
  for (const r of sorted) {
    if (r.byteEnd <= r.byteStart) return { kind: 'overlap', start: r.byteStart, end: r.byteEnd };
    if (r.byteStart > pos) return { kind: 'gap', start: pos, end: r.byteStart };
    if (r.byteStart < pos) return { kind: 'overlap', start: r.byteStart, end: Math.min(pos, r.byteEnd) };
    pos = r.byteEnd;
  }
  if (pos < dataEnd) return { kind: 'gap', start: pos, end: dataEnd };
  if (pos > dataEnd) return { kind: 'overlap', start: dataEnd, end: pos };
  return null;
}

export function describeTilingFault(f: TilingFault): string {
  return f.kind === 'gap'
    ? `bytes ${f.start}-${f.end} of the data were never counted`
    : `bytes ${f.start}-${f.end} of the data were counted twice`;
}
