/**
 * The coordinator: accepts workers at any time, leases chunks pull-style (at most `slots` per
 * worker), merges results exactly once, stores each one durably, re-leases the chunks of workers
 * that vanish or stall, and closes the run.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import { Packr } from 'msgpackr';
import { formatScaled } from '../aggregate/decimal.js';
import {
  type Agg,
  aggFromWire,
  aggToWire,
  type Cell,
  emptyAgg,
  finalizeTotals,
  mergeInto,
  type Totals,
  type WirePartial,
} from '../aggregate/partial.js';
import type { CoordinatorOptions } from '../config.js';
import { MAX_CHUNK_SIZE } from '../config.js';
import { deleteCellRuns, mergedDimensionRows, mergedMartRows, saveCellRuns } from '../db/cell-runs.js';
import { Store } from '../db/store.js';
import { ChunkFailedError, errorMessage, InputError, ProtocolError, SalesgridError } from '../errors.js';
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
import { shouldRetry } from '../retry.js';
import type { ScanSpec } from '../scan-spec.js';
import { Chunker, type ChunkRange } from './chunker.js';
import { detectLayout, type Layout } from './layout.js';

export interface Progress {
  runId: number;
  elapsedMs: number;
  rows: number;
  rejected: number;
  bytesDone: number;
  bytesTotal: number;
  chunksDone: number;
  /** Exact once the chunker reached the end of the file, an estimate before. */
  chunksTotal: number;
  chunksExact: boolean;
  workers: number;
  retries: number;
}

export interface CoordinatorUi {
  info(message: string): void;
  warn(message: string): void;
  /** Called as soon as the port is bound, before the file's layout is read (workers may start). */
  bound?(host: string, port: number): void;
  /** Called when the run is ready for workers, with the address they should use. */
  listening?(host: string, port: number, runId: number): void;
  progress?(p: Progress): void;
}

export interface WorkerSummary {
  workerId: string;
  chunks: number;
  rows: number;
  revenue: string;
  busyMs: number;
  /** The worker process's last reported usage (peak RSS, CPU), if it sent one. */
  usage: Usage | null;
}

export interface RunSummary {
  runId: number;
  status: 'done' | 'failed' | 'interrupted';
  file: string;
  db: string;
  wallMs: number;
  totals: Totals;
  chunks: number;
  retries: number;
  duplicates: number;
  workers: WorkerSummary[];
  error: string | null;
  resumed: boolean;
  /** What min/max/avg price are over: the unit price, or the line amount when there is no price column. */
  priceBasis: 'unit price' | 'line amount';
  /** This (coordinator) process's usage at the end of the run. */
  coordinatorUsage: Usage;
}

interface Lease {
  range: ChunkRange;
  attempt: number;
  session: Session;
  dispatchedMs: number;
  deadlineMs: number;
}

interface WorkerStats {
  agg: Agg;
  chunks: number;
  busyMs: number;
  usage: Usage | null;
}

interface Session {
  channel: Channel;
  state: 'handshake' | 'ready' | 'closed';
  nonce: Buffer;
  workerId: string;
  slots: number;
  leases: Map<number, Lease>;
  /** Chunks leased to this session whose result may still arrive (a late one is legal). */
  leasedEver: Map<number, number>;
  /** A lease of it timed out: no new work until it speaks again. */
  stalled: boolean;
  lastHeardMs: number;
  handshakeTimer: NodeJS.Timeout | null;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const LOCK_STALE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
const PING_MS = 5_000;
const DRAIN_MS = 3_000;
const HANDSHAKE_MAX_FRAME = 64 * 1024;

export function proofFor(token: string, nonce: Uint8Array): Buffer {
  return createHmac('sha256', token).update(nonce).digest();
}

/** True when a lock owner ("host:pid:nonce") is a process on this host that no longer exists. */
function ownerIsDead(owner: string | null): boolean {
  if (owner === null) return true;
  const [host, pid] = owner.split(':');
  if (host !== os.hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Reads the first bytes of the file for layout detection. */
async function readSample(file: FileHandle, size: number): Promise<{ bytes: Buffer; complete: boolean }> {
  const want = Math.min(size, 256 * 1024);
  const bytes = Buffer.alloc(want);
  let have = 0;
  while (have < want) {
    const { bytesRead } = await file.read(bytes, have, want - have, have);
    if (bytesRead === 0) break;
    have += bytesRead;
  }
  return { bytes: bytes.subarray(0, have), complete: have >= size };
}

export async function openInput(
  file: string,
): Promise<{ handle: FileHandle; size: number; mtimeMs: number }> {
  let handle: FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    throw new InputError(`cannot read ${file}: ${why}`);
  }
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new InputError(`cannot read ${file}: not a regular file`);
  }
  return { handle, size: st.size, mtimeMs: Math.round(st.mtimeMs) };
}

export class Coordinator {
  private readonly opts: CoordinatorOptions;
  private readonly ui: CoordinatorUi;
  private store!: Store;
  private file!: FileHandle;
  private fileSize = 0;
  private chunker!: Chunker;
  private spec!: ScanSpec;
  private layout: Layout | null = null;
  private runId = 0;
  private resumed = false;
  private listener: Listener | null = null;
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  private total: Agg = emptyAgg();
  private readonly sessions = new Set<Session>();
  private readonly leases = new Map<number, Lease>();
  private readonly retryQueue: ChunkRange[] = [];
  private readonly attempts = new Map<number, number>();
  private readonly done = new Set<number>();
  private readonly workerStats = new Map<string, WorkerStats>();
  private readonly usage = new Map<string, Usage>();
  private readonly dropped = new WeakSet<Session>();
  /** Chunks of cuts given up by a careful restart; their results are ignored. */
  private readonly abandoned = new Set<number>();
  private chunksDone = 0;
  private bytesDone = 0;
  private chunksSeen = 0;
  private retries = 0;
  private duplicates = 0;
  private readonly startMs = Date.now();
  private lastWorkerMs = Date.now();

  private ready = false;
  /** A chunk ran out of attempts; the run is about to fail. */
  private failing = false;
  /** Connections accepted before the run was ready; challenged once it is. */
  private readonly held: Session[] = [];
  private pumping = false;
  private pumpAgain = false;
  private stopping: 'interrupted' | null = null;
  private finished = false;
  private fatal: SalesgridError | null = null;
  private settle!: (s: RunSummary) => void;
  private reject!: (e: unknown) => void;
  private timers: NodeJS.Timeout[] = [];

  private readonly prebound: Listener | null;

  /** `listener`: a port bound beforehand (by `run`, which starts its workers before loading this). */
  constructor(opts: CoordinatorOptions, ui: CoordinatorUi, listener: Listener | null = null) {
    this.opts = opts;
    this.ui = ui;
    this.prebound = listener;
  }

  /** Runs to the end: resolves with the summary of a finished, failed or interrupted run. */
  async run(): Promise<RunSummary> {
    let input: Awaited<ReturnType<typeof openInput>>;
    try {
      input = await openInput(this.opts.file);
    } catch (err) {
      await this.prebound?.close();
      throw err;
    }
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
      // Listen first: workers (e.g. `run`'s children) start and connect while the layout is read;
      // their handshake waits until the run is ready.
      this.listener = this.prebound ?? (await listen(this.opts.host, this.opts.port, DEFAULT_MAX_FRAME));
      this.listener.accept((ch) => this.accept(ch));
      this.ui.bound?.(this.listener.host, this.listener.port);
      await this.prepare(input.mtimeMs);
    } catch (err) {
      if (this.runId !== 0 && !this.finished) {
        this.store.finishRun(this.runId, 'failed', iso(Date.now()), errorMessage(err), null);
      }
      await this.listener?.close();
      await this.file.close();
      this.store.close();
      throw err;
    }
    this.ready = true;
    for (const session of this.held.splice(0)) if (!session.channel.closed) this.challenge(session);
    const done = new Promise<RunSummary>((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
    });
    this.ui.listening?.(this.listener.host, this.listener.port, this.runId);
    this.timers.push(setInterval(() => this.tick(), 250));
    this.timers.push(setInterval(() => this.store.heartbeat(this.runId, this.owner), HEARTBEAT_MS));
    this.timers.push(setInterval(() => this.pingAll(), PING_MS));
    this.checkComplete();
    return done;
  }

  /** Port actually bound (after `run` has started listening). */
  get port(): number {
    return this.listener?.port ?? 0;
  }

  /** Ctrl-C / SIGTERM: stop leasing, wait briefly for in-flight results, record `interrupted`. */
  interrupt(): void {
    if (this.stopping !== null || this.finished) return;
    this.stopping = 'interrupted';
    this.ui.warn(`stopping: waiting up to ${DRAIN_MS / 1000}s for ${this.leases.size} chunk(s) in flight`);
    const deadline = Date.now() + DRAIN_MS;
    const wait = setInterval(() => {
      if (this.leases.size === 0 || Date.now() >= deadline) {
        clearInterval(wait);
        void this.finish('interrupted', null);
      }
    }, 50);
  }

  /** Ends the run as failed from outside (e.g. every local worker process died). */
  fail(err: unknown): void {
    if (this.runId === 0) return;
    this.abort(err);
  }

  // --- setup ----------------------------------------------------------------------------------

  private async prepare(mtimeMs: number): Promise<void> {
    const o = this.opts;
    if (o.resume) {
      const prev = this.store.latestRunForFile(o.file);
      if (prev === undefined)
        throw new SalesgridError('E_RESUME', `nothing to resume: ${o.db} has no run over ${o.file}`, {
          exitCode: 2,
        });
      if (prev.status === 'done') {
        throw new SalesgridError(
          'E_RESUME',
          `run ${prev.id} over ${o.file} already finished; start a new run without --resume`,
          {
            exitCode: 2,
          },
        );
      }
      if (prev.size !== this.fileSize || prev.mtime_ms !== mtimeMs) {
        throw new SalesgridError(
          'E_RESUME',
          `${o.file} changed since run ${prev.id} (size ${prev.size} → ${this.fileSize}, mtime ${iso(prev.mtime_ms)} → ${iso(mtimeMs)}); resume refused, start a new run without --resume`,
          { exitCode: 2 },
        );
      }
      if (!this.store.takeLock(prev.id, this.owner, ownerIsDead(prev.lock_owner) ? 0 : LOCK_STALE_MS)) {
        throw new SalesgridError(
          'E_DB_LOCKED',
          `run ${prev.id} is held by another live coordinator (${prev.lock_owner})`,
          { exitCode: 2 },
        );
      }
      this.runId = prev.id;
      this.resumed = true;
      this.spec = JSON.parse(prev.spec) as ScanSpec;
      const chunks = this.store.allChunks(prev.id);
      const doneRanges: ChunkRange[] = [];
      let maxId = -1;
      const idByStart = new Map<number, number>();
      for (const c of chunks) {
        maxId = Math.max(maxId, c.chunk_id);
        idByStart.set(c.byte_start, c.chunk_id);
        if (c.status !== 'done' || c.partial === null) continue;
        const wire = packr.unpack(c.partial) as WirePartial;
        const outcome = aggFromWire({ ...wire, rejects: [], rejected: 0 }, this.spec.maxKeys);
        outcome.agg.rejected = c.rejected ?? 0;
        mergeInto(this.total, outcome.agg);
        this.addWorkerStats(c.worker_id ?? '?', outcome.agg, c.parse_ms ?? 0);
        this.done.add(c.chunk_id);
        this.chunksDone++;
        this.bytesDone += c.byte_end - c.byte_start;
        doneRanges.push({ chunkId: c.chunk_id, byteStart: c.byte_start, byteEnd: c.byte_end });
      }
      this.chunker = new Chunker(this.file, {
        dataStart: prev.data_start,
        fileSize: this.fileSize,
        chunkSize: prev.chunk_size,
        maxChunk: MAX_CHUNK_SIZE,
        skip: doneRanges,
        idAt: (start) => idByStart.get(start),
        firstId: maxId + 1,
        careful: (JSON.parse(prev.options) as { careful?: boolean }).careful === true,
        readData: this.opts.transport === 'bytes',
        delimiter: this.spec.delimiter,
      });
      this.chunksSeen = this.chunksDone;
      this.ui.info(
        `resuming run ${prev.id}: ${this.chunksDone} chunk(s) already done (${this.total.rows.toLocaleString('en-US')} rows), skipping ${this.bytesDone.toLocaleString('en-US')} bytes`,
      );
      return;
    }
    const sample = await readSample(this.file, this.fileSize);
    const layout = detectLayout({ ...sample, path: o.file }, o.columns);
    this.layout = layout;
    this.spec = layout.spec;
    this.total = emptyAgg(layout.spec.scale);
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
    const dataBytes = this.fileSize - layout.dataStart;
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
      chunksTotal: dataBytes === 0 ? 0 : null,
    });
    this.chunker = new Chunker(this.file, {
      dataStart: layout.dataStart,
      fileSize: this.fileSize,
      chunkSize: o.chunkSize,
      maxChunk: MAX_CHUNK_SIZE,
      careful: layout.quotedNewlines,
      readData: o.transport === 'bytes',
      delimiter: layout.spec.delimiter,
    });
  }

  // --- connections ----------------------------------------------------------------------------

  private accept(channel: Channel): void {
    const session: Session = {
      channel,
      state: 'handshake',
      nonce: randomBytes(32),
      workerId: '',
      slots: 1,
      leases: new Map(),
      leasedEver: new Map(),
      stalled: false,
      lastHeardMs: Date.now(),
      handshakeTimer: null,
    };
    this.sessions.add(session);
    // Until a peer proves itself, a frame may be no bigger than a hello.
    channel.setMaxFrame(HANDSHAKE_MAX_FRAME);
    session.handshakeTimer = setTimeout(() => {
      this.drop(session, `no hello within ${this.opts.handshakeTimeoutMs / 1000}s`);
    }, this.opts.handshakeTimeoutMs);
    channel.onMessage((m) => this.onMessage(session, m));
    channel.onClose((reason) => this.onClose(session, reason));
    if (this.finished || this.stopping !== null) {
      channel.send({ type: 'refuse', code: 'E_FINISHED', reason: 'the run is over' });
      channel.end();
      return;
    }
    if (this.ready) this.challenge(session);
    else this.held.push(session);
  }

  private challenge(session: Session): void {
    session.channel.send({
      type: 'challenge',
      protocol: PROTOCOL_VERSION,
      nonce: session.nonce,
      auth: this.opts.token !== null,
    });
  }

  private refuse(session: Session, code: string, reason: string): void {
    this.ui.warn(
      `refused ${session.channel.remote}${session.workerId ? ` (${session.workerId})` : ''}: ${reason}`,
    );
    session.channel.send({ type: 'refuse', code, reason });
    session.state = 'closed';
    session.channel.end();
    setTimeout(() => session.channel.destroy(), 1000).unref();
  }

  /** Closes a misbehaving connection with a logged reason; its leases go back to the queue. */
  private drop(session: Session, reason: string): void {
    if (session.channel.closed) return;
    this.dropped.add(session);
    this.ui.warn(`dropped ${session.workerId || session.channel.remote}: ${reason}`);
    session.channel.destroy(reason);
  }

  private onHello(session: Session, hello: Hello): void {
    if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
    session.handshakeTimer = null;
    if (hello.protocol !== PROTOCOL_VERSION) {
      return this.refuse(
        session,
        'E_VERSION',
        `protocol version ${hello.protocol} is not supported; this coordinator speaks version ${PROTOCOL_VERSION}`,
      );
    }
    session.workerId = hello.workerId;
    if (this.opts.token !== null) {
      const expected = proofFor(this.opts.token, session.nonce);
      const proof = hello.proof === null ? null : Buffer.from(hello.proof);
      if (proof === null || proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
        return this.refuse(
          session,
          'E_AUTH',
          proof === null ? 'a token is required (--token or SALESGRID_TOKEN)' : 'wrong token',
        );
      }
    } else if (!session.channel.loopback) {
      return this.refuse(session, 'E_AUTH', 'this coordinator has no token and accepts loopback peers only');
    }
    for (const other of this.sessions) {
      if (other !== session && other.state === 'ready' && other.workerId === hello.workerId) {
        if (Date.now() - other.lastHeardMs < 2 * PING_MS) {
          return this.refuse(session, 'E_DUPLICATE', `worker id ${hello.workerId} is already connected`);
        }
        this.drop(other, 'replaced by a new connection with the same id');
      }
    }
    session.slots = hello.slots;
    session.state = 'ready';
    session.channel.setMaxFrame(DEFAULT_MAX_FRAME);
    session.channel.send({ type: 'welcome', runId: this.runId, spec: this.spec });
    this.store.workerConnected(this.runId, hello.workerId, session.channel.remote, iso(Date.now()));
    this.ui.info(`worker ${hello.workerId} joined from ${session.channel.remote} (${hello.slots} slot(s))`);
    this.lastWorkerMs = Date.now();
    this.pump();
  }

  private onMessage(session: Session, raw: Record<string, unknown>): void {
    session.lastHeardMs = Date.now();
    try {
      if (session.state === 'handshake') {
        // Another version's hello may have another shape: refuse on the version before the shape.
        if (raw.type === 'hello' && typeof raw.protocol === 'number' && raw.protocol !== PROTOCOL_VERSION) {
          if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
          return this.refuse(
            session,
            'E_VERSION',
            `protocol version ${raw.protocol} is not supported; this coordinator speaks version ${PROTOCOL_VERSION}`,
          );
        }
        return this.onHello(session, asHello(raw));
      }
      if (session.state !== 'ready') return;
      if (session.stalled) {
        session.stalled = false;
        this.ui.info(`worker ${session.workerId} is answering again`);
        setImmediate(() => this.pump());
      }
      const msg = asToCoordinator(raw);
      switch (msg.type) {
        case 'ping':
          session.channel.send({ type: 'pong', t: msg.t });
          return;
        case 'pong':
          return;
        case 'failure':
          return this.onFailure(session, msg.chunkId, msg.attempt, msg.code, msg.message);
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
    this.sessions.delete(session);
    if (!wasReady) {
      // Codec errors (oversized or undecodable frames) close the channel before any handler sees them.
      if (wasHandshake && reason !== null && !this.dropped.has(session)) {
        this.ui.warn(`dropped ${session.channel.remote}: ${reason}`);
      }
      return;
    }
    const now = Date.now();
    if (this.finished) return;
    this.store.workerDisconnected(this.runId, session.workerId, iso(now));
    const lost = [...session.leases.values()];
    if (this.dropped.has(session)) {
      if (lost.length > 0) this.ui.warn(`re-queueing ${lost.length} chunk(s) of ${session.workerId}`);
    } else if (lost.length > 0 || reason !== null) {
      this.ui.warn(
        `worker ${session.workerId} disconnected${reason ? ` (${reason})` : ''}${lost.length ? `; re-queueing ${lost.length} chunk(s)` : ''}`,
      );
    } else this.ui.info(`worker ${session.workerId} left`);
    for (const lease of lost) this.release(lease, 'lost', reason ?? 'connection closed', null);
    this.lastWorkerMs = now;
    this.pump();
  }

  // --- results --------------------------------------------------------------------------------

  /** One answer (result or failure) of a lease of this chunk to this session has arrived. */
  private settleLease(session: Session, chunkId: number): void {
    const n = (session.leasedEver.get(chunkId) ?? 0) - 1;
    if (n > 0) session.leasedEver.set(chunkId, n);
    else session.leasedEver.delete(chunkId);
  }

  private onResult(
    session: Session,
    chunkId: number,
    attempt: number,
    partial: WirePartial,
    parseMs: number,
  ): void {
    if (!session.leasedEver.has(chunkId)) {
      return this.drop(session, `result for chunk ${chunkId}, which was never leased to it`);
    }
    this.settleLease(session, chunkId);
    if (this.abandoned.has(chunkId)) return this.pump();
    const lease = session.leases.get(chunkId);
    if (lease !== undefined) session.leases.delete(chunkId);
    if (this.done.has(chunkId)) {
      this.duplicates++;
      this.ui.warn(
        `ignored a late result for chunk ${chunkId} (attempt ${attempt}) from ${session.workerId}: already counted`,
      );
      this.store.recordAttemptEnd(this.runId, chunkId, attempt, 'late', iso(Date.now()), 'already counted');
      this.pump();
      return;
    }
    const outcome = aggFromWire(partial, this.spec.maxKeys);
    const current = this.leases.get(chunkId);
    const cutRange = lease?.range ?? current?.range ?? this.retryQueue.find((r) => r.chunkId === chunkId);
    if (
      outcome.endsInQuote &&
      cutRange !== undefined &&
      cutRange.byteEnd < this.fileSize &&
      !this.chunker.careful
    ) {
      return this.restartCareful(chunkId);
    }
    const range = lease?.range ?? current?.range;
    if (range === undefined) {
      // Leased to this session before, timed out, and not re-leased yet: take it from the retry queue.
      const i = this.retryQueue.findIndex((r) => r.chunkId === chunkId);
      if (i < 0) return this.drop(session, `result for chunk ${chunkId}, which is not outstanding`);
      this.commit(
        session,
        this.retryQueue.splice(i, 1)[0],
        attempt,
        outcome,
        parseMs,
        'delivered after its lease timed out',
      );
    } else {
      if (current !== undefined && current.session !== session) {
        // A stalled worker came back first: its result counts; the re-lease's will be ignored.
        current.session.leases.delete(chunkId);
        this.store.recordAttemptEnd(
          this.runId,
          chunkId,
          current.attempt,
          'late',
          iso(Date.now()),
          'superseded',
        );
      }
      this.commit(
        session,
        range,
        attempt,
        outcome,
        parseMs,
        lease === undefined ? 'delivered after its lease timed out' : null,
      );
    }
    this.pump();
  }

  private commit(
    session: Session,
    range: ChunkRange,
    attempt: number,
    outcome: ReturnType<typeof aggFromWire>,
    parseMs: number,
    detail: string | null = null,
  ): void {
    const { agg, lines, rejects, omitted } = outcome;
    const now = Date.now();
    // The new totals are computed aside and stored first; memory moves only after the commit.
    const nextTotal = emptyAgg(this.total.scale);
    mergeInto(nextTotal, { ...this.total, months: new Map() });
    mergeInto(nextTotal, { ...agg, months: new Map() });
    const t = finalizeTotals(nextTotal);
    const stats = this.previewWorkerStats(session.workerId, agg, parseMs);
    const ws = finalizeTotals(stats.agg);
    const totals = finalizeTotals(agg);
    const wire = aggToWire(agg, lines, []);
    const write = {
      runId: this.runId,
      chunkId: range.chunkId,
      attempt,
      workerId: session.workerId,
      finishedAt: iso(now),
      lines,
      rows: agg.rows,
      rejected: agg.rejected,
      units: totals.units,
      revenue: totals.revenue,
      priceMin: totals.minPrice,
      priceMax: totals.maxPrice,
      priceSum: totals.priceSum,
      parseMs,
      detail,
      partial: packr.pack(wire),
      rejects,
      omitted,
      worker: {
        chunks: stats.chunks,
        rows: stats.agg.rows,
        revenue: ws.revenue,
        busyMs: stats.busyMs,
        priceMin: ws.minPrice,
        priceMax: ws.maxPrice,
        priceSum: ws.priceSum,
      },
      run: {
        rows: t.rows,
        rejected: t.rejected,
        units: t.units,
        revenue: t.revenue,
        priceMin: t.minPrice,
        priceMax: t.maxPrice,
        priceSum: t.priceSum,
        avgPrice: t.avgPrice,
        scale: nextTotal.scale,
        chunksDone: this.chunksDone + 1,
        bytesDone: this.bytesDone + (range.byteEnd - range.byteStart),
      },
    };
    // The chunk's keyed cells are spilled in the chunk's own transaction: they count iff it does.
    this.store.transaction(() => {
      this.store.recordResult(write);
      saveCellRuns(this.store, this.runId, range.chunkId, outcome.cells);
    });
    this.leases.delete(range.chunkId);
    this.done.add(range.chunkId);
    mergeInto(this.total, agg);
    this.workerStats.set(session.workerId, stats);
    this.chunksDone++;
    this.bytesDone += range.byteEnd - range.byteStart;
  }

  private previewWorkerStats(workerId: string, agg: Agg, parseMs: number): WorkerStats {
    const cur = this.workerStats.get(workerId) ?? {
      agg: emptyAgg(agg.scale),
      chunks: 0,
      busyMs: 0,
      usage: null,
    };
    const next = emptyAgg(cur.agg.scale);
    mergeInto(next, cur.agg);
    mergeInto(next, { ...agg, months: new Map() });
    return { agg: next, chunks: cur.chunks + 1, busyMs: cur.busyMs + parseMs, usage: null };
  }

  private addWorkerStats(workerId: string, agg: Agg, parseMs: number): void {
    this.workerStats.set(workerId, this.previewWorkerStats(workerId, agg, parseMs));
  }

  private onFailure(
    session: Session,
    chunkId: number,
    _attempt: number,
    code: string,
    message: string,
  ): void {
    if (!session.leasedEver.has(chunkId))
      return this.drop(session, `failure for chunk ${chunkId}, which was never leased to it`);
    this.settleLease(session, chunkId);
    if (this.abandoned.has(chunkId)) return this.pump();
    const lease = session.leases.get(chunkId);
    session.leases.delete(chunkId);
    if (lease === undefined || this.done.has(chunkId)) return;
    this.ui.warn(`chunk ${chunkId} failed on ${session.workerId}: ${message}`);
    this.release(lease, 'failed', `${code}: ${message}`, code);
    this.pump();
  }

  /** Ends a lease without a result and re-queues its chunk, or fails the run past the attempt limit. */
  private release(
    lease: Lease,
    outcome: 'lost' | 'timeout' | 'failed',
    detail: string,
    code: string | null,
  ): void {
    const id = lease.range.chunkId;
    lease.session.leases.delete(id);
    if (this.leases.get(id) === lease) this.leases.delete(id);
    this.store.recordAttemptEnd(this.runId, id, lease.attempt, outcome, iso(Date.now()), detail);
    if (this.done.has(id) || this.stopping !== null) {
      if (this.stopping !== null && !this.done.has(id)) this.retryQueue.push(lease.range);
      return;
    }
    const tries = this.attempts.get(id) ?? 0;
    if (!shouldRetry(code, tries, this.opts.maxAttempts)) {
      this.store.markChunkFailed(this.runId, id);
      // Failing is decided now; the message waits for a line count, and the run must not finish meanwhile.
      this.failing = true;
      void this.failChunk(lease.range, tries, detail);
      return;
    }
    this.retries++;
    this.retryQueue.unshift(lease.range);
  }

  /**
   * A chunk ended inside a quoted field, so the file has line breaks inside quotes and a fast cut
   * was wrong. Every result so far is given up (in memory and in the database) and the file is cut
   * again by quote parity. Exact, at the price of a second pass; the sample usually catches such
   * files before the run starts.
   */
  private restartCareful(chunkId: number): void {
    this.ui.warn(
      `chunk ${chunkId} ends inside a quoted field: this file has line breaks inside quotes; starting over with quote-aware cuts`,
    );
    for (let id = 0; id < this.chunker.nextChunkId; id++) this.abandoned.add(id);
    for (const s of this.sessions) s.leases.clear();
    this.leases.clear();
    this.retryQueue.length = 0;
    this.attempts.clear();
    this.done.clear();
    this.total = emptyAgg(this.spec.scale);
    this.workerStats.clear();
    this.chunksDone = 0;
    this.bytesDone = 0;
    this.chunksSeen = 0;
    this.store.transaction(() => {
      this.store.resetRunForCarefulCuts(this.runId);
      deleteCellRuns(this.store, this.runId);
    });
    this.chunker.restartCareful();
    this.pump();
  }

  private async failChunk(range: ChunkRange, tries: number, detail: string): Promise<void> {
    let line = '?';
    try {
      line = String(await this.lineOf(range.byteStart));
    } catch {
      // The line number is a courtesy in the message; the byte range is exact.
    }
    this.abort(
      new ChunkFailedError(
        `chunk ${range.chunkId} (bytes ${range.byteStart}-${range.byteEnd}, from line ${line}) failed ${tries} time(s); last: ${detail}`,
      ),
    );
  }

  /** File line number at a byte offset (a record start), counting line feeds. Failure path only. */
  private async lineOf(offset: number): Promise<number> {
    const block = Buffer.allocUnsafe(1 << 20);
    let lines = 1;
    for (let pos = 0; pos < offset; ) {
      const { bytesRead } = await this.file.read(block, 0, Math.min(block.length, offset - pos), pos);
      if (bytesRead === 0) break;
      for (let i = 0; i < bytesRead; i++) if (block[i] === 0x0a) lines++;
      pos += bytesRead;
    }
    return lines;
  }

  // --- scheduling -----------------------------------------------------------------------------

  /** Hands work to every ready worker with a free slot. One pass at a time; re-runs if asked meanwhile. */
  private pump(): void {
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

  private freeSession(): Session | null {
    let best: Session | null = null;
    for (const s of this.sessions) {
      if (s.state !== 'ready' || s.stalled || s.channel.closed || s.leases.size >= s.slots) continue;
      if (best === null || s.leases.size < best.leases.size) best = s;
    }
    return best;
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      if (this.finished || this.stopping !== null || this.fatal !== null || this.failing) return;
      const session = this.freeSession();
      if (session === null) return;
      let range: ChunkRange;
      let data: Buffer | null = null;
      const retry = this.retryQueue.shift();
      if (retry !== undefined) {
        range = retry;
        if (this.opts.transport === 'bytes') data = await this.chunker.read(retry);
      } else {
        const chunk = await this.chunker.next();
        if (chunk === null) {
          if (this.chunker.finished) this.store.setChunksTotal(this.runId, this.chunksSeen);
          return;
        }
        this.chunksSeen++;
        range = { chunkId: chunk.chunkId, byteStart: chunk.byteStart, byteEnd: chunk.byteEnd };
        if (this.opts.transport === 'bytes') data = chunk.data;
        else this.chunker.release(chunk.data);
        if (this.chunker.finished) this.store.setChunksTotal(this.runId, this.chunksSeen);
      }
      if (this.finished) return;
      if (this.abandoned.has(range.chunkId)) continue;
      const target = session.state === 'ready' && !session.channel.closed ? session : this.freeSession();
      if (target === null) {
        if (data !== null) this.chunker.release(data);
        this.retryQueue.unshift(range);
        return;
      }
      this.dispatch(target, range, data);
    }
  }

  private dispatch(session: Session, range: ChunkRange, data: Buffer | null): void {
    const attempt = (this.attempts.get(range.chunkId) ?? 0) + 1;
    this.attempts.set(range.chunkId, attempt);
    const now = Date.now();
    const lease: Lease = {
      range,
      attempt,
      session,
      dispatchedMs: now,
      deadlineMs: now + this.opts.leaseTimeoutMs,
    };
    this.store.recordDispatch(
      this.runId,
      range.chunkId,
      range.byteStart,
      range.byteEnd,
      attempt,
      session.workerId,
      iso(now),
    );
    this.leases.set(range.chunkId, lease);
    session.leases.set(range.chunkId, lease);
    session.leasedEver.set(range.chunkId, (session.leasedEver.get(range.chunkId) ?? 0) + 1);
    if (data !== null) {
      session.channel.sendParts(
        encodeTaskParts({ type: 'task', chunkId: range.chunkId, attempt }, data),
        () => this.chunker.release(data),
      );
    } else {
      session.channel.send({
        type: 'task',
        chunkId: range.chunkId,
        attempt,
        range: { path: this.opts.file, start: range.byteStart, end: range.byteEnd },
      });
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const lease of [...this.leases.values()]) {
      if (lease.deadlineMs > now) continue;
      const s = lease.session;
      this.ui.warn(
        `chunk ${lease.range.chunkId} on ${s.workerId} passed its ${this.opts.leaseTimeoutMs / 1000}s lease; leasing it again`,
      );
      s.stalled = true;
      this.release(lease, 'timeout', `no result within ${this.opts.leaseTimeoutMs / 1000}s`, null);
    }
    if (this.leases.size < this.sessions.size * 2) this.pump();
    const ready = [...this.sessions].filter((s) => s.state === 'ready').length;
    if (ready > 0) this.lastWorkerMs = now;
    const wait = this.opts.waitTimeoutMs;
    if (
      wait !== null &&
      ready === 0 &&
      !this.finished &&
      this.stopping === null &&
      now - this.lastWorkerMs > wait
    ) {
      this.abort(
        new SalesgridError(
          'E_WAIT_TIMEOUT',
          `no worker connected for ${wait / 1000}s; giving up (the run can be resumed with --resume)`,
        ),
      );
      return;
    }
    this.ui.progress?.(this.snapshot());
  }

  snapshot(): Progress {
    const est = Math.max(
      this.chunksSeen,
      Math.ceil((this.fileSize - (this.layout?.dataStart ?? 0)) / this.opts.chunkSize),
    );
    return {
      runId: this.runId,
      elapsedMs: Date.now() - this.startMs,
      rows: this.total.rows,
      rejected: this.total.rejected,
      bytesDone: this.bytesDone,
      bytesTotal: this.fileSize,
      chunksDone: this.chunksDone,
      chunksTotal: this.chunker?.finished ? this.chunksSeen : est,
      chunksExact: this.chunker?.finished ?? false,
      workers: [...this.sessions].filter((s) => s.state === 'ready').length,
      retries: this.retries,
    };
  }

  private pingAll(): void {
    for (const s of this.sessions) if (s.state === 'ready') s.channel.send({ type: 'ping', t: Date.now() });
  }

  private checkComplete(): void {
    if (this.finished || this.pumping || this.failing || this.fatal !== null || this.stopping !== null)
      return;
    if (this.chunker.finished && this.retryQueue.length === 0 && this.leases.size === 0)
      void this.finish('done', null);
  }

  private abort(err: unknown): void {
    if (this.finished) return;
    const e = err instanceof SalesgridError ? err : new SalesgridError('E_INTERNAL', errorMessage(err));
    if (this.fatal === null) this.fatal = e;
    void this.finish('failed', e);
  }

  // --- end ------------------------------------------------------------------------------------

  private async finish(
    status: 'done' | 'failed' | 'interrupted',
    error: SalesgridError | null,
  ): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearInterval(t);
    const now = Date.now();
    let closedMs = now;
    try {
      let merged: Parameters<Store['finishRun']>[4] = null;
      if (status === 'done') {
        const scale = this.total.scale;
        const cell = (c: Cell) => ({
          rows: c.rows,
          units: c.units.toString(),
          revenue: formatScaled(c.revenue, scale),
        });
        // Dimensions and marts stream from the spilled runs (db/cell-runs.ts), inside finishRun's transaction.
        merged = {
          monthly: [...this.total.months].sort(([a], [b]) => (a < b ? -1 : 1)).map(([m, c]) => [m, cell(c)]),
          dims: mergedDimensionRows(
            this.store,
            this.runId,
            this.spec.dimensions.map((d) => d.name),
            scale,
            true,
          ),
          marts: mergedMartRows(
            this.store,
            this.runId,
            (this.spec.marts ?? []).map((d) => d.name),
            scale,
            true,
          ),
        };
      }
      for (const s of this.sessions) {
        if (s.state === 'ready') this.store.workerDisconnected(this.runId, s.workerId, iso(now));
      }
      this.store.finishRun(this.runId, status, iso(now), error?.message ?? null, merged);
      if (status === 'done') deleteCellRuns(this.store, this.runId);
      closedMs = Date.now();
    } catch (err) {
      this.ui.warn(`could not record the end of run ${this.runId}: ${errorMessage(err)}`);
    }
    for (const s of this.sessions) {
      if (s.state === 'ready') {
        s.channel.send({ type: 'done', runId: this.runId, status });
        s.channel.end();
      } else s.channel.destroy();
    }
    // Workers close their end on `done`; give them a moment so the frame is not cut off.
    await this.listener?.close(1_000);
    await this.file.close().catch(() => {});
    // The wall time includes closing the run (the merge of keyed cells into their tables).
    const summary = this.summary(status, error, closedMs);
    this.store.close();
    if (status === 'failed' && error !== null) {
      (error as SalesgridError & { summary?: RunSummary }).summary = summary;
      this.reject(error);
    } else this.settle(summary);
  }

  private summary(
    status: 'done' | 'failed' | 'interrupted',
    error: SalesgridError | null,
    now: number,
  ): RunSummary {
    return {
      runId: this.runId,
      status,
      file: this.opts.file,
      db: this.store.path,
      wallMs: now - this.startMs,
      totals: finalizeTotals(this.total),
      chunks: this.chunksDone,
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
