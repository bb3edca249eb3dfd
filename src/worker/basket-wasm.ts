/**
 * The WASM path's basket rows (asm/parse.ts `setBasket`): for each row WASM counted, its order
 * field's byte range, its item's slot in a WASM key table and its value, in file order. They reach
 * the chunk's BasketCollector between the ranges WASM left to the JS parser, so the collector sees
 * every row in file order, as on the JS path (its pieces, first and last order depend on it).
 */
import type { ScanSpec } from '../scan-spec.js';
import type { BasketCollector } from './basket-collector.js';
import type { WasmOrderCounts } from './basket-counting.js';

/**
 * u32 words of a row record: order start, order end, item slot (u32 max: none), 1 when its order
 * bytes are the record before's (not empty), value lo, hi. Orders WASM counted have no records.
 */
const WORDS = 6;
const SLOT_WORDS = 20;
/** The order counts' layout (asm/baskets.ts): byte offsets of the header fields and regions. */
const OC_OK = 0;
const OC_ORDERS = 4;
const OC_LINES = 8;
const OC_ROWS = 12;
const OC_VALUE = 16;
const OC_LINES_HIST = 64;
const OC_SIZE_HIST = OC_LINES_HIST + 1024;
const OC_ITEMS = OC_SIZE_HIST + 1024;
const ITEM_WORDS = 8;
const ITEM_CAP = 1024;
const OC_TRI = OC_ITEMS + ITEM_CAP * ITEM_WORDS * 4;

/**
 * The WASM key table that interns the item column: the dimension on the same column (its slots
 * are shared, as on the JS path), else one of its own after the dimensions and marts. -1: no baskets.
 */
export function basketTable(spec: ScanSpec): number {
  if (spec.order === undefined || spec.item === undefined) return -1;
  const k = spec.dimensions.findIndex((d) => d.index === spec.item && d.join === undefined);
  return k >= 0 ? k : spec.dimensions.length + (spec.marts?.length ?? 0);
}

export class WasmBasketRows {
  private readonly collector: BasketCollector;
  private readonly words: Uint32Array;
  private readonly count: number;
  /** WASM item slot → the collector's item slot. */
  private readonly slots: Int32Array;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly scale: number;
  /** Orders WASM counted (their counts went to the collector whole), and whether they stand. */
  private readonly counted: number;
  private readonly distinct: boolean;
  private next = 0;

  /**
   * `rows`: the u32 words of `count` records; `keys`: the item table's slots (80 bytes each, key
   * start and length first) for `nKeys` keys; `counts`: the order counts' region (bytes), or
   * null when WASM counted no orders. Views over WASM memory, read before the module runs again.
   */
  constructor(
    collector: BasketCollector,
    rows: Uint32Array,
    count: number,
    keys: Uint32Array,
    nKeys: number,
    buf: Uint8Array,
    scale: number,
    counts: Uint8Array | null,
  ) {
    this.collector = collector;
    this.words = rows;
    this.count = count;
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.scale = scale;
    this.slots = new Int32Array(nKeys);
    const table = collector.itemTable;
    for (let k = 0; k < nKeys; k++) {
      const s = keys[k * SLOT_WORDS];
      this.slots[k] = table.slot(buf, s, s + keys[k * SLOT_WORDS + 1], this.view);
    }
    const c = counts === null ? null : wasmCounts(counts, this.slots, scale);
    this.counted = c?.orders ?? 0;
    this.distinct = injective(this.slots, table.size);
    if (c !== null) collector.countedInWasm(c);
  }

  /**
   * False when the orders WASM counted cannot stand (the chunk must be parsed again without
   * them): two item keys are one to the collector, the collector's order ids (which lack those
   * orders) did not ascend, or the chunk has too few orders to send its ids as a range.
   */
  get countsHold(): boolean {
    return this.counted === 0 || (this.distinct && this.collector.wasmCountsHold());
  }

  /** Orders WASM counted whole in this chunk. */
  get ordersInWasm(): number {
    return this.counted;
  }

  /** Feeds the rows whose order field starts before byte `end` of the chunk (all: Infinity). */
  feedBefore(end: number): void {
    const w = this.words;
    const from = this.next;
    let to = from;
    while (to < this.count && w[to * WORDS] < end) to++;
    if (to > from) this.collector.records(this.buf, this.view, w, from, to, this.slots, this.scale);
    this.next = to;
  }
}

/** The order counts WASM made (the region's bytes), or null when it counted none or gave up. */
function wasmCounts(oc: Uint8Array, slots: Int32Array, scale: number): WasmOrderCounts | null {
  const v = new DataView(oc.buffer, oc.byteOffset, oc.length);
  if (v.getUint32(OC_OK, true) !== 1 || v.getUint32(OC_ORDERS, true) === 0) return null;
  const rows = v.getUint32(OC_ROWS, true);
  const words = (at: number, n: number) => new Uint32Array(oc.buffer, oc.byteOffset + at, n).slice();
  return {
    orders: v.getUint32(OC_ORDERS, true),
    lines: v.getUint32(OC_LINES, true),
    value: v.getBigUint64(OC_VALUE, true) + (v.getBigUint64(OC_VALUE + 8, true) << 64n),
    scale,
    linesHist: words(OC_LINES_HIST, 256),
    sizeHist: words(OC_SIZE_HIST, 256),
    slots,
    // Slots past ITEM_CAP have no stats: their orders were left to JS.
    items: words(OC_ITEMS, Math.min(slots.length, ITEM_CAP) * ITEM_WORDS),
    pairs: words(OC_TRI, (rows * (rows - 1)) / 2),
    rows,
  };
}

/** Whether no two WASM slots map to one collector slot (bytes that are not UTF-8 can). */
function injective(slots: Int32Array, size: number): boolean {
  const seen = new Uint8Array(size);
  for (let k = 0; k < slots.length; k++) {
    if (seen[slots[k]] === 1) return false;
    seen[slots[k]] = 1;
  }
  return true;
}
