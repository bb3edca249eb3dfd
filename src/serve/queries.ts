/**
 * The dashboard's read-only view of a salesgrid database. One read-only better-sqlite3 connection;
 * every query is a fixed, parameterized statement (no SQL, column or table name from a client).
 * Money stays exact: decimal TEXT is summed as bigint in JS; marts are read through
 * src/db/mart-blocks.ts (precomputed rankings, one block per key, exact integers).
 */
import { formatScaled, parseDecimal, rescale } from '../aggregate/decimal.js';
import { martKeyCells, martKeyPage, martNames } from '../db/mart-blocks.js';
import { openReadOnlyHandle } from '../db/open-db.js';
import type { AggregateHost } from '../db/sort-key.js';
import type {
  AttemptRow,
  Page,
  Period,
  RejectRow,
  RunDetail,
  RunListItem,
  TopKey,
  WorkerRow,
} from './api-types.js';

/** The slice of better-sqlite3 this module uses. */
interface Statement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  safeIntegers(on: boolean): Statement;
}
interface Db extends AggregateHost {
  prepare(sql: string): Statement;
  pragma(sql: string, options: { simple: true }): unknown;
  close(): void;
}

/** A run is stale when it says running but its coordinator has not beaten for this long. */
export const STALE_AFTER_MS = 15_000;
export const MAX_ATTEMPTS_SHOWN = 5_000;

interface RunRecord {
  id: number;
  file: string;
  size: number;
  spec: string;
  data_start: number;
  chunk_size: number;
  started_at: string;
  finished_at: string | null;
  status: string;
  error: string | null;
  scale: number;
  rows: number;
  rejected: number;
  units: string;
  revenue: string;
  price_min: string | null;
  price_max: string | null;
  avg_price: string | null;
  chunks_done: number;
  chunks_total: number | null;
  bytes_done: number;
  lock_heartbeat_ms: number | null;
  workers: number;
}

const RUN_COLUMNS = `id, file, size, spec, data_start, chunk_size, started_at, finished_at, status, error, scale, rows,
  rejected, units, revenue, price_min, price_max, avg_price, chunks_done, chunks_total, bytes_done, lock_heartbeat_ms,
  (SELECT COUNT(*) FROM workers w WHERE w.run_id = runs.id) AS workers`;

function addDecimals(values: string[]): string {
  let sum = 0n;
  let scale = 0;
  for (const v of values) {
    const [x, s] = parseDecimal(v);
    if (s > scale) {
      sum = rescale(sum, scale, s);
      scale = s;
    }
    sum += rescale(x, s, scale);
  }
  return formatScaled(sum, scale);
}

function toListItem(r: RunRecord): RunListItem {
  return {
    id: r.id,
    status: r.status,
    file: r.file,
    size: r.size,
    rows: r.rows,
    rejected: r.rejected,
    revenue: r.revenue,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.finished_at === null ? null : Date.parse(r.finished_at) - Date.parse(r.started_at),
    workers: r.workers,
    chunksDone: r.chunks_done,
    chunksTotal: r.chunks_total,
  };
}

/** LIKE pattern matching `text` anywhere, with % _ and \ taken literally (ESCAPE '\'). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class DashboardQueries {
  private readonly db: Db;
  private readonly cache = new Map<string, Statement>();
  readonly path: string;

  private constructor(db: Db, file: string) {
    this.db = db;
    this.path = file;
  }

  /** Opens `file` read-only; a missing file or a file that is not a salesgrid database is a clear error. */
  static open(file: string): DashboardQueries {
    return new DashboardQueries(openReadOnlyHandle(file) as Db, file);
  }

  close(): void {
    this.db.close();
  }

  /** The statement cache as the mart readers take it (db/mart-blocks.ts). */
  private readonly read = (sql: string): Statement => this.stmt(sql);

  private stmt(sql: string): Statement {
    let s = this.cache.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** Changes whenever another connection commits: a cheap "anything new?" test for live pages. */
  dataVersion(): number {
    return Number(this.db.pragma('data_version', { simple: true }));
  }

  runs(limit: number, offset: number): Page<RunListItem> {
    const total = (this.stmt('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
    const rows = this.stmt(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ? OFFSET ?`).all(
      limit,
      offset,
    ) as RunRecord[];
    return { items: rows.map(toListItem), total, limit, offset };
  }

  latestRunId(): number | null {
    const r = this.stmt('SELECT MAX(id) AS id FROM runs').get() as { id: number | null };
    return r.id;
  }

  run(id: number, now = Date.now()): RunDetail | null {
    const r = this.stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunRecord | undefined;
    if (r === undefined) return null;
    const spec = JSON.parse(r.spec) as {
      price: number;
      date: number;
      dimensions: { name: string }[];
      marts?: { name: string }[];
    };
    const heartbeat = r.lock_heartbeat_ms;
    return {
      ...toListItem(r),
      error: r.error,
      units: r.units,
      minPrice: r.price_min,
      maxPrice: r.price_max,
      avgPrice: r.avg_price,
      priceBasis: spec.price >= 0 ? 'unit price' : 'line amount',
      bytesDone: r.bytes_done,
      bytesTotal: Math.max(0, r.size - r.data_start),
      chunkSize: r.chunk_size,
      scale: r.scale,
      heartbeatAt: heartbeat === null ? null : new Date(heartbeat).toISOString(),
      stale: r.status === 'running' && (heartbeat === null || now - heartbeat > STALE_AFTER_MS),
      hasDates: spec.date >= 0,
      dimensions: spec.dimensions.map((d) => d.name),
      marts: (spec.marts ?? []).map((d) => d.name),
    };
  }

  workers(runId: number): WorkerRow[] {
    const rows = this.stmt(
      `SELECT w.worker_id, w.address, w.connected_at, w.disconnected_at, w.sessions, w.chunks, w.rows, w.revenue, w.busy_ms,
         (SELECT MAX(COALESCE(a.finished_at, a.dispatched_at)) FROM attempts a WHERE a.run_id = w.run_id AND a.worker_id = w.worker_id) AS last_seen,
         (SELECT COUNT(*) FROM attempts a WHERE a.run_id = w.run_id AND a.worker_id = w.worker_id AND a.outcome = 'leased') AS leased
       FROM workers w WHERE w.run_id = ? ORDER BY w.worker_id`,
    ).all(runId) as {
      worker_id: string;
      address: string | null;
      connected_at: string;
      disconnected_at: string | null;
      sessions: number;
      chunks: number;
      rows: number;
      revenue: string;
      busy_ms: number;
      last_seen: string | null;
      leased: number;
    }[];
    return rows.map((w) => ({
      workerId: w.worker_id,
      address: w.address,
      connectedAt: w.connected_at,
      disconnectedAt: w.disconnected_at,
      sessions: w.sessions,
      chunks: w.chunks,
      rows: w.rows,
      revenue: w.revenue,
      busyMs: w.busy_ms,
      lastSeenAt: w.last_seen,
      leased: w.leased,
    }));
  }

  /** Every lease of the run in dispatch order (the newest MAX_ATTEMPTS_SHOWN), for the timeline. */
  attempts(runId: number): { items: AttemptRow[]; total: number } {
    const total = (
      this.stmt('SELECT COUNT(*) AS n FROM attempts WHERE run_id = ?').get(runId) as { n: number }
    ).n;
    const rows = this.stmt(
      `SELECT chunk_id, attempt, worker_id, dispatched_at, finished_at, outcome, detail FROM (
         SELECT * FROM attempts WHERE run_id = ? ORDER BY dispatched_at DESC, chunk_id DESC LIMIT ?
       ) ORDER BY dispatched_at, chunk_id`,
    ).all(runId, MAX_ATTEMPTS_SHOWN) as {
      chunk_id: number;
      attempt: number;
      worker_id: string;
      dispatched_at: string;
      finished_at: string | null;
      outcome: string;
      detail: string | null;
    }[];
    return {
      total,
      items: rows.map((a) => ({
        chunk: a.chunk_id,
        attempt: a.attempt,
        workerId: a.worker_id,
        dispatchedAt: a.dispatched_at,
        finishedAt: a.finished_at,
        outcome: a.outcome,
        detail: a.detail,
      })),
    };
  }

  /** Monthly totals; with `mart` and `key`, only that key's months (from the mart's exact cells). */
  monthly(runId: number, scale: number, filter?: { mart: string; key: string }): Period[] {
    if (filter === undefined) {
      const rows = this.stmt(
        'SELECT month, rows, units, revenue FROM monthly WHERE run_id = ? ORDER BY month',
      ).all(runId) as { month: string; rows: number; units: string; revenue: string }[];
      return rows.map((r) => ({ period: r.month, rows: r.rows, units: r.units, revenue: r.revenue }));
    }
    return martKeyCells(this.read, runId, filter.mart, filter.key).map((c) => ({
      period: c.month,
      rows: c.rows,
      units: c.units.toString(),
      revenue: formatScaled(c.revenue, scale),
    }));
  }

  dimensionNames(runId: number): string[] {
    return (
      this.stmt('SELECT DISTINCT dimension FROM dimensions WHERE run_id = ? ORDER BY dimension').all(
        runId,
      ) as {
        dimension: string;
      }[]
    ).map((r) => r.dimension);
  }

  martNames(runId: number): string[] {
    return martNames(this.read, runId);
  }

  /**
   * One dimension's keys by revenue, paged in SQL so a dimension of a million keys costs one page
   * of memory. Revenue is shown exactly; only the ordering goes through a double, which can swap
   * two keys whose revenues agree to 15 significant digits (ties are broken by key).
   */
  dimension(runId: number, name: string, limit: number, offset: number): Page<TopKey> {
    const total = (
      this.stmt('SELECT COUNT(*) AS n FROM dimensions WHERE run_id = ? AND dimension = ?').get(
        runId,
        name,
      ) as {
        n: number;
      }
    ).n;
    const rows = this.stmt(
      `SELECT key, rows, units, revenue FROM dimensions WHERE run_id = ? AND dimension = ?
       ORDER BY CAST(revenue AS REAL) DESC, key LIMIT ? OFFSET ?`,
    ).all(runId, name, limit, offset) as { key: string; rows: number; units: string; revenue: string }[];
    return {
      items: rows.map((r) => ({ key: r.key, rows: r.rows, units: r.units, revenue: r.revenue })),
      total,
      limit,
      offset,
    };
  }

  /** A mart's keys over all months, ranked by exact revenue; `search` matches part of the key. */
  martKeys(
    runId: number,
    scale: number,
    mart: string,
    search: string,
    limit: number,
    offset: number,
  ): Page<TopKey & { rank: number }> {
    const page = martKeyPage(this.read, runId, mart, search, limit, offset);
    return {
      items: page.items.map((r) => ({
        rank: r.rank,
        key: r.key,
        rows: r.rows,
        units: r.units.toString(),
        revenue: formatScaled(r.revenue, scale),
      })),
      total: page.total,
      limit,
      offset,
    };
  }

  /** Rejected rows by reason: how many, and the first line. */
  rejectReasons(runId: number): { reason: string; count: number; firstLine: number | null }[] {
    return this.stmt(
      `SELECT reason, SUM(count) AS count, MIN(line) AS firstLine FROM rejects WHERE run_id = ?
       GROUP BY reason ORDER BY count DESC, reason`,
    ).all(runId) as { reason: string; count: number; firstLine: number | null }[];
  }

  /** Rejects in file order, optionally of one reason. */
  rejects(runId: number, reason: string | undefined, limit: number, offset: number): Page<RejectRow> {
    const where = reason === undefined ? 'run_id = ?' : 'run_id = ? AND reason = ?';
    const params = reason === undefined ? [runId] : [runId, reason];
    const total = (
      this.stmt(`SELECT COUNT(*) AS n FROM rejects WHERE ${where}`).get(...params) as { n: number }
    ).n;
    const rows = this.stmt(
      `SELECT rowid AS id, chunk_id, line, rel_line, reason, raw, count FROM rejects WHERE ${where}
       ORDER BY chunk_id, rel_line, rowid LIMIT ? OFFSET ?`,
    ).all(...params, limit, offset) as RawReject[];
    return { items: rows.map(toReject), total, limit, offset };
  }

  /** Rejects stored after `afterId` (rowid order: the order they arrived), at most `limit`. */
  rejectsAfter(runId: number, afterId: number, limit: number): RejectRow[] {
    const rows = this.stmt(
      `SELECT rowid AS id, chunk_id, line, rel_line, reason, raw, count FROM rejects
       WHERE run_id = ? AND rowid > ? ORDER BY rowid LIMIT ?`,
    ).all(runId, afterId, limit) as RawReject[];
    return rows.map(toReject);
  }

  /** The newest `limit` rejects, oldest first. */
  latestRejects(runId: number, limit: number): RejectRow[] {
    const rows = this.stmt(
      `SELECT * FROM (SELECT rowid AS id, chunk_id, line, rel_line, reason, raw, count FROM rejects
       WHERE run_id = ? ORDER BY rowid DESC LIMIT ?) ORDER BY id`,
    ).all(runId, limit) as RawReject[];
    return rows.map(toReject);
  }
}

interface RawReject {
  id: number;
  chunk_id: number;
  line: number | null;
  rel_line: number;
  reason: string;
  raw: string;
  count: number;
}

function toReject(r: RawReject): RejectRow {
  return {
    id: r.id,
    chunk: r.chunk_id,
    line: r.line,
    chunkLine: r.rel_line,
    reason: r.reason,
    raw: r.raw,
    count: r.count,
  };
}

/** Yearly totals from monthly ones, exact. Months are 'YYYY-MM'. */
export function yearly(months: Period[]): Period[] {
  const by = new Map<string, Period[]>();
  for (const m of months) {
    const y = m.period.slice(0, 4);
    const list = by.get(y);
    if (list) list.push(m);
    else by.set(y, [m]);
  }
  return [...by.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([period, list]) => ({
      period,
      rows: list.reduce((n, m) => n + m.rows, 0),
      units: addDecimals(list.map((m) => m.units)),
      revenue: addDecimals(list.map((m) => m.revenue)),
    }));
}
