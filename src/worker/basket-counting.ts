/**
 * The counting loop of a chunk's baskets (BasketCollector.runs): the orders counted in the chunk,
 * their item supports, lines, values, pairs and size histograms. Its own function with typed
 * arrays only, so V8 keeps it optimized from chunk to chunk (inside the long `runs` it was
 * deoptimized at the run encoding's bigint code once per chunk and restarted unoptimized).
 */
import { ExactSum, Histogram, PairCounter } from './basket-tables.js';

const LIMIT = 2 ** 52;
const TWO32 = 2 ** 32;

/**
 * The orders WASM counted itself (asm/baskets.ts, read by basket-wasm.ts), in the chunk's WASM
 * item slots: `slots` maps them to the collector's. Values are at `scale`.
 */
export interface WasmOrderCounts {
  orders: number;
  lines: number;
  value: bigint;
  scale: number;
  /** Orders by lines and by distinct items, sizes below 256. */
  linesHist: Uint32Array;
  sizeHist: Uint32Array;
  slots: Int32Array;
  /** Per WASM slot (the first 1,024), 8 words: support, lines, (stamp, pad), value as u64 lo, hi. */
  items: Uint32Array;
  /** Pair counts of slots a < b at b × (b − 1) / 2 + a, for slots below `rows`. */
  pairs: Uint32Array;
  rows: number;
}

/** What the counted orders add up to. Per-item arrays are indexed by item slot. */
export interface OrderCounts {
  counted: number;
  countedLines: number;
  total: ExactSum;
  support: Uint32Array;
  itemLines: Uint32Array;
  itemValue: Float64Array;
  /** Item values past the number path: slot → the part not in itemValue. */
  itemValueBig: Map<number, bigint>;
  /** Pairs by item rank (a × nItems + b, a < b): dense for few items, else sparse. */
  dense: Uint32Array | null;
  sparse: PairCounter | null;
  linesHist: Histogram;
  sizeHist: Histogram;
}

/** The distinct item ranks of the order being counted, reused across chunks. */
let basket = new Int32Array(64);

/**
 * Counts the orders of rows [0, n) that are not `shipped` (a row's order is rowOrder[r]; rows of
 * one order piece are adjacent). `rank`: item slot → its byte rank; `bigValue`: rows whose value
 * is past the number path (their rowValue is 0).
 */
export function countOrders(
  rowOrder: Int32Array,
  rowItem: Int32Array,
  rowValue: Float64Array,
  n: number,
  shipped: Uint8Array,
  rank: Int32Array,
  nItems: number,
  denseMax: number,
  bigValue: Map<number, bigint>,
): OrderCounts {
  const c: OrderCounts = {
    counted: 0,
    countedLines: 0,
    total: new ExactSum(),
    support: new Uint32Array(nItems),
    itemLines: new Uint32Array(nItems),
    itemValue: new Float64Array(nItems),
    itemValueBig: new Map(),
    dense: nItems <= denseMax ? new Uint32Array(nItems * nItems) : null,
    sparse: nItems <= denseMax ? null : PairCounter.take(),
    linesHist: new Histogram(),
    sizeHist: new Histogram(),
  };
  const { support, itemLines, itemValue, dense } = c;
  const anyBig = bigValue.size > 0;
  const stamp = new Int32Array(nItems).fill(-1);
  let sum = 0;
  let counted = 0;
  let countedLines = 0;
  for (let r = 0; r < n; ) {
    const o = rowOrder[r];
    let end = r + 1;
    while (end < n && rowOrder[end] === o) end++;
    if (shipped[o] === 0) {
      counted++;
      countedLines += end - r;
      let size = 0;
      if (end - r > basket.length) basket = new Int32Array(end - r);
      for (let k = r; k < end; k++) {
        const it = rowItem[k];
        const v = rowValue[k];
        // Each value is within 2^52, so sum + v is exact before the check.
        sum += v;
        if (sum > LIMIT || sum < -LIMIT) {
          c.total.big += BigInt(sum);
          sum = 0;
        }
        const big = anyBig ? bigValue.get(k) : undefined;
        if (big !== undefined) c.total.big += big;
        if (it < 0) continue;
        itemLines[it]++;
        if (big !== undefined) c.itemValueBig.set(it, (c.itemValueBig.get(it) ?? 0n) + big);
        const iv = itemValue[it] + v;
        if (iv > LIMIT || iv < -LIMIT) {
          c.itemValueBig.set(it, (c.itemValueBig.get(it) ?? 0n) + BigInt(iv));
          itemValue[it] = 0;
        } else itemValue[it] = iv;
        if (stamp[it] !== r) {
          stamp[it] = r;
          support[it]++;
          basket[size++] = rank[it];
        }
      }
      c.linesHist.add(end - r);
      c.sizeHist.add(size);
      if (size > 1) pairs(size, nItems, dense, c.sparse);
    }
    r = end;
  }
  c.total.big += BigInt(sum);
  c.counted = counted;
  c.countedLines = countedLines;
  return c;
}

/**
 * Adds the orders WASM counted to `c` (from countOrders, at `scale`); `rank`: collector item slot →
 * byte rank, `nItems` as in countOrders.
 */
export function addWasmCounts(
  c: OrderCounts,
  w: WasmOrderCounts,
  rank: Int32Array,
  nItems: number,
  scale: number,
): void {
  const f = 10 ** (scale - w.scale);
  const fb = BigInt(f);
  c.counted += w.orders;
  c.countedLines += w.lines;
  c.total.big += w.value * fb;
  for (let s = 0; s < 256; s++) {
    if (w.linesHist[s] !== 0) c.linesHist.add(s, w.linesHist[s]);
    if (w.sizeHist[s] !== 0) c.sizeHist.add(s, w.sizeHist[s]);
  }
  const { support, itemLines, itemValue, itemValueBig } = c;
  const it = w.items;
  for (let k = 0; k < it.length / 8; k++) {
    const at = k * 8;
    if (it[at] === 0) continue;
    const s = w.slots[k];
    support[s] += it[at];
    itemLines[s] += it[at + 1];
    const lo = it[at + 4];
    const hi = it[at + 5];
    const v = hi * TWO32 + lo;
    if (hi < 0x100000 && it[at + 6] === 0 && it[at + 7] === 0 && v * f <= LIMIT) {
      // Both within 2^52: the sum is exact before the check.
      const iv = itemValue[s] + v * f;
      if (iv > LIMIT || iv < -LIMIT) {
        itemValueBig.set(s, (itemValueBig.get(s) ?? 0n) + BigInt(iv));
        itemValue[s] = 0;
      } else itemValue[s] = iv;
    } else {
      const big =
        (BigInt(it[at + 7]) << 96n) | (BigInt(it[at + 6]) << 64n) | (BigInt(hi) << 32n) | BigInt(lo);
      itemValueBig.set(s, (itemValueBig.get(s) ?? 0n) + big * fb);
    }
  }
  // Pair counts by rank: the triangle's slots ranked once, the dense case without a branch a pair.
  const p = w.pairs;
  const rk = new Int32Array(w.rows);
  for (let k = 0; k < w.rows; k++) rk[k] = rank[w.slots[k]];
  const dense = c.dense;
  for (let b = 1; b < w.rows; b++) {
    const base = (b * (b - 1)) / 2;
    const rb = rk[b];
    for (let a = 0; a < b; a++) {
      const n = p[base + a];
      if (n === 0) continue;
      const ra = rk[a];
      const key = ra < rb ? ra * nItems + rb : rb * nItems + ra;
      if (dense !== null) dense[key] += n;
      else (c.sparse as PairCounter).addCount(key, n);
    }
  }
}

/** Counts the pairs of basket[0, size) (distinct ranks, unsorted), each keyed smaller rank first. */
function pairs(size: number, nItems: number, dense: Uint32Array | null, sparse: PairCounter | null): void {
  for (let x = 0; x < size; x++) {
    const a = basket[x];
    for (let y = x + 1; y < size; y++) {
      const b = basket[y];
      const key = Math.min(a, b) * nItems + Math.max(a, b);
      if (dense !== null) dense[key]++;
      else (sparse as PairCounter).add(key);
    }
  }
}
