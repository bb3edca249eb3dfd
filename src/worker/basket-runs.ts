/**
 * A chunk's basket runs, written at its end from the rows its collector noted
 * (basket-collector.ts). The chunk's orders are split in two:
 * - counted here: every order that lies wholly inside the chunk in one contiguous piece. Their
 *   order count, lines, value, size histograms, item supports and pair counts travel as sums;
 * - shipped: the chunk's first and last order (maybe cut by the chunk's edges) and every order
 *   seen again after another order. Their item sets travel as `order\0item` cells, and the
 *   coordinator counts them once all chunks are in (aggregate/basket-count.ts).
 * The chunk's order ids travel too, so the end of the run can prove that no counted order appears
 * in another chunk: as the range `first\0last` when they ascend (shortlex: shorter ids first, then
 * bytes, so numeric ids ascend) and are many, else every id in the `orders` run (month 0
 * counted, 1 shipped). All runs are keyed cells (kind 'basket'), stored and merged like marts.
 */
import { compareBytes, KeyedCellsWriter, type KeyedRun, NO_MONTH } from '../aggregate/keyed-cells.js';
import { TooManyKeysError } from '../errors.js';
import { addWasmCounts, countOrders, type WasmOrderCounts } from './basket-counting.js';
import type { OrderIds } from './basket-orders.js';
import { ExactSum, type PairCounter } from './basket-tables.js';
import type { KeyTable } from './key-table.js';

/** Item counts up to this use a dense pair matrix (at most 4 MiB of counts per chunk). */
const DENSE_ITEMS = 1024;

export const BASKET_KIND = 'basket';
/** Run names: counted sums, the shipped item sets, every order id, and the chunk's totals. */
export const RUN_ITEMS = 'items';
/**
 * Pair counts keyed by the two items' positions in the chunk's `items` run, each as four base-128
 * digits, most significant first (ASCII, so valid UTF-8; byte order is (a, b) order; positions
 * below 2^28, above any --max-keys): 8 bytes a pair instead of both names. The end reads each chunk's
 * items run to name them. (An older worker sent `pairs`, keyed by the names.)
 */
export const RUN_PAIRS = 'pair-ranks';
export const RUN_PAIRS_BY_NAME = 'pairs';
export const RUN_LINES = 'order-lines';
export const RUN_SIZES = 'order-items';
export const RUN_TOTALS = 'totals';
export const RUN_SHIPPED = 'shipped';
export const RUN_ORDERS = 'orders';
/** A chunk whose order ids ascend (shortlex) sends only `first\0last` instead of every id. */
export const RUN_RANGE = 'order-range';
/** Fewer orders than this always travel as ids (a few random ids may ascend by chance). */
export const RANGE_MIN_ORDERS = 64;
/** Cells per block of the small runs (histograms, totals, a range). */
const SMALL_BLOCK = 64;
/** Keys of the totals run. */
export const TOTAL_ORDERS = 'orders';
export const TOTAL_NO_ORDER = 'no-order';
/** Month of an `orders` cell: the order was counted in its chunk, or shipped. */
export const ROLE_COUNTED = 0;
export const ROLE_SHIPPED = 1;

/** A collector's noted rows, in file order, at the scale the runs are written at. */
export interface NotedRows {
  /** Rows noted; the row arrays may be longer. */
  n: number;
  /** Per row: its order slot in `orders`, its item slot in `items` (-1: no item), its value. */
  rowOrder: Int32Array;
  rowItem: Int32Array;
  rowValue: Float64Array;
  /** Row values past 2^52 (rare): row → exact value; its rowValue is 0. */
  bigValue: Map<number, bigint>;
  orders: OrderIds;
  items: KeyTable;
  /** Rows without an order id. */
  noOrder: number;
  /** Ship every order (`--orders-scattered`): nothing is counted in the chunk. */
  shipAll: boolean;
  maxKeys: number;
  /** Orders WASM counted whole; their rows were never noted. */
  wasm: WasmOrderCounts | null;
}

/**
 * Whether the orders WASM counted stand: the ids noted ascended too (so no order counted there
 * has rows here), and the chunk has enough orders to send its ids as a range.
 */
export function wasmCountsHold(orders: OrderIds, wasm: WasmOrderCounts | null): boolean {
  return wasm === null || (orders.ascending && orders.size + wasm.orders >= RANGE_MIN_ORDERS);
}

/** The chunk's basket runs at `scale` (the chunk's final scale; `noted`'s values are at it). */
export function basketRuns(noted: NotedRows, scale: number): KeyedRun[] {
  const n = noted.n;
  const nOrders = noted.orders.size;
  const nItems = noted.items.size;
  const rowOrder = noted.rowOrder;
  const rowItem = noted.rowItem;

  // Pieces: maximal runs of rows with the same order. An order in two pieces is not contiguous.
  const pieces = new Int32Array(nOrders);
  for (let r = 0; r < n; r++) if (r === 0 || rowOrder[r] !== rowOrder[r - 1]) pieces[rowOrder[r]]++;
  const shipped = new Uint8Array(nOrders);
  for (let o = 0; o < nOrders; o++) if (pieces[o] > 1 || noted.shipAll) shipped[o] = 1;
  if (n > 0) {
    shipped[rowOrder[0]] = 1;
    shipped[rowOrder[n - 1]] = 1;
  }

  const itemOrder = noted.items.sortedSlots();
  const rank = new Int32Array(nItems);
  for (let k = 0; k < nItems; k++) rank[itemOrder[k]] = k;

  // Counted orders: sums per item, pairs by item rank, histograms; WASM's added.
  const counts = countOrders(
    rowOrder,
    rowItem,
    noted.rowValue,
    n,
    shipped,
    rank,
    nItems,
    DENSE_ITEMS,
    noted.bigValue,
  );
  if (noted.wasm !== null) {
    if (!wasmCountsHold(noted.orders, noted.wasm))
      throw new Error('orders counted in WASM in a chunk whose ids do not ascend');
    addWasmCounts(counts, noted.wasm, rank, nItems, scale);
  }
  const {
    counted,
    countedLines,
    total,
    support,
    itemLines,
    itemValue,
    itemValueBig,
    dense,
    sparse,
    linesHist,
    sizeHist,
  } = counts;

  const out: KeyedRun[] = [];
  const items = noted.items;
  const ib = items.keyBytes;
  // items: rows = orders holding the item, units = its lines, revenue = its value.
  const iw = new KeyedCellsWriter(scale);
  for (let k = 0; k < nItems; k++) {
    const s = itemOrder[k];
    if (support[s] === 0) continue;
    iw.key(ib, items.keyStart(s), items.keyEnd(s));
    const big = itemValueBig.get(s);
    if (big === undefined) iw.cell(NO_MONTH, support[s], itemLines[s], itemValue[s]);
    else iw.cellBig(NO_MONTH, support[s], BigInt(itemLines[s]), big + BigInt(itemValue[s]));
  }
  push(out, RUN_ITEMS, iw);

  // pair-ranks: the position of each item in the items run above (items with support only;
  // pairs involve only those), monotonic in byte rank, so the keys ascend.
  const pos = new Int32Array(nItems).fill(-1);
  for (let k = 0, at = 0; k < nItems; k++) if (support[itemOrder[k]] > 0) pos[k] = at++;
  const pw = new KeyedCellsWriter(scale);
  const key = new Uint8Array(8);
  const pairCell = (a: number, b: number, c: number) => {
    const pa = pos[a];
    const pb = pos[b];
    key[0] = pa >>> 21;
    key[1] = (pa >>> 14) & 127;
    key[2] = (pa >>> 7) & 127;
    key[3] = pa & 127;
    key[4] = pb >>> 21;
    key[5] = (pb >>> 14) & 127;
    key[6] = (pb >>> 7) & 127;
    key[7] = pb & 127;
    pw.key(key, 0, 8);
    pw.cell(NO_MONTH, c, 0, 0);
  };
  if (dense !== null) {
    for (let a = 0; a < nItems; a++) {
      const base = a * nItems;
      for (let b = a + 1; b < nItems; b++) {
        const c = dense[base + b];
        if (c !== 0) pairCell(a, b, c);
      }
    }
  } else {
    const pairs = sparse as PairCounter;
    const keys = pairs.sortedKeys();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const a = Math.floor(k / nItems);
      pairCell(a, k - a * nItems, pairs.count(k));
    }
  }
  if (pw.cells > noted.maxKeys)
    throw new TooManyKeysError(
      `more than ${noted.maxKeys} distinct item pairs in one chunk; lower --chunk-size or raise --max-keys`,
    );
  push(out, RUN_PAIRS, pw);
  push(out, RUN_LINES, linesHist.encode(scale, SMALL_BLOCK));
  push(out, RUN_SIZES, sizeHist.encode(scale, SMALL_BLOCK));

  const tw = new KeyedCellsWriter(scale, SMALL_BLOCK);
  const noOrderKey = Buffer.from(TOTAL_NO_ORDER);
  const ordersKey = Buffer.from(TOTAL_ORDERS);
  if (noted.noOrder > 0) {
    tw.key(noOrderKey, 0, noOrderKey.length);
    tw.cell(NO_MONTH, noted.noOrder, 0, 0);
  }
  if (counted > 0) {
    tw.key(ordersKey, 0, ordersKey.length);
    tw.cellBig(NO_MONTH, counted, BigInt(countedLines), total.value());
  }
  push(out, RUN_TOTALS, tw);

  out.push(...shippedAndOrders(noted, shipped, rank, scale));
  return out;
}

/**
 * The shipped orders' item sets (`order\0item`, empty item for lines without one), and the
 * chunk's order ids for the end's check: when its orders ascend (shortlex) and are many, only
 * the range `first\0last`; otherwise every id with its role.
 */
function shippedAndOrders(
  noted: NotedRows,
  shipped: Uint8Array,
  rank: Int32Array,
  scale: number,
): KeyedRun[] {
  const n = noted.n;
  const orders = noted.orders;
  const ob = orders.keyBytes;
  const ib = noted.items.keyBytes;
  const nOrders = orders.size;
  const rowOrder = noted.rowOrder;
  // With WASM's orders (between the first and last here, ids ascending throughout).
  const allOrders = nOrders + (noted.wasm?.orders ?? 0);
  // Each new order's id was greater than the one before (OrderIds), so none repeats.
  const ascending = orders.ascending && allOrders >= RANGE_MIN_ORDERS;
  // Shipped orders in byte order, and their rows (counting sort by that rank).
  const list: number[] = [];
  for (let o = 0; o < nOrders; o++) if (shipped[o] === 1) list.push(o);
  list.sort((a, b) =>
    compareBytes(ob, orders.keyStart(a), orders.keyEnd(a), ob, orders.keyStart(b), orders.keyEnd(b)),
  );
  const sRank = new Int32Array(nOrders).fill(-1);
  for (let k = 0; k < list.length; k++) sRank[list[k]] = k;
  // With ascending ids only the first and last order are shipped: their rows lie at the ends.
  let head = n;
  let tail = n;
  if (orders.ascending && !noted.shipAll) {
    head = 0;
    while (head < n && rowOrder[head] === rowOrder[0]) head++;
    tail = n;
    while (tail > head && rowOrder[tail - 1] === rowOrder[n - 1]) tail--;
  }
  const start = new Int32Array(list.length + 1);
  const visit = (fn: (r: number) => void) => {
    for (let r = 0; r < head; r++) fn(r);
    for (let r = tail; r < n; r++) fn(r);
  };
  visit((r) => {
    if (sRank[rowOrder[r]] >= 0) start[sRank[rowOrder[r]] + 1]++;
  });
  for (let k = 0; k < list.length; k++) start[k + 1] += start[k];
  const fill = start.slice(0, list.length);
  const rows = new Int32Array(start[list.length]);
  visit((r) => {
    if (sRank[rowOrder[r]] >= 0) rows[fill[sRank[rowOrder[r]]]++] = r;
  });
  const sw = new KeyedCellsWriter(scale);
  const itemRank = (r: number) => {
    const it = noted.rowItem[r];
    return it < 0 ? -1 : rank[it];
  };
  for (let k = 0; k < list.length; k++) {
    const o = list[k];
    const group = Array.from(rows.subarray(start[k], start[k + 1])).sort((a, b) => itemRank(a) - itemRank(b));
    for (let g = 0; g < group.length; ) {
      const it = noted.rowItem[group[g]];
      const ir = itemRank(group[g]);
      let count = 0;
      const sum = new ExactSum();
      for (; g < group.length && itemRank(group[g]) === ir; g++) {
        count++;
        sum.add(noted.rowValue[group[g]]);
        const big = noted.bigValue.get(group[g]);
        if (big !== undefined) sum.big += big;
      }
      const ol = orders.keyEnd(o) - orders.keyStart(o);
      const il = it < 0 ? 0 : noted.items.keyEnd(it) - noted.items.keyStart(it);
      const key = Buffer.allocUnsafe(ol + 1 + il);
      ob.copy(key, 0, orders.keyStart(o), orders.keyEnd(o));
      key[ol] = 0;
      if (it >= 0) ib.copy(key, ol + 1, noted.items.keyStart(it), noted.items.keyEnd(it));
      sw.key(key, 0, key.length);
      sw.cellBig(NO_MONTH, count, BigInt(count), sum.value());
    }
  }
  const out: KeyedRun[] = [];
  if (sw.cells > noted.maxKeys)
    throw new TooManyKeysError(
      `more than ${noted.maxKeys} (order, item) cells to send from one chunk; lower --chunk-size or raise --max-keys`,
    );
  push(out, RUN_SHIPPED, sw);
  // Nothing counted here, nothing to check.
  if (noted.shipAll) return out;
  const ow = new KeyedCellsWriter(scale, ascending ? SMALL_BLOCK : undefined);
  if (ascending) {
    const lo = rowOrder[0];
    const hi = rowOrder[n - 1];
    const ll = orders.keyEnd(lo) - orders.keyStart(lo);
    const key = Buffer.allocUnsafe(ll + 1 + orders.keyEnd(hi) - orders.keyStart(hi));
    ob.copy(key, 0, orders.keyStart(lo), orders.keyEnd(lo));
    key[ll] = 0;
    ob.copy(key, ll + 1, orders.keyStart(hi), orders.keyEnd(hi));
    ow.key(key, 0, key.length);
    ow.cell(NO_MONTH, allOrders, 0, 0);
    push(out, RUN_RANGE, ow);
    return out;
  }
  const lines = new Int32Array(nOrders);
  for (let r = 0; r < n; r++) lines[rowOrder[r]]++;
  for (const o of orders.sortedSlots()) {
    ow.key(ob, orders.keyStart(o), orders.keyEnd(o));
    ow.cell(shipped[o] === 1 ? ROLE_SHIPPED : ROLE_COUNTED, lines[o], 1, 0);
  }
  push(out, RUN_ORDERS, ow);
  return out;
}

function push(out: KeyedRun[], name: string, w: KeyedCellsWriter): void {
  const blocks = w.finish();
  if (blocks.length > 0) out.push({ kind: BASKET_KIND, name, blocks });
}
