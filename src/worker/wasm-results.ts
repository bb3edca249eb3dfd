/**
 * What a WASM scan (asm/parse.ts) leaves in linear memory, read back for the JS side
 * (wasm-parse.ts): the module's exports, the layouts of its result words, month sums, key slots,
 * cells, basket records and encoded blocks, and readers that turn them into the shapes of
 * counted-part.ts (keys stay byte ranges of the chunk). A call that grows memory detaches earlier
 * views, so the readers take the memory buffer as it is after the last such call.
 */
import type { KeyedRun } from '../aggregate/keyed-cells.js';
import type { ScanSpec } from '../scan-spec.js';
import type { BasketCollector } from './basket-collector.js';
import { WasmBasketRows } from './basket-wasm.js';
import type { Amounts, CountedCells, CountedKeys, CountedPart } from './counted-part.js';

export interface Exports {
  memory: { buffer: ArrayBuffer };
  configure(
    delim: number,
    fields: number,
    price: number,
    qty: number,
    rev: number,
    date: number,
    fmt: number,
    point: number,
    scale: number,
    limit: number,
    dims: number,
    maxKeys: number,
  ): void;
  setDimension(k: number, col: number): void;
  setMarts(n: number): void;
  martCellsPtr(m: number): number;
  martCellCount(m: number): number;
  prepare(n: number): number;
  scan(n: number): number;
  resultPtr(): number;
  monthsPtr(): number;
  monthUnitsPtr(): number;
  monthRevenuePtr(): number;
  fallbackPtr(): number;
  dimSlotsPtr(k: number): number;
  dimSize(k: number): number;
  encodeMart(m: number, nDims: number, scale: number): number;
  sizeMarts(n: number, nDims: number, nMarts: number): void;
  blocksPtr(): number;
  blocksBytes(): number;
  blockTablePtr(): number;
  setBasket(order: number, item: number, table: number, count: boolean): void;
  setCustomer(col: number, table: number, cells: number, own: number): void;
  encodeDays(scale: number): number;
  basketPtr(): number;
  basketCount(): number;
  basketCountsPtr(): number;
}

const MONTHS = 3600;
const SLOT_BYTES = 80;
/** The order counts' header, histograms and item stats (the pair triangle follows; asm/baskets.ts). */
const BASKET_COUNTS_BYTES = 64 + 2048 + 1024 * 32 + 4 * ((1024 * 1023) / 2);
const CELL_BYTES = 48;
// Result words (u64), as in asm/parse.ts.
const R_ROWS = 0;
const R_UNITS = 1;
const R_REV = 3;
const R_PSUM = 5;
const R_MIN = 7;
const R_MAX = 8;
export const R_LINES = 9;
export const R_FALLBACKS = 10;
export const R_REST = 11;
export const R_WORDS = 16;

/** The n blocks the last encode wrote: subarrays of one copy out of linear memory. */
export function takeBlocks(e: Exports, n: number): Uint8Array[] {
  const mem = e.memory.buffer;
  const bytes = new Uint8Array(mem, e.blocksPtr(), e.blocksBytes()).slice();
  const at = new Uint32Array(mem, e.blockTablePtr(), n + 1);
  const blocks: Uint8Array[] = [];
  for (let b = 0; b < n; b++) blocks.push(bytes.subarray(at[b], at[b + 1]));
  return blocks;
}

function u128(words: BigUint64Array, i: number): bigint {
  return words[i] + (words[i + 1] << 64n);
}

const TWO32 = 2 ** 32;

/** Amounts from n records of `stride` u32 words, the u64 lo/hi pair at word `at`: numbers below 2^52, no bigint. */
function amounts(u32: Uint32Array, u64: BigUint64Array, n: number, stride: number, at: number): Amounts {
  const out: Amounts = { num: new Float64Array(n), big: new Map() };
  for (let i = 0; i < n; i++) {
    const w = i * stride + at;
    if (u32[w + 1] < 0x100000 && u32[w + 2] === 0 && u32[w + 3] === 0)
      out.num[i] = u32[w + 1] * TWO32 + u32[w];
    else {
      out.num[i] = Number.NaN;
      out.big.set(i, u128(u64, w / 2));
    }
  }
  return out;
}

export function readCounted(
  e: Exports,
  mem: ArrayBuffer,
  res: BigUint64Array,
  buf: Uint8Array,
  spec: ScanSpec,
  encoded: (KeyedRun | null)[],
): CountedPart {
  const rows = Number(res[R_ROWS]);
  const months: CountedPart['months'] = [];
  if (rows > 0 && spec.date >= 0) {
    const mRows = new Uint32Array(mem, e.monthsPtr(), MONTHS * 2);
    const mUnits = new BigUint64Array(mem, e.monthUnitsPtr(), MONTHS * 2);
    const mRev = new BigUint64Array(mem, e.monthRevenuePtr(), MONTHS * 2);
    for (let m = 0; m < MONTHS; m++) {
      const r = mRows[2 * m];
      if (r !== 0) months.push([m, r, u128(mUnits, 2 * m), u128(mRev, 2 * m)]);
    }
  }
  const dims = spec.dimensions.map((_, k) => readKeys(e, mem, k, buf, true));
  const nDims = spec.dimensions.length;
  const marts = (spec.marts ?? []).map((_, m): CountedCells => {
    const keys = readKeys(e, mem, nDims + m, buf, false, encoded[m] ? 0 : e.dimSize(nDims + m));
    return readCells(e, mem, m, keys, encoded[m] ? 0 : e.martCellCount(m));
  });
  return {
    scale: spec.scale,
    rows,
    units: u128(res, R_UNITS),
    revenue: u128(res, R_REV),
    priceSum: u128(res, R_PSUM),
    priceMin: res[R_MIN],
    priceMax: res[R_MAX],
    months,
    dims,
    marts,
  };
}

/** Cell table t's cells (slot, month or day, sums), slots indexing `keys`. */
export function readCells(
  e: Exports,
  mem: ArrayBuffer,
  t: number,
  keys: CountedKeys,
  size = e.martCellCount(t),
): CountedCells {
  const u32 = new Uint32Array(mem, e.martCellsPtr(t), (size * CELL_BYTES) / 4);
  const u64 = new BigUint64Array(mem, e.martCellsPtr(t), (size * CELL_BYTES) / 8);
  const cells: CountedCells = {
    keys,
    slot: new Uint32Array(size),
    month: new Uint16Array(size),
    rows: new Uint32Array(size),
    units: amounts(u32, u64, size, CELL_BYTES / 4, 4),
    revenue: amounts(u32, u64, size, CELL_BYTES / 4, 8),
  };
  for (let i = 0; i < size; i++) {
    const w = (i * CELL_BYTES) / 4;
    cells.slot[i] = u32[w];
    cells.month[i] = u32[w + 1];
    cells.rows[i] = u32[w + 2];
  }
  return cells;
}

/** The WASM-counted rows' basket records, to feed between the JS ranges. */
export function basketRows(
  e: Exports,
  mem: ArrayBuffer,
  collector: BasketCollector,
  table: number,
  buf: Uint8Array,
  spec: ScanSpec,
): WasmBasketRows {
  const count = e.basketCount();
  const nKeys = e.dimSize(table);
  const oc = e.basketCountsPtr();
  return new WasmBasketRows(
    collector,
    new Uint32Array(mem, e.basketPtr(), count * 6),
    count,
    new Uint32Array(mem, e.dimSlotsPtr(table), (nKeys * SLOT_BYTES) / 4),
    nKeys,
    buf,
    spec.scale,
    oc === 0 ? null : new Uint8Array(mem, oc, BASKET_COUNTS_BYTES),
  );
}

/** Key table k's keys (byte ranges of the chunk), with their sums when `sums`. */
export function readKeys(
  e: Exports,
  mem: ArrayBuffer,
  k: number,
  buf: Uint8Array,
  sums: boolean,
  size = e.dimSize(k),
): CountedKeys {
  const base = e.dimSlotsPtr(k);
  const u32 = new Uint32Array(mem, base, (size * SLOT_BYTES) / 4);
  const u64 = new BigUint64Array(mem, base, (size * SLOT_BYTES) / 8);
  const none: Amounts = { num: new Float64Array(0), big: new Map() };
  const keys: CountedKeys = {
    bytes: buf,
    starts: new Uint32Array(size),
    ends: new Uint32Array(size),
    rows: new Uint32Array(size),
    units: sums ? amounts(u32, u64, size, SLOT_BYTES / 4, 4) : none,
    revenue: sums ? amounts(u32, u64, size, SLOT_BYTES / 4, 8) : none,
  };
  for (let i = 0; i < size; i++) {
    const w = (i * SLOT_BYTES) / 4;
    keys.starts[i] = u32[w];
    keys.ends[i] = u32[w] + u32[w + 1];
    keys.rows[i] = u32[w + 3];
  }
  return keys;
}
