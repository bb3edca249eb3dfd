/**
 * The end of a run's baskets, pure: merges the chunks' basket runs (worker/basket-runs.ts)
 * and counts the shipped orders, whose pieces meet here, once. Streams: per order only its item
 * set, per item its sums (items are the one thing held by key), and a K × K matrix of pair counts
 * among the K most frequent items.
 */
import { KeyedMerge, type RunSource } from '../coordinator/keyed-merge.js';
import {
  ROLE_SHIPPED,
  RUN_ITEMS,
  RUN_LINES,
  RUN_ORDERS,
  RUN_SHIPPED,
  RUN_SIZES,
  RUN_TOTALS,
  TOTAL_NO_ORDER,
  TOTAL_ORDERS,
} from '../worker/basket-runs.js';

/** The sources of one basket run over the done chunks; `consume` deletes blocks as they are read. */
export type BasketRunSources = (name: string, consume: boolean) => RunSource[];

/**
 * Per done chunk with pair counts: its `items` run (which names the pairs' positions) and its
 * `pair-ranks` run, read a block at a time.
 */
export type PairChunkSources = () => Iterable<{ items: RunSource; pairs: RunSource }>;

/** The first and last order of a chunk whose order ids ascend (worker's RUN_RANGE), in file order. */
export interface OrderRange {
  lo: string;
  hi: string;
}

/** Shorter first, then bytes: the order a chunk's ascending ids were checked in. */
function shortlex(a: Buffer, b: Buffer): number {
  return a.length - b.length || Buffer.compare(a, b);
}

export interface BasketSink {
  item(item: string, orders: number, lines: number, value: bigint): void;
  /** `a` before `b` by bytes. */
  pair(a: string, b: string, orders: number): void;
}

export interface BasketTotals {
  orders: number;
  lines: number;
  /** Exact sum of the orders' values at `scale`. */
  value: bigint;
  scale: number;
  /** Counted rows with an empty order id (in no order). */
  noOrderLines: number;
  /** Orders whose pieces met at the end (chunk edges, or not contiguous in their chunk). */
  shippedOrders: number;
  linesHist: [number, number][];
  itemsHist: [number, number][];
  items: number;
  /** Items among which pairs were counted (the K most frequent). */
  itemsKept: number;
  pairs: number;
  /** Order ids counted in one chunk and seen in another: the counts would be wrong, so none are written. */
  nonContiguous: number;
  examples: string[];
}

const toBig = (v: number | bigint) => (typeof v === 'bigint' ? v : BigInt(v));
const enc = new TextEncoder();

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b)));
}

/** Each shipped order: its id, lines, value and distinct items (empty item = lines without one). */
function* shippedOrders(sources: RunSource[], scale: number) {
  const m = new KeyedMerge(sources, scale);
  let id: string | null = null;
  let lines = 0;
  let value = 0n;
  let items: string[] = [];
  while (m.next()) {
    const key = m.keyText();
    const cut = key.indexOf('\0');
    const order = key.slice(0, cut);
    const item = key.slice(cut + 1);
    if (order !== id) {
      if (id !== null) yield { id, lines, value, items };
      id = order;
      lines = 0;
      value = 0n;
      items = [];
    }
    lines += m.rows;
    value += toBig(m.revenue);
    if (item !== '') items.push(item);
  }
  if (id !== null) yield { id, lines, value, items };
}

/** The K best items by support (ties: byte order), as a bounded min-heap. */
class TopItems {
  private readonly heap: [number, string][] = [];
  constructor(private readonly k: number) {}
  private worse(a: [number, string], b: [number, string]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && byBytes(a[1], b[1]) > 0);
  }
  offer(support: number, item: string): void {
    const h = this.heap;
    if (h.length < this.k) {
      h.push([support, item]);
      for (let i = h.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!this.worse(h[i], h[p])) break;
        [h[i], h[p]] = [h[p], h[i]];
        i = p;
      }
    } else if (this.worse(h[0], [support, item])) {
      h[0] = [support, item];
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const m = r < h.length && this.worse(h[r], h[l]) ? r : l;
        if (!this.worse(h[m], h[i])) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
  }
  items(): string[] {
    return this.heap.map(([, item]) => item);
  }
}

function mergeHistogram(sources: RunSource[], scale: number, into: Map<number, number>): void {
  const m = new KeyedMerge(sources, scale);
  while (m.next()) {
    const size = Number(m.keyText());
    into.set(size, (into.get(size) ?? 0) + m.rows);
  }
}

/** Order ids found in more than one chunk (at most five shown): counted orders that cannot be trusted. */
export interface OrderConflicts {
  count: number;
  examples: string[];
}

/**
 * Every order id must be counted in at most one chunk, and then shipped by none. Chunks whose ids
 * ascend sent only their range: those ranges must follow one another in file order, and no id of
 * another chunk may fall inside one (it might be one of its counted orders). Streams the merged
 * `orders` run; `consume` deletes its blocks as they are read.
 */
export function orderConflicts(
  src: BasketRunSources,
  ranges: OrderRange[],
  scale: number,
  consume: boolean,
): OrderConflicts {
  const out: OrderConflicts = { count: 0, examples: [] };
  const conflict = (id: string) => {
    out.count++;
    if (out.examples.length < 5) out.examples.push(id);
  };
  const bounds = ranges.map((r) => ({ lo: Buffer.from(r.lo), hi: Buffer.from(r.hi) }));
  for (let i = 0; i + 1 < bounds.length; i++)
    if (shortlex(bounds[i].hi, bounds[i + 1].lo) > 0) conflict(ranges[i + 1].lo);
  /** -1: in no range; 0: a range's first or last order (shipped there); 1: strictly inside one. */
  const inRange = (id: Buffer): number => {
    let lo = 0;
    let hi = bounds.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (shortlex(bounds[mid].lo, id) <= 0) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (at < 0) return -1;
    const c = shortlex(id, bounds[at].hi);
    if (c > 0) return -1;
    return c === 0 || shortlex(id, bounds[at].lo) === 0 ? 0 : 1;
  };
  const m = new KeyedMerge(src(RUN_ORDERS, consume), scale);
  let keys = -1;
  let counted = 0;
  let shipped = false;
  let id = '';
  const close = () => {
    if (keys < 0) return;
    let bad = counted > 1 || (counted === 1 && shipped);
    if (!bad && bounds.length > 0) {
      const where = inRange(Buffer.from(id));
      bad = where === 1 || (where === 0 && counted > 0);
    }
    if (bad) conflict(id);
  };
  while (m.next()) {
    if (m.keys !== keys) {
      close();
      keys = m.keys;
      counted = 0;
      shipped = false;
      id = m.keyText();
    }
    if (m.month === ROLE_SHIPPED) shipped = true;
    else counted += Number(m.units);
  }
  close();
  return out;
}

/**
 * Counts the run's orders and baskets exactly from its chunks' runs. Items and pairs go to `sink`
 * unless some order is not contiguous across chunks (then `nonContiguous` > 0 and nothing is sunk).
 * `checked`: the result of `orderConflicts` when the caller already ran it (it is not run again).
 */
export function countBaskets(
  src: BasketRunSources,
  ranges: OrderRange[],
  scale: number,
  k: number,
  sink: BasketSink,
  pairChunks: PairChunkSources,
  checked?: OrderConflicts,
): BasketTotals {
  const { count: nonContiguous, examples } = checked ?? orderConflicts(src, ranges, scale, true);

  let orders = 0;
  let lines = 0;
  let value = 0n;
  let noOrderLines = 0;
  {
    const m = new KeyedMerge(src(RUN_TOTALS, true), scale);
    while (m.next()) {
      const key = m.keyText();
      if (key === TOTAL_ORDERS) {
        orders += m.rows;
        lines += Number(m.units);
        value += toBig(m.revenue);
      } else if (key === TOTAL_NO_ORDER) noOrderLines += m.rows;
    }
  }
  const linesHist = new Map<number, number>();
  const itemsHist = new Map<number, number>();
  mergeHistogram(src(RUN_LINES, true), scale, linesHist);
  mergeHistogram(src(RUN_SIZES, true), scale, itemsHist);

  // Shipped orders, first pass: their totals and item sums.
  const shippedItems = new Map<string, [number, number, bigint]>();
  let shippedCount = 0;
  for (const o of shippedOrders(src(RUN_SHIPPED, false), scale)) {
    shippedCount++;
    orders++;
    lines += o.lines;
    value += o.value;
    linesHist.set(o.lines, (linesHist.get(o.lines) ?? 0) + 1);
    itemsHist.set(o.items.length, (itemsHist.get(o.items.length) ?? 0) + 1);
    for (const item of o.items) {
      const s = shippedItems.get(item);
      if (s === undefined) shippedItems.set(item, [1, 0, 0n]);
      else s[0]++;
    }
  }
  // Item lines and value of shipped orders: per (order, item) cell.
  {
    const m = new KeyedMerge(src(RUN_SHIPPED, false), scale);
    while (m.next()) {
      const key = m.keyText();
      const item = key.slice(key.indexOf('\0') + 1);
      if (item === '') continue;
      const s = shippedItems.get(item) as [number, number, bigint];
      s[1] += m.rows;
      s[2] += toBig(m.revenue);
    }
  }

  const totals: BasketTotals = {
    orders,
    lines,
    value,
    scale,
    noOrderLines,
    shippedOrders: shippedCount,
    linesHist: [...linesHist].sort((a, b) => a[0] - b[0]),
    itemsHist: [...itemsHist].sort((a, b) => a[0] - b[0]),
    items: 0,
    itemsKept: 0,
    pairs: 0,
    nonContiguous,
    examples,
  };
  if (nonContiguous > 0) return totals;

  const top = new TopItems(k);
  let items = 0;
  {
    // Not consumed: each chunk's items run names its pairs below.
    const m = new KeyedMerge(src(RUN_ITEMS, false), scale);
    while (m.next()) {
      const item = m.keyText();
      const s = shippedItems.get(item);
      shippedItems.delete(item);
      const support = m.rows + (s?.[0] ?? 0);
      sink.item(item, support, Number(m.units) + (s?.[1] ?? 0), toBig(m.revenue) + (s?.[2] ?? 0n));
      top.offer(support, item);
      items++;
    }
    for (const [item, [support, l, v]] of shippedItems) {
      sink.item(item, support, l, v);
      top.offer(support, item);
      items++;
    }
  }
  const kept = top.items().sort(byBytes);
  const index = new Map(kept.map((item, i) => [item, i]));
  const n = kept.length;
  // The upper triangle of the K × K matrix, a < b: row a starts at a(2n - a - 1)/2.
  const matrix = new Uint32Array((n * (n - 1)) / 2);
  const row = (a: number) => (a * (2 * n - a - 1)) / 2 - a - 1;
  const add = (a: number, b: number, c: number) => {
    if (a > b) [a, b] = [b, a];
    matrix[row(a) + b] += c;
  };
  for (const chunk of pairChunks()) addChunkPairs(chunk.items, chunk.pairs, index, add);
  for (const o of shippedOrders(src(RUN_SHIPPED, true), scale)) {
    const ids = o.items.flatMap((item) => {
      const i = index.get(item);
      return i === undefined ? [] : [i];
    });
    ids.sort((a, b) => a - b);
    for (let x = 0; x < ids.length; x++) for (let y = x + 1; y < ids.length; y++) add(ids[x], ids[y], 1);
  }
  let pairs = 0;
  for (let a = 0; a < n; a++) {
    const r = row(a);
    for (let b = a + 1; b < n; b++) {
      const c = matrix[r + b];
      if (c === 0) continue;
      sink.pair(kept[a], kept[b], c);
      pairs++;
    }
  }
  totals.items = items;
  totals.itemsKept = n;
  totals.pairs = pairs;
  return totals;
}

/**
 * Adds one chunk's pair counts among the kept items. No merge is needed (the matrix sums in any
 * order): the chunk's items run gives each position its kept index (or -1), then every pair cell
 * is two array reads.
 */
function addChunkPairs(
  items: RunSource,
  pairs: RunSource,
  index: Map<string, number>,
  add: (a: number, b: number, c: number) => void,
): void {
  const kept: number[] = [];
  for (let b = items(); b !== null; b = items())
    for (let k = 0; k < b.nKeys; k++) kept.push(index.get(b.keyText(k)) ?? -1);
  for (let b = pairs(); b !== null; b = pairs()) {
    const key = b.keys;
    for (let c = 0; c < b.nCells; c++) {
      const k = b.cellKey[c];
      const at = b.keyOffset[k];
      if (b.keyOffset[k + 1] - at !== 8) throw new Error('malformed pair-ranks block: a key is not 8 bytes');
      const pa = (key[at] << 21) | (key[at + 1] << 14) | (key[at + 2] << 7) | key[at + 3];
      const pb = (key[at + 4] << 21) | (key[at + 5] << 14) | (key[at + 6] << 7) | key[at + 7];
      if (pa >= kept.length || pb >= kept.length)
        throw new Error("malformed pair-ranks block: a position past the chunk's items");
      const a = kept[pa];
      const bb = kept[pb];
      if (a >= 0 && bb >= 0) add(a, bb, b.rows[c]);
    }
  }
}
