/**
 * A chunk's mart cells: exact rows/units/revenue per (key slot, month) in typed arrays behind an
 * open-addressing index, and the encoders that turn a KeyTable (dimensions) or a CellTable (marts)
 * into sorted keyed-cell blocks. Amounts stay numbers below 2^52 and fold into a sparse bigint
 * side table past it (rare: only cells that large pay for a bigint).
 */
import { KeyedCellsWriter, type KeyedRun, type KeyedRunKind, NO_MONTH } from '../aggregate/keyed-cells.js';
import { ExactSums } from './exact-sums.js';
import type { KeySet, KeyTable } from './key-table.js';

/** Slots are u16 (months, or days for customer runs). */
const MONTH_SLOTS = 65536;

/** Tables whose chunk is done; parsing is synchronous, so a table is reused by the next chunk. */
const spare: CellTable[] = [];

export class CellTable extends ExactSums {
  name: string;
  private index = new Int32Array(1 << 14);
  private mask = (1 << 14) - 1;
  private slot = new Int32Array(256);
  private month = new Uint16Array(256);

  constructor(name: string) {
    super();
    this.name = name;
  }

  /** A table for a new chunk: a spare one (its arrays kept, so a worker's memory does not churn) or a new one. */
  static take(name: string): CellTable {
    const t = spare.pop() ?? new CellTable(name);
    t.name = name;
    return t;
  }

  /** Empties the table and keeps it for the next chunk. */
  release(): void {
    this.index.fill(0);
    this.clearSums();
    if (spare.length < 4) spare.push(this);
  }

  /** Cell index of (key slot, month), created empty if new. */
  cell(slot: number, month: number): number {
    const composite = slot * MONTH_SLOTS + month;
    let h = Math.imul(composite ^ (composite >>> 15), 0x2c1b3c6d);
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
    let p = (h ^ (h >>> 15)) & this.mask;
    for (;;) {
      const v = this.index[p];
      if (v === 0) break;
      const c = v - 1;
      if (this.slot[c] === slot && this.month[c] === month) return c;
      p = (p + 1) & this.mask;
    }
    const c = this.size++;
    if (c >= this.slot.length) this.growCells();
    this.slot[c] = slot;
    this.month[c] = month;
    this.index[p] = c + 1;
    if (this.size * 2 > this.mask) this.growIndex();
    return c;
  }

  private growCells(): void {
    const n = this.slot.length * 2;
    const grow = <T extends Int32Array | Uint16Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.slot = grow(this.slot, new Int32Array(n));
    this.month = grow(this.month, new Uint16Array(n));
    this.growSums(n);
  }

  private growIndex(): void {
    const size = (this.mask + 1) * 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    for (let c = 0; c < this.size; c++) {
      const composite = this.slot[c] * MONTH_SLOTS + this.month[c];
      let h = Math.imul(composite ^ (composite >>> 15), 0x2c1b3c6d);
      h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
      let p = (h ^ (h >>> 15)) & this.mask;
      while (this.index[p] !== 0) p = (p + 1) & this.mask;
      this.index[p] = c + 1;
    }
  }

  /**
   * Adds `rows` rows counted elsewhere (the WASM parse path) with their exact sums: numbers within
   * 2^52 each (the usual case, so cells hold no bigint), else bigints.
   */
  addCounted(c: number, rows: number, units: number | bigint, revenue: number | bigint): void {
    if (typeof units === 'number' && typeof revenue === 'number') {
      this.add(c, units, revenue);
      this.rows[c] += rows - 1;
      return;
    }
    this.rows[c] += rows;
    const u = BigInt(units);
    if (u !== 0n) this.unitsBig.set(c, (this.unitsBig.get(c) ?? 0n) + u);
    this.addBigRevenue(c, BigInt(revenue));
  }

  /** Multiplies every revenue by 10^k exactly (a scale raise). */
  upscale(k: number): void {
    this.scaleRevenue(10n ** BigInt(k));
  }

  /**
   * The cells as blocks sorted by (key bytes, month); `keys` is the table that gave the slots and
   * `order` its sortedSlots() when the caller already has them.
   */
  encode(
    keys: KeySet,
    scale: number,
    kind: KeyedRunKind = 'mart',
    order: Uint32Array = keys.sortedSlots(),
  ): KeyedRun {
    const rank = new Uint32Array(keys.size);
    for (let i = 0; i < order.length; i++) rank[order[i]] = i;
    const n = this.size;
    // Counting sort by key rank, then insertion sort by month within a key (a key has few months).
    const start = new Uint32Array(order.length + 1);
    for (let c = 0; c < n; c++) start[rank[this.slot[c]] + 1]++;
    for (let k = 0; k < order.length; k++) start[k + 1] += start[k];
    const fill = start.slice(0, order.length);
    const sorted = new Uint32Array(n);
    for (let c = 0; c < n; c++) sorted[fill[rank[this.slot[c]]]++] = c;
    const month = this.month;
    for (let k = 0; k < order.length; k++) {
      for (let i = start[k] + 1; i < start[k + 1]; i++) {
        const c = sorted[i];
        let j = i - 1;
        while (j >= start[k] && month[sorted[j]] > month[c]) {
          sorted[j + 1] = sorted[j];
          j--;
        }
        sorted[j + 1] = c;
      }
    }
    const out = new KeyedCellsWriter(scale);
    let lastSlot = -1;
    const bytes = keys.keyBytes;
    const big = this.unitsBig.size > 0 || this.revenueBig.size > 0;
    for (let i = 0; i < n; i++) {
      const c = sorted[i];
      const s = this.slot[c];
      if (s !== lastSlot) {
        out.key(bytes, keys.keyStart(s), keys.keyEnd(s));
        lastSlot = s;
      }
      if (big && (this.unitsBig.has(c) || this.revenueBig.has(c))) {
        out.cellBig(
          this.month[c],
          this.rows[c],
          (this.unitsBig.get(c) ?? 0n) + BigInt(this.units[c]),
          (this.revenueBig.get(c) ?? 0n) + BigInt(this.revenue[c]),
        );
      } else out.cell(this.month[c], this.rows[c], this.units[c], this.revenue[c]);
    }
    return { kind, name: this.name, blocks: out.finish() };
  }
}

/** A dimension's per-key sums as blocks sorted by key (month NO_MONTH). */
export function encodeDimension(keys: KeyTable, scale: number, kind: KeyedRunKind = 'dim'): KeyedRun {
  const out = new KeyedCellsWriter(scale);
  const bytes = keys.keyBytes;
  for (const s of keys.sortedSlots()) {
    out.key(bytes, keys.keyStart(s), keys.keyEnd(s));
    const u = keys.unitsBig[s];
    const r = keys.revenueBig[s];
    if (u === 0n && r === 0n) out.cell(NO_MONTH, keys.rows[s], keys.units[s], keys.revenue[s]);
    else out.cellBig(NO_MONTH, keys.rows[s], u + BigInt(keys.units[s]), r + BigInt(keys.revenue[s]));
  }
  return { kind, name: keys.name, blocks: out.finish() };
}
