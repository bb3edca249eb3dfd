/**
 * A chunk's orders and baskets, as the parser meets them: each counted row is noted as (order
 * slot, item slot, value), from the JS path one row at a time and from the WASM path as records
 * (basket-wasm.ts); an order id equal to the row before's is not looked up again. At the chunk's
 * end the noted rows become the chunk's basket runs (basket-runs.ts, which says what is counted in
 * the chunk and what is shipped).
 */
import { compareBytes, type KeyedRun } from '../aggregate/keyed-cells.js';
import type { WasmOrderCounts } from './basket-counting.js';
import { OrderIds } from './basket-orders.js';
import { basketRuns, wasmCountsHold } from './basket-runs.js';
import { KeyTable } from './key-table.js';
import { ESCAPED, fieldText } from './tokenizer.js';

const LIMIT = 2 ** 52;
const TWO32 = 2 ** 32;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

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
    return wasmCountsHold(this.orders, this.wasm);
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
    return basketRuns(
      {
        n: this.n,
        rowOrder: this.rowOrder,
        rowItem: this.rowItem,
        rowValue: this.rowValue,
        bigValue: this.bigValue,
        orders: this.orders,
        items: this.items,
        noOrder: this.noOrder,
        shipAll: this.shipAll,
        maxKeys: this.maxKeys,
        wasm: this.wasm,
      },
      scale,
    );
  }
}

/** Compared from the end: consecutive order ids usually differ in their last bytes. */
function sameBytes(x: Uint8Array, a: number, y: Uint8Array, b: number, len: number): boolean {
  for (let i = len - 1; i >= 0; i--) if (x[a + i] !== y[b + i]) return false;
  return true;
}
