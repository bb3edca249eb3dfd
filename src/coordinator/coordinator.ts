/**
 * The coordinator: wiring between the sockets, the lease table (scheduling), the handshake check,
 * resume, the commit plan and the store. It accepts workers at any time, leases chunks pull-style,
 * commits each result exactly once and closes the run only when its done chunks tile the file.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import { Packr } from 'msgpackr';
import { formatScaled } from '../aggregate/decimal.js';
import {
  type Agg,
  aggFromWire,
  emptyAgg,
  finalizeTotals,
  mergeInto,
  type WirePartial,
} from '../aggregate/partial.js';
import type { CoordinatorOptions } from '../config.js';
import { MAX_CHUNK_SIZE } from '../config.js';
import { Store } from '../db/store.js';
import {
  ChunkFailedError,
  errorMessage,
  ProtocolError,
  SalesgridError,
  TooManyKeysError,
} from '../errors.js';
import type { Channel } from '../protocol/channel.js';
import { DEFAULT_MAX_FRAME } from '../protocol/frame-codec.js';
import {
  asHello,
  asToCoordinator,
  encodeTaskParts,
  type Hello,
  PROTOCOL_VERSION,
  processUsage,
  type Usage,
} from '../protocol/messages.js';
import { type Listener, listen } from '../protocol/socket-channel.js';
import type { ScanSpec } from '../scan-spec.js';
import { Chunker } from './chunker.js';
import { planCommit, planFinish, type WorkerStats } from './commit-plan.js';
import { checkHello, versionRefusal } from './handshake.js';
import { iso, lineOf, openInput, ownerIsDead, readSample } from './input.js';
import { detectLayout } from './layout.js';
import * as lt from './lease-table.js';
import { resumeRun } from './resume.js';
import type { CoordinatorUi, Progress, RunSummary } from './run-types.js';

export { proofFor } from './handshake.js';
export { openInput } from './input.js';
export type { CoordinatorUi, Progress, RunSummary, WorkerSummary } from './run-types.js';

interface Session {
  id: number;
  channel: Channel;
  state: 'handshake' | 'ready' | 'closed';
  nonce: Buffer;
  workerId: string;
  slots: number;
  /** A lease of it timed out: no new work until it speaks again. */
  stalled: boolean;
  lastHeardMs: number;
  handshakeTimer: NodeJS.Timeout | null;
}

type Status = RunSummary['status'];
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const LOCK_STALE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
const DRAIN_MS = 3_000;
const HANDSHAKE_MAX_FRAME = 64 * 1024;
/** No new task goes to a connection with this much still unsent (socket backpressure). */
const BACKLOG_LIMIT = 1024 * 1024;

export class Coordinator {
  private readonly opts: CoordinatorOptions;
  private readonly ui: CoordinatorUi;
  private readonly prebound: Listener | null;
  private store!: Store;
  private file!: FileHandle;
  private fileSize = 0;
  private dataStart = 0;
  private chunker!: Chunker;
  private spec!: ScanSpec;
  private table!: lt.LeaseTable;
  private runId = 0;
  private resumed = false;
  private listener: Listener | null = null;
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  private total: Agg = emptyAgg();
  private readonly sessions = new Map<number, Session>();
  private nextSession = 1;
  private workerStats = new Map<string, WorkerStats>();
  private readonly usage = new Map<string, Usage>();
  private readonly dropped = new WeakSet<Session>();
  private bytesDone = 0;
  private chunksSeen = 0;
  private retries = 0;
  private duplicates = 0;
  private readonly startMs = Date.now();
  private lastWorkerMs = Date.now();

  private ready = false;
  /** A chunk ran out of attempts; the run is about to fail. */
  private failing = false;
  private readonly held: Session[] = [];
  private pumping = false;
  private pumpAgain = false;
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
      this.listener = this.prebound ?? (await listen(this.opts.host, this.opts.port, DEFAULT_MAX_FRAME));
      this.listener.onError((err) =>
        this.ui.warn(`accepting a connection failed (${err.message}); still serving`),
      );
      this.listener.accept((ch) => this.accept(ch));
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
    for (const session of this.held.splice(0)) if (!session.channel.closed) this.challenge(session);
    this.ui.listening?.(this.listener.host, this.listener.port, this.runId);
    this.timers.push(setInterval(() => this.tick(), 250));
    this.timers.push(setInterval(() => this.store.heartbeat(this.runId, this.owner), HEARTBEAT_MS));
    this.timers.push(setInterval(() => this.pingAll(), Math.max(50, this.opts.peerTimeoutMs / 3)));
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
    const o = this.opts;
    if (o.resume) {
      const r = resumeRun(this.store, o, { size: this.fileSize, mtimeMs }, this.owner, LOCK_STALE_MS);
      this.runId = r.run.id;
      this.resumed = true;
      this.spec = r.spec;
      this.total = r.total;
      this.workerStats = r.workerStats;
      this.dataStart = r.run.data_start;
      this.newTable();
      lt.resumeTable(this.table, r.done, r.attempts);
      this.bytesDone = lt.bytesDone(this.table);
      this.chunksSeen = r.done.length;
      this.newChunker(r.run.chunk_size, r.careful, {
        skip: r.done,
        idAt: (start: number) => r.idByStart.get(start),
        firstId: r.firstId,
      });
      this.ui.info(
        `resuming run ${r.run.id}: ${r.done.length} chunk(s) already done (${this.total.rows.toLocaleString('en-US')} rows), skipping ${this.bytesDone.toLocaleString('en-US')} bytes`,
      );
      return;
    }
    const layout = detectLayout({ ...(await readSample(this.file, this.fileSize)), path: o.file }, o.columns);
    this.spec = layout.spec;
    this.total = emptyAgg(layout.spec.scale);
    this.dataStart = layout.dataStart;
    for (const n of layout.notes) this.ui.info(`detected ${n}`);
    for (const w of layout.warnings) this.ui.warn(w);
    const live = this.store.liveRunForFile(o.file, LOCK_STALE_MS);
    if (live !== undefined && !ownerIsDead(live.lock_owner)) {
      throw new SalesgridError(
        'E_DB_LOCKED',
        `run ${live.id} over ${o.file} is in progress in ${o.db} (coordinator ${live.lock_owner}); use another --db or wait`,
        { exitCode: 2 },
      );
    }
    this.runId = this.store.createRun({
      file: o.file,
      size: this.fileSize,
      mtimeMs,
      options: {
        chunkSize: o.chunkSize,
        columns: o.columns,
        maxAttempts: o.maxAttempts,
        transport: o.transport,
        careful: layout.quotedNewlines,
      },
      spec: layout.spec,
      dataStart: layout.dataStart,
      headerLines: layout.headerLines,
      chunkSize: o.chunkSize,
      scale: layout.spec.scale,
      startedAt: iso(this.startMs),
      lockOwner: this.owner,
      chunksTotal: this.fileSize === layout.dataStart ? 0 : null,
    });
    this.newTable();
    this.newChunker(o.chunkSize, layout.quotedNewlines, {});
  }

  private newTable(): void {
    this.table = lt.newLeaseTable({
      dataStart: this.dataStart,
      dataEnd: this.fileSize,
      maxAttempts: this.opts.maxAttempts,
      leaseMs: this.opts.leaseTimeoutMs,
    });
  }

  private newChunker(
    chunkSize: number,
    careful: boolean,
    resume: { skip?: lt.ChunkRange[]; idAt?: (s: number) => number | undefined; firstId?: number },
  ): void {
    this.chunker = new Chunker(this.file, {
      dataStart: this.dataStart,
      fileSize: this.fileSize,
      chunkSize,
      maxChunk: MAX_CHUNK_SIZE,
      careful,
      readData: this.opts.transport === 'bytes',
      delimiter: this.spec.delimiter,
      ...resume,
    });
  }

  // --- connections ----------------------------------------------------------------------------

  private accept(channel: Channel): void {
    const session: Session = {
      id: this.nextSession++,
      channel,
      state: 'handshake',
      nonce: randomBytes(32),
      workerId: '',
      slots: 1,
      stalled: false,
      lastHeardMs: Date.now(),
      handshakeTimer: null,
    };
    this.sessions.set(session.id, session);
    // Until a peer proves itself, a frame may be no bigger than a hello.
    channel.setMaxFrame(HANDSHAKE_MAX_FRAME);
    session.handshakeTimer = setTimeout(() => {
      this.drop(session, `no hello within ${this.opts.handshakeTimeoutMs / 1000}s`);
    }, this.opts.handshakeTimeoutMs);
    session.handshakeTimer.unref();
    channel.onMessage((m) => this.onMessage(session, m));
    channel.onClose((reason) => this.onClose(session, reason));
    channel.onDrain(() => this.pump());
    if (this.stopping && !this.finished) {
      channel.send({ type: 'refuse', code: 'E_FINISHED', reason: 'the run is over' });
      channel.end();
      return;
    }
    if (this.ready) this.challenge(session);
    else this.held.push(session);
  }

  private challenge(session: Session): void {
    const auth = this.opts.token !== null;
    session.channel.send({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: session.nonce, auth });
  }

  private refuse(session: Session, code: string, reason: string): void {
    const who = session.workerId ? ` (${session.workerId})` : '';
    this.ui.warn(`refused ${session.channel.remote}${who}: ${reason}`);
    session.channel.send({ type: 'refuse', code, reason });
    session.state = 'closed';
    session.channel.end();
    setTimeout(() => session.channel.destroy(), 1000).unref();
  }

  /** Closes a misbehaving or silent connection with a logged reason; its leases go back to the queue. */
  private drop(session: Session, reason: string): void {
    if (session.channel.closed) return;
    this.dropped.add(session);
    this.ui.warn(`dropped ${session.workerId || session.channel.remote}: ${reason}`);
    session.channel.destroy(reason);
  }

  private onHello(session: Session, hello: Hello): void {
    if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
    session.handshakeTimer = null;
    const now = Date.now();
    let duplicate: Session | null = null;
    for (const other of this.sessions.values()) {
      if (other !== session && other.state === 'ready' && other.workerId === hello.workerId)
        duplicate = other;
    }
    const verdict = checkHello(hello, {
      token: this.opts.token,
      nonce: session.nonce,
      loopback: session.channel.loopback,
      maxSlots: this.opts.maxSlots,
      duplicateLive: duplicate !== null && now - duplicate.lastHeardMs < this.opts.peerTimeoutMs / 1.5,
    });
    session.workerId = hello.workerId;
    if (!verdict.ok) return this.refuse(session, verdict.code, verdict.reason);
    if (this.finished) {
      // It missed the end (a reconnect during or after it): tell it the run is over.
      this.ui.info(
        `worker ${hello.workerId} reconnected after the end; told it run ${this.runId} is ${this.endStatus}`,
      );
      session.channel.send({ type: 'done', runId: this.runId, status: this.endStatus });
      session.state = 'closed';
      return session.channel.end();
    }
    if (duplicate !== null) this.drop(duplicate, 'replaced by a new connection with the same id');
    session.slots = verdict.slots;
    session.state = 'ready';
    session.channel.setMaxFrame(DEFAULT_MAX_FRAME);
    session.channel.send({ type: 'welcome', runId: this.runId, spec: this.spec });
    this.store.workerConnected(this.runId, hello.workerId, session.channel.remote, iso(now));
    const cap = verdict.capped ? `; it asked for ${hello.slots}, --max-slots is ${this.opts.maxSlots}` : '';
    this.ui.info(
      `worker ${hello.workerId} joined from ${session.channel.remote} (${verdict.slots} slot(s)${cap})`,
    );
    this.lastWorkerMs = now;
    this.pump();
  }

  private onMessage(session: Session, raw: Record<string, unknown>): void {
    session.lastHeardMs = Date.now();
    try {
      if (session.state === 'handshake') {
        // Another version's hello may have another shape: refuse on the version before the shape.
        if (raw.type === 'hello' && typeof raw.protocol === 'number' && raw.protocol !== PROTOCOL_VERSION) {
          if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
          const v = versionRefusal(raw.protocol);
          return v.ok ? undefined : this.refuse(session, v.code, v.reason);
        }
        return this.onHello(session, asHello(raw));
      }
      if (session.state !== 'ready' || this.finished) return;
      if (session.stalled) {
        session.stalled = false;
        this.ui.info(`worker ${session.workerId} is answering again`);
        setImmediate(() => this.pump());
      }
      const msg = asToCoordinator(raw);
      switch (msg.type) {
        case 'ping':
          return session.channel.send({ type: 'pong', t: msg.t });
        case 'pong':
          return;
        case 'failure':
          return this.onFailure(session, msg.chunkId, msg.code, msg.message);
        case 'result':
          if (msg.usage) this.usage.set(session.workerId, msg.usage);
          return this.onResult(session, msg.chunkId, msg.attempt, msg.partial, msg.parseMs);
      }
    } catch (err) {
      if (err instanceof ProtocolError) return this.drop(session, err.message);
      this.abort(err);
    }
  }

  private onClose(session: Session, reason: string | null): void {
    if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
    const wasReady = session.state === 'ready';
    const wasHandshake = session.state === 'handshake';
    session.state = 'closed';
    this.sessions.delete(session.id);
    if (!wasReady) {
      // Codec errors (oversized or undecodable frames) close the channel before any handler sees them.
      if (wasHandshake && reason !== null && !this.dropped.has(session) && !this.finished) {
        this.ui.warn(`dropped ${session.channel.remote}: ${reason}`);
      }
      return;
    }
    if (this.finished) return;
    const now = Date.now();
    this.store.workerDisconnected(this.runId, session.workerId, iso(now));
    const lost = lt.releaseHolder(this.table, session.id, this.stopping);
    const requeue = lost.length ? `; re-queueing ${lost.length} chunk(s)` : '';
    if (this.dropped.has(session)) {
      if (lost.length > 0) this.ui.warn(`re-queueing ${lost.length} chunk(s) of ${session.workerId}`);
    } else if (lost.length > 0 || reason !== null) {
      this.ui.warn(`worker ${session.workerId} disconnected${reason ? ` (${reason})` : ''}${requeue}`);
    } else this.ui.info(`worker ${session.workerId} left`);
    for (const { lease, verdict } of lost)
      this.afterRelease(lease, verdict, 'lost', reason ?? 'connection closed');
    this.lastWorkerMs = now;
    this.pump();
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
      return this.drop(session, `result for chunk ${chunkId}, which was never leased to it`);
    }
    if (verdict.kind === 'given-up') return ignore('the chunk was given up');
    if (verdict.kind === 'duplicate') {
      this.duplicates++;
      return ignore('already counted');
    }
    let outcome: ReturnType<typeof aggFromWire>;
    try {
      outcome = aggFromWire(partial, this.spec.maxKeys);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // Back to the queue now, not at the lease timeout; then the connection goes.
      const own = this.table.leases.get(chunkId);
      if (own?.holder === session.id) {
        const v = lt.release(this.table, session.id, chunkId, err.code, this.stopping);
        this.afterRelease(own, v, 'failed', `malformed result: ${err.message}`);
      }
      return this.drop(session, `malformed result for chunk ${chunkId}: ${err.message}`);
    }
    if (outcome.endsInQuote && verdict.range.byteEnd < this.fileSize && !this.chunker.careful) {
      return this.restartCareful(chunkId);
    }
    const sup = verdict.superseded;
    if (sup !== null) {
      // A stalled worker came back first: its result counts; the re-lease's will be ignored.
      this.store.recordAttemptEnd(this.runId, chunkId, sup.attempt, 'late', iso(Date.now()), 'superseded');
    }
    this.commit(
      session,
      verdict.range,
      attempt,
      outcome,
      parseMs,
      verdict.late ? 'delivered after its lease timed out' : null,
    );
    this.pump();
  }

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
    this.store.recordResult(write);
    lt.complete(this.table, range);
    mergeInto(this.total, outcome.agg);
    // Each chunk is capped by its worker; the union of chunks is capped here.
    for (const [name, cells] of this.total.dims) {
      if (cells.size > this.spec.maxKeys) {
        throw new TooManyKeysError(
          `column "${name}" has more than ${this.spec.maxKeys} distinct values; raise --max-keys or leave the column out`,
        );
      }
    }
    this.workerStats.set(session.workerId, stats);
    this.bytesDone += range.byteEnd - range.byteStart;
  }

  private onFailure(session: Session, chunkId: number, code: string, message: string): void {
    const verdict = lt.classifyResult(this.table, session.id, chunkId);
    if (verdict.kind === 'never-leased') {
      return this.drop(session, `failure for chunk ${chunkId}, which was never leased to it`);
    }
    const own = this.table.leases.get(chunkId);
    if (own === undefined || own.holder !== session.id) return this.pump();
    this.ui.warn(`chunk ${chunkId} failed on ${session.workerId}: ${message}`);
    const v = lt.release(this.table, session.id, chunkId, code, this.stopping);
    this.afterRelease(own, v, 'failed', `${code}: ${message}`);
    this.pump();
  }

  /** Records a lease that ended without a result; fails the run if its chunk gave up. */
  private afterRelease(
    lease: lt.Lease,
    v: lt.ReleaseVerdict,
    outcome: 'lost' | 'timeout' | 'failed',
    detail: string,
  ): void {
    const id = lease.range.chunkId;
    this.store.recordAttemptEnd(this.runId, id, lease.attempt, outcome, iso(Date.now()), detail);
    if (v.kind === 'requeued' && !this.stopping) this.retries++;
    if (v.kind !== 'give-up') return;
    this.store.markChunkFailed(this.runId, id);
    // Failing is decided now; the message waits for a line count, and the run must not finish meanwhile.
    this.failing = true;
    void this.failChunk(lease.range, v.tries, detail);
  }

  /**
   * A chunk ended inside a quoted field, so the file has line breaks inside quotes and a fast cut
   * was wrong. Every chunk cut so far is given up (in memory and in the database) and the file is
   * cut again by quote parity, under fresh chunk ids.
   */
  private restartCareful(chunkId: number): void {
    this.ui.warn(
      `chunk ${chunkId} ends inside a quoted field: this file has line breaks inside quotes; starting over with quote-aware cuts`,
    );
    lt.restartCareful(this.table, this.chunker.nextChunkId);
    this.total = emptyAgg(this.spec.scale);
    this.workerStats.clear();
    this.bytesDone = 0;
    this.chunksSeen = 0;
    this.store.resetRunForCarefulCuts(this.runId, iso(Date.now()));
    this.chunker.restartCareful();
    this.pump();
  }

  private async failChunk(range: lt.ChunkRange, tries: number, detail: string): Promise<void> {
    // The line number is a courtesy in the message; the byte range is exact.
    const line = await lineOf(this.file, range.byteStart).then(String, () => '?');
    this.abort(
      new ChunkFailedError(
        `chunk ${range.chunkId} (bytes ${range.byteStart}-${range.byteEnd}, from line ${line}) failed ${tries} time(s); last: ${detail}`,
      ),
    );
  }

  // --- scheduling -----------------------------------------------------------------------------

  /** Hands work to every ready worker with a free slot. One pass at a time; re-runs if asked meanwhile. */
  private pump(): void {
    if (!this.ready) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pumpLoop()
      .catch((err) => this.abort(err))
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        } else this.checkComplete();
      });
  }

  /** Ready workers with a free slot and a flushed socket, least loaded first. */
  private freeSessions(): Session[] {
    const load = new Map<number, number>();
    for (const l of this.table.leases.values()) load.set(l.holder, (load.get(l.holder) ?? 0) + 1);
    const free = [...this.sessions.values()].filter(
      (s) =>
        s.state === 'ready' &&
        !s.stalled &&
        !s.channel.closed &&
        s.channel.backlog < BACKLOG_LIMIT &&
        (load.get(s.id) ?? 0) < s.slots,
    );
    return free.sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0));
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      if (this.finished || this.stopping || this.failing) return;
      const free = this.freeSessions();
      if (free.length === 0) return;
      const session = free[0];
      let range = lt.takeQueued(this.table, session.id, free.length > 1);
      let data: Buffer | null = null;
      let fresh = false;
      if (range !== null) {
        if (this.opts.transport === 'bytes') data = await this.chunker.read(range);
      } else {
        const chunk = await this.chunker.next();
        if (chunk === null) {
          if (this.chunker.finished) this.store.setChunksTotal(this.runId, this.chunksSeen);
          return;
        }
        fresh = true;
        this.chunksSeen++;
        range = { chunkId: chunk.chunkId, byteStart: chunk.byteStart, byteEnd: chunk.byteEnd };
        if (this.opts.transport === 'bytes') data = chunk.data;
        else this.chunker.release(chunk.data);
        if (this.chunker.finished) this.store.setChunksTotal(this.runId, this.chunksSeen);
      }
      if (this.finished) return;
      // A queued chunk may have been answered (late) or given up while its bytes were read.
      const stale = this.table.done.has(range.chunkId) || lt.isAbandoned(this.table, range.chunkId);
      if (stale && !fresh) {
        if (data !== null) this.chunker.release(data);
        continue;
      }
      const target = this.freeSessions().find((s) => s === session) ?? this.freeSessions()[0];
      if (target === undefined) {
        if (data !== null) this.chunker.release(data);
        lt.requeue(this.table, range);
        return;
      }
      this.dispatch(target, range, data);
    }
  }

  private dispatch(session: Session, range: lt.ChunkRange, data: Buffer | null): void {
    const now = Date.now();
    const { attempt } = lt.lease(this.table, range, session.id, now);
    const { chunkId, byteStart, byteEnd } = range;
    this.store.recordDispatch(this.runId, chunkId, byteStart, byteEnd, attempt, session.workerId, iso(now));
    if (data !== null) {
      session.channel.sendParts(encodeTaskParts({ type: 'task', chunkId, attempt }, data), () =>
        this.chunker.release(data),
      );
    } else {
      const r = { path: this.opts.file, start: byteStart, end: byteEnd };
      session.channel.send({ type: 'task', chunkId, attempt, range: r });
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const { lease, verdict } of lt.expire(this.table, now)) {
      const s = this.sessions.get(lease.holder);
      const secs = this.opts.leaseTimeoutMs / 1000;
      this.ui.warn(
        `chunk ${lease.range.chunkId} on ${s?.workerId ?? '?'} passed its ${secs}s lease; leasing it again`,
      );
      if (s !== undefined) s.stalled = true;
      this.afterRelease(lease, verdict, 'timeout', `no result within ${secs}s`);
    }
    for (const s of this.sessions.values()) {
      const silent = now - s.lastHeardMs;
      if (s.state === 'ready' && silent > this.opts.peerTimeoutMs) {
        this.drop(s, `silent for ${(silent / 1000).toFixed(1)}s (pings unanswered)`);
      }
    }
    this.pump();
    const ready = [...this.sessions.values()].filter((s) => s.state === 'ready').length;
    if (ready > 0) this.lastWorkerMs = now;
    const wait = this.opts.waitTimeoutMs;
    if (wait !== null && ready === 0 && !this.finished && !this.stopping && now - this.lastWorkerMs > wait) {
      return this.abort(
        new SalesgridError(
          'E_WAIT_TIMEOUT',
          `no worker connected for ${wait / 1000}s; giving up (the run can be resumed with --resume)`,
        ),
      );
    }
    this.ui.progress?.(this.snapshot());
  }

  snapshot(): Progress {
    const est = Math.max(this.chunksSeen, Math.ceil((this.fileSize - this.dataStart) / this.opts.chunkSize));
    return {
      runId: this.runId,
      elapsedMs: Date.now() - this.startMs,
      rows: this.total.rows,
      rejected: this.total.rejected,
      bytesDone: this.bytesDone,
      bytesTotal: this.fileSize,
      chunksDone: this.table?.done.size ?? 0,
      chunksTotal: this.chunker?.finished ? this.chunksSeen : est,
      chunksExact: this.chunker?.finished ?? false,
      workers: [...this.sessions.values()].filter((s) => s.state === 'ready').length,
      retries: this.retries,
    };
  }

  private pingAll(): void {
    for (const s of this.sessions.values()) {
      if (s.state === 'ready') s.channel.send({ type: 'ping', t: Date.now() });
    }
  }

  private checkComplete(): void {
    if (this.finished || this.pumping || this.failing || this.stopping || !this.ready) return;
    if (this.chunker.finished && lt.idle(this.table)) void this.finish('done', null);
  }

  private abort(err: unknown): void {
    if (this.finished) return;
    const e = err instanceof SalesgridError ? err : new SalesgridError('E_INTERNAL', errorMessage(err));
    void this.finish('failed', e);
  }

  // --- end ------------------------------------------------------------------------------------

  /** Records the end (for `done`, only if the done chunks tile the data), tells the workers, lingers. */
  private async finish(status: Status, error: SalesgridError | null): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearInterval(t);
    const now = Date.now();
    try {
      for (const s of this.sessions.values()) {
        if (s.state === 'ready') this.store.workerDisconnected(this.runId, s.workerId, iso(now));
      }
      const merged = status === 'done' ? planFinish(this.total) : null;
      this.store.finishRun(this.runId, status, iso(now), error?.message ?? null, merged, (ranges) => {
        const fault = lt.tilingFault(ranges, this.dataStart, this.fileSize);
        if (fault !== null) {
          throw new SalesgridError(
            'E_TILING',
            `run ${this.runId} cannot be marked done: ${lt.describeTilingFault(fault)}; the run is left failed (resume it with --resume)`,
          );
        }
      });
    } catch (err) {
      const e =
        err instanceof SalesgridError && err.code === 'E_TILING'
          ? err
          : new SalesgridError(
              'E_FINISH',
              `could not record the end of run ${this.runId} (${errorMessage(err)}); it is left unfinished: resume it with --resume`,
            );
      try {
        this.store.markUnfinished(this.runId, iso(now), e.message);
      } catch (again) {
        this.ui.warn(
          `could not release run ${this.runId} either (${errorMessage(again)}); its lock goes stale in ${LOCK_STALE_MS / 1000}s`,
        );
      }
      status = 'failed';
      error = e;
    }
    this.endStatus = status;
    for (const s of this.sessions.values()) {
      if (s.state === 'ready') {
        s.channel.send({ type: 'done', runId: this.runId, status });
        s.channel.end();
      }
    }
    await this.file.close().catch(() => {});
    const summary = this.summary(status, error, now);
    this.store.close();
    const close = async () => {
      // Workers close their end on `done`; give them a moment so the frame is not cut off.
      await this.listener?.close(1_000);
      this.closedDone();
    };
    if (this.opts.lingerMs === 0) await close();
    if (status === 'failed' && error !== null) {
      (error as SalesgridError & { summary?: RunSummary }).summary = summary;
      this.reject(error);
    } else this.settle(summary);
    // Stay a little: a worker that reconnects now learns that its run is over instead of retrying.
    if (this.opts.lingerMs > 0) setTimeout(() => void close(), this.opts.lingerMs);
  }

  private summary(status: Status, error: SalesgridError | null, now: number): RunSummary {
    return {
      runId: this.runId,
      status,
      file: this.opts.file,
      db: this.store.path,
      wallMs: now - this.startMs,
      totals: finalizeTotals(this.total),
      chunks: this.table.done.size,
      retries: this.retries,
      duplicates: this.duplicates,
      workers: [...this.workerStats]
        .map(([workerId, s]) => ({
          workerId,
          chunks: s.chunks,
          rows: s.agg.rows,
          revenue: formatScaled(s.agg.revenue, s.agg.scale),
          busyMs: Math.round(s.busyMs),
          usage: this.usage.get(workerId) ?? null,
        }))
        .sort((a, b) => (a.workerId < b.workerId ? -1 : 1)),
      error: error?.message ?? null,
      resumed: this.resumed,
      priceBasis: this.spec.price >= 0 ? 'unit price' : 'line amount',
      coordinatorUsage: processUsage(),
    };
  }
}
