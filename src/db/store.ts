/**
 * The SQLite store (better-sqlite3, WAL). The coordinator is the only writer; `report` and `eda`
 * open it read-only. Every chunk result lands in one transaction together with its chunk row,
 * rejects, worker stats and the run's running totals, so a crash never leaves half a result.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { By, Per } from '../aggregate/mart-ranking.js';
import { SalesgridError } from '../errors.js';
import { martNames, martTop, type TopEntry } from './mart-blocks.js';
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
import { SCHEMA, SCHEMA_VERSION } from './schema.js';
import { type AggregateHost, registerSortKeySum } from './sort-key.js';
import { SpillFile } from './spill-file.js';

/** The slice of better-sqlite3 this module uses. */
export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** Rows as arrays in column order instead of objects (cheaper per row). */
  raw(toggle?: boolean): Statement;
}
interface Db extends AggregateHost {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

/**
 * Opens an existing salesgrid database read-only (for `report`, `top`, `eda` and the dashboard),
 * with `sg_sum` registered. A missing file, another kind of file or another schema version is a
 * clear error. Callers type the handle against the slice they use.
 */
export function openReadOnlyHandle(file: string): unknown {
  if (!fs.existsSync(file)) {
    throw new SalesgridError(
      'E_NO_RUN',
      `no database at ${file}; run "salesgrid run <csv>" first, or pass --db`,
      {
        exitCode: 2,
      },
    );
  }
  let db: Db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true }) as unknown as Db;
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT 1 FROM runs LIMIT 1').get();
  } catch (err) {
    throw new SalesgridError('E_INPUT', `${file} is not a salesgrid database: ${(err as Error).message}`, {
      exitCode: 2,
    });
  }
  const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined;
  if (version !== undefined && Number(version.value) !== SCHEMA_VERSION) {
    db.close();
    throw new SalesgridError(
      'E_INPUT',
      `database ${file} has schema version ${version.value}; this salesgrid reads ${SCHEMA_VERSION}`,
      { exitCode: 2 },
    );
  }
  registerSortKeySum(db);
  return db;
}

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
    let db: Db;
    try {
      if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      db = new Database(file) as unknown as Db;
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      // 4 MB of page cache (better-sqlite3's default is 16): the writer appends in key order and
      // builds indexes by sorting, neither needs more, and the coordinator's peak RSS is a target.
      db.pragma('cache_size = -4000');
      db.exec(SCHEMA);
    } catch (err) {
      throw new SalesgridError('E_INPUT', `cannot open database ${file}: ${(err as Error).message}`, {
        exitCode: 2,
      });
    }
    const version = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as
      | { value: string }
      | undefined;
    if (version === undefined)
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    else if (Number(version.value) !== SCHEMA_VERSION) {
      db.close();
      throw new SalesgridError(
        'E_INPUT',
        `database ${file} has schema version ${version.value}; this salesgrid reads ${SCHEMA_VERSION}`,
        {
          exitCode: 2,
        },
      );
    }
    registerSortKeySum(db);
    return new Store(db, file);
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
    this.resetCuts(
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
    this.resetCuts(
      runId,
      at,
      'second pass for scattered orders',
      "spec = ?, options = json_set(options, '$.secondPass', json(?))",
      JSON.stringify(spec),
      JSON.stringify(why),
    );
  }

  private resetCuts(runId: number, at: string, why: string, set: string, ...params: unknown[]): void {
    this.tx(() => {
      for (const table of ['chunks', 'rejects'])
        this.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(runId);
      // The attempts stay: they are the run's history. Their chunk ids are never used again.
      this.prepare(
        "UPDATE attempts SET outcome = 'interrupted', finished_at = ?, detail = ? WHERE run_id = ? AND outcome = 'leased'",
      ).run(at, `cuts given up: ${why}`, runId);
      this.prepare(
        `UPDATE runs SET rows = 0, rejected = 0, units = '0', revenue = '0', price_min = NULL, price_max = NULL, price_sum = '0',
           avg_price = NULL, chunks_done = 0, bytes_done = 0, chunks_total = NULL, ${set}
         WHERE id = ?`,
      ).run(...params, runId);
      this.prepare(
        `UPDATE workers SET chunks = 0, rows = 0, revenue = '0', busy_ms = 0, price_min = NULL, price_max = NULL, price_sum = '0'
         WHERE run_id = ?`,
      ).run(runId);
    });
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
    this.tx(() => {
      this.prepare(
        `UPDATE chunks SET status = 'done', worker_id = ?, finished_at = ?, lines = ?, rows = ?, rejected = ?, units = ?, revenue = ?,
             price_min = ?, price_max = ?, price_sum = ?, parse_ms = ?, partial = ?
           WHERE run_id = ? AND chunk_id = ?`,
      ).run(
        w.workerId,
        w.finishedAt,
        w.lines,
        w.rows,
        w.rejected,
        w.units,
        w.revenue,
        w.priceMin,
        w.priceMax,
        w.priceSum,
        w.parseMs,
        w.partial,
        w.runId,
        w.chunkId,
      );
      this.prepare(
        "UPDATE attempts SET outcome = 'done', finished_at = ?, detail = ? WHERE run_id = ? AND chunk_id = ? AND attempt = ?",
      ).run(w.finishedAt, w.detail, w.runId, w.chunkId, w.attempt);
      const ins = this.prepare(
        'INSERT INTO rejects (run_id, chunk_id, rel_line, reason, raw) VALUES (?, ?, ?, ?, ?)',
      );
      for (const [rel, reason, raw] of w.rejects) ins.run(w.runId, w.chunkId, rel, reason, raw);
      const group = this.prepare(
        'INSERT INTO rejects (run_id, chunk_id, rel_line, reason, raw, count) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const [reason, count, rel] of w.omitted) {
        group.run(
          w.runId,
          w.chunkId,
          rel,
          reason,
          `(${count} more rows of this chunk with this reason; the first is on this line)`,
          count,
        );
      }
      this.prepare(
        `UPDATE workers SET chunks = ?, rows = ?, revenue = ?, busy_ms = ?, price_min = ?, price_max = ?, price_sum = ?
           WHERE run_id = ? AND worker_id = ?`,
      ).run(
        w.worker.chunks,
        w.worker.rows,
        w.worker.revenue,
        w.worker.busyMs,
        w.worker.priceMin,
        w.worker.priceMax,
        w.worker.priceSum,
        w.runId,
        w.workerId,
      );
      const r = w.run;
      this.prepare(
        `UPDATE runs SET rows = ?, rejected = ?, units = ?, revenue = ?, price_min = ?, price_max = ?, price_sum = ?, avg_price = ?,
             scale = ?, chunks_done = ?, bytes_done = ? WHERE id = ?`,
      ).run(
        r.rows,
        r.rejected,
        r.units,
        r.revenue,
        r.priceMin,
        r.priceMax,
        r.priceSum,
        r.avgPrice,
        r.scale,
        r.chunksDone,
        r.bytesDone,
        w.runId,
      );
    });
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

  /**
   * Closes a run: places line numbers (each chunk's first line is the header's lines plus the
   * line feeds of the chunks before it), writes the merged maps, sets the status.
   */
  finishRun(
    runId: number,
    status: RunStatus,
    at: string,
    error: string | null,
    merged: {
      monthly: [string, CellRow][];
      dims: Iterable<[string, string, CellRow]>;
    } | null,
    /** For a done run: sees the done chunks' ranges inside the transaction and throws to refuse `done`. */
    checkDone?: (done: { byteStart: number; byteEnd: number }[]) => void,
  ): void {
    this.tx(() => {
      if (status === 'done' && checkDone !== undefined) {
        checkDone(
          (
            this.prepare(
              "SELECT byte_start, byte_end FROM chunks WHERE run_id = ? AND status = 'done' ORDER BY byte_start",
            ).all(runId) as { byte_start: number; byte_end: number }[]
          ).map((c) => ({ byteStart: c.byte_start, byteEnd: c.byte_end })),
        );
      }
      // Line numbers: exact for every chunk whose predecessors are all done (all of them in a
      // finished run; the done prefix of an interrupted or failed one, the rest on resume).
      const run = this.getRun(runId);
      let line = (run?.header_lines ?? 1) + 1;
      let expectStart = run?.data_start ?? 0;
      const setLine = this.prepare('UPDATE chunks SET first_line = ? WHERE run_id = ? AND chunk_id = ?');
      const setRejects = this.prepare(
        'UPDATE rejects SET line = ? + rel_line WHERE run_id = ? AND chunk_id = ?',
      );
      for (const c of this.allChunks(runId)) {
        if (c.status !== 'done' || c.lines === null || c.byte_start !== expectStart) break;
        setLine.run(line, runId, c.chunk_id);
        setRejects.run(line, runId, c.chunk_id);
        line += c.lines;
        expectStart = c.byte_end;
      }
      if (merged !== null) {
        this.prepare('DELETE FROM monthly WHERE run_id = ?').run(runId);
        this.prepare('DELETE FROM dimensions WHERE run_id = ?').run(runId);
        const m = this.prepare(
          'INSERT INTO monthly (run_id, month, rows, units, revenue) VALUES (?, ?, ?, ?, ?)',
        );
        for (const [month, c] of merged.monthly) m.run(runId, month, c.rows, c.units, c.revenue);
        const d = this.batchInsert(
          'INSERT INTO dimensions (run_id, dimension, key, rows, units, revenue) VALUES',
          6,
        );
        for (const [dim, key, c] of merged.dims) d.add(runId, dim, key, c.rows, c.units, c.revenue);
        d.flush();
      }
      this.prepare(
        "UPDATE attempts SET outcome = 'interrupted', finished_at = ? WHERE run_id = ? AND outcome = 'leased'",
      ).run(at, runId);
      this.prepare(
        'UPDATE runs SET status = ?, finished_at = ?, error = ?, lock_owner = NULL, lock_heartbeat_ms = NULL WHERE id = ?',
      ).run(status, at, error, runId);
    });
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

  /**
   * Inserts rows `BATCH` at a time through one multi-row statement: a bulk load (millions of mart
   * cells) spends most of its time crossing from JS into SQLite, once per statement.
   */
  private batchInsert(head: string, width: number): { add(...values: unknown[]): void; flush(): void } {
    const BATCH = 32;
    const tuple = `(${Array(width).fill('?').join(', ')})`;
    const full = this.prepare(`${head} ${Array(BATCH).fill(tuple).join(', ')}`);
    const one = this.prepare(`${head} ${tuple}`);
    const values: unknown[] = [];
    return {
      add: (...row: unknown[]) => {
        for (const v of row) values.push(v);
        if (values.length === BATCH * width) {
          full.run(...values);
          values.length = 0;
        }
      },
      flush: () => {
        for (let i = 0; i < values.length; i += width) one.run(...values.slice(i, i + width));
        values.length = 0;
      },
    };
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
