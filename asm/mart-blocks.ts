// A mart's cells encoded inside WASM: its key table sorted by key bytes (radix sort on 8-byte
// big-endian digits, recursing into runs of equal digits), its (key, month) cells counting-sorted
// by key rank then month, and the result written as SGK1 keyed-cell blocks
// (src/aggregate/keyed-cells.ts has the layout), so JS takes finished bytes instead of each cell.

import { customerCells, customerTable, newCustomerTables } from './customers';
import { alloc, mark, release, tailMask } from './heap';
import { dimSize, dimSlotsPtr, keysBase, martCellCount, martCellsPtr, newCells, newTable } from './keys';

const MAGIC: u32 = 0x314b4753; // "SGK1" as a little-endian u32
const HEADER: usize = 24;
/** Cells per block, as BLOCK_CELLS in keyed-cells.ts. */
const BLOCK_CELLS: u32 = 2048;
const SLOT: usize = 80; // key table slot: keyStart u32, keyLen u32, …
const CELL: usize = 48; // mart cell: slot u32, month u32, rows u32, pad, units u128, revenue u128
const MONTH_SLOTS: u32 = 4096;
/** Day slots of the customers' cells (u16). */
const DAY_SLOTS: u32 = 65536;
/** Amounts up to this magnitude travel as two words; a wider one leaves the chunk to JS's encoder. */
const SAFE: u64 = (<u64>1) << 53;
/** Runs of equal keys this short are sorted by comparison. */
const SMALL: u32 = 16;
/**
 * The most keys and cells a mart table is made for up front (a 4 MiB chunk of 16-byte rows): its
 * index is zeroed per chunk, so a low-cardinality mart on huge chunks must not pay for millions of
 * lines; past it the tables grow as before.
 */
const MAX_PRESIZE: u32 = 1 << 18;
/** Past this many equal leading bytes the JS encoder takes the mart (bounds the recursion). */
const MAX_DEPTH: u32 = 1024;

export const ENCODE_WIDE: i32 = -1;
export const ENCODE_DEEP: i32 = -2;

let keySlots: usize = 0;
let keyBase: usize = 0;
let dig: usize = 0; // u64 digit per entry
let ord: usize = 0; // u32 slot per entry
let dig2: usize = 0;
let ord2: usize = 0;
let hist: usize = 0; // 8 × 256 u32
let tooDeep = false;
/** The key table sorted last in this chunk and its ranks (the customers reuse the customer mart's). */
let rankedTable: i32 = -1;
let rankedCount: u32 = 0;
let rankedAt: usize = 0;
/**
 * Where the last encode's own allocations began (after its ranks): the next encode of the chunk
 * starts there again, since JS copies each encode's blocks out before the next one.
 */
let encodeBase: usize = 0;

let outPtr: usize = 0;
let outBytes: u32 = 0;
let outTable: usize = 0;

/** A new chunk: no key table is ranked yet. */
export function forgetRanks(): void {
  rankedTable = -1;
  encodeBase = 0;
}

/** Where the last encodeMart wrote its blocks, their total bytes, and the u32 block offsets (nBlocks + 1). */
export function blocksPtr(): usize {
  return outPtr;
}
export function blocksBytes(): u32 {
  return outBytes;
}
export function blockTablePtr(): usize {
  return outTable;
}

/**
 * Makes the chunk's mart tables (key tables nDims.., cell tables 0..) new with room for one key
 * and cell per line of the n input bytes (up to MAX_PRESIZE), so they do not grow: a grown table
 * leaves its old copy in the bump heap, and linear memory keeps its peak. Slots never written
 * cost no resident pages.
 */
export function sizeMarts(n: u32, nDims: i32, nMarts: i32): void {
  const input = keysBase();
  const lf = i8x16.splat(0x0a);
  let lines: u32 = 1;
  let p: usize = 0;
  for (; p + 16 <= <usize>n; p += 16) lines += popcnt<u32>(<u32>i8x16.bitmask(i8x16.eq(v128.load(input + p), lf)));
  for (; p < <usize>n; p++) if (load<u8>(input + p) == 0x0a) lines++;
  let cap: u32 = 1024;
  while (cap < lines && cap < MAX_PRESIZE) cap <<= 1;
  for (let m = 0; m < nMarts; m++) {
    newTable(nDims + m, cap);
    newCells(m, cap);
  }
  newCustomerTables(cap);
}

@inline
function keyStart(s: u32): usize {
  return keyBase + <usize>load<u32>(keySlots + <usize>s * SLOT);
}

@inline
function keyLen(s: u32): u32 {
  return load<u32>(keySlots + <usize>s * SLOT, 4);
}

/** Bytes [off, off + 8) of key s as a big-endian word, zero past its end (the chunk has slack after it). */
@inline
function digit(s: u32, off: u32): u64 {
  const len = keyLen(s);
  if (off >= len) return 0;
  return bswap<u64>(load<u64>(keyStart(s) + off) & tailMask(<usize>(len - off)));
}

/** Byte order of keys a and b, whose first `off` bytes are equal. */
function compareFrom(a: u32, b: u32, off: u32): i32 {
  const la = keyLen(a);
  const lb = keyLen(b);
  const n = la < lb ? la : lb;
  const pa = keyStart(a);
  const pb = keyStart(b);
  for (let i = off; i < n; i++) {
    const d = <i32>load<u8>(pa + i) - <i32>load<u8>(pb + i);
    if (d != 0) return d;
  }
  return <i32>la - <i32>lb;
}

/** Sorts ord[lo, hi), whose keys share their first `off` bytes. */
function sortRange(lo: u32, hi: u32, off: u32): void {
  const n = hi - lo;
  if (n <= SMALL) {
    for (let i = lo + 1; i < hi; i++) {
      const s = load<u32>(ord + (<usize>i << 2));
      let j = i;
      while (j > lo && compareFrom(load<u32>(ord + (<usize>(j - 1) << 2)), s, off) > 0) {
        store<u32>(ord + (<usize>j << 2), load<u32>(ord + (<usize>(j - 1) << 2)));
        j--;
      }
      store<u32>(ord + (<usize>j << 2), s);
    }
    return;
  }
  if (off >= MAX_DEPTH) {
    tooDeep = true;
    return;
  }
  memory.fill(hist, 0, 8 * 256 * 4);
  for (let i = lo; i < hi; i++) {
    const d = digit(load<u32>(ord + (<usize>i << 2)), off);
    store<u64>(dig + (<usize>i << 3), d);
    for (let b: u32 = 0; b < 8; b++) {
      const h = hist + ((<usize>b << 8) + <usize>((d >> (<u64>b << 3)) & 0xff)) * 4;
      store<u32>(h, load<u32>(h) + 1);
    }
  }
  // LSD passes over the bytes of the digit, skipping bytes equal across the range.
  let srcD = dig;
  let srcO = ord;
  let dstD = dig2;
  let dstO = ord2;
  for (let b: u32 = 0; b < 8; b++) {
    const h = hist + (<usize>b << 10);
    const first = <u32>((load<u64>(srcD + (<usize>lo << 3)) >> (<u64>b << 3)) & 0xff);
    if (load<u32>(h + (<usize>first << 2)) == n) continue;
    let sum = lo;
    for (let v: usize = 0; v < 256; v++) {
      const c = load<u32>(h + (v << 2));
      store<u32>(h + (v << 2), sum);
      sum += c;
    }
    for (let i = lo; i < hi; i++) {
      const d = load<u64>(srcD + (<usize>i << 3));
      const at = h + (<usize>((d >> (<u64>b << 3)) & 0xff) << 2);
      const to = load<u32>(at);
      store<u32>(at, to + 1);
      store<u64>(dstD + (<usize>to << 3), d);
      store<u32>(dstO + (<usize>to << 2), load<u32>(srcO + (<usize>i << 2)));
    }
    let t = srcD;
    srcD = dstD;
    dstD = t;
    t = srcO;
    srcO = dstO;
    dstO = t;
  }
  if (srcD != dig) {
    memory.copy(dig + (<usize>lo << 3), srcD + (<usize>lo << 3), <usize>n << 3);
    memory.copy(ord + (<usize>lo << 2), srcO + (<usize>lo << 2), <usize>n << 2);
  }
  // Runs of equal digits are ordered by the bytes after them.
  let i = lo;
  while (i < hi) {
    const d = load<u64>(dig + (<usize>i << 3));
    let j = i + 1;
    while (j < hi && load<u64>(dig + (<usize>j << 3)) == d) j++;
    if (j - i > 1) sortRange(i, j, off + 8);
    i = j;
  }
}

@inline
function pad4(n: usize): usize {
  return (n + 3) & ~(<usize>3);
}

/**
 * Encodes mart m (key table nDims + m) as SGK1 blocks at `scale`. Returns the number of blocks
 * (see blocksPtr), ENCODE_WIDE when an amount is past 2^53, or ENCODE_DEEP for keys sharing more
 * than MAX_DEPTH leading bytes; then the JS encoder must take the mart.
 */
export function encodeMart(m: i32, nDims: i32, scale: u32): i32 {
  return encodeCells(m, nDims + m, scale, MONTH_SLOTS);
}

/** Encodes the customers' (key, day) cells as the `days` run's blocks; returns as encodeMart. */
export function encodeDays(scale: u32): i32 {
  return encodeCells(customerCells(), customerTable(), scale, DAY_SLOTS);
}

/** Cell table `t` (slots of key table k, `slots` month or day values) as SGK1 blocks. */
function encodeCells(t: i32, k: i32, scale: u32, slots: u32): i32 {
  const nk = dimSize(k);
  const nc = martCellCount(t);
  const cells = martCellsPtr(t);
  outBytes = 0;
  if (nc == 0) return 0;
  for (let c: u32 = 0; c < nc; c++) {
    const at = cells + <usize>c * CELL;
    if ((load<u64>(at, 24) != 0) | (load<u64>(at, 16) > SAFE) | (load<u64>(at, 40) != 0) | (load<u64>(at, 32) > SAFE))
      return ENCODE_WIDE;
  }
  keySlots = dimSlotsPtr(k);
  keyBase = keysBase();
  if (encodeBase != 0) release(encodeBase);
  const rank = k == rankedTable && nk == rankedCount ? rankedAt : rankKeys(k, nk);
  if (rank == 0) return ENCODE_DEEP;
  encodeBase = mark();

  // Cells by month, then stably by key rank: (rank, month) order.
  const byMonth = alloc(<usize>nc << 2);
  const sorted = alloc(<usize>nc << 2);
  const mCount = alloc(<usize>(slots + 1) << 2);
  memory.fill(mCount, 0, <usize>(slots + 1) << 2);

  for (let c: u32 = 0; c < nc; c++) {
    const at = mCount + (<usize>(load<u32>(cells + <usize>c * CELL, 4) + 1) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  for (let v: u32 = 0; v < slots; v++) {
    const at = mCount + (<usize>(v + 1) << 2);
    store<u32>(at, load<u32>(at) + load<u32>(at - 4));
  }
  for (let c: u32 = 0; c < nc; c++) {
    const at = mCount + (<usize>load<u32>(cells + <usize>c * CELL, 4) << 2);
    const to = load<u32>(at);
    store<u32>(at, to + 1);
    store<u32>(byMonth + (<usize>to << 2), c);
  }
  const rCount = alloc(<usize>(nk + 1) << 2);
  memory.fill(rCount, 0, <usize>(nk + 1) << 2);
  for (let c: u32 = 0; c < nc; c++) {
    const r = load<u32>(rank + (<usize>load<u32>(cells + <usize>c * CELL) << 2));
    const at = rCount + (<usize>(r + 1) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  for (let r: u32 = 0; r < nk; r++) {
    const at = rCount + (<usize>(r + 1) << 2);
    store<u32>(at, load<u32>(at) + load<u32>(at - 4));
  }
  for (let i: u32 = 0; i < nc; i++) {
    const c = load<u32>(byMonth + (<usize>i << 2));
    const at = rCount + (<usize>load<u32>(rank + (<usize>load<u32>(cells + <usize>c * CELL) << 2)) << 2);
    const to = load<u32>(at);
    store<u32>(at, to + 1);
    store<u32>(sorted + (<usize>to << 2), c);
  }

  // Blocks of BLOCK_CELLS cells; a key whose cells straddle two blocks is entered in both.
  const nBlocks = (nc + BLOCK_CELLS - 1) / BLOCK_CELLS;
  let total: usize = 0;
  const info = alloc(<usize>nBlocks << 3);
  for (let b: u32 = 0; b < nBlocks; b++) total += blockSize(cells, sorted, b, nc, info);
  outTable = alloc(<usize>(nBlocks + 1) << 2);
  outPtr = alloc(total);
  memory.fill(outPtr, 0, total);
  let p = outPtr;
  for (let b: u32 = 0; b < nBlocks; b++) {
    store<u32>(outTable + (<usize>b << 2), <u32>(p - outPtr));
    p += writeBlock(p, cells, sorted, b, nc, scale, info);
  }
  store<u32>(outTable + (<usize>nBlocks << 2), <u32>(p - outPtr));
  outBytes = <u32>total;
  return <i32>nBlocks;
}

/** Ranks of key table k's nk slots by key bytes (u32 per slot), or 0 for keys sharing too long a prefix. */
function rankKeys(k: i32, nk: u32): usize {
  const rank = alloc(<usize>nk << 2);
  // Keys in byte order: ord[i] is the slot of rank i. The sort's arrays are scratch.
  const scratch = mark();
  dig = alloc(<usize>nk << 3);
  dig2 = alloc(<usize>nk << 3);
  ord = alloc(<usize>nk << 2);
  ord2 = alloc(<usize>nk << 2);
  hist = alloc(8 * 256 * 4);
  for (let i: u32 = 0; i < nk; i++) store<u32>(ord + (<usize>i << 2), i);
  tooDeep = false;
  sortRange(0, nk, 0);
  if (tooDeep) return 0;
  for (let i: u32 = 0; i < nk; i++) store<u32>(rank + (<usize>load<u32>(ord + (<usize>i << 2)) << 2), i);
  release(scratch);
  rankedTable = k;
  rankedCount = nk;
  rankedAt = rank;
  return rank;
}

@inline
function slotOfCell(cells: usize, sorted: usize, i: u32): u32 {
  return load<u32>(cells + <usize>load<u32>(sorted + (<usize>i << 2)) * CELL);
}

/** Block b's size; its key count and key bytes go to info[b] for writeBlock. */
function blockSize(cells: usize, sorted: usize, b: u32, nc: u32, info: usize): usize {
  const from = b * BLOCK_CELLS;
  const to = from + BLOCK_CELLS < nc ? from + BLOCK_CELLS : nc;
  let nKeys: usize = 0;
  let keyBytes: usize = 0;
  let last: u32 = 0xffffffff;
  for (let i = from; i < to; i++) {
    const s = slotOfCell(cells, sorted, i);
    if (s != last) {
      nKeys++;
      keyBytes += keyLen(s);
      last = s;
    }
  }
  const n = <usize>(to - from);
  store<u32>(info + (<usize>b << 3), <u32>nKeys);
  store<u32>(info + (<usize>b << 3), <u32>keyBytes, 4);
  return HEADER + ((nKeys + 1) << 2) + pad4(keyBytes) + 24 * n + pad4(n << 1);
}

/** Writes block b at p (zeroed memory) and returns its size. */
function writeBlock(p: usize, cells: usize, sorted: usize, b: u32, nc: u32, scale: u32, info: usize): usize {
  const from = b * BLOCK_CELLS;
  const to = from + BLOCK_CELLS < nc ? from + BLOCK_CELLS : nc;
  const n = <usize>(to - from);
  const nKeys = <usize>load<u32>(info + (<usize>b << 3));
  const keyBytes = <usize>load<u32>(info + (<usize>b << 3), 4);
  const offs = p + HEADER;
  const keys = offs + ((nKeys + 1) << 2);
  const cellKey = keys + pad4(keyBytes);
  const rows = cellKey + (n << 2);
  const uLo = rows + (n << 2);
  const uHi = uLo + (n << 2);
  const rLo = uHi + (n << 2);
  const rHi = rLo + (n << 2);
  const month = rHi + (n << 2);
  store<u32>(p, MAGIC);
  store<u8>(p, <u8>scale, 4);
  store<u32>(p, <u32>nKeys, 8);
  store<u32>(p, <u32>n, 12);
  store<u32>(p, <u32>keyBytes, 16);
  store<u32>(p, 0, 20);
  let key: i32 = -1;
  let used: usize = 0;
  let last: u32 = 0xffffffff;
  for (let i: usize = 0; i < n; i++) {
    const c = cells + <usize>load<u32>(sorted + ((<usize>from + i) << 2)) * CELL;
    const s = load<u32>(c);
    if (s != last) {
      const len = <usize>keyLen(s);
      memory.copy(keys + used, keyStart(s), len);
      used += len;
      key++;
      store<u32>(offs + (<usize>(key + 1) << 2), <u32>used);
      last = s;
    }
    const o = i << 2;
    store<u32>(cellKey + o, <u32>key);
    store<u32>(rows + o, load<u32>(c, 8));
    const u = load<u64>(c, 16);
    const r = load<u64>(c, 32);
    store<u32>(uLo + o, <u32>u);
    store<u32>(uHi + o, <u32>(u >> 32));
    store<u32>(rLo + o, <u32>r);
    store<u32>(rHi + o, <u32>(r >> 32));
    store<u16>(month + (i << 1), <u16>load<u32>(c, 4));
  }
  return HEADER + ((nKeys + 1) << 2) + pad4(keyBytes) + 24 * n + pad4(n << 1);
}
