/**
 * The `--join` tables in the database: each run's dimension tables and rows (written in the run's
 * first transaction, so `top` can show names), and the join report (`join_stats`), computed when
 * the run is done from the spilled runs of unmatched fact keys, inside the finishing transaction.
 */

import type { LoadedJoin } from '../coordinator/join-load.js';
import { KeyedMerge } from '../coordinator/keyed-merge.js';
import { type StringColumn, unmatchedRunName } from '../protocol/join-codec.js';
import { runSources } from './cell-runs.js';
import type { Store } from './store.js';

/** Unmatched keys shown in reports (the most frequent). */
export const SAMPLE_KEYS = 5;

export interface JoinStat {
  name: string;
  factColumn: string;
  factRows: number;
  matchedRows: number;
  unmatchedRows: number;
  /** Distinct fact keys with no row in the table. */
  unmatchedKeys: number;
  /** The most frequent unmatched keys, with their rows. */
  sampleKeys: { key: string; rows: number }[];
}

export interface JoinTableRow {
  name: string;
  file: string;
  factColumn: string;
  keyColumn: string;
  columns: string[];
  label: string | null;
  rows: number;
  bytes: number;
  fingerprint: string;
}

function strings(c: StringColumn): string[] {
  const b = Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length);
  return Array.from({ length: c.offsets.length - 1 }, (_, v) =>
    b.toString('utf8', c.offsets[v], c.offsets[v + 1]),
  );
}

/** Records a run's tables and their rows; call in the transaction that creates the run. */
export function saveJoinTables(
  store: Store,
  runId: number,
  loaded: LoadedJoin[],
  factColumns: string[],
): void {
  const table = store.statement(
    `INSERT INTO join_tables (run_id, name, file, fact_column, key_column, columns, label, rows, bytes, fingerprint)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Rows go 64 to a statement: a table can hold a million keys, and each statement crosses into SQLite once.
  const BATCH = 64;
  const head = 'INSERT INTO join_rows (run_id, name, key, attrs) VALUES ';
  const many = store.statement(head + Array(BATCH).fill('(?, ?, ?, ?)').join(', '));
  const one = store.statement(`${head}(?, ?, ?, ?)`);
  loaded.forEach((l, k) => {
    const t = l.data;
    const rows = t.keys.offsets.length - 1;
    table.run(
      ...[runId, t.name, l.option.file, factColumns[k], t.keyColumn, JSON.stringify(t.attrs)],
      ...[l.label >= 0 ? t.attrs[l.label] : null, rows, l.fileBytes, l.fingerprint],
    );
    const values: unknown[] = [];
    // In (UTF-16) key order, close to the primary key's byte order: inserts mostly append to the B-tree.
    // Each distinct value is decoded once; a row's attributes are built only when it is inserted.
    const keys = strings(t.keys);
    const dicts = t.values.map(strings);
    const order = Array.from({ length: rows }, (_, r) => r);
    order.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    for (const r of order) {
      values.push(runId, t.name, keys[r], JSON.stringify(dicts.map((d, a) => d[t.ids[a][r]])));
      if (values.length === BATCH * 4) {
        many.run(...values);
        values.length = 0;
      }
    }
    for (let i = 0; i < values.length; i += 4) one.run(...values.slice(i, i + 4));
  });
}

export function joinTables(store: Store, runId: number): JoinTableRow[] {
  const rows = store
    .statement('SELECT * FROM join_tables WHERE run_id = ? ORDER BY rowid')
    .all(runId) as Record<string, unknown>[];
  return rows.map((r) => ({
    name: r.name as string,
    file: r.file as string,
    factColumn: r.fact_column as string,
    keyColumn: r.key_column as string,
    columns: JSON.parse(r.columns as string) as string[],
    label: r.label as string | null,
    rows: r.rows as number,
    bytes: r.bytes as number,
    fingerprint: r.fingerprint as string,
  }));
}

/** The attributes of `key` in a run's table `name`, or undefined when it has no such row. */
export function joinAttrs(store: Store, runId: number, name: string, key: string): string[] | undefined {
  const r = store
    .statement('SELECT attrs FROM join_rows WHERE run_id = ? AND name = ? AND key = ?')
    .get(runId, name, key) as { attrs: string } | undefined;
  return r === undefined ? undefined : (JSON.parse(r.attrs) as string[]);
}

/**
 * Merges each join's unmatched-key runs (deleting them as read, like the marts' merge) and
 * writes the join report; call inside the transaction that marks the run done.
 */
export function writeJoinStats(store: Store, runId: number, factRows: number, scale: number): void {
  const ins = store.statement(
    `INSERT OR REPLACE INTO join_stats (run_id, name, fact_column, fact_rows, matched_rows, unmatched_rows, unmatched_keys, sample_keys)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const t of joinTables(store, runId)) {
    const m = new KeyedMerge(runSources(store, runId, 'dim', unmatchedRunName(t.name), true), scale);
    let rows = 0;
    let keys = 0;
    const top: { key: string; rows: number }[] = [];
    while (m.next()) {
      rows += m.rows;
      keys++;
      if (top.length < SAMPLE_KEYS || m.rows > top[top.length - 1].rows) {
        top.push({ key: m.keyText(), rows: m.rows });
        top.sort((a, b) => b.rows - a.rows || (a.key < b.key ? -1 : 1));
        if (top.length > SAMPLE_KEYS) top.pop();
      }
    }
    ins.run(runId, t.name, t.factColumn, factRows, factRows - rows, rows, keys, JSON.stringify(top));
  }
}

export function joinStats(store: Store, runId: number): JoinStat[] {
  const rows = store
    .statement('SELECT * FROM join_stats WHERE run_id = ? ORDER BY rowid')
    .all(runId) as Record<string, unknown>[];
  return rows.map((r) => ({
    name: r.name as string,
    factColumn: r.fact_column as string,
    factRows: r.fact_rows as number,
    matchedRows: r.matched_rows as number,
    unmatchedRows: r.unmatched_rows as number,
    unmatchedKeys: r.unmatched_keys as number,
    sampleKeys: JSON.parse(r.sample_keys as string) as { key: string; rows: number }[],
  }));
}
