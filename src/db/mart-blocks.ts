/**
 * A mart's merged cells as stored: the end-of-run merge's own output, sorted columnar blocks (the
 * keyed-cell codec, a key's cells never split between blocks), packed (packed-cells.ts) in `mart_blocks`; the best keys per
 * month, year and overall by revenue, units and rows in `mart_rank`, ranked during the same pass;
 * one summary row in `mart_info`. No SQLite row per cell: writing 2.4M cells costs a few hundred
 * block rows. The readers (`top`, `eda`, the dashboard) answer from `mart_rank`, from one block
 * (a key's months) or, past the stored depth, from a streaming pass over the blocks.
 */
import { CellBlock, compareBytes, HEADER_BYTES } from '../aggregate/keyed-cells.js';
import { monthKey } from '../aggregate/mart.js';
import { type MartPart, mergeToBlocks } from '../aggregate/mart-part.js';
import {
  type Amount,
  addAmount,
  type By,
  better,
  MartRanker,
  type Per,
  type RankDepths,
  type RankEntry,
  TopN,
} from '../aggregate/mart-ranking.js';
import { packBlock, unpackBlock } from '../aggregate/packed-cells.js';
import type { KeyedMerge } from '../coordinator/keyed-merge.js';

/** The slice of a prepared statement the readers use (better-sqlite3). */
export interface ReadStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
export interface MartStatement extends ReadStatement {
  run(...params: unknown[]): unknown;
}
/** Prepares (and may cache) a statement on the connection. */
export type Prepare = (sql: string) => MartStatement;
export type ReadPrepare = (sql: string) => ReadStatement;

export { MART_BLOCK_CELLS } from '../aggregate/mart-part.js';
/** Ranked keys stored per period; deeper `top` limits are answered by a pass over the blocks. */
export const RANK_DEPTHS: RankDepths = { month: 100, year: 100, all: 1000 };
/** Most entries a key page holds while it skips to a deep offset (one pass over the blocks each). */
export const PAGE_STEP = 50_000;

/** The first key of an encoded block, read from its header without decoding the block. */
function firstKey(b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const nKeys = v.getUint32(8, true);
  const keysAt = HEADER_BYTES + 4 * (nKeys + 1);
  const end = v.getUint32(HEADER_BYTES + 4, true);
  return Buffer.from(b.buffer, b.byteOffset + keysAt, end).toString('utf8');
}

/** Removes a run's stored marts (before they are written again, or with the run). */
export function deleteMarts(prep: Prepare, runId: number): void {
  prep('DELETE FROM mart_blocks WHERE run_id = ?').run(runId);
  prep('DELETE FROM mart_rank WHERE run_id = ?').run(runId);
  prep('DELETE FROM mart_info WHERE run_id = ?').run(runId);
}

/** Inserts a mart's blocks from `seq` on; returns the next seq. Call inside the closing transaction. */
export function insertMartBlocks(
  prep: Prepare,
  runId: number,
  name: string,
  seq: number,
  blocks: Iterable<Uint8Array>,
): number {
  const ins = prep('INSERT INTO mart_blocks (run_id, mart, seq, first_key, data) VALUES (?, ?, ?, ?, ?)');
  for (const b of blocks) ins.run(runId, name, seq++, firstKey(b), packBlock(b));
  return seq;
}

/** A mart's rankings and summary row, once its blocks are in. */
export function writeMartPart(
  prep: Prepare,
  runId: number,
  name: string,
  part: MartPart,
  depths: RankDepths = RANK_DEPTHS,
): void {
  const rank = prep(
    `INSERT INTO mart_rank (run_id, mart, per, by, period, rank, key, rows, units, revenue)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of part.rankings) {
    r.entries.forEach((e, i) => {
      rank.run(runId, name, r.per, r.by, r.period, i + 1, e.key, e.rows, String(e.units), String(e.revenue));
    });
  }
  prep(
    `INSERT INTO mart_info (run_id, mart, keys, cells, blocks, first_month, last_month, depth_month, depth_year, depth_all)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    runId,
    name,
    part.keys,
    part.cells,
    part.blocks,
    part.lastMonth < 0 ? '' : monthKey(part.firstMonth),
    part.lastMonth < 0 ? '' : monthKey(part.lastMonth),
    depths.month,
    depths.year,
    depths.all,
  );
}

/**
 * Writes one mart from its merge, streaming: one block in memory, the rankings in bounded heaps.
 * Call inside the transaction that closes the run.
 */
export function writeMart(
  prep: Prepare,
  runId: number,
  name: string,
  merge: KeyedMerge,
  depths: RankDepths = RANK_DEPTHS,
): { keys: number; cells: number } {
  let seq = 0;
  const part = mergeToBlocks(name, merge, depths, (blocks) => {
    seq = insertMartBlocks(prep, runId, name, seq, blocks);
  });
  writeMartPart(prep, runId, name, part, depths);
  return { keys: part.keys, cells: part.cells };
}

// --- reads ----------------------------------------------------------------------------------------

export interface MartInfo {
  keys: number;
  cells: number;
  blocks: number;
  /** '' when the mart has no dated cells. */
  firstMonth: string;
  lastMonth: string;
  depths: RankDepths;
}

/** The marts stored for a run, by name. */
export function martNames(prep: ReadPrepare, runId: number): string[] {
  return (
    prep('SELECT mart FROM mart_info WHERE run_id = ? ORDER BY mart').all(runId) as { mart: string }[]
  ).map((r) => r.mart);
}

export function martInfo(prep: ReadPrepare, runId: number, mart: string): MartInfo | undefined {
  const r = prep('SELECT * FROM mart_info WHERE run_id = ? AND mart = ?').get(runId, mart) as
    | {
        keys: number;
        cells: number;
        blocks: number;
        first_month: string;
        last_month: string;
        depth_month: number;
        depth_year: number;
        depth_all: number;
      }
    | undefined;
  if (r === undefined) return undefined;
  return {
    keys: r.keys,
    cells: r.cells,
    blocks: r.blocks,
    firstMonth: r.first_month,
    lastMonth: r.last_month,
    depths: { month: r.depth_month, year: r.depth_year, all: r.depth_all },
  };
}

/** A mart's blocks in key order, one decoded at a time. */
export function* martBlocks(prep: ReadPrepare, runId: number, mart: string): Generator<CellBlock> {
  const n = martInfo(prep, runId, mart)?.blocks ?? 0;
  const get = prep('SELECT data FROM mart_blocks WHERE run_id = ? AND mart = ? AND seq = ?');
  for (let seq = 0; seq < n; seq++) {
    const row = get.get(runId, mart, seq) as { data: Uint8Array } | undefined;
    if (row === undefined) throw new Error(`mart "${mart}" of run ${runId} lost block ${seq}`);
    yield new CellBlock(unpackBlock(row.data), true, true);
  }
}

/** One stored cell; amounts exact, revenue in the smallest unit of the run's scale. */
export interface MartCell {
  key: string;
  /** 'YYYY-MM', or '' without dates. */
  month: string;
  rows: number;
  units: bigint;
  revenue: bigint;
}

function cellOf(b: CellBlock, c: number, key: string): MartCell {
  return {
    key,
    month: monthKey(b.month[c]),
    rows: b.rows[c],
    units: b.unitsBig(c),
    revenue: b.revenueBig(c),
  };
}

/** Every cell of a mart in (key, month) order, streaming. */
export function* martCells(prep: ReadPrepare, runId: number, mart: string): Generator<MartCell> {
  for (const b of martBlocks(prep, runId, mart)) {
    for (let c = 0; c < b.nCells; c++) yield cellOf(b, c, b.keyText(b.cellKey[c]));
  }
}

/** One key's cells in month order (a single block: keys never straddle blocks). */
export function martKeyCells(prep: ReadPrepare, runId: number, mart: string, key: string): MartCell[] {
  const row = prep(
    `SELECT data FROM mart_blocks WHERE run_id = ? AND mart = ? AND first_key <= ?
     ORDER BY first_key DESC LIMIT 1`,
  ).get(runId, mart, key) as { data: Uint8Array } | undefined;
  if (row === undefined) return [];
  const b = new CellBlock(unpackBlock(row.data), true, true);
  const want = Buffer.from(key, 'utf8');
  let lo = 0;
  let hi = b.nKeys - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareBytes(b.keys, b.keyStart(mid), b.keyEnd(mid), want, 0, want.length);
    if (c < 0) lo = mid + 1;
    else if (c > 0) hi = mid - 1;
    else {
      const out: MartCell[] = [];
      // cellKey ascends: find the key's cells by binary search too.
      let first = 0;
      let last = b.nCells;
      while (first < last) {
        const m = (first + last) >> 1;
        if (b.cellKey[m] < mid) first = m + 1;
        else last = m;
      }
      for (let c2 = first; c2 < b.nCells && b.cellKey[c2] === mid; c2++) out.push(cellOf(b, c2, key));
      return out;
    }
  }
  return [];
}

/** Feeds every stored cell to a ranker, as the merge did. */
function rankStored(prep: ReadPrepare, runId: number, mart: string, depths: RankDepths, by: By): MartRanker {
  const ranker = new MartRanker(depths, [by]);
  let ord = 0;
  for (const b of martBlocks(prep, runId, mart)) {
    let prevKey = -1;
    for (let c = 0; c < b.nCells; c++) {
      const k = b.cellKey[c];
      if (k !== prevKey) {
        prevKey = k;
        ord++;
      }
      ranker.cell(
        ord,
        b.keys,
        b.keyStart(k),
        b.keyEnd(k),
        b.month[c],
        b.rows[c],
        amount(b, c, 'u'),
        amount(b, c, 'r'),
      );
    }
  }
  return ranker;
}

function amount(b: CellBlock, c: number, field: 'u' | 'r'): Amount {
  const v = field === 'u' ? b.units(c) : b.revenue(c);
  if (!Number.isNaN(v)) return v;
  return field === 'u' ? b.unitsBig(c) : b.revenueBig(c);
}

export interface TopEntry {
  period: string;
  rank: number;
  key: string;
  rows: bigint;
  units: bigint;
  revenueScaled: bigint;
}

/**
 * The best `limit` keys per period by a metric, exact at any size; ties by key (byte order). From
 * `mart_rank` when the limit is within its depth, else from one pass over the blocks.
 */
export function martTop(
  prep: ReadPrepare,
  runId: number,
  mart: string,
  per: Per,
  by: By,
  limit: number,
): TopEntry[] {
  const info = martInfo(prep, runId, mart);
  if (info === undefined) return [];
  if (limit <= info.depths[per]) {
    const rows = prep(
      `SELECT period, rank, key, rows, units, revenue FROM mart_rank
       WHERE run_id = ? AND mart = ? AND per = ? AND by = ? AND rank <= ? ORDER BY period, rank`,
    ).all(runId, mart, per, by, limit) as {
      period: string;
      rank: number;
      key: string;
      rows: number;
      units: string;
      revenue: string;
    }[];
    return rows.map((r) => ({
      period: r.period,
      rank: r.rank,
      key: r.key,
      rows: BigInt(r.rows),
      units: BigInt(r.units),
      revenueScaled: BigInt(r.revenue),
    }));
  }
  const depths = { month: 0, year: 0, all: 0, [per]: limit };
  const out: TopEntry[] = [];
  for (const r of rankStored(prep, runId, mart, depths, by).finish()) {
    if (r.per !== per || r.by !== by) continue;
    r.entries.forEach((e, i) => {
      out.push({
        period: r.period,
        rank: i + 1,
        key: e.key,
        rows: BigInt(e.rows),
        units: BigInt(e.units),
        revenueScaled: BigInt(e.revenue),
      });
    });
  }
  return out;
}

/** SQLite's LIKE: case-insensitive for ASCII letters only. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export interface KeyTotal {
  /** 1 + the number of keys with more revenue (ties: keys before it in byte order). */
  rank: number;
  key: string;
  rows: number;
  units: bigint;
  revenue: bigint;
}

/**
 * A page of a mart's keys over all months, ranked by exact revenue, optionally only keys that
 * contain `search` (as SQL's `LIKE '%search%'`). Within the stored depth and without a search,
 * from `mart_rank`; otherwise two streaming passes: the page among the matches, then each page
 * key's rank among all keys. Memory: offset + limit entries.
 */
export function martKeyPage(
  prep: ReadPrepare,
  runId: number,
  mart: string,
  search: string,
  limit: number,
  offset: number,
  step = PAGE_STEP,
): { total: number; items: KeyTotal[] } {
  const info = martInfo(prep, runId, mart);
  if (info === undefined) return { total: 0, items: [] };
  const toTotal = (e: RankEntry, rank: number): KeyTotal => ({
    rank,
    key: e.key,
    rows: e.rows,
    units: BigInt(e.units),
    revenue: BigInt(e.revenue),
  });
  if (search === '' && offset + limit <= info.depths.all) {
    const rows = prep(
      `SELECT rank, key, rows, units, revenue FROM mart_rank
       WHERE run_id = ? AND mart = ? AND per = 'all' AND by = 'revenue' AND rank > ? AND rank <= ? ORDER BY rank`,
    ).all(runId, mart, offset, offset + limit) as {
      rank: number;
      key: string;
      rows: number;
      units: string;
      revenue: string;
    }[];
    return {
      total: info.keys,
      items: rows.map((r) => ({
        rank: r.rank,
        key: r.key,
        rows: r.rows,
        units: BigInt(r.units),
        revenue: BigInt(r.revenue),
      })),
    };
  }
  const needle = asciiLower(search);
  const matches = (key: string) => needle === '' || asciiLower(key).includes(needle);
  // The matches ranked below `bound`, best first, at most `n` (one streaming pass).
  const bestBelow = (n: number, bound: RankEntry | null, count: boolean): RankEntry[] => {
    const best = new TopN(n, 'revenue');
    eachKeyTotal(prep, runId, mart, (ord, text, rows, units, revenue) => {
      if (bound !== null && !better(bound.revenue, bound.ord, revenue, ord)) return;
      const key = text();
      if (!matches(key)) return;
      if (count) total++;
      if (best.takes(revenue, ord)) best.offer({ key, ord, rows, units, revenue });
    });
    return best.sorted();
  };
  let total = 0;
  // A deep page skips the matches before it `step` at a time, so memory stays bounded.
  let skip = offset;
  let bound: RankEntry | null = null;
  let first = true;
  while (skip >= step) {
    const skipped = bestBelow(step, bound, first);
    first = false;
    if (skipped.length < step) return { total, items: [] };
    bound = skipped[skipped.length - 1];
    skip -= step;
  }
  const page = bestBelow(skip + limit, bound, first).slice(skip);
  if (needle === '') return { total, items: page.map((e, i) => toTotal(e, offset + i + 1)) };
  // beats[i]: keys that rank above page[i] (the page is best first, so a key that ranks above
  // page[i] ranks above every later entry too).
  const above = new Array<number>(page.length + 1).fill(0);
  eachKeyTotal(prep, runId, mart, (ord, _text, _rows, _units, revenue) => {
    let lo = 0;
    let hi = page.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      const p = page[m];
      if (revenue > p.revenue || (revenue >= p.revenue && ord < p.ord)) hi = m;
      else lo = m + 1;
    }
    above[lo]++;
  });
  let run = 0;
  return {
    total,
    items: page.map((e, i) => {
      run += above[i];
      return toTotal(e, run + 1);
    }),
  };
}

/** Each key's totals over all months, in key order. */
function eachKeyTotal(
  prep: ReadPrepare,
  runId: number,
  mart: string,
  fn: (ord: number, text: () => string, rows: number, units: Amount, revenue: Amount) => void,
): void {
  let ord = 0;
  for (const b of martBlocks(prep, runId, mart)) {
    let c = 0;
    while (c < b.nCells) {
      const k = b.cellKey[c];
      let rows = 0;
      let units: Amount = 0;
      let revenue: Amount = 0;
      for (; c < b.nCells && b.cellKey[c] === k; c++) {
        rows += b.rows[c];
        units = addAmount(units, amount(b, c, 'u'));
        revenue = addAmount(revenue, amount(b, c, 'r'));
      }
      ord++;
      fn(ord, () => b.keyText(k), rows, units, revenue);
    }
  }
}
