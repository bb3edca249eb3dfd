/**
 * The WASM path's basket rows (asm/parse.ts `setBasket`): for each row WASM counted, its order
 * field's byte range, its item's slot in a WASM key table and its value, in file order. They reach
 * the chunk's BasketCollector between the ranges WASM left to the JS parser, so the collector sees
 * every row in file order, as on the JS path (its pieces, first and last order depend on it).
 */
import type { ScanSpec } from '../scan-spec.js';
import type { BasketCollector } from './basket-collector.js';

/**
 * u32 words of a row record: order start, order end, item slot (u32 max: none), 1 when its order
 * bytes are the record before's (not empty), value lo, hi.
 */
const WORDS = 6;
const SLOT_WORDS = 20;

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
  private next = 0;

  /**
   * `rows`: the u32 words of `count` records; `keys`: the item table's slots (80 bytes each, key
   * start and length first) for `nKeys` keys. Views over WASM memory, read before the module runs again.
   */
  constructor(
    collector: BasketCollector,
    rows: Uint32Array,
    count: number,
    keys: Uint32Array,
    nKeys: number,
    buf: Uint8Array,
    scale: number,
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
