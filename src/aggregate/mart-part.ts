/**
 * A mart's merged cells turned into what is stored: sorted blocks (whole keys per block) and the
 * rankings, for the whole key space or one key range of it. Two ranges' parts combine exactly: a
 * period's best N over all keys are the best N of the two ranges' best N. Pure.
 */
import type { KeyedMerge } from '../coordinator/keyed-merge.js';
import { KeyedCellsWriter, NO_MONTH } from './keyed-cells.js';
import {
  type Amount,
  better,
  MartRanker,
  type RankDepths,
  type RankEntry,
  type Ranking,
} from './mart-ranking.js';

/** Cells per stored block (about 200 KiB); a key's months may add up to NO_MONTH more. */
export const MART_BLOCK_CELLS = 8192;
const MAX_U32 = 0xffffffff;

export interface MartPart {
  keys: number;
  cells: number;
  blocks: number;
  /** Month indexes; firstMonth NO_MONTH and lastMonth -1 when no cell has a month. */
  firstMonth: number;
  lastMonth: number;
  rankings: Ranking[];
}

/**
 * Drains `merge` into blocks, handed to `onBlocks` as they fill (the array is reused), and the
 * rankings; `name` is for errors. Streams: one block and the bounded heaps in memory.
 */
export function mergeToBlocks(
  name: string,
  merge: KeyedMerge,
  depths: RankDepths,
  onBlocks: (blocks: Uint8Array[]) => void,
): MartPart {
  const writer = new KeyedCellsWriter(merge.scale, MART_BLOCK_CELLS, true);
  const ranker = new MartRanker(depths);
  let blocks = 0;
  const store = (bs: Uint8Array[]) => {
    if (bs.length === 0) return;
    blocks += bs.length;
    onBlocks(bs);
    bs.length = 0;
  };
  let cells = 0;
  let lastKey = 0;
  let firstMonth = NO_MONTH;
  let lastMonth = -1;
  while (merge.next()) {
    const kb = merge.keyBytes();
    const ks = merge.keyStart();
    const ke = merge.keyEnd();
    if (merge.keys !== lastKey) {
      lastKey = merge.keys;
      writer.key(kb, ks, ke);
      store(writer.take());
    }
    const { month, rows, units, revenue } = merge;
    if (rows > MAX_U32) throw new RangeError(`mart "${name}" has a cell of ${rows} rows, past 2^32`);
    if (typeof units === 'number' && typeof revenue === 'number') writer.cell(month, rows, units, revenue);
    else writer.cellBig(month, rows, BigInt(units), BigInt(revenue));
    ranker.cell(merge.keys, kb, ks, ke, month, rows, units, revenue);
    cells++;
    if (month !== NO_MONTH) {
      if (month < firstMonth) firstMonth = month;
      if (month > lastMonth) lastMonth = month;
    }
  }
  store(writer.finish());
  return { keys: merge.keys, cells, blocks, firstMonth, lastMonth, rankings: ranker.finish() };
}

/** `low` and `high` (keys of `high` all after those of `low`) as one part. */
export function combineParts(low: MartPart, high: MartPart, depths: RankDepths): MartPart {
  const byId = new Map<string, Ranking>();
  const id = (r: Ranking) => `${r.per}\u0000${r.period}\u0000${r.by}`;
  for (const r of low.rankings) byId.set(id(r), { ...r, entries: [...r.entries] });
  for (const r of high.rankings) {
    // Ords break ties by key order, and every key of `high` comes after every key of `low`.
    const shifted = r.entries.map((e) => ({ ...e, ord: e.ord + low.keys }));
    const had = byId.get(id(r));
    if (had === undefined) byId.set(id(r), { ...r, entries: shifted });
    else {
      const depth = r.per === 'all' ? depths.all : r.per === 'year' ? depths.year : depths.month;
      had.entries = [...had.entries, ...shifted]
        .sort((a, b) => (better(metric(a, r.by), a.ord, metric(b, r.by), b.ord) ? -1 : 1))
        .slice(0, depth);
    }
  }
  const order = { month: 0, year: 1, all: 2 };
  const rankings = [...byId.values()].sort(
    (a, b) =>
      order[a.per] - order[b.per] ||
      (a.period < b.period ? -1 : a.period > b.period ? 1 : 0) ||
      BY_ORDER.indexOf(a.by) - BY_ORDER.indexOf(b.by),
  );
  return {
    keys: low.keys + high.keys,
    cells: low.cells + high.cells,
    blocks: low.blocks + high.blocks,
    firstMonth: Math.min(low.firstMonth, high.firstMonth),
    lastMonth: Math.max(low.lastMonth, high.lastMonth),
    rankings,
  };
}

const BY_ORDER = ['revenue', 'units', 'rows'];

function metric(e: RankEntry, by: Ranking['by']): Amount {
  return by === 'revenue' ? e.revenue : by === 'units' ? e.units : e.rows;
}

/** A part as JSON (amounts as decimal text), for a part merged in another process. */
export function partToJson(p: MartPart): string {
  return JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** The inverse of partToJson; amounts come back as numbers while exact. */
export function partFromJson(text: string): MartPart {
  const p = JSON.parse(text) as MartPart;
  const amount = (v: Amount | string): Amount => {
    if (typeof v !== 'string') return v;
    const b = BigInt(v.slice(0, -1));
    return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  for (const r of p.rankings)
    for (const e of r.entries) {
      e.units = amount(e.units);
      e.revenue = amount(e.revenue);
    }
  return p;
}
