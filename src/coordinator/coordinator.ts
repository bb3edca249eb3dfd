/**
 * The coordinator: wiring between the listener, the worker sessions, the lease table (scheduling),
 * resume, the commit plan and the store. Chunks are leased pull-style, each result is committed
 * exactly once, and the run is `done` only when its done chunks tile the data section.
 */

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Packr } from 'msgpackr';
import type { OrderConflicts } from '../aggregate/basket-count.js';
import { type Agg, aggFromWire, emptyAgg, mergeInto, type WirePartial } from '../aggregate/partial.js';
import type { CoordinatorOptions } from '../config.js';
import { deleteCellRuns, dropSpillFile, saveCellRuns, spillBytes } from '../db/cell-runs.js';
import { joinStats } from '../db/joins.js';
import { Store } from '../db/store.js';
import { ChunkFailedError, errorMessage, ProtocolError, SalesgridError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from '../protocol/frame-codec.js';
import type { Usage } from '../protocol/messages.js';
import { type Listener, listen } from '../protocol/socket-channel.js';
import { serverSecurity } from '../protocol/tls-security.js';
import type { ScanSpec } from '../scan-spec.js';
import { type ByteSource, identityDiff, openSource, sameIdentity } from '../source/byte-source.js';
import type { Chunker } from './chunker.js';
import { receivedCells } from './collect.js';
import { planCommit, type WorkerStats } from './commit-plan.js';
import { recordEnd, summarize } from './end-of-run.js';
import { iso, lineOf, openInput } from './input.js';
import { joinFrames } from './join-load.js';
import * as lt from './lease-table.js';
import { openRun } from './open-run.js';
import { checkBasketRuns, checkOrders, secondPassWarning, storedSecondPass } from './order-check.js';
import { basketColumns } from './order-columns.js';
import { Pump } from './pump.js';
import type { CoordinatorUi, Progress, RunSummary, SecondPass } from './run-types.js';
import { type Session, Sessions } from './sessions.js';

export { proofFor } from './handshake.js';
export { openInput } from './input.js';
export type { CoordinatorUi, Progress, RunSummary, WorkerSummary } from './run-types.js';

type Status = RunSummary['status'];
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const LOCK_STALE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
const DRAIN_MS = 3_000;

/** Spilled keyed cells past which the workers are released before the merges (~1M cells). */
const RELEASE_SPILL_BYTES = 32 * 2 ** 20;

export class Coordinator {
  private readonly opts: CoordinatorOptions;
  private readonly ui: CoordinatorUi;
  private readonly prebound: Listener | null;
  private readonly sessions: Sessions;
  private store!: Store;
  private file!: ByteSource;
  /** A worker refused its byte ranges (E_SOURCE_MISMATCH): the coordinator is checking its own file. */
  private checkingSource = false;
  private fileSize = 0;
  private dataStart = 0;
  private chunker!: Chunker;
  private spec!: ScanSpec;
  /** The `--join` tables as encoded `join` frames, built once and sent after every welcome. */
  private joinFrames: Uint8Array[] = [];
  private table!: lt.LeaseTable;
  private runId = 0;
  private resumed = false;
  private listener: Listener | null = null;
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  private total: Agg = emptyAgg();
  private workerStats = new Map<string, WorkerStats>();
  private readonly usage = new Map<string, Usage>();
  private bytesDone = 0;
  private pumper!: Pump;
  private retries = 0;
  private duplicates = 0;
  /** Set once the first pass found scattered orders and the run went on with every order shipped. */
  private secondPass: SecondPass | undefined;
  /** The order-id check of the finished spill, handed to the end so it does not run twice. */
  private orderCheck: OrderConflicts | undefined;
  private readonly startMs = Date.now();
  private lastWorkerMs = Date.now();

  private ready = false;
  /** A chunk ran out of attempts; the run is about to fail. */
  private failing = false;
  private stopping = false;
  /** `fail` called while preparing: the run fails as soon as it exists. */
  private failLater: unknown = null;
  private finished = false;
  private endStatus: Status = 'done';
  private settle!: (s: RunSummary) => void;
  private reject!: (e: unknown) => void;
  private readonly timers: NodeJS.Timeout[] = [];
  private closedDone!: () => void;
  /** Resolves once the coordinator stopped listening (after lingering past the end). */
  readonly closed = new Promise<void>((resolve) => {
    this.closedDone = resolve;
  });

  /** `listener`: a port bound beforehand (by `run`, or a test's in-memory listener). */
  constructor(opts: CoordinatorOptions, ui: CoordinatorUi, listener: Listener | null = null) {
    this.opts = opts;
    this.ui = ui;
    this.prebound = listener;
    this.sessions = new Sessions(opts, ui, {
      ready: () => this.ready,
      stopping: () => this.stopping,
      ended: () => (this.finished ? { runId: this.runId, status: this.endStatus } : null),
      joined: (session, hello) => {
        this.store.workerConnected(this.runId, hello.workerId, session.channel.remote, iso(Date.now()));
        this.lastWorkerMs = Date.now();
        return { runId: this.runId, spec: this.spec, joinFrames: this.joinFrames };
      },
      message: (session, msg) => {
        if (msg.type === 'failure') return this.onFailure(session, msg.chunkId, msg.code, msg.message);
        if (msg.usage) this.usage.set(session.workerId, msg.usage);
        this.onResult(session, msg.chunkId, msg.attempt, msg.partial, msg.parseMs);
      },
      lost: (session, reason, dropped) => this.onLost(session, reason, dropped),
      wake: () => this.pump(),
      fatal: (err) => this.abort(err),
    });
  }

  /** Runs to the end: resolves with the summary of a finished or interrupted run, rejects for a failed one. */
  async run(): Promise<RunSummary> {
    const done = new Promise<RunSummary>((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
    });
    const input = await openInput(this.opts.file).catch(async (err) => {
      await this.prebound?.close();
      throw err;
    });
    this.file = input.handle;
    this.fileSize = input.size;
    try {
      this.store = Store.open(this.opts.db);
    } catch (err) {
      await this.prebound?.close();
      await this.file.close();
      throw err;
    }
    try {
      // Listen first: workers connect while the layout is read; their handshake waits until ready.
      const security =
        this.opts.token === null
          ? undefined
          : serverSecurity(this.opts.token, this.opts.handshakeTimeoutMs, this.opts.tls);
      this.listener =
        this.prebound ?? (await listen(this.opts.host, this.opts.port, DEFAULT_MAX_FRAME, security));
      this.listener.onError((err) =>
        this.ui.warn(`accepting a connection failed (${err.message}); still serving`),
      );
      this.listener.accept(
        (ch) => this.sessions.accept(ch),
        (remote, reason) => this.ui.warn(`refused ${remote}: ${reason}`),
      );
      this.ui.bound?.(this.listener.host, this.listener.port);
      await this.prepare(input.mtimeMs);
    } catch (err) {
      if (this.runId !== 0)
        this.store.finishRun(this.runId, 'failed', iso(Date.now()), errorMessage(err), null);
      await this.listener?.close();
      await this.file.close();
      this.store.close();
      this.closedDone();
      throw err;
    }
    this.ready = true;
    this.sessions.release();
    this.ui.listening?.(this.listener.host, this.listener.port, this.runId);
    this.timers.push(setInterval(() => this.tick(), 250));
    this.timers.push(setInterval(() => this.store.heartbeat(this.runId, this.owner), HEARTBEAT_MS));
    // Workers drop a coordinator silent for 20 s by default, so never ping less often than every 5 s.
    const pingMs = Math.min(5_000, Math.max(50, this.opts.peerTimeoutMs / 3));
    this.timers.push(setInterval(() => this.sessions.ping(Date.now()), pingMs));
    // Ctrl-C while preparing: the run exists now and is recorded as interrupted, resumable.
    if (this.failLater !== null) this.abort(this.failLater);
    else if (this.stopping) void this.finish('interrupted', null);
    else this.checkComplete();
    return done;
  }

  /** Port actually bound (after `run` has started listening). */
  get port(): number {
    return this.listener?.port ?? 0;
  }

  /** Ctrl-C / SIGTERM: stop leasing, wait briefly for in-flight results, record `interrupted`. */
  interrupt(): void {
    if (this.stopping || this.finished) return;
    this.stopping = true;
    if (!this.ready) return this.ui.warn('stopping: the run ends as soon as it is set up');
    this.ui.warn(
      `stopping: waiting up to ${DRAIN_MS / 1000}s for ${this.table.leases.size} chunk(s) in flight`,
    );
    const deadline = Date.now() + DRAIN_MS;
    const wait = setInterval(() => {
      if (this.table.leases.size === 0 || Date.now() >= deadline) {
        clearInterval(wait);
        void this.finish('interrupted', null);
      }
    }, 50);
  }

  /** Ends the run as failed from outside (e.g. every local worker process died). */
  fail(err: unknown): void {
    if (this.ready) this.abort(err);
    else this.failLater = err;
  }

  // --- setup ----------------------------------------------------------------------------------

  private async prepare(mtimeMs: number): Promise<void> {
    const r = await openRun({
      ...{ store: this.store, opts: this.opts, file: this.file, size: this.fileSize, mtimeMs },
      ...{ owner: this.owner, startMs: this.startMs, lockStaleMs: LOCK_STALE_MS, ui: this.ui },
    });
    ({ runId: this.runId, resumed: this.resumed, spec: this.spec, dataStart: this.dataStart } = r);
    ({ total: this.total, workerStats: this.workerStats, table: this.table, chunker: this.chunker } = r);
    this.bytesDone = r.bytesDone;
    this.joinFrames = joinFrames(r.joins);
    if (this.resumed) this.secondPass = storedSecondPass(this.store, this.runId);
    const host = {
      ...{ table: this.table, chunker: this.chunker, sessions: this.sessions, store: this.store },
      ...{ runId: this.runId, transport: this.opts.transport, file: this.opts.file },
      identity: this.file.identity,
      shipAllOrders: () => this.spec.shipAllOrders === true,
      blocked: () => this.finished || this.stopping || this.failing,
      fail: (err: unknown) => this.abort(err),
      settled: () => this.checkComplete(),
    };
    this.pumper = new Pump(host, r.chunksSeen);
  }

  // --- results --------------------------------------------------------------------------------

  private onResult(
    session: Session,
    chunkId: number,
    attempt: number,
    partial: WirePartial,
    parseMs: number,
  ): void {
    const verdict = lt.classifyResult(this.table, session.id, chunkId);
    const ignore = (why: string) => {
      this.ui.warn(
        `ignored a late result for chunk ${chunkId} (attempt ${attempt}) from ${session.workerId}: ${why}`,
      );
      this.store.recordAttemptEnd(this.runId, chunkId, attempt, 'late', iso(Date.now()), why);
      this.pump();
    };
    if (verdict.kind === 'never-leased') {
      return this.sessions.drop(session, `result for chunk ${chunkId}, which was never leased to it`);
    }
    if (verdict.kind === 'given-up') return ignore('the chunk was given up');
    if (verdict.kind === 'duplicate') {
      this.duplicates++;
      return ignore('already counted');
    }
    let outcome: ReturnType<typeof aggFromWire>;
    try {
      outcome = aggFromWire(partial, this.spec.maxKeys);
      // A worker that predates the customers table would leave its chunks' customers out silently.
      if (this.spec.customer !== undefined && !outcome.cells.some((r) => r.kind === 'cust'))
        throw new ProtocolError('no customer cells in a run with a customer column (is the worker older?)');
      checkBasketRuns(outcome.cells, this.spec);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // Back to the queue now, not at the lease timeout; then the connection goes.
      const own = this.table.leases.get(chunkId);
      if (own?.holder === session.id) {
        const v = lt.release(this.table, session.id, chunkId, err.code, this.stopping);
        this.afterRelease(own, v, 'failed', `malformed result: ${err.message}`);
      }
      return this.sessions.drop(session, `malformed result for chunk ${chunkId}: ${err.message}`);
    }
    if (outcome.endsInQuote && verdict.range.byteEnd < this.fileSize && !this.chunker.careful) {
      return this.restartCareful(chunkId);
    }
    if (verdict.superseded !== null) {
      // A stalled worker came back first: its result counts; the re-lease's will be ignored.
      const sup = verdict.superseded;
      this.store.recordAttemptEnd(this.runId, chunkId, sup.attempt, 'late', iso(Date.now()), 'superseded');
    }
    const detail = verdict.late ? 'delivered after its lease timed out' : null;
    this.commit(session, verdict.range, attempt, outcome, parseMs, detail);
    let cellBytes = 0;
    for (const r of outcome.cells) for (const b of r.blocks) cellBytes += b.length;
    receivedCells(cellBytes);
    this.pump();
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
      runId: this.runId,
      range,
      attempt,
      workerId: session.workerId,
      nowIso: iso(Date.now()),
      outcome,
      parseMs,
      detail,
      total: this.total,
      stats: this.workerStats.get(session.workerId),
      chunksDone: this.table.done.size,
      bytesDone: this.bytesDone,
      pack: (w) => packr.pack(w),
    });
    // The chunk's keyed cells are spilled in the chunk's own transaction: they count iff it does.
    this.store.transaction(() => {
      this.store.recordResult(write);
      saveCellRuns(this.store, this.runId, range.chunkId, outcome.cells);
    });
    lt.complete(this.table, range);
    mergeInto(this.total, outcome.agg);
    this.workerStats.set(session.workerId, stats);
    this.bytesDone += range.byteEnd - range.byteStart;
  }

  private onFailure(session: Session, chunkId: number, code: string, message: string): void {
    if (lt.classifyResult(this.table, session.id, chunkId).kind === 'never-leased') {
      return this.sessions.drop(session, `failure for chunk ${chunkId}, which was never leased to it`);
    }
    const own = this.table.leases.get(chunkId);
    if (own === undefined || own.holder !== session.id) return this.pump();
    this.ui.warn(`chunk ${chunkId} failed on ${session.workerId}: ${message}`);
    const v = lt.release(this.table, session.id, chunkId, code, this.stopping);
    this.afterRelease(own, v, 'failed', `${code}: ${message}`);
    if (code === 'E_SOURCE_MISMATCH') this.checkSource();
    this.pump();
  }

  /**
   * A worker says its copy is not the coordinator's file. That is its copy's fault unless the
   * coordinator's own file changed too (same checks: size, mtime, content fingerprint): then every
   * worker would refuse, so the run fails now instead of waiting.
   */
  private checkSource(): void {
    if (this.checkingSource || this.finished || this.failing) return;
    this.checkingSource = true;
    const started = this.file.identity;
    openSource(this.opts.file)
      .then(async (now) => {
        await now.close();
        if (sameIdentity(started, now.identity) || this.finished) return;
        this.abort(
          new SalesgridError(
            'E_SOURCE_CHANGED',
            `${this.opts.file} changed during the run (${identityDiff(now.identity, started)}); start a new run`,
            { exitCode: 2 },
          ),
        );
      })
      .catch((err) => {
        if (!this.finished)
          this.abort(
            new SalesgridError(
              'E_SOURCE_CHANGED',
              `${this.opts.file} changed during the run: ${errorMessage(err)}`,
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

  private onLost(session: Session, reason: string | null, dropped: boolean): void {
    if (this.finished) return;
    const now = Date.now();
    this.store.workerDisconnected(this.runId, session.workerId, iso(now));
    const lost = lt.releaseHolder(this.table, session.id, this.stopping);
    const requeue = lost.length ? `; re-queueing ${lost.length} chunk(s)` : '';
    if (dropped) {
      if (lost.length > 0) this.ui.warn(`re-queueing ${lost.length} chunk(s) of ${session.workerId}`);
    } else if (lost.length > 0 || reason !== null) {
      this.ui.warn(`worker ${session.workerId} disconnected${reason ? ` (${reason})` : ''}${requeue}`);
    } else this.ui.info(`worker ${session.workerId} left`);
    for (const { lease, verdict } of lost)
      this.afterRelease(lease, verdict, 'lost', reason ?? 'connection closed');
    this.lastWorkerMs = now;
    this.pump();
  }

  /** Records a lease that ended without a result; fails the run if its chunk gave up. */
  private afterRelease(
    lease: lt.Lease,
    v: lt.ReleaseVerdict,
    outcome: 'lost' | 'timeout' | 'failed',
    detail: string,
  ) {
    const id = lease.range.chunkId;
    this.store.recordAttemptEnd(this.runId, id, lease.attempt, outcome, iso(Date.now()), detail);
    if (v.kind === 'requeued' && !this.stopping) this.retries++;
    if (v.kind !== 'give-up') return;
    this.store.markChunkFailed(this.runId, id);
    // Failing is decided now; the message waits for a line count, and the run must not finish meanwhile.
    this.failing = true;
    const { chunkId, byteStart, byteEnd } = lease.range;
    void lineOf(this.file, byteStart)
      .then(String, () => '?')
      .then((line) =>
        this.abort(
          new ChunkFailedError(
            `chunk ${chunkId} (bytes ${byteStart}-${byteEnd}, from line ${line}) failed ${v.tries} time(s); last: ${detail}`,
          ),
        ),
      );
  }

  /**
   * A chunk ended inside a quoted field (a line break inside quotes, or a stray quote the limit
   * has not yet judged), so a fast cut was wrong. Every chunk cut so far is given up (in memory
   * and in the database) and the file is cut again under the quote rule, under fresh chunk ids.
   */
  private restartCareful(chunkId: number): void {
    this.ui.warn(
      `chunk ${chunkId} ends inside a quoted field: a fast cut was wrong; starting over with quote-aware cuts`,
    );
    this.forgetProgress(() => this.store.resetRunForCarefulCuts(this.runId, iso(Date.now())));
    this.chunker.restartCareful();
    this.pump();
  }

  /**
   * Gives up every chunk cut so far, in memory and, with `resetRun`, in the database (one
   * transaction with the spill's deletion); new cuts take fresh chunk ids.
   */
  private forgetProgress(resetRun: () => void): void {
    lt.restartCareful(this.table, this.chunker.nextChunkId);
    this.total = emptyAgg(this.spec.scale);
    this.workerStats.clear();
    this.bytesDone = 0;
    this.pumper.seen = 0;
    this.store.transaction(() => {
      resetRun();
      deleteCellRuns(this.store, this.runId);
    });
    dropSpillFile(this.store, this.runId, false);
  }

  /** The spill's size; 0 when it cannot be read (recordEnd then reports the database's error). */
  private spilled(): number {
    try {
      return spillBytes(this.store, this.runId);
    } catch {
      return 0;
    }
  }

  // --- scheduling (the passes are in Pump) --------------------------------------------------

  private pump(): void {
    if (this.ready) this.pumper.run();
  }

  private tick(): void {
    const now = Date.now();
    for (const { lease, verdict } of lt.expire(this.table, now)) {
      const s = this.sessions.all.get(lease.holder);
      const secs = this.opts.leaseTimeoutMs / 1000;
      this.ui.warn(
        `chunk ${lease.range.chunkId} on ${s?.workerId ?? '?'} passed its ${secs}s lease; leasing it again`,
      );
      if (s !== undefined) s.stalled = true;
      this.afterRelease(lease, verdict, 'timeout', `no result within ${secs}s`);
    }
    this.sessions.dropSilent(now);
    this.pump();
    const ready = this.sessions.ready().length;
    if (ready > 0) this.lastWorkerMs = now;
    const wait = this.opts.waitTimeoutMs;
    if (wait !== null && ready === 0 && !this.finished && !this.stopping && now - this.lastWorkerMs > wait) {
      const why = `no worker connected for ${wait / 1000}s; giving up (the run can be resumed with --resume)`;
      return this.abort(new SalesgridError('E_WAIT_TIMEOUT', why));
    }
    this.ui.progress?.(this.snapshot());
  }

  snapshot(): Progress {
    const est = Math.max(
      this.pumper?.seen ?? 0,
      Math.ceil((this.fileSize - this.dataStart) / this.opts.chunkSize),
    );
    return {
      runId: this.runId,
      elapsedMs: Date.now() - this.startMs,
      rows: this.total.rows,
      rejected: this.total.rejected,
      bytesDone: this.bytesDone,
      bytesTotal: this.fileSize,
      chunksDone: this.table?.done.size ?? 0,
      chunksTotal: this.chunker?.finished ? this.pumper.seen : est,
      chunksExact: this.chunker?.finished ?? false,
      workers: this.sessions.ready().length,
      retries: this.retries,
    };
  }

  private checkComplete(): void {
    if (this.finished || this.pumper.busy || this.failing || this.stopping || !this.ready) return;
    if (!this.chunker.finished || !lt.idle(this.table)) return;
    try {
      const conflicts = checkOrders(this.store, this.runId, this.spec, this.total.scale);
      if (conflicts !== undefined && conflicts.count > 0) return this.restartShipAll(conflicts);
      this.orderCheck = conflicts;
    } catch (err) {
      return this.abort(err);
    }
    void this.finish('done', null);
  }

  /**
   * Orders are not contiguous across chunks, so the orders counted inside chunks are wrong. Like a
   * quote-aware restart, every chunk is given up and the file is cut again under fresh ids, now
   * with every order's items shipped to the coordinator (exact for any layout); the spec in the
   * database says so, so `--resume` goes on the same way.
   */
  private restartShipAll(c: OrderConflicts): void {
    this.ui.warn(secondPassWarning(c));
    this.secondPass = { orderIds: c.count, examples: c.examples };
    this.spec = { ...this.spec, shipAllOrders: true };
    this.forgetProgress(() =>
      this.store.resetRunForSecondPass(this.runId, iso(Date.now()), this.spec, this.secondPass),
    );
    this.chunker.restart();
    this.pump();
  }

  private abort(err: unknown): void {
    if (this.finished) return;
    const e = err instanceof SalesgridError ? err : new SalesgridError('E_INTERNAL', errorMessage(err));
    void this.finish('failed', e);
  }

  // --- end ------------------------------------------------------------------------------------

  /** Records the end (`done` only if the done chunks tile the data), tells the workers, lingers. */
  private async finish(wanted: Status, wantedError: SalesgridError | null): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearInterval(t);
    const now = Date.now();
    const connected = this.sessions.ready().map((s) => s.workerId);
    // Merging a large spill blocks this process for seconds (tens at 10M keys), longer than a
    // worker waits for a silent coordinator: release the workers first. A small one closes at once
    // and the workers hear the final status.
    const released = wanted === 'done' && this.spilled() > RELEASE_SPILL_BYTES;
    if (released) this.sessions.end(this.runId, 'closing');
    const { status, error, baskets, mergeChildren } = recordEnd({
      store: this.store,
      runId: this.runId,
      status: wanted,
      error: wantedError,
      total: this.total,
      dimensions: this.spec.dimensions.map((d) => d.name),
      marts: (this.spec.marts ?? []).map((d) => d.name),
      customers:
        this.spec.customer === undefined
          ? null
          : { orders: this.spec.order !== undefined, categories: this.spec.category !== undefined },
      basket: basketColumns(this.spec),
      orderCheck: this.orderCheck,
      dataStart: this.dataStart,
      fileSize: this.fileSize,
      connected,
      nowMs: now,
      lockStaleMs: LOCK_STALE_MS,
      ui: this.ui,
    });
    // The wall time includes closing the run (the merge of keyed cells into their tables).
    const closedMs = Date.now();
    this.endStatus = status;
    if (!released) this.sessions.end(this.runId, status);
    await this.file.close().catch(() => {});
    const summary = summarize({
      ...{ runId: this.runId, status, error, file: this.opts.file, db: this.store.path },
      ...{ wallMs: closedMs - this.startMs, total: this.total, chunks: this.table.done.size },
      ...{ retries: this.retries, duplicates: this.duplicates, workerStats: this.workerStats },
      ...{ usage: this.usage, resumed: this.resumed, hasPrice: this.spec.price >= 0, baskets, mergeChildren },
      secondPass: this.secondPass,
      joins:
        status === 'done' && this.spec.joins !== undefined ? joinStats(this.store, this.runId) : undefined,
    });
    this.store.close();
    const close = async () => {
      // Workers close their end on `done`; the listener's grace lets that frame through.
      await this.listener?.close(1_000);
      this.sessions.destroyAll();
      this.closedDone();
    };
    if (this.opts.lingerMs === 0) await close();
    if (status === 'failed' && error !== null) {
      (error as SalesgridError & { summary?: RunSummary }).summary = summary;
      this.reject(error);
    } else this.settle(summary);
    // Stay a little: a worker that connects now learns that its run is over instead of retrying.
    if (this.opts.lingerMs > 0) setTimeout(() => void close(), this.opts.lingerMs);
  }
}
