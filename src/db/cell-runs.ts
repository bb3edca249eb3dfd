/**
 * The coordinator's spill of keyed cells (table cell_runs): each chunk's runs are stored in the same
 * transaction as the chunk's result, so they count exactly when the chunk does, and at the end of a
 * run one streaming k-way merge per mart and dimension writes the final rows (a mart's as blocks). Only runs of chunks
 * marked done are merged, so runs left by abandoned cuts are never counted.
 */
import zlib from 'node:zlib';
import { formatScaled } from '../aggregate/decimal.js';
import { CellBlock, type KeyedRun, type KeyedRunKind, NO_MONTH } from '../aggregate/keyed-cells.js';
import { monthKey } from '../aggregate/mart.js';
import { KeyedMerge, type RunSource } from '../coordinator/keyed-merge.js';
import { SalesgridError } from '../errors.js';
import type { CellRow, MartRow, Store } from './store.js';

/**
 * Replaces the chunk's stored runs; call inside the chunk's result transaction. The blocks go to the
 * run's spill file first: if the transaction fails, no row refers to them.
 */
export function saveCellRuns(store: Store, runId: number, chunkId: number, runs: KeyedRun[]): void {
  deleteChunkRuns(store, runId, chunkId);
  const ins = store.statement(
    'INSERT INTO cell_runs (run_id, chunk_id, kind, name, seq, off, len, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const spill = store.spill(runId);
  for (const r of runs) {
    spill.append(r.blocks).forEach((b, seq) => {
      ins.run(runId, chunkId, r.kind, r.name, seq, b.off, b.len, b.crc);
    });
  }
}

/** Bytes of keyed cells a run has spilled so far (what its end will merge). */
export function spillBytes(store: Store, runId: number): number {
  const r = store
    .statement('SELECT COALESCE(SUM(len), 0) AS n FROM cell_runs WHERE run_id = ?')
    .get(runId) as {
    n: number;
  };
  return r.n;
}

/**
 * Forgets every stored run of a run (careful restart, or after the final merge); call inside the
 * transaction that does so, and `dropSpillFile` once it has committed.
 */
export function deleteCellRuns(store: Store, runId: number): void {
  store.statement('DELETE FROM cell_runs WHERE run_id = ?').run(runId);
}

/** Forgets one chunk's stored runs (its spilled bytes stay, unreferenced). */
export function deleteChunkRuns(store: Store, runId: number, chunkId: number): void {
  store.statement('DELETE FROM cell_runs WHERE run_id = ? AND chunk_id = ?').run(runId, chunkId);
}

/** After deleteCellRuns committed: the spill's bytes, which no row refers to any more, go. */
export function dropSpillFile(store: Store, runId: number, remove: boolean): void {
  const f = store.spill(runId);
  if (remove) f.remove();
  else f.truncate();
}

/**
 * The done chunks of a run whose spilled blocks did not survive (a missing file, or bytes that fail
 * their CRC: a machine crash before the page cache reached the disk). Resume counts them again.
 */
export function chunksWithLostSpill(store: Store, runId: number): number[] {
  const rows = store
    .statement(
      `SELECT r.chunk_id AS chunk_id, r.off AS off, r.len AS len, r.crc AS crc FROM cell_runs r
         JOIN chunks c ON c.run_id = r.run_id AND c.chunk_id = r.chunk_id AND c.status = 'done'
       WHERE r.run_id = ?`,
    )
    .all(runId) as { chunk_id: number; off: number; len: number; crc: number }[];
  const lost = new Set<number>();
  const spill = store.spill(runId);
  for (const r of rows) if (!lost.has(r.chunk_id) && !spill.holds(r)) lost.add(r.chunk_id);
  return [...lost].sort((a, b) => a - b);
}

/** A `cell_runs` row's place in the spill. */
export type SpillRow = { off: number; len: number; crc: number };

/**
 * A spilled block's bytes, checked against its row's CRC: damaged bytes fail the close (the run
 * stays resumable, and --resume counts the chunk again) instead of being summed.
 */
export function readSpilled(store: Store, runId: number, row: SpillRow): Uint8Array {
  const spill = store.spill(runId);
  const bytes = spill.read(row.off, row.len);
  if (zlib.crc32(bytes) !== row.crc)
    throw new SalesgridError(
      'E_SPILL',
      `the spill file ${spill.path} is damaged (the block at byte ${row.off} fails its CRC)`,
    );
  return bytes;
}

/** Reads block `seq` of a chunk's run `kind`/`name` as a CellBlock; undefined past its last. */
export function spilledBlockReader(
  store: Store,
  runId: number,
): (kind: KeyedRunKind, name: string, chunk: number, seq: number) => CellBlock | undefined {
  const read = store.statement(
    'SELECT off, len, crc FROM cell_runs WHERE run_id = ? AND kind = ? AND name = ? AND chunk_id = ? AND seq = ?',
  );
  return (kind, name, chunk, seq) => {
    const row = read.get(runId, kind, name, chunk, seq) as SpillRow | undefined;
    return row === undefined ? undefined : new CellBlock(readSpilled(store, runId, row), true, true);
  };
}

/**
 * One source per done chunk that has cells of this mart or dimension; each reads a block at a time.
 * With `consume`, a block's row is deleted once read (the spill file goes once the run is done).
 */
export function runSources(
  store: Store,
  runId: number,
  kind: KeyedRunKind,
  name: string,
  consume = false,
): RunSource[] {
  const chunks = store
    .statement(
      `SELECT r.chunk_id AS chunk_id, COUNT(*) AS blocks FROM cell_runs r
         JOIN chunks c ON c.run_id = r.run_id AND c.chunk_id = r.chunk_id AND c.status = 'done'
       WHERE r.run_id = ? AND r.kind = ? AND r.name = ? GROUP BY r.chunk_id ORDER BY r.chunk_id`,
    )
    .all(runId, kind, name) as { chunk_id: number; blocks: number }[];
  const block = spilledBlockReader(store, runId);
  const drop = store.statement(
    'DELETE FROM cell_runs WHERE run_id = ? AND kind = ? AND name = ? AND chunk_id = ? AND seq = ?',
  );
  return chunks.map(({ chunk_id, blocks }) => {
    let seq = 0;
    return () => {
      if (seq >= blocks) return null;
      const b = block(kind, name, chunk_id, seq++);
      if (b === undefined)
        throw new Error(`cell run ${kind} "${name}" of chunk ${chunk_id} lost block ${seq - 1}`);
      if (consume) drop.run(runId, kind, name, chunk_id, seq - 1);
      return b;
    };
  });
}

/** "123.45" for an integer amount at `scale`, from a number when it can. */
export function decimalText(v: number | bigint, scale: number): string {
  if (typeof v === 'bigint' || scale === 0) return formatScaled(BigInt(v), scale);
  const neg = v < 0;
  const digits = String(neg ? -v : v).padStart(scale + 1, '0');
  const cut = digits.length - scale;
  return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
}

/**
 * The merged rows of every mart, as the store inserts them. Streams: one block per chunk in memory.
 * `consume` deletes the spill as it is read (see runSources): only inside the transaction that
 * writes the result, so a failure keeps the spill for a resume.
 */
export function* mergedMartRows(
  store: Store,
  runId: number,
  marts: string[],
  scale: number,
  consume = false,
): Generator<MartRow> {
  for (const name of marts) {
    const m = new KeyedMerge(runSources(store, runId, 'mart', name, consume), scale);
    while (m.next()) {
      const r = m.revenue;
      yield [name, monthKey(m.month), m.keyText(), m.rows, m.units, decimalText(r, scale), r];
    }
  }
}

/** The merged rows of every dimension: [dimension, key, cell]. */
export function* mergedDimensionRows(
  store: Store,
  runId: number,
  dims: string[],
  scale: number,
  consume = false,
): Generator<[string, string, CellRow]> {
  for (const name of dims) {
    const m = new KeyedMerge(runSources(store, runId, 'dim', name, consume), scale);
    while (m.next()) {
      if (m.month !== NO_MONTH) throw new Error(`dimension "${name}" has a cell with a month`);
      yield [
        name,
        m.keyText(),
        { rows: m.rows, units: String(m.units), revenue: decimalText(m.revenue, scale) },
      ];
    }
  }
}
