/**
 * The store's transactions over a run's counted state: one chunk result (its chunk row, rejects,
 * attempt, and the worker's and the run's running totals), the reset when every cut so far is
 * given up, and closing the run (line numbers placed, the monthly and dimension rows written, the
 * status set). Each is one transaction, so a crash never leaves half of one.
 */

import type { Statement } from './open-db.js';
import type { CellRow, ChunkResultWrite, ChunkRow, RunRow, RunStatus } from './rows.js';

/** The slice of the store these writes use (the store passes itself). */
export interface StoreSlice {
  /** A statement from the store's cache. */
  prep(sql: string): Statement;
  /** One transaction; inside another, a savepoint. */
  transaction(fn: () => void): void;
  getRun(id: number): RunRow | undefined;
  allChunks(runId: number): ChunkRow[];
}

/** One transaction: the chunk's result, its rejects, the worker's and the run's new totals. */
export function recordResult(store: StoreSlice, w: ChunkResultWrite): void {
  store.transaction(() => {
    store
      .prep(
        `UPDATE chunks SET status = 'done', worker_id = ?, finished_at = ?, lines = ?, rows = ?, rejected = ?, units = ?, revenue = ?,
           price_min = ?, price_max = ?, price_sum = ?, parse_ms = ?, partial = ?
         WHERE run_id = ? AND chunk_id = ?`,
      )
      .run(
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
    store
      .prep(
        "UPDATE attempts SET outcome = 'done', finished_at = ?, detail = ? WHERE run_id = ? AND chunk_id = ? AND attempt = ?",
      )
      .run(w.finishedAt, w.detail, w.runId, w.chunkId, w.attempt);
    const ins = store.prep(
      'INSERT INTO rejects (run_id, chunk_id, rel_line, reason, raw) VALUES (?, ?, ?, ?, ?)',
    );
    for (const [rel, reason, raw] of w.rejects) ins.run(w.runId, w.chunkId, rel, reason, raw);
    const group = store.prep(
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
    store
      .prep(
        `UPDATE workers SET chunks = ?, rows = ?, revenue = ?, busy_ms = ?, price_min = ?, price_max = ?, price_sum = ?
         WHERE run_id = ? AND worker_id = ?`,
      )
      .run(
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
    store
      .prep(
        `UPDATE runs SET rows = ?, rejected = ?, units = ?, revenue = ?, price_min = ?, price_max = ?, price_sum = ?, avg_price = ?,
           scale = ?, chunks_done = ?, bytes_done = ? WHERE id = ?`,
      )
      .run(
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

/**
 * Forgets every chunk result of a run (its cuts were wrong): its chunks and rejects deleted, its
 * leased attempts closed as interrupted, the run's and its workers' totals zeroed, and `set` (with
 * `params`) applied to the run's row; one transaction.
 */
export function resetCuts(
  store: StoreSlice,
  runId: number,
  at: string,
  why: string,
  set: string,
  ...params: unknown[]
): void {
  store.transaction(() => {
    for (const table of ['chunks', 'rejects']) store.prep(`DELETE FROM ${table} WHERE run_id = ?`).run(runId);
    // The attempts stay: they are the run's history. Their chunk ids are never used again.
    store
      .prep(
        "UPDATE attempts SET outcome = 'interrupted', finished_at = ?, detail = ? WHERE run_id = ? AND outcome = 'leased'",
      )
      .run(at, `cuts given up: ${why}`, runId);
    store
      .prep(
        `UPDATE runs SET rows = 0, rejected = 0, units = '0', revenue = '0', price_min = NULL, price_max = NULL, price_sum = '0',
         avg_price = NULL, chunks_done = 0, bytes_done = 0, chunks_total = NULL, ${set}
       WHERE id = ?`,
      )
      .run(...params, runId);
    store
      .prep(
        `UPDATE workers SET chunks = 0, rows = 0, revenue = '0', busy_ms = 0, price_min = NULL, price_max = NULL, price_sum = '0'
       WHERE run_id = ?`,
      )
      .run(runId);
  });
}

/** `finishRun`'s arguments after the store (Store.finishRun passes them on). */
export type FinishRunArgs = Parameters<typeof finishRun> extends [StoreSlice, ...infer R] ? R : never;

/**
 * Closes a run: places line numbers (each chunk's first line is the header's lines plus the
 * line feeds of the chunks before it), writes the merged maps, sets the status.
 */
export function finishRun(
  store: StoreSlice,
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
  store.transaction(() => {
    if (status === 'done' && checkDone !== undefined) {
      checkDone(
        (
          store
            .prep(
              "SELECT byte_start, byte_end FROM chunks WHERE run_id = ? AND status = 'done' ORDER BY byte_start",
            )
            .all(runId) as { byte_start: number; byte_end: number }[]
        ).map((c) => ({ byteStart: c.byte_start, byteEnd: c.byte_end })),
      );
    }
    // Line numbers: exact for every chunk whose predecessors are all done (all of them in a
    // finished run; the done prefix of an interrupted or failed one, the rest on resume).
    const run = store.getRun(runId);
    let line = (run?.header_lines ?? 1) + 1;
    let expectStart = run?.data_start ?? 0;
    const setLine = store.prep('UPDATE chunks SET first_line = ? WHERE run_id = ? AND chunk_id = ?');
    const setRejects = store.prep('UPDATE rejects SET line = ? + rel_line WHERE run_id = ? AND chunk_id = ?');
    for (const c of store.allChunks(runId)) {
      if (c.status !== 'done' || c.lines === null || c.byte_start !== expectStart) break;
      setLine.run(line, runId, c.chunk_id);
      setRejects.run(line, runId, c.chunk_id);
      line += c.lines;
      expectStart = c.byte_end;
    }
    if (merged !== null) {
      store.prep('DELETE FROM monthly WHERE run_id = ?').run(runId);
      store.prep('DELETE FROM dimensions WHERE run_id = ?').run(runId);
      const m = store.prep(
        'INSERT INTO monthly (run_id, month, rows, units, revenue) VALUES (?, ?, ?, ?, ?)',
      );
      for (const [month, c] of merged.monthly) m.run(runId, month, c.rows, c.units, c.revenue);
      const d = batchInsert(
        store,
        'INSERT INTO dimensions (run_id, dimension, key, rows, units, revenue) VALUES',
        6,
      );
      for (const [dim, key, c] of merged.dims) d.add(runId, dim, key, c.rows, c.units, c.revenue);
      d.flush();
    }
    store
      .prep(
        "UPDATE attempts SET outcome = 'interrupted', finished_at = ? WHERE run_id = ? AND outcome = 'leased'",
      )
      .run(at, runId);
    store
      .prep(
        'UPDATE runs SET status = ?, finished_at = ?, error = ?, lock_owner = NULL, lock_heartbeat_ms = NULL WHERE id = ?',
      )
      .run(status, at, error, runId);
  });
}

/**
 * Inserts rows `BATCH` at a time through one multi-row statement: a bulk load (millions of mart
 * cells) spends most of its time crossing from JS into SQLite, once per statement.
 */
function batchInsert(
  store: StoreSlice,
  head: string,
  width: number,
): { add(...values: unknown[]): void; flush(): void } {
  const BATCH = 32;
  const tuple = `(${Array(width).fill('?').join(', ')})`;
  const full = store.prep(`${head} ${Array(BATCH).fill(tuple).join(', ')}`);
  const one = store.prep(`${head} ${tuple}`);
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
