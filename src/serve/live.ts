/**
 * Live run feeds over server-sent events (better-sse). The server watches the database, not the
 * coordinator: one timer checks SQLite's data_version (it changes on every commit by another
 * connection) and, for each run someone is watching, pushes what changed:
 * - `state`: the run, its workers and reject reasons, when any of them changed;
 * - `attempts`: the leases that are new or changed since the last push (`reset: true` on connect);
 * - `rejects`: the rejects stored since the last push;
 * - `rejects-reset`: the newest rejects again, now with file line numbers, when the run ends.
 * Clients never poll.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Channel, createChannel, createSession } from 'better-sse';
import type { AttemptRow, RejectRow, RunDetail, WorkerRow } from './api-types.js';
import type { DashboardQueries } from './queries.js';

export interface LiveState {
  run: RunDetail;
  workers: WorkerRow[];
  rejectReasons: { reason: string; count: number; firstLine: number | null }[];
}

export interface AttemptsEvent {
  /** True when `items` is the whole (newest MAX_ATTEMPTS_SHOWN) list, not a change set. */
  reset: boolean;
  items: AttemptRow[];
  /** Attempts the run has in all. */
  total: number;
}

/** Rejects sent on connect and per push; the live page keeps a bounded tail, the explorer pages them all. */
export const REJECTS_PER_PUSH = 200;
/** Between two pushes of the attempts, at least this long: a run of tiny chunks stays cheap to watch. */
const ATTEMPTS_EVERY_MS = 500;

interface Feed {
  runId: number;
  channel: Channel;
  lastState: string;
  /** chunk:attempt → the row as last sent. */
  attempts: Map<string, string>;
  attemptsAt: number;
  lastRejectId: number;
  lastStatus: string;
}

const attemptKey = (a: AttemptRow) => `${a.chunk}:${a.attempt}`;

export class LiveFeeds {
  private readonly q: DashboardQueries;
  private readonly intervalMs: number;
  private readonly feeds = new Map<number, Feed>();
  private timer: NodeJS.Timeout | null = null;
  private lastVersion = -1;
  private lastForced = 0;

  constructor(q: DashboardQueries, intervalMs = 250) {
    this.q = q;
    this.intervalMs = intervalMs;
  }

  state(runId: number): LiveState | null {
    const run = this.q.run(runId);
    if (run === null) return null;
    return { run, workers: this.q.workers(runId), rejectReasons: this.q.rejectReasons(runId) };
  }

  /** Takes over the response: an SSE stream of this run's events. */
  async attach(runId: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const state = this.state(runId);
    const session = await createSession(req, res, { retry: 2_000 });
    if (state === null) {
      session.push({ message: `no run ${runId}` }, 'missing');
      return;
    }
    const attempts = this.q.attempts(runId);
    let feed = this.feeds.get(runId);
    if (feed === undefined) {
      const channel = createChannel();
      const created: Feed = {
        runId,
        channel,
        lastState: JSON.stringify(state),
        attempts: new Map(attempts.items.map((a) => [attemptKey(a), JSON.stringify(a)])),
        attemptsAt: Date.now(),
        lastRejectId: 0,
        lastStatus: state.run.status,
      };
      channel.on('session-deregistered', () => {
        if (channel.sessionCount === 0) this.feeds.delete(runId);
      });
      this.feeds.set(runId, created);
      feed = created;
    }
    const tail = this.q.latestRejects(runId, REJECTS_PER_PUSH);
    if (feed.lastRejectId === 0 && tail.length > 0) feed.lastRejectId = tail[tail.length - 1].id;
    session.push(state, 'state');
    session.push(
      { reset: true, items: attempts.items, total: attempts.total } satisfies AttemptsEvent,
      'attempts',
    );
    session.push(tail, 'rejects');
    feed.channel.register(session);
    this.start();
  }

  private start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One check: pushes what changed to every watched run. Exposed for tests. */
  tick(now = Date.now()): void {
    if (this.feeds.size === 0) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const version = this.q.dataVersion();
    // Without a commit nothing changed, except that a running run may go stale: look every 2 s.
    if (version === this.lastVersion && now - this.lastForced < 2_000) return;
    this.lastVersion = version;
    this.lastForced = now;
    for (const feed of this.feeds.values()) this.push(feed, now);
  }

  private push(feed: Feed, now: number): void {
    const state = this.state(feed.runId);
    if (state === null) return;
    const text = JSON.stringify(state);
    if (text !== feed.lastState) {
      feed.lastState = text;
      feed.channel.broadcast(state, 'state');
    }
    const ended = feed.lastStatus === 'running' && state.run.status !== 'running';
    if (ended || now - feed.attemptsAt >= ATTEMPTS_EVERY_MS) this.pushAttempts(feed, now);
    else this.lastVersion = -1; // attempts wait for a later tick
    if (ended) {
      // The run's end placed file line numbers on its rejects: send the tail again with them.
      const tail = this.q.latestRejects(feed.runId, REJECTS_PER_PUSH);
      if (tail.length > 0) feed.lastRejectId = Math.max(feed.lastRejectId, tail[tail.length - 1].id);
      feed.channel.broadcast(tail, 'rejects-reset');
    }
    feed.lastStatus = state.run.status;
    for (let batch = 0; batch < 5; batch++) {
      const fresh: RejectRow[] = this.q.rejectsAfter(feed.runId, feed.lastRejectId, REJECTS_PER_PUSH);
      if (fresh.length === 0) return;
      feed.lastRejectId = fresh[fresh.length - 1].id;
      feed.channel.broadcast(fresh, 'rejects');
    }
    this.lastVersion = -1; // more rejects wait: look again on the next tick
  }

  private pushAttempts(feed: Feed, now: number): void {
    feed.attemptsAt = now;
    const { items, total } = this.q.attempts(feed.runId);
    const changed: AttemptRow[] = [];
    const next = new Map<string, string>();
    for (const a of items) {
      const key = attemptKey(a);
      const text = JSON.stringify(a);
      next.set(key, text);
      if (feed.attempts.get(key) !== text) changed.push(a);
    }
    feed.attempts = next;
    if (changed.length > 0)
      feed.channel.broadcast({ reset: false, items: changed, total } satisfies AttemptsEvent, 'attempts');
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const feed of this.feeds.values()) {
      for (const s of feed.channel.activeSessions) feed.channel.deregister(s);
    }
    this.feeds.clear();
  }
}
