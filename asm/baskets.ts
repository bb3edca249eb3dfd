// Baskets on the WASM parse path (--order with --item): for each row the record walk counts, its
// order field's byte range, its item's key slot and its value, in file order, for the JS basket
// collector (src/worker/basket-wasm.ts). A region of the chunk's heap, set up per chunk.
// While the chunk's order ids ascend, the orders that lie wholly between two other WASM orders
// (not the first or last, no JS range or row without an order id next to them) are counted here
// (order counts below) and their records dropped, so JS sees only the other orders' rows. An id
// that does not ascend stops the scan: the chunk is parsed again without order counting.
import { add128, alloc, tailMask } from './heap';
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


// Order counts (OC, read by basket-wasm.ts): a header, the lines and distinct-items histograms,
// per item slot its stats, pair counts in a lower triangle by slot (b × (b − 1) / 2 + a, a < b).
const OC_OK: usize = 0; // u32: 1 while every order id so far ascended (shortlex) and was ASCII
const OC_ORDERS: usize = 4; // u32: orders counted here
const OC_LINES: usize = 8; // u32: their lines
const OC_ROWS: usize = 12; // u32: item slots whose triangle rows are zeroed (all pair slots are below)
const OC_VALUE: usize = 16; // u64 lo, hi: their value
const OC_LINES_HIST: usize = 64; // u32 × 256 by lines
const OC_SIZE_HIST: usize = OC_LINES_HIST + 1024; // u32 × 256 by distinct items
const OC_ITEMS: usize = OC_SIZE_HIST + 1024; // per slot: support u32, lines u32, stamp u32, pad, value lo/hi u64
const ITEM_BYTES: usize = 32;
/** Orders with an item slot past this, or 256 lines or more, are left to JS. */
const ITEM_CAP: u32 = 1024;
const OC_TRI: usize = OC_ITEMS + <usize>ITEM_CAP * ITEM_BYTES;
const OC_BYTES: usize = OC_TRI + (((<usize>ITEM_CAP * (ITEM_CAP - 1)) >> 1) << 2);
/** Count whole orders here (setBasket); off for --orders-scattered and for JS's second try. */
let countOn = false;
let OC: usize = 0;
/** The current order piece: its first record, its id's bytes, whether JS rows touch it. */
let havePiece = false;
let pieceStart: u32 = 0;
let pieceOs: u32 = 0;
let pieceOe: u32 = 0;
let pieceDirty = false;
/** One past the piece's largest item slot. */
let pieceTop: i32 = 0;
/** A JS range came after the last piece's rows (the next piece touches it); true at the start. */
let dirtyNext = true;
let stamp: u32 = 0;
/** Distinct item slots of the order being counted. */
const basketList = memory.data(256 * 4);

/**
 * Records each counted row's order field, item slot and value (basketPtr/basketCount); order < 0
 * turns it off. `table`: the item column's key table (a dimension's, or nDims + nMarts for its own).
 * `count`: whole orders are counted here (basketCountsPtr) while their ids ascend.
 */
export function setBasket(order: i32, item: i32, table: i32, count: bool): void {
  orderCol = order;
  itemCol = item;
  itemTable = table;
  countOn = count;
}

/** The order counts' region (layout above), or 0 when this chunk counted none here. */
export function basketCountsPtr(): usize {
  return countOn && orderCol >= 0 ? OC : 0;
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
  havePiece = false;
  dirtyNext = true;
  if (countOn) {
    // The triangle's rows are zeroed as slots appear (most chunks use a few).
    OC = alloc(OC_BYTES);
    memory.fill(OC, 0, OC_TRI);
    store<u32>(OC + OC_OK, 1);
    stamp = 0;
  }
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

/** Rows went to JS here: the open piece and the next one touch them (JS counts those orders). */
export function basketBreak(): void {
  pieceDirty = true;
  dirtyNext = true;
}

/** The chunk must be parsed again without order counting: an id did not ascend, or was not ASCII. */
export function basketRedo(): bool {
  return countOn && OC != 0 && load<u32>(OC + OC_OK) == 0;
}

/** Whether the id at b (length lb) is after the one at a (length la): shorter first, then bytes. */
function after(a: usize, la: u32, b: usize, lb: u32): bool {
  if (lb != la) return lb > la;
  // Eight bytes at a time, byte-swapped so the first byte is the most significant (the input has
  // slack after it; the tail is masked).
  const n = <usize>la;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const x = bswap<u64>(load<u64>(a + i));
    const y = bswap<u64>(load<u64>(b + i));
    if (x != y) return y > x;
  }
  if (i == n) return false;
  const m = tailMask(n - i);
  return bswap<u64>(load<u64>(b + i) & m) > bswap<u64>(load<u64>(a + i) & m);
}

/** Whether len bytes at p are all ASCII (JS indexes ids that are not valid UTF-8). */
function ascii(p: usize, len: u32): bool {
  const n = <usize>len;
  let bits: u64 = 0;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) bits |= load<u64>(p + i);
  if (i < n) bits |= load<u64>(p + i) & tailMask(n - i);
  return (bits & 0x8080808080808080) == 0;
}

/**
 * Counts the order of records [from, to) here unless JS must (see the header); its records are
 * then dropped (the next row's record goes to `from`). A clean piece holds no row without an id.
 */
function closePiece(from: u32, to: u32): void {
  const lines = to - from;
  const top = <u32>pieceTop;
  if (pieceDirty || lines >= 256 || top > ITEM_CAP) return;
  const rows = load<u32>(OC + OC_ROWS);
  if (top > rows) {
    // Zero the triangle's rows [rows, top): words rows × (rows − 1) / 2 up to top × (top − 1) / 2.
    const lo = ((<usize>rows * <usize>(rows > 0 ? rows - 1 : <u32>0)) >> 1) << 2;
    const hi = ((<usize>top * <usize>(top - 1)) >> 1) << 2;
    memory.fill(OC + OC_TRI + lo, 0, hi - lo);
    store<u32>(OC + OC_ROWS, top);
  }
  stamp++;
  let size: u32 = 0;
  // At most 255 values of at most 2^52: no carry.
  let sum: u64 = 0;
  for (let r = from; r < to; r++) {
    const at = BASKET + <usize>r * BROW;
    const v = load<u64>(at, 16);
    sum += v;
    const it = load<i32>(at, 8);
    if (it < 0) continue;
    const st = OC + OC_ITEMS + <usize>it * ITEM_BYTES;
    store<u32>(st, load<u32>(st, 4) + 1, 4);
    add128(st + 16, v);
    if (load<u32>(st, 8) != stamp) {
      store<u32>(st, stamp, 8);
      store<u32>(st, load<u32>(st) + 1);
      store<u32>(basketList + (<usize>size << 2), <u32>it);
      size++;
    }
  }
  add128(OC + OC_VALUE, sum);
  store<u32>(OC + OC_ORDERS, load<u32>(OC + OC_ORDERS) + 1);
  store<u32>(OC + OC_LINES, load<u32>(OC + OC_LINES) + lines);
  const lh = OC + OC_LINES_HIST + (<usize>lines << 2);
  store<u32>(lh, load<u32>(lh) + 1);
  const sh = OC + OC_SIZE_HIST + (<usize>size << 2);
  store<u32>(sh, load<u32>(sh) + 1);
  const tri = OC + OC_TRI;
  for (let x: u32 = 1; x < size; x++) {
    const a = load<u32>(basketList + (<usize>x << 2));
    for (let y: u32 = 0; y < x; y++) {
      const b = load<u32>(basketList + (<usize>y << 2));
      const hiS = a > b ? a : b;
      const loS = a > b ? b : a;
      const at = tri + ((((<usize>hiS * (hiS - 1)) >> 1) + <usize>loS) << 2);
      store<u32>(at, load<u32>(at) + 1);
    }
  }
  basketRows = from;
}

/**
 * A row with order id [os, oe) (not empty) and item slot `item`, to be noted at record
 * basketRows: the pieces and their counts. False when the ids stop ascending (or are not ASCII).
 */
function notePiece(os: u32, oe: u32, item: i32, same: bool, input: usize): bool {
  if (havePiece) {
    if (same || (oe - os == pieceOe - pieceOs && sameBytes(input + pieceOs, input + os, oe - os))) {
      if (item >= pieceTop) pieceTop = item + 1;
      return true;
    }
    if (!after(input + pieceOs, pieceOe - pieceOs, input + os, oe - os) || !ascii(input + os, oe - os)) {
      store<u32>(OC + OC_OK, 0);
      return false;
    }
    closePiece(pieceStart, basketRows);
  } else if (!ascii(input + os, oe - os)) {
    store<u32>(OC + OC_OK, 0);
    return false;
  }
  havePiece = true;
  pieceStart = basketRows;
  pieceOs = os;
  pieceOe = oe;
  pieceTop = item + 1;
  pieceDirty = dirtyNext;
  dirtyNext = false;
  return true;
}

/**
 * Notes a counted row (fields in fs/fe, offsets from input) for the baskets; `dimSlot`: its item's
 * slot when the item column is a dimension. False when the item's own table is past maxKeys or
 * the chunk must be parsed again (basketRedo).
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
  let at = BASKET + <usize>basketRows * BROW;
  const os = load<u32>(fs + (<usize>orderCol << 2));
  const oe = load<u32>(fe + (<usize>orderCol << 2));
  let same: u32 = 0;
  if (basketRows > 0 && oe > os) {
    const ps = load<u32>(at - BROW);
    if (load<u32>(at - BROW, 4) - ps == oe - os && sameBytes(input + ps, input + os, oe - os)) same = 1;
  }
  if (countOn) {
    if (oe == os) basketBreak();
    else if (same == 1) {
      // The record before is the open piece's (its id not empty): the same order goes on.
      if (item >= pieceTop) pieceTop = item + 1;
    } else {
      if (!notePiece(os, oe, item, same == 1, input)) return false;
      // A counted order's records were dropped.
      at = BASKET + <usize>basketRows * BROW;
    }
  }
  store<u32>(at, os);
  store<u32>(at, oe, 4);
  store<i32>(at, item, 8);
  store<u32>(at, same, 12);
  store<u64>(at, rev, 16);
  basketRows++;
  return true;
}
