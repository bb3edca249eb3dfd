/** Checks a finished run's done chunks in SQLite: they cover the data section exactly once, in order. */
import Database from 'better-sqlite3';

export function chunkTilingProblems(db: string, runId?: number): string[] {
  const conn = new Database(db, { readonly: true });
  try {
    const run = conn
      .prepare(
        runId === undefined
          ? 'SELECT id, data_start, size FROM runs ORDER BY id DESC LIMIT 1'
          : 'SELECT id, data_start, size FROM runs WHERE id = ?',
      )
      .get(...(runId === undefined ? [] : [runId])) as { id: number; data_start: number; size: number };
    const chunks = conn
      .prepare(
        "SELECT chunk_id, byte_start, byte_end FROM chunks WHERE run_id = ? AND status = 'done' ORDER BY byte_start",
      )
      .all(run.id) as { chunk_id: number; byte_start: number; byte_end: number }[];
    const problems: string[] = [];
    let pos = run.data_start;
    for (const c of chunks) {
      if (c.byte_start !== pos)
        problems.push(`chunk ${c.chunk_id} starts at ${c.byte_start}, expected ${pos}`);
      pos = c.byte_end;
    }
    if (pos !== run.size) problems.push(`done chunks end at ${pos}, the file at ${run.size}`);
    return problems;
  } finally {
    conn.close();
  }
}
