/**
 * Hands out work: for each ready worker with a free slot (and a socket that is not backed up), a
 * queued chunk or a fresh cut, leased in the lease table, recorded, and sent as bytes or a range.
 * One pass at a time; a pass asked for meanwhile runs after it.
 */
import type { Store } from '../db/store.js';
import { encodeTaskParts } from '../protocol/messages.js';
import type { SourceIdentity } from '../source/byte-source.js';
import type { Chunker } from './chunker.js';
import { iso } from './input.js';
import * as lt from './lease-table.js';
import type { Session, Sessions } from './sessions.js';

/** No new task goes to a connection with this much still unsent (socket backpressure). */
const BACKLOG_LIMIT = 1024 * 1024;

export interface PumpHost {
  table: lt.LeaseTable;
  chunker: Chunker;
  sessions: Sessions;
  store: Store;
  runId: number;
  transport: 'bytes' | 'range';
  file: string;
  /** The source's size, mtime and fingerprint (or ETag): a byte-range task carries them. */
  identity: SourceIdentity;
  /** Tasks ask for every order's items (a second pass for scattered orders). */
  shipAllOrders(): boolean;
  /** Nothing may be handed out now (the run is ending, stopping or failing). */
  blocked(): boolean;
  fail(err: unknown): void;
  /** A pass ended with nothing more to run: the run may be complete. */
  settled(): void;
}

export class Pump {
  private running = false;
  private again = false;
  /** Chunks cut in this pass over the file (done ones included on resume). */
  seen: number;

  constructor(
    private readonly h: PumpHost,
    seen: number,
  ) {
    this.seen = seen;
  }

  get busy(): boolean {
    return this.running;
  }

  run(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.loop()
      .catch((err) => this.h.fail(err))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.run();
        } else this.h.settled();
      });
  }

  /** Ready workers with a free slot and a flushed socket, least loaded first. */
  private free(): Session[] {
    const load = new Map<number, number>();
    for (const l of this.h.table.leases.values()) load.set(l.holder, (load.get(l.holder) ?? 0) + 1);
    const free = this.h.sessions
      .ready()
      .filter((s) => !s.stalled && !s.channel.closed && s.channel.backlog < BACKLOG_LIMIT)
      .filter((s) => (load.get(s.id) ?? 0) < s.slots);
    return free.sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0));
  }

  private async loop(): Promise<void> {
    const { table, chunker } = this.h;
    for (;;) {
      if (this.h.blocked()) return;
      const free = this.free();
      if (free.length === 0) return;
      // A queued chunk goes to the first free worker that did not just lose it; else a fresh cut.
      let session = free[0];
      let range: lt.ChunkRange | null = null;
      for (const s of free) {
        range = lt.takeQueued(table, s.id, free.length > 1);
        if (range !== null) {
          session = s;
          break;
        }
      }
      let data: Buffer | null = null;
      const fresh = range === null;
      if (range !== null) {
        if (this.h.transport === 'bytes') data = await chunker.read(range);
      } else {
        const chunk = await chunker.next();
        if (chunker.finished) this.h.store.setChunksTotal(this.h.runId, this.seen + (chunk ? 1 : 0));
        if (chunk === null) return;
        this.seen++;
        range = { chunkId: chunk.chunkId, byteStart: chunk.byteStart, byteEnd: chunk.byteEnd };
        if (this.h.transport === 'bytes') data = chunk.data;
        else chunker.release(chunk.data);
      }
      if (this.h.blocked()) return;
      // A queued chunk may have been answered (late) or given up while its bytes were read. A
      // fresh one never is: `lease` throws rather than skip it silently.
      if (!fresh && (table.done.has(range.chunkId) || lt.isAbandoned(table, range.chunkId))) {
        if (data !== null) chunker.release(data);
        continue;
      }
      const now = this.free();
      const target = now.find((s) => s === session) ?? now[0];
      if (target === undefined) {
        if (data !== null) chunker.release(data);
        lt.requeue(table, range);
        return;
      }
      this.dispatch(target, range, data);
    }
  }

  private dispatch(session: Session, range: lt.ChunkRange, data: Buffer | null): void {
    const now = Date.now();
    const { attempt } = lt.lease(this.h.table, range, session.id, now);
    const { chunkId, byteStart, byteEnd } = range;
    this.h.store.recordDispatch(
      this.h.runId,
      chunkId,
      byteStart,
      byteEnd,
      attempt,
      session.workerId,
      iso(now),
    );
    const ship = this.h.shipAllOrders() ? { shipAllOrders: true as const } : {};
    if (data !== null) {
      const parts = encodeTaskParts({ type: 'task', chunkId, attempt, ...ship }, data);
      session.channel.sendParts(parts, () => this.h.chunker.release(data));
    } else {
      const r = { path: this.h.file, start: byteStart, end: byteEnd, ...this.h.identity };
      session.channel.send({ type: 'task', chunkId, attempt, range: r, ...ship });
    }
  }
}
