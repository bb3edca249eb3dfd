// Baskets on the WASM parse path (--order with --item): for each row the record walk counts, its
// order field's byte range, its item's key slot and its value, in file order, for the JS basket
// collector (src/worker/basket-wasm.ts). A region of the chunk's heap, set up per chunk.
import { alloc, tailMask } from './heap';
import { newTable, slotOf } from './keys';

/**
 * Bytes of a basket row record: order start, order end, item slot (u32.MAX: no item), 1 when the
 * order bytes are those of the record before (not empty), value u64.
 */
const BROW: usize = 24;

let orderCol: i32 = -1;
let itemCol: i32 = -1;
/** The key table of the item column: a dimension's, or its own one after the dimensions and marts. */
let itemTable: i32 = -1;
/** itemTable when it is the item column's own table (interned here), else -1. */
let ownTable: i32 = -1;
let BASKET: usize = 0;
let basketCap: u32 = 0;
let basketRows: u32 = 0;

/**
 * Records each counted row's order field, item slot and value (basketPtr/basketCount); order < 0
 * turns it off. `table`: the item column's key table (a dimension's, or nDims + nMarts for its own).
 */
export function setBasket(order: i32, item: i32, table: i32): void {
  orderCol = order;
  itemCol = item;
  itemTable = table;
}

export function basketPtr(): usize {
  return BASKET;
}
export function basketCount(): u32 {
  return basketRows;
}

@inline
export function basketOn(): bool {
  return orderCol >= 0;
}

/** The item column's key table, or -1 without baskets. */
@inline
export function basketItemTable(): i32 {
  return orderCol >= 0 ? itemTable : -1;
}

/** The region is full: the next row and the rest of the chunk go to JS. */
@inline
export function basketFull(): bool {
  return orderCol >= 0 && basketRows >= basketCap;
}

/**
 * The basket rows' region: one record per 24 input bytes (retail lines are ~64), so about the
 * chunk's size; a chunk with more counted rows hands the rest to JS (scan). `tables`: the
 * dimensions and marts (the item column's own table comes after them).
 */
export function prepareBasket(n: u32, tables: i32): void {
  basketRows = 0;
  basketCap = 0;
  ownTable = -1;
  if (orderCol < 0) return;
  basketCap = n / 24 + 64;
  BASKET = alloc(<usize>basketCap * BROW);
  if (itemTable == tables) {
    ownTable = itemTable;
    newTable(itemTable, 1024);
  }
}

/** Whether len bytes at a and b are equal (words, then the tail; the input has slack after it). */
function sameBytes(a: usize, b: usize, len: u32): bool {
  let i: usize = 0;
  const n = <usize>len;
  for (; i + 8 <= n; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  if (i < n) return ((load<u64>(a + i) ^ load<u64>(b + i)) & tailMask(n - i)) == 0;
  return true;
}

/**
 * Notes a counted row (fields in fs/fe, offsets from input) for the baskets; `dimSlot`: its item's
 * slot when the item column is a dimension. False when the item's own table is past maxKeys.
 */
export function noteBasket(input: usize, fs: usize, fe: usize, rev: u64, dimSlot: i32): bool {
  const is = load<u32>(fs + (<usize>itemCol << 2));
  const ie = load<u32>(fe + (<usize>itemCol << 2));
  let item = dimSlot;
  if (is == ie) item = -1;
  else if (ownTable >= 0) {
    item = slotOf(ownTable, input + is, input + ie);
    if (item < 0) return false;
  }
  const at = BASKET + <usize>basketRows * BROW;
  const os = load<u32>(fs + (<usize>orderCol << 2));
  const oe = load<u32>(fe + (<usize>orderCol << 2));
  let same: u32 = 0;
  if (basketRows > 0 && oe > os) {
    const ps = load<u32>(at - BROW);
    if (load<u32>(at - BROW, 4) - ps == oe - os && sameBytes(input + ps, input + os, oe - os)) same = 1;
  }
  store<u32>(at, os);
  store<u32>(at, oe, 4);
  store<i32>(at, item, 8);
  store<u32>(at, same, 12);
  store<u64>(at, rev, 16);
  basketRows++;
  return true;
}
