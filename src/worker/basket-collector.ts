/**
 * A chunk's orders and baskets. Each counted row is noted as (order slot, item slot, value); at the
 * chunk's end its orders are split in two:
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
import { OrderIds } from './basket-orders.js';
import { ExactSum, type PairCounter } from './basket-tables.js';
import { KeyTable } from './key-table.js';
import { ESCAPED, fieldText } from './tokenizer.js';

const LIMIT = 2 ** 52;
const TWO32 = 2 ** 32;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
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

/** Row arrays of the last chunk: parsing is synchronous, so the next chunk reuses them. */
const spare = { order: new Int32Array(1024), item: new Int32Array(1024), value: new Float64Array(1024) };

export class BasketCollector {
  private readonly orderIndex: number;
  private readonly itemIndex: number;
  private readonly orders: OrderIds;
  private readonly items: KeyTable;
  private rowOrder = spare.order;
  private rowItem = spare.item;
  private rowValue = spare.value;
  /** Row values past 2^52 (rare): row → exact value; its rowValue is 0. */
  private readonly bigValue = new Map<number, bigint>();
  private n = 0;
  private noOrder = 0;
  scale: number;
  /**
   * The previous row's order bytes (buffer and range; the WASM path's JS ranges are subarrays of
   * the chunk), to skip hashing the same order again. No buffer: no previous id at hand.
   */
  private prevBuf: Uint8Array | null = null;
  private prevS = -1;
  private prevE = -1;
  private prevSlot = -1;
  /** Ship every order (`--orders-scattered`): nothing is counted in the chunk. */
  private readonly shipAll: boolean;
  private readonly maxKeys: number;
  /** Orders WASM counted whole; their rows never reach this collector. */
  private wasm: WasmOrderCounts | null = null;

  /** `items`: the item column's dimension table, shared (the parser passes each row's slot). */
  constructor(
    orderIndex: number,
    itemIndex: number,
    maxKeys: number,
    scale: number,
    shipAll = false,
    items?: KeyTable,
  ) {
    this.shipAll = shipAll;
    this.maxKeys = maxKeys;
    this.orderIndex = orderIndex;
    this.itemIndex = itemIndex;
    this.orders = new OrderIds(maxKeys);
    this.items = items ?? new KeyTable('item', maxKeys);
    this.scale = scale;
  }

  /**
   * Notes one counted row. `value` is the row's revenue at `scale` (the parser's current scale),
   * or `big` when it is past the number path.
   */
  row(
    buf: Uint8Array,
    view: DataView,
    fs: Int32Array | number[],
    fe: Int32Array | number[],
    flags: Uint8Array | number[],
    value: number,
    big: bigint | null,
    scale: number,
    itemSlot = -1,
  ): void {
    if (scale > this.scale) this.raise(scale);
    const o = this.orderIndex;
    const order = this.orderOf(buf, view, fs[o], fe[o], flags[o] === ESCAPED);
    if (order < 0) return;
    const i = this.itemIndex;
    const is = fs[i];
    const ie = fe[i];
    let item = -1;
    if (is !== ie) {
      item =
        itemSlot >= 0
          ? itemSlot
          : flags[i] === ESCAPED
            ? this.slotOfText(this.items, fieldText(buf, is, ie, ESCAPED))
            : this.items.slot(buf, is, ie, view);
    }
    this.note(order, item, value, big);
  }

  /**
   * Notes the WASM path's counted rows: records [from, to) of `w` (layout in basket-wasm.ts:
   * order start, order end, item slot of the WASM table or u32 max, same-order flag, value lo,
   * hi), values exact at `scale` (at most this collector's), `slots` mapping WASM item slots to
   * this collector's. One loop here: a value passed to a method per row would be boxed per row.
   */
  records(
    buf: Uint8Array,
    view: DataView,
    w: Uint32Array,
    from: number,
    to: number,
    slots: Int32Array,
    scale: number,
  ): void {
    const f = POW10[this.scale - scale];
    for (let r = from; r < to; r++) {
      const at = r * 6;
      const os = w[at];
      const oe = w[at + 1];
      let order: number;
      if (r > from && oe > os && w[at - 5] > w[at - 6]) {
        // Both ids present and the record before noted just now: WASM compared their bytes.
        if (w[at + 3] === 1) order = this.rowOrder[this.n - 1];
        else {
          order = this.orders.slot(buf, os, oe, view);
          this.prevBuf = buf;
          this.prevS = os;
          this.prevE = oe;
          this.prevSlot = order;
        }
      } else {
        order = this.orderOf(buf, view, os, oe, false);
        if (order < 0) continue;
      }
      if (this.n === this.rowOrder.length) this.grow();
      const k = this.n++;
      this.rowOrder[k] = order;
      const it = w[at + 2];
      this.rowItem[k] = it === 0xffffffff ? -1 : slots[it];
      const value = w[at + 5] * TWO32 + w[at + 4];
      const v = value * f;
      if (v > LIMIT || v < -LIMIT) {
        this.rowValue[k] = 0;
        this.bigValue.set(k, BigInt(value) * BigInt(f));
      } else this.rowValue[k] = v;
    }
  }

  /** Takes the orders WASM counted whole (their rows never reach `records`). */
  countedInWasm(counts: WasmOrderCounts): void {
    this.wasm = counts;
  }

  /**
   * Whether the orders WASM counted stand: the ids this collector saw ascended too (so no order
   * counted there has rows here), and the chunk has enough orders to send its ids as a range.
   */
  wasmCountsHold(): boolean {
    const w = this.wasm;
    return w === null || (this.orders.ascending && this.orders.size + w.orders >= RANGE_MIN_ORDERS);
  }

  /** The item column's key table (a dimension's when shared). */
  get itemTable(): KeyTable {
    return this.items;
  }

  /** The order slot of the id buf[os, oe), or -1 for a row without one (counted as such). */
  private orderOf(buf: Uint8Array, view: DataView, os: number, oe: number, escaped: boolean): number {
    if (os === oe) {
      this.noOrder++;
      this.prevBuf = null;
      return -1;
    }
    let order: number;
    const pb = this.prevBuf;
    if (escaped) {
      const b = Buffer.from(fieldText(buf, os, oe, ESCAPED), 'utf8');
      order = this.orderSlot(b, 0, b.length, new DataView(b.buffer, b.byteOffset, b.length));
      this.prevBuf = null;
    } else if (
      pb !== null &&
      oe - os === this.prevE - this.prevS &&
      sameBytes(pb, this.prevS, buf, os, oe - os)
    ) {
      order = this.prevSlot;
    } else {
      // With the row before's bytes at hand the id is known to differ from its order.
      order = pb !== null ? this.orders.slot(buf, os, oe, view) : this.orderSlot(buf, os, oe, view);
      this.prevBuf = buf;
      this.prevS = os;
      this.prevE = oe;
      this.prevSlot = order;
    }
    return order;
  }

  private note(order: number, item: number, value: number, big: bigint | null): void {
    if (this.n === this.rowOrder.length) this.grow();
    const r = this.n++;
    this.rowOrder[r] = order;
    this.rowItem[r] = item;
    if (big !== null) {
      this.rowValue[r] = 0;
      this.bigValue.set(r, big);
    } else this.rowValue[r] = value;
  }

  /** The order of a row whose id differs from the row before's bytes (maybe the same id, escaped). */
  private orderSlot(buf: Uint8Array, s: number, e: number, view: DataView): number {
    const prev = this.n > 0 ? this.rowOrder[this.n - 1] : -1;
    if (prev >= 0) {
      const o = this.orders;
      if (compareBytes(buf, s, e, o.keyBytes, o.keyStart(prev), o.keyEnd(prev)) === 0) return prev;
    }
    return this.orders.slot(buf, s, e, view);
  }

  private slotOfText(table: KeyTable, text: string): number {
    const b = Buffer.from(text, 'utf8');
    return table.slot(b, 0, b.length);
  }

  private grow(): void {
    const m = this.rowOrder.length * 2;
    const o = new Int32Array(m);
    o.set(this.rowOrder);
    this.rowOrder = o;
    const it = new Int32Array(m);
    it.set(this.rowItem);
    this.rowItem = it;
    const v = new Float64Array(m);
    v.set(this.rowValue);
    this.rowValue = v;
    spare.order = o;
    spare.item = it;
    spare.value = v;
  }

  /** Re-expresses every noted value at a larger scale, exactly. */
  private raise(to: number): void {
    const f = POW10[to - this.scale];
    const fb = BigInt(f);
    for (const [r, v] of this.bigValue) this.bigValue.set(r, v * fb);
    for (let r = 0; r < this.n; r++) {
      const v = this.rowValue[r] * f;
      if (v > LIMIT || v < -LIMIT) {
        this.bigValue.set(r, BigInt(this.rowValue[r]) * fb);
        this.rowValue[r] = 0;
      } else this.rowValue[r] = v;
    }
    this.scale = to;
  }

  /** The chunk's basket runs at `scale` (the chunk's final scale). */
  runs(scale: number): KeyedRun[] {
    if (scale > this.scale) this.raise(scale);
    const n = this.n;
    const nOrders = this.orders.size;
    const nItems = this.items.size;
    const rowOrder = this.rowOrder;
    const rowItem = this.rowItem;

    // Pieces: maximal runs of rows with the same order. An order in two pieces is not contiguous.
    const pieces = new Int32Array(nOrders);
    for (let r = 0; r < n; r++) if (r === 0 || rowOrder[r] !== rowOrder[r - 1]) pieces[rowOrder[r]]++;
    const shipped = new Uint8Array(nOrders);
    for (let o = 0; o < nOrders; o++) if (pieces[o] > 1 || this.shipAll) shipped[o] = 1;
    if (n > 0) {
      shipped[rowOrder[0]] = 1;
      shipped[rowOrder[n - 1]] = 1;
    }

    const itemOrder = this.items.sortedSlots();
    const rank = new Int32Array(nItems);
    for (let k = 0; k < nItems; k++) rank[itemOrder[k]] = k;

    // Counted orders: sums per item, pairs by item rank, histograms; WASM's added.
    const counts = countOrders(
      rowOrder,
      rowItem,
      this.rowValue,
      n,
      shipped,
      rank,
      nItems,
      DENSE_ITEMS,
      this.bigValue,
    );
    if (this.wasm !== null) {
      if (!this.wasmCountsHold())
        throw new Error('orders counted in WASM in a chunk whose ids do not ascend');
      addWasmCounts(counts, this.wasm, rank, nItems, scale);
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
    const items = this.items;
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
    if (pw.cells > this.maxKeys)
      throw new TooManyKeysError(
        `more than ${this.maxKeys} distinct item pairs in one chunk; lower --chunk-size or raise --max-keys`,
      );
    push(out, RUN_PAIRS, pw);
    push(out, RUN_LINES, linesHist.encode(scale, SMALL_BLOCK));
    push(out, RUN_SIZES, sizeHist.encode(scale, SMALL_BLOCK));

    const tw = new KeyedCellsWriter(scale, SMALL_BLOCK);
    const noOrderKey = Buffer.from(TOTAL_NO_ORDER);
    const ordersKey = Buffer.from(TOTAL_ORDERS);
    if (this.noOrder > 0) {
      tw.key(noOrderKey, 0, noOrderKey.length);
      tw.cell(NO_MONTH, this.noOrder, 0, 0);
    }
    if (counted > 0) {
      tw.key(ordersKey, 0, ordersKey.length);
      tw.cellBig(NO_MONTH, counted, BigInt(countedLines), total.value());
    }
    push(out, RUN_TOTALS, tw);

    out.push(...this.shippedAndOrders(shipped, rank, scale));
    return out;
  }

  /**
   * The shipped orders' item sets (`order\0item`, empty item for lines without one), and the
   * chunk's order ids for the end's check: when its orders ascend (shortlex) and are many, only
   * the range `first\0last`; otherwise every id with its role.
   */
  private shippedAndOrders(shipped: Uint8Array, rank: Int32Array, scale: number): KeyedRun[] {
    const n = this.n;
    const orders = this.orders;
    const ob = orders.keyBytes;
    const ib = this.items.keyBytes;
    const nOrders = orders.size;
    const rowOrder = this.rowOrder;
    // With WASM's orders (between the first and last here, ids ascending throughout).
    const allOrders = nOrders + (this.wasm?.orders ?? 0);
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
    if (orders.ascending && !this.shipAll) {
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
      const it = this.rowItem[r];
      return it < 0 ? -1 : rank[it];
    };
    for (let k = 0; k < list.length; k++) {
      const o = list[k];
      const group = Array.from(rows.subarray(start[k], start[k + 1])).sort(
        (a, b) => itemRank(a) - itemRank(b),
      );
      for (let g = 0; g < group.length; ) {
        const it = this.rowItem[group[g]];
        const ir = itemRank(group[g]);
        let count = 0;
        const sum = new ExactSum();
        for (; g < group.length && itemRank(group[g]) === ir; g++) {
          count++;
          sum.add(this.rowValue[group[g]]);
          const big = this.bigValue.get(group[g]);
          if (big !== undefined) sum.big += big;
        }
        const ol = orders.keyEnd(o) - orders.keyStart(o);
        const il = it < 0 ? 0 : this.items.keyEnd(it) - this.items.keyStart(it);
        const key = Buffer.allocUnsafe(ol + 1 + il);
        ob.copy(key, 0, orders.keyStart(o), orders.keyEnd(o));
        key[ol] = 0;
        if (it >= 0) ib.copy(key, ol + 1, this.items.keyStart(it), this.items.keyEnd(it));
        sw.key(key, 0, key.length);
        sw.cellBig(NO_MONTH, count, BigInt(count), sum.value());
      }
    }
    const out: KeyedRun[] = [];
    if (sw.cells > this.maxKeys)
      throw new TooManyKeysError(
        `more than ${this.maxKeys} (order, item) cells to send from one chunk; lower --chunk-size or raise --max-keys`,
      );
    push(out, RUN_SHIPPED, sw);
    // Nothing counted here, nothing to check.
    if (this.shipAll) return out;
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
}

/** Compared from the end: consecutive order ids usually differ in their last bytes. */
function sameBytes(x: Uint8Array, a: number, y: Uint8Array, b: number, len: number): boolean {
  for (let i = len - 1; i >= 0; i--) if (x[a + i] !== y[b + i]) return false;
  return true;
}

function push(out: KeyedRun[], name: string, w: KeyedCellsWriter): void {
  const blocks = w.finish();
  if (blocks.length > 0) out.push({ kind: BASKET_KIND, name, blocks });
}
