/**
 * The `--join` tables in the database: each run's dimension tables (written in the run's first
 * transaction, so `top` can show names without the files), and the join report (`join_stats`),
 * computed when the run is done from the spilled unmatched fact keys, in the finishing transaction.
 */

import type { LoadedJoin } from '../coordinator/join-load.js';
import { KeyedMerge } from '../coordinator/keyed-merge.js';
import { decodeJoinTable, MAX_JOIN_WIRE_BYTES, unmatchedRunName } from '../protocol/join-codec.js';
import { JoinTable } from '../worker/join-table.js';
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

/**
 * Records a run's tables, each as the block its workers receive (one row, however many keys: a
 * million-row table as rows of SQLite took 9 s); call in the transaction that creates the run.
 */
export function saveJoinTables(
  store: Store,
  runId: number,
  loaded: LoadedJoin[],
  factColumns: string[],
): void {
  const table = store.statement(
    `INSERT INTO join_tables (run_id, name, file, fact_column, key_column, columns, label, rows, bytes, fingerprint, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  loaded.forEach((l, k) => {
    const t = l.data;
    table.run(
      ...[runId, t.name, l.option.file, factColumns[k], t.keyColumn, JSON.stringify(t.attrs)],
      ...[
        l.label >= 0 ? t.attrs[l.label] : null,
        t.keys.offsets.length - 1,
        l.fileBytes,
        l.fingerprint,
        l.encoded,
      ],
    );
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

/**
 * Attribute `attr` of each key in a run's table `name` (undefined for a key with no row): the
 * stored block decoded once and looked up by bytes, as a worker does.
 */
export function joinValues(
  store: Store,
  runId: number,
  name: string,
  attr: number,
  keys: string[],
): (string | undefined)[] {
  const row = store
    .statement('SELECT data FROM join_tables WHERE run_id = ? AND name = ?')
    .get(runId, name) as { data: Uint8Array } | undefined;
  if (row === undefined) return keys.map(() => undefined);
  const table = new JoinTable(decodeJoinTable(row.data, MAX_JOIN_WIRE_BYTES));
  const { bytes, offsets } = table.data.values[attr];
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return keys.map((k) => {
    const b = Buffer.from(k, 'utf8');
    const r = table.lookup(b, 0, b.length);
    if (r < 0) return undefined;
    const v = table.data.ids[attr][r];
    return text.toString('utf8', offsets[v], offsets[v + 1]);
  });
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
