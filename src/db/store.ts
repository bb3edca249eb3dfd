/**
 * The SQLite store (better-sqlite3, WAL). The coordinator is the only writer; `report` and `eda`
 * open it read-only. Every chunk result lands in one transaction together with its chunk row,
 * rejects, worker stats and the run's running totals, so a crash never leaves half a result.
 * Opening a database is db/open-db.ts; the multi-statement writes (a result, giving up the cuts,
 * closing a run) are db/result-writes.ts, called through the methods here.
 */
import type { By, Per } from '../aggregate/mart-ranking.js';
import { martNames, martTop, type TopEntry } from './mart-blocks.js';
import { type Db, openReadOnlyHandle, openWritableDb, type Statement } from './open-db.js';
import { type FinishRunArgs, finishRun, recordResult, resetCuts } from './result-writes.js';
import type {
  AttemptRow,
  CellRow,
  ChunkResultWrite,
  ChunkRow,
  NewRun,
  RunRow,
  RunStatus,
  WorkerRow,
} from './rows.js';
import { SpillFile } from './spill-file.js';

export type { Statement } from './open-db.js';

export type {
  AttemptRow,
  CellRow,
  ChunkResultWrite,
  ChunkRow,
  MartRow,
  NewRun,
  RunRow,
  RunStatus,
  WorkerRow,
} from './rows.js';

export class Store {
  private readonly db: Db;
  readonly path: string;
  private readonly statements = new Map<string, Statement>();

  private constructor(db: Db, file: string) {
    this.db = db;
    this.path = file;
  }

  /** Opens (and creates) a database for writing. */
  static open(file: string): Store {
    return new Store(openWritableDb(file), file);
  }

  /** Opens an existing database for reading (see openReadOnlyHandle). */
  static openReadOnly(file: string): Store {
    return new Store(openReadOnlyHandle(file) as Db, file);
  }

  close(): void {
    for (const f of this.spills.values())
      if (this.path === ':memory:') f.remove();
      else f.close();
    this.db.close();
  }

  private readonly spills = new Map<number, SpillFile>();
  private readonly spillToken = Math.random().toString(36).slice(2);

  /** The file holding the bytes of run `runId`'s spill (db/spill-file.ts). */
  spill(runId: number): SpillFile {
    let f = this.spills.get(runId);
    if (f === undefined)
      this.spills.set(runId, (f = new SpillFile(SpillFile.pathFor(this.path, runId, this.spillToken))));
    return f;
  }

  // --- runs -----------------------------------------------------------------------------------

  createRun(r: NewRun): number {
    const info = this.prepare(
      `INSERT INTO runs (file, size, mtime_ms, options, spec, data_start, header_lines, chunk_size, started_at, status, scale,
          lock_owner, lock_heartbeat_ms, chunks_total)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
    ).run(
      r.file,
      r.size,
      Math.round(r.mtimeMs),
      JSON.stringify(r.options),
      JSON.stringify(r.spec),
      r.dataStart,
      r.headerLines,
      r.chunkSize,
      r.startedAt,
      r.scale,
      r.lockOwner,
      Date.now(),
      r.chunksTotal,
    );
    return Number(info.lastInsertRowid);
  }

  getRun(id: number): RunRow | undefined {
    return this.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
  }

  latestRun(status?: RunStatus): RunRow | undefined {
    if (status === undefined)
      return this.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT 1').get() as RunRow | undefined;
    return this.prepare('SELECT * FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1').get(status) as
      | RunRow
      | undefined;
  }

  listRuns(): RunRow[] {
    return this.prepare('SELECT * FROM runs ORDER BY id').all() as RunRow[];
  }

  /** The latest run over this file, whatever its status. */
  latestRunForFile(file: string): RunRow | undefined {
    return this.prepare('SELECT * FROM runs WHERE file = ? ORDER BY id DESC LIMIT 1').get(file) as
      | RunRow
      | undefined;
  }

  /** A running run on this file whose owner is still beating (another live coordinator). */
  liveRunForFile(file: string, staleAfterMs: number): RunRow | undefined {
    return this.prepare(
      "SELECT * FROM runs WHERE file = ? AND status = 'running' AND lock_heartbeat_ms > ? ORDER BY id DESC LIMIT 1",
    ).get(file, Date.now() - staleAfterMs) as RunRow | undefined;
  }

  /** Takes the run's lock if no other owner has beaten within `staleAfterMs`. Atomic. */
  takeLock(runId: number, owner: string, staleAfterMs: number): boolean {
    const info = this.prepare(
      `UPDATE runs SET lock_owner = ?, lock_heartbeat_ms = ?, status = 'running', finished_at = NULL, error = NULL
         WHERE id = ? AND (lock_owner IS NULL OR lock_owner = ? OR lock_heartbeat_ms IS NULL OR lock_heartbeat_ms < ?)`,
    ).run(owner, Date.now(), runId, owner, Date.now() - staleAfterMs);
    return info.changes === 1;
  }

  heartbeat(runId: number, owner: string): void {
    this.prepare('UPDATE runs SET lock_heartbeat_ms = ? WHERE id = ? AND lock_owner = ?').run(
      Date.now(),
      runId,
      owner,
    );
  }

  /**
   * Forgets every chunk result of a run (its cuts were wrong) and records that it now cuts by quote
   * parity; one transaction.
   */
  resetRunForCarefulCuts(runId: number, at: string): void {
    resetCuts(
      this,
      runId,
      at,
      'quote-aware restart',
      "options = json_set(options, '$.careful', json('true'))",
    );
  }

  /**
   * A second pass for scattered orders: the cuts so far are given up as in a careful restart, and
   * the run's spec now ships every order (so `--resume` continues that way); `why` is kept in the
   * run's options for the summary.
   */
  resetRunForSecondPass(runId: number, at: string, spec: unknown, why: unknown): void {
    resetCuts(
      this,
      runId,
      at,
      'second pass for scattered orders',
      "spec = ?, options = json_set(options, '$.secondPass', json(?))",
      JSON.stringify(spec),
      JSON.stringify(why),
    );
  }

  setChunksTotal(runId: number, total: number): void {
    this.prepare('UPDATE runs SET chunks_total = ? WHERE id = ?').run(total, runId);
  }

  // --- chunks ---------------------------------------------------------------------------------

  doneChunks(runId: number): ChunkRow[] {
    return this.prepare("SELECT * FROM chunks WHERE run_id = ? AND status = 'done' ORDER BY byte_start").all(
      runId,
    ) as ChunkRow[];
  }

  allChunks(runId: number): ChunkRow[] {
    return this.prepare('SELECT * FROM chunks WHERE run_id = ? ORDER BY byte_start').all(runId) as ChunkRow[];
  }

  /** Records a lease: the chunk row (first time) and an attempt row. */
  recordDispatch(
    runId: number,
    chunkId: number,
    byteStart: number,
    byteEnd: number,
    attempt: number,
    workerId: string,
    at: string,
  ): void {
    this.tx(() => {
      this.prepare(
        `INSERT INTO chunks (run_id, chunk_id, byte_start, byte_end, status, attempts, worker_id, dispatched_at)
           VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
           ON CONFLICT (run_id, chunk_id) DO UPDATE SET attempts = excluded.attempts, worker_id = excluded.worker_id,
             dispatched_at = excluded.dispatched_at`,
      ).run(runId, chunkId, byteStart, byteEnd, attempt, workerId, at);
      this.prepare(
        `INSERT INTO attempts (run_id, chunk_id, attempt, worker_id, dispatched_at, outcome) VALUES (?, ?, ?, ?, ?, 'leased')`,
      ).run(runId, chunkId, attempt, workerId, at);
    });
  }

  /** Ends an attempt that did not produce the chunk's result. */
  recordAttemptEnd(
    runId: number,
    chunkId: number,
    attempt: number,
    outcome: string,
    at: string,
    detail: string | null,
  ): void {
    this.prepare(
      'UPDATE attempts SET outcome = ?, finished_at = ?, detail = ? WHERE run_id = ? AND chunk_id = ? AND attempt = ?',
    ).run(outcome, at, detail, runId, chunkId, attempt);
  }

  /** The last attempt number of each chunk, so a resumed run numbers on from there. */
  lastAttempts(runId: number): [number, number][] {
    return (
      this.prepare('SELECT chunk_id, MAX(attempt) AS n FROM attempts WHERE run_id = ? GROUP BY chunk_id').all(
        runId,
      ) as { chunk_id: number; n: number }[]
    ).map((r) => [r.chunk_id, r.n]);
  }

  /** A run whose end could not be recorded: left failed (resumable) and unlocked, if the database lets us. */
  markUnfinished(runId: number, at: string, error: string): void {
    this.prepare(
      "UPDATE runs SET status = 'failed', finished_at = ?, error = ?, lock_owner = NULL, lock_heartbeat_ms = NULL WHERE id = ?",
    ).run(at, error, runId);
  }

  markChunkFailed(runId: number, chunkId: number): void {
    this.prepare("UPDATE chunks SET status = 'failed' WHERE run_id = ? AND chunk_id = ?").run(runId, chunkId);
  }

  /** One transaction: the chunk's result, its rejects, the worker's and the run's new totals. */
  recordResult(w: ChunkResultWrite): void {
    recordResult(this, w);
  }

  // --- workers --------------------------------------------------------------------------------

  workerConnected(runId: number, workerId: string, address: string, at: string): void {
    this.prepare(
      `INSERT INTO workers (run_id, worker_id, address, connected_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id, worker_id) DO UPDATE SET sessions = sessions + 1, address = excluded.address, disconnected_at = NULL`,
    ).run(runId, workerId, address, at);
  }

  workerDisconnected(runId: number, workerId: string, at: string): void {
    this.prepare('UPDATE workers SET disconnected_at = ? WHERE run_id = ? AND worker_id = ?').run(
      at,
      runId,
      workerId,
    );
  }

  workers(runId: number): WorkerRow[] {
    return this.prepare('SELECT * FROM workers WHERE run_id = ? ORDER BY worker_id').all(
      runId,
    ) as WorkerRow[];
  }

  // --- end of run -----------------------------------------------------------------------------

  /** Closes a run (see result-writes.ts `finishRun`). */
  finishRun(...args: FinishRunArgs): void {
    finishRun(this, ...args);
  }

  // --- reads for report / eda -----------------------------------------------------------------

  monthly(runId: number): ({ month: string } & CellRow)[] {
    return this.prepare(
      'SELECT month, rows, units, revenue FROM monthly WHERE run_id = ? ORDER BY month',
    ).all(runId) as ({
      month: string;
    } & CellRow)[];
  }

  dimensions(runId: number): ({ dimension: string; key: string } & CellRow)[] {
    return this.prepare(
      'SELECT dimension, key, rows, units, revenue FROM dimensions WHERE run_id = ? ORDER BY dimension, key',
    ).all(runId) as ({ dimension: string; key: string } & CellRow)[];
  }

  rejectReasons(runId: number): { reason: string; count: number; first_line: number | null }[] {
    return this.prepare(
      'SELECT reason, SUM(count) AS count, MIN(line) AS first_line FROM rejects WHERE run_id = ? GROUP BY reason ORDER BY count DESC, reason',
    ).all(runId) as { reason: string; count: number; first_line: number | null }[];
  }

  /** Rejects whose reason matches a LIKE pattern: how many in all, and the first `limit` lines. */
  rejectsLike(runId: number, pattern: string, limit: number): { count: number; lines: (number | null)[] } {
    const total = this.prepare(
      'SELECT COALESCE(SUM(count), 0) AS n FROM rejects WHERE run_id = ? AND reason LIKE ?',
    ).get(runId, pattern) as { n: number };
    const rows = this.prepare(
      'SELECT line FROM rejects WHERE run_id = ? AND reason LIKE ? ORDER BY line, chunk_id, rel_line LIMIT ?',
    ).all(runId, pattern, limit) as { line: number | null }[];
    return { count: total.n, lines: rows.map((r) => r.line) };
  }

  rejects(runId: number, limit: number): { line: number | null; reason: string; raw: string }[] {
    return this.prepare(
      'SELECT line, reason, raw FROM rejects WHERE run_id = ? ORDER BY line, chunk_id, rel_line LIMIT ?',
    ).all(runId, limit) as { line: number | null; reason: string; raw: string }[];
  }

  attempts(runId: number): AttemptRow[] {
    return this.prepare(
      'SELECT * FROM attempts WHERE run_id = ? ORDER BY dispatched_at, chunk_id, attempt',
    ).all(runId) as AttemptRow[];
  }

  /** Mart columns stored for a run. */
  martNames(runId: number): string[] {
    return martNames(this.prep, runId);
  }

  /**
   * The top `limit` keys of a mart per period, ranked exactly (units, and revenue × 10^scale, of
   * any size). Ties are broken by key, ascending (db/mart-blocks.ts).
   */
  martTop(runId: number, mart: string, per: Per, by: By, limit: number): TopEntry[] {
    return martTop(this.prep, runId, mart, per, by, limit);
  }

  /** Prepares through the statement cache, for the modules that own their tables. */
  readonly prep = (sql: string): Statement => this.prepare(sql);

  /** A read query for modules with their own SQL (eda). Rows are plain objects. */
  query<T>(sql: string, ...params: unknown[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  /** Runs `fn` in one transaction; a call inside another transaction becomes a savepoint. */
  transaction(fn: () => void): void {
    this.tx(fn);
  }

  /** A cached prepared statement, for modules that own their tables (db/cell-runs.ts). */
  statement(sql: string): Statement {
    return this.prepare(sql);
  }

  /** Prepared statements are compiled once per store. */
  private prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (st === undefined) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  private tx(fn: () => void): void {
    this.db.transaction(fn)();
  }
}
