/**
 * A run's results as workers report them: a result classified against the lease table (late,
 * duplicate, superseded, never leased), checked, committed in one transaction with its keyed cells
 * and only then added to the totals; a failure report; a lease that ended without a result, which
 * fails the run once its chunk has no tries left; and, when a worker says its copy of the file
 * differs, the check of the coordinator's own. Holds the counters progress and the summary read.
 */
import { Packr } from 'msgpackr';
import { type Agg, aggFromWire, emptyAgg, mergeInto, type WirePartial } from '../aggregate/partial.js';
import { saveCellRuns } from '../db/cell-runs.js';
import type { Store } from '../db/store.js';
import { ChunkFailedError, errorMessage, ProtocolError, SalesgridError } from '../errors.js';
import type { Failure, Result, Usage } from '../protocol/messages.js';
import type { ScanSpec } from '../scan-spec.js';
import { type ByteSource, identityDiff, openSource, sameIdentity } from '../source/byte-source.js';
import { receivedCells } from './collect.js';
import { planCommit, type WorkerStats } from './commit-plan.js';
import { iso, lineOf } from './input.js';
import * as lt from './lease-table.js';
import { checkBasketRuns } from './order-check.js';
import type { CoordinatorUi } from './run-types.js';
import type { Session, Sessions } from './sessions.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export interface ResultsHost {
  table: lt.LeaseTable;
  sessions: Sessions;
  store: Store;
  runId: number;
  ui: CoordinatorUi;
  /** The input as opened: its identity at the start, and where a failed chunk's line is counted. */
  file: ByteSource;
  /** The input's path or URL as given, opened again to check it. */
  path: string;
  fileSize: number;
  /** The scan spec (a second pass replaces it). */
  spec(): ScanSpec;
  /** The cuts are quote-aware already. */
  careful(): boolean;
  stopping(): boolean;
  finished(): boolean;
  pump(): void;
  abort(err: unknown): void;
  /** A chunk ended inside a quoted field under fast cuts: every cut so far is given up. */
  restartCareful(chunkId: number): void;
}

/** The totals a run starts from (zero, or what a resumed run had committed). */
export interface ResultsStart {
  total: Agg;
  workerStats: Map<string, WorkerStats>;
  bytesDone: number;
}

export class Results {
  total: Agg;
  workerStats: Map<string, WorkerStats>;
  bytesDone: number;
  readonly usage = new Map<string, Usage>();
  retries = 0;
  duplicates = 0;
  /** A chunk ran out of attempts; the run is about to fail. */
  failing = false;
  /** A worker refused its byte ranges (E_SOURCE_MISMATCH): the coordinator is checking its own file. */
  private checkingSource = false;

  constructor(
    private readonly h: ResultsHost,
    start: ResultsStart,
  ) {
    this.total = start.total;
    this.workerStats = start.workerStats;
    this.bytesDone = start.bytesDone;
  }

  /** A worker's result or failure report for a chunk. */
  onMessage(session: Session, msg: Result | Failure): void {
    if (msg.type === 'failure') return this.onFailure(session, msg.chunkId, msg.code, msg.message);
    if (msg.usage) this.usage.set(session.workerId, msg.usage);
    this.onResult(session, msg.chunkId, msg.attempt, msg.partial, msg.parseMs);
  }

  /** Every cut so far was given up: the totals start again from zero at `scale`. */
  reset(scale: number): void {
    this.total = emptyAgg(scale);
    this.workerStats.clear();
    this.bytesDone = 0;
  }

  private onResult(
    session: Session,
    chunkId: number,
    attempt: number,
    partial: WirePartial,
    parseMs: number,
  ): void {
    const verdict = lt.classifyResult(this.h.table, session.id, chunkId);
    const ignore = (why: string) => {
      this.h.ui.warn(
        `ignored a late result for chunk ${chunkId} (attempt ${attempt}) from ${session.workerId}: ${why}`,
      );
      this.h.store.recordAttemptEnd(this.h.runId, chunkId, attempt, 'late', iso(Date.now()), why);
      this.h.pump();
    };
    if (verdict.kind === 'never-leased') {
      return this.h.sessions.drop(session, `result for chunk ${chunkId}, which was never leased to it`);
    }
    if (verdict.kind === 'given-up') return ignore('the chunk was given up');
    if (verdict.kind === 'duplicate') {
      this.duplicates++;
      return ignore('already counted');
    }
    const spec = this.h.spec();
    let outcome: ReturnType<typeof aggFromWire>;
    try {
      outcome = aggFromWire(partial, spec.maxKeys);
      // A worker that predates the customers table would leave its chunks' customers out silently.
      if (spec.customer !== undefined && !outcome.cells.some((r) => r.kind === 'cust'))
        throw new ProtocolError('no customer cells in a run with a customer column (is the worker older?)');
      checkBasketRuns(outcome.cells, spec);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // Back to the queue now, not at the lease timeout; then the connection goes.
      const own = this.h.table.leases.get(chunkId);
      if (own?.holder === session.id) {
        const v = lt.release(this.h.table, session.id, chunkId, err.code, this.h.stopping());
        this.afterRelease(own, v, 'failed', `malformed result: ${err.message}`);
      }
      return this.h.sessions.drop(session, `malformed result for chunk ${chunkId}: ${err.message}`);
    }
    if (outcome.endsInQuote && verdict.range.byteEnd < this.h.fileSize && !this.h.careful()) {
      return this.h.restartCareful(chunkId);
    }
    if (verdict.superseded !== null) {
      // A stalled worker came back first: its result counts; the re-lease's will be ignored.
      const sup = verdict.superseded;
      this.h.store.recordAttemptEnd(
        this.h.runId,
        chunkId,
        sup.attempt,
        'late',
        iso(Date.now()),
        'superseded',
      );
    }
    const detail = verdict.late ? 'delivered after its lease timed out' : null;
    this.commit(session, verdict.range, attempt, outcome, parseMs, detail);
    let cellBytes = 0;
    for (const r of outcome.cells) for (const b of r.blocks) cellBytes += b.length;
    receivedCells(cellBytes);
    this.h.pump();
  }

  /** Stores the result first (one transaction); memory moves only once it committed. */
  private commit(
    session: Session,
    range: lt.ChunkRange,
    attempt: number,
    outcome: ReturnType<typeof aggFromWire>,
    parseMs: number,
    detail: string | null,
  ): void {
    const { write, stats } = planCommit({
      runId: this.h.runId,
      range,
      attempt,
      workerId: session.workerId,
      nowIso: iso(Date.now()),
      outcome,
      parseMs,
      detail,
      total: this.total,
      stats: this.workerStats.get(session.workerId),
      chunksDone: this.h.table.done.size,
      bytesDone: this.bytesDone,
      pack: (w) => packr.pack(w),
    });
    // The chunk's keyed cells are spilled in the chunk's own transaction: they count iff it does.
    this.h.store.transaction(() => {
      this.h.store.recordResult(write);
      saveCellRuns(this.h.store, this.h.runId, range.chunkId, outcome.cells);
    });
    lt.complete(this.h.table, range);
    mergeInto(this.total, outcome.agg);
    this.workerStats.set(session.workerId, stats);
    this.bytesDone += range.byteEnd - range.byteStart;
  }

  private onFailure(session: Session, chunkId: number, code: string, message: string): void {
    if (lt.classifyResult(this.h.table, session.id, chunkId).kind === 'never-leased') {
      return this.h.sessions.drop(session, `failure for chunk ${chunkId}, which was never leased to it`);
    }
    const own = this.h.table.leases.get(chunkId);
    if (own === undefined || own.holder !== session.id) return this.h.pump();
    this.h.ui.warn(`chunk ${chunkId} failed on ${session.workerId}: ${message}`);
    const v = lt.release(this.h.table, session.id, chunkId, code, this.h.stopping());
    this.afterRelease(own, v, 'failed', `${code}: ${message}`);
    if (code === 'E_SOURCE_MISMATCH') this.checkSource();
    this.h.pump();
  }

  /**
   * A worker says its copy is not the coordinator's file. That is its copy's fault unless the
   * coordinator's own file changed too (same checks: size, mtime, content fingerprint): then every
   * worker would refuse, so the run fails now instead of waiting.
   */
  private checkSource(): void {
    if (this.checkingSource || this.h.finished() || this.failing) return;
    this.checkingSource = true;
    const started = this.h.file.identity;
    openSource(this.h.path)
      .then(async (now) => {
        await now.close();
        if (sameIdentity(started, now.identity) || this.h.finished()) return;
        this.h.abort(
          new SalesgridError(
            'E_SOURCE_CHANGED',
            `${this.h.path} changed during the run (${identityDiff(now.identity, started)}); start a new run`,
            { exitCode: 2 },
          ),
        );
      })
      .catch((err) => {
        if (!this.h.finished())
          this.h.abort(
            new SalesgridError(
              'E_SOURCE_CHANGED',
              `${this.h.path} changed during the run: ${errorMessage(err)}`,
              {
                exitCode: 2,
              },
            ),
          );
      })
      .finally(() => {
        this.checkingSource = false;
      });
  }

  /** Records a lease that ended without a result; fails the run if its chunk gave up. */
  afterRelease(
    lease: lt.Lease,
    v: lt.ReleaseVerdict,
    outcome: 'lost' | 'timeout' | 'failed',
    detail: string,
  ) {
    const id = lease.range.chunkId;
    this.h.store.recordAttemptEnd(this.h.runId, id, lease.attempt, outcome, iso(Date.now()), detail);
    if (v.kind === 'requeued' && !this.h.stopping()) this.retries++;
    if (v.kind !== 'give-up') return;
    this.h.store.markChunkFailed(this.h.runId, id);
    // Failing is decided now; the message waits for a line count, and the run must not finish meanwhile.
    this.failing = true;
    const { chunkId, byteStart, byteEnd } = lease.range;
    void lineOf(this.h.file, byteStart)
      .then(String, () => '?')
      .then((line) =>
        this.h.abort(
          new ChunkFailedError(
            `chunk ${chunkId} (bytes ${byteStart}-${byteEnd}, from line ${line}) failed ${v.tries} time(s); last: ${detail}`,
          ),
        ),
      );
  }
}
