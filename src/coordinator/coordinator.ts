/**
 * The coordinator: wiring between the listener, the worker sessions, the lease table (scheduling),
 * the results (results.ts), resume and the store. Chunks are leased pull-style, each result is
 * committed exactly once, and the run is `done` only when its done chunks tile the data section.
 */

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { OrderConflicts } from '../aggregate/basket-count.js';
import type { CoordinatorOptions } from '../config.js';
import { deleteCellRuns, dropSpillFile, spillBytes } from '../db/cell-runs.js';
import { joinStats } from '../db/joins.js';
import { Store } from '../db/store.js';
import { errorMessage, SalesgridError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from '../protocol/frame-codec.js';
import { type Listener, listen } from '../protocol/socket-channel.js';
import { serverSecurity } from '../protocol/tls-security.js';
import type { ScanSpec } from '../scan-spec.js';
import type { ByteSource } from '../source/byte-source.js';
import type { Chunker } from './chunker.js';
import { recordEnd, summarize } from './end-of-run.js';
import { iso, openInput } from './input.js';
import { joinFrames } from './join-load.js';
import * as lt from './lease-table.js';
import { openRun } from './open-run.js';
import { checkOrders, secondPassWarning, storedSecondPass } from './order-check.js';
import { basketColumns } from './order-columns.js';
import { Pump } from './pump.js';
import { Results } from './results.js';
import type { CoordinatorUi, Progress, RunSummary, SecondPass } from './run-types.js';
import { type Session, Sessions } from './sessions.js';

export { proofFor } from './handshake.js';
export { openInput } from './input.js';
export type { CoordinatorUi, Progress, RunSummary, WorkerSummary } from './run-types.js';

type Status = RunSummary['status'];
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

  /** Results, failures and lost leases; the run's totals and counters (set up with the run). */
  private results!: Results;
  private pumper!: Pump;
  /** Set once the first pass found scattered orders and the run went on with every order shipped. */
  private secondPass: SecondPass | undefined;
  /** The order-id check of the finished spill, handed to the end so it does not run twice. */
  private orderCheck: OrderConflicts | undefined;
  private readonly startMs = Date.now();
  private lastWorkerMs = Date.now();

  private ready = false;
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
      message: (session, msg) => this.results.onMessage(session, msg),
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
    ({ table: this.table, chunker: this.chunker } = r);
    this.joinFrames = joinFrames(r.joins);
    if (this.resumed) this.secondPass = storedSecondPass(this.store, this.runId);
    const host = {
      ...{ table: this.table, chunker: this.chunker, sessions: this.sessions, store: this.store },
      ...{ runId: this.runId, transport: this.opts.transport, file: this.opts.file },
      identity: this.file.identity,
      shipAllOrders: () => this.spec.shipAllOrders === true,
      blocked: () => this.finished || this.stopping || this.results.failing,
      fail: (err: unknown) => this.abort(err),
      settled: () => this.checkComplete(),
    };
    this.pumper = new Pump(host, r.chunksSeen);
    this.results = new Results(
      {
        ...{ table: this.table, sessions: this.sessions, store: this.store, runId: this.runId, ui: this.ui },
        ...{ file: this.file, path: this.opts.file, fileSize: this.fileSize },
        spec: () => this.spec,
        careful: () => this.chunker.careful,
        stopping: () => this.stopping,
        finished: () => this.finished,
        pump: () => this.pump(),
        abort: (err: unknown) => this.abort(err),
        restartCareful: (chunkId: number) => this.restartCareful(chunkId),
      },
      r,
    );
  }

  // --- lost workers and restarts (results are in Results) -------------------------------------

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
      this.results.afterRelease(lease, verdict, 'lost', reason ?? 'connection closed');
    this.lastWorkerMs = now;
    this.pump();
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
    this.results.reset(this.spec.scale);
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
      this.results.afterRelease(lease, verdict, 'timeout', `no result within ${secs}s`);
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
      rows: this.results?.total.rows ?? 0,
      rejected: this.results?.total.rejected ?? 0,
      bytesDone: this.results?.bytesDone ?? 0,
      bytesTotal: this.fileSize,
      chunksDone: this.table?.done.size ?? 0,
      chunksTotal: this.chunker?.finished ? this.pumper.seen : est,
      chunksExact: this.chunker?.finished ?? false,
      workers: this.sessions.ready().length,
      retries: this.results?.retries ?? 0,
    };
  }

  private checkComplete(): void {
    if (this.finished || this.pumper.busy || this.results.failing || this.stopping || !this.ready) return;
    if (!this.chunker.finished || !lt.idle(this.table)) return;
    try {
      const conflicts = checkOrders(this.store, this.runId, this.spec, this.results.total.scale);
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
      total: this.results.total,
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
      ...{ wallMs: closedMs - this.startMs, total: this.results.total, chunks: this.table.done.size },
      ...{ retries: this.results.retries, duplicates: this.results.duplicates },
      ...{
        workerStats: this.results.workerStats,
        usage: this.results.usage,
        resumed: this.resumed,
        hasPrice: this.spec.price >= 0,
        baskets,
        mergeChildren,
      },
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
