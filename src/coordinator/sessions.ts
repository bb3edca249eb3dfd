/**
 * Worker connections on the coordinator's side: the handshake (challenge, hello check, refusals),
 * pings and the silent-peer bound, drops with a logged reason, and telling a worker that connects
 * after the end that its run is over. Results, failures and lost connections go to `SessionEvents`.
 */
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import type { Channel } from '../protocol/channel.js';
import { DEFAULT_MAX_FRAME } from '../protocol/frame-codec.js';
import {
  asHello,
  asToCoordinator,
  type Failure,
  type Hello,
  PROTOCOL_VERSION,
  type Result,
} from '../protocol/messages.js';
import { checkHello, versionRefusal } from './handshake.js';
import type { CoordinatorUi } from './run-types.js';

export interface Session {
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

export interface SessionOptions {
  token: string | null;
  maxSlots: number;
  handshakeTimeoutMs: number;
  peerTimeoutMs: number;
}

export interface SessionEvents {
  /** The run is set up: new connections are challenged (before that, they wait). */
  ready(): boolean;
  /** The run is stopping (Ctrl-C) and new workers are turned away. */
  stopping(): boolean;
  /** Set once the run ended: a hello is then answered with `done`. */
  ended(): { runId: number; status: string } | null;
  /**
   * A worker passed the handshake; returns the welcome's run id and spec, and the encoded `join`
   * frames (the run's dimension tables) that follow the welcome, once per session.
   */
  joined(session: Session, hello: Hello): { runId: number; spec: unknown; joinFrames?: Uint8Array[] };
  message(session: Session, msg: Result | Failure): void;
  /** A ready worker's connection closed; `dropped` when this side closed it. */
  lost(session: Session, reason: string | null, dropped: boolean): void;
  /** A stalled worker spoke again, or a socket drained: there may be work to hand out. */
  wake(): void;
  /** An error that is not the peer's fault (it fails the run). */
  fatal(err: unknown): void;
}

const HANDSHAKE_MAX_FRAME = 64 * 1024;

export class Sessions {
  readonly all = new Map<number, Session>();
  private nextId = 1;
  private readonly held: Session[] = [];
  private readonly dropped = new WeakSet<Session>();

  constructor(
    private readonly opts: SessionOptions,
    private readonly ui: CoordinatorUi,
    private readonly events: SessionEvents,
  ) {}

  ready(): Session[] {
    return [...this.all.values()].filter((s) => s.state === 'ready');
  }

  accept(channel: Channel): void {
    const session: Session = {
      id: this.nextId++,
      channel,
      state: 'handshake',
      nonce: randomBytes(32),
      workerId: '',
      slots: 1,
      stalled: false,
      lastHeardMs: Date.now(),
      handshakeTimer: null,
    };
    this.all.set(session.id, session);
    // Until a peer proves itself, a frame may be no bigger than a hello.
    channel.setMaxFrame(HANDSHAKE_MAX_FRAME);
    session.handshakeTimer = setTimeout(() => {
      this.drop(session, `no hello within ${this.opts.handshakeTimeoutMs / 1000}s`);
    }, this.opts.handshakeTimeoutMs);
    session.handshakeTimer.unref();
    channel.onMessage((m) => this.onMessage(session, m));
    channel.onClose((reason) => this.onClose(session, reason));
    channel.onDrain(() => this.events.wake());
    if (this.events.stopping() && this.events.ended() === null) {
      channel.send({ type: 'refuse', code: 'E_FINISHED', reason: 'the run is over' });
      channel.end();
      return;
    }
    if (this.events.ready()) this.challenge(session);
    else this.held.push(session);
  }

  /** The run is set up: challenge the connections that arrived while it was being prepared. */
  release(): void {
    for (const session of this.held.splice(0)) if (!session.channel.closed) this.challenge(session);
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
  drop(session: Session, reason: string): void {
    if (session.channel.closed) return;
    this.dropped.add(session);
    this.ui.warn(`dropped ${session.workerId || session.channel.remote}: ${reason}`);
    session.channel.destroy(reason);
  }

  /** Pings every ready worker and drops those not heard from within the peer timeout. */
  ping(now: number): void {
    for (const s of this.all.values()) if (s.state === 'ready') s.channel.send({ type: 'ping', t: now });
  }

  dropSilent(now: number): void {
    for (const s of this.all.values()) {
      const silent = now - s.lastHeardMs;
      if (s.state === 'ready' && silent > this.opts.peerTimeoutMs) {
        this.drop(s, `silent for ${(silent / 1000).toFixed(1)}s (pings unanswered)`);
      }
    }
  }

  /** The end of the run: ready workers are told, the rest closed. */
  end(runId: number, status: string): void {
    for (const s of this.all.values()) {
      if (s.state === 'ready') {
        s.channel.send({ type: 'done', runId, status });
        s.channel.end();
      }
    }
  }

  destroyAll(): void {
    for (const s of this.all.values()) if (!s.channel.closed) s.channel.destroy();
  }

  private onHello(session: Session, hello: Hello): void {
    if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
    session.handshakeTimer = null;
    const now = Date.now();
    let duplicate: Session | null = null;
    for (const other of this.all.values()) {
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
    const ended = this.events.ended();
    if (ended !== null) {
      // It missed the end (a reconnect during or after it): tell it the run is over.
      this.ui.info(
        `worker ${hello.workerId} connected after the end; told it run ${ended.runId} is ${ended.status}`,
      );
      session.channel.send({ type: 'done', runId: ended.runId, status: ended.status });
      session.state = 'closed';
      return session.channel.end();
    }
    if (duplicate !== null) this.drop(duplicate, 'replaced by a new connection with the same id');
    session.slots = verdict.slots;
    session.state = 'ready';
    session.channel.setMaxFrame(DEFAULT_MAX_FRAME);
    const { runId, spec, joinFrames } = this.events.joined(session, hello);
    session.channel.send({ type: 'welcome', runId, spec: spec as never });
    for (const body of joinFrames ?? []) session.channel.sendParts([body]);
    const cap = verdict.capped ? `; it asked for ${hello.slots}, --max-slots is ${this.opts.maxSlots}` : '';
    this.ui.info(
      `worker ${hello.workerId} joined from ${session.channel.remote} (${verdict.slots} slot(s)${cap})`,
    );
    this.events.wake();
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
      if (session.state !== 'ready' || this.events.ended() !== null) return;
      if (session.stalled) {
        session.stalled = false;
        this.ui.info(`worker ${session.workerId} is answering again`);
        setImmediate(() => this.events.wake());
      }
      const msg = asToCoordinator(raw);
      if (msg.type === 'ping') return session.channel.send({ type: 'pong', t: msg.t });
      if (msg.type === 'result' || msg.type === 'failure') this.events.message(session, msg);
    } catch (err) {
      if (err instanceof ProtocolError) return this.drop(session, err.message);
      this.events.fatal(err);
    }
  }

  private onClose(session: Session, reason: string | null): void {
    if (session.handshakeTimer) clearTimeout(session.handshakeTimer);
    const wasReady = session.state === 'ready';
    const wasHandshake = session.state === 'handshake';
    session.state = 'closed';
    this.all.delete(session.id);
    if (wasReady) return this.events.lost(session, reason, this.dropped.has(session));
    // Codec errors (oversized or undecodable frames) close the channel before any handler sees them.
    if (wasHandshake && reason !== null && !this.dropped.has(session) && this.events.ended() === null) {
      this.ui.warn(`dropped ${session.channel.remote}: ${reason}`);
    }
  }
}
