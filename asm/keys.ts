// Key tables of the WASM parse path: dimension and mart keys interned by their bytes in the chunk
// (open addressing; short keys compared as four masked words), with per-key sums, and each mart's
// (key, month) cells. Tables live in the chunk's heap and are made new per chunk.
import { alloc, tailMask } from './heap';

const MAX_DIMS: i32 = 16;
let keyBase: usize = 0;
let maxKeys: u32 = 100000;

/** Where the chunk's bytes are (key offsets are relative to it) and the cap on keys per table. */
export function setKeys(base: usize, cap: u32): void {
  keyBase = base;
  maxKeys = cap;
}

/** Where the chunk's bytes are: key offsets in slots are relative to it. */
export function keysBase(): usize {
  return keyBase;
}

/** The address of key table k's slot `slot`. */
@inline
export function slotAt(k: i32, slot: i32): usize {
  return <usize>load<u32>(dimSlots + (<usize>k << 2)) + <usize>slot * SLOT;
}

// Dimension tables: index (u32 slot+1) and slots of SLOT bytes.
// keyStart u32, keyLen u32, hash u32, rows u32, units lo/hi u64, revenue lo/hi u64, then a short
// key's bytes as four zero-padded words
const SLOT: usize = 80;
/** Keys up to this long are hashed and compared as four masked words, with no loop to mispredict. */
const SHORT_KEY: usize = 32;
const dimIdx = memory.data(MAX_DIMS * 4);
const dimMask = memory.data(MAX_DIMS * 4);
const dimSlots = memory.data(MAX_DIMS * 4);
const dimCount = memory.data(MAX_DIMS * 4);
const dimCap = memory.data(MAX_DIMS * 4);

export function dimSlotsPtr(k: i32): usize {
  return load<u32>(dimSlots + (<usize>k << 2));
}
export function dimSize(k: i32): u32 {
  return load<u32>(dimCount + (<usize>k << 2));
}

// Mart cells: index (u32 cell+1) and cells of CELL bytes: slot u32, month u32, rows u32, pad,
// units lo/hi u64, revenue lo/hi u64.
const CELL: usize = 48;
export const NO_MONTH: u32 = 4095;
const cellIdx = memory.data(MAX_DIMS * 4);
const cellMask = memory.data(MAX_DIMS * 4);
const cellBase = memory.data(MAX_DIMS * 4);
const cellCount = memory.data(MAX_DIMS * 4);
const cellCap = memory.data(MAX_DIMS * 4);

export function martCellsPtr(m: i32): usize {
  return load<u32>(cellBase + (<usize>m << 2));
}
export function martCellCount(m: i32): u32 {
  return load<u32>(cellCount + (<usize>m << 2));
}

export function newCells(m: i32, cap: u32): void {
  const o = <usize>m << 2;
  const idx = alloc(<usize>cap << 3);
  memory.fill(idx, 0, <usize>cap << 3);
  store<u32>(cellIdx + o, <u32>idx);
  store<u32>(cellMask + o, (cap << 1) - 1);
  store<u32>(cellBase + o, <u32>alloc(<usize>cap * CELL));
  store<u32>(cellCount + o, 0);
  store<u32>(cellCap + o, cap);
}

@inline
function cellHash(slot: u32, month: u32): u32 {
  // month: a month index, or a day number for the customers' cells (< 65536).
  const x = ((<u64>slot << 16) + <u64>month) * 0x9e3779b97f4a7c15;
  return <u32>(x >> 32);
}

function growCells(m: i32): void {
  const o = <usize>m << 2;
  const old = <usize>load<u32>(cellBase + o);
  const count = load<u32>(cellCount + o);
  const cap = load<u32>(cellCap + o) << 1;
  const idx = alloc(<usize>cap << 3);
  memory.fill(idx, 0, <usize>cap << 3);
  const cells = alloc(<usize>cap * CELL);
  memory.copy(cells, old, <usize>count * CELL);
  const mask = (cap << 1) - 1;
  for (let c: u32 = 0; c < count; c++) {
    const at = cells + <usize>c * CELL;
    let p = cellHash(load<u32>(at), load<u32>(at, 4)) & mask;
    while (load<u32>(idx + (<usize>p << 2)) != 0) p = (p + 1) & mask;
    store<u32>(idx + (<usize>p << 2), c + 1);
  }
  store<u32>(cellIdx + o, <u32>idx);
  store<u32>(cellMask + o, mask);
  store<u32>(cellBase + o, <u32>cells);
  store<u32>(cellCap + o, cap);
}

/** The address of mart m's cell (slot, month), created empty if new. */
export function cellOf(m: i32, slot: u32, month: u32): usize {
  const o = <usize>m << 2;
  const h = cellHash(slot, month);
  let mask = load<u32>(cellMask + o);
  let idx = <usize>load<u32>(cellIdx + o);
  let cells = <usize>load<u32>(cellBase + o);
  let p = h & mask;
  for (;;) {
    const v = load<u32>(idx + (<usize>p << 2));
    if (v == 0) break;
    const at = cells + <usize>(v - 1) * CELL;
    if ((load<u32>(at) == slot) & (load<u32>(at, 4) == month)) return at;
    p = (p + 1) & mask;
  }
  const count = load<u32>(cellCount + o);
  if (count >= load<u32>(cellCap + o)) {
    growCells(m);
    mask = load<u32>(cellMask + o);
    idx = <usize>load<u32>(cellIdx + o);
    cells = <usize>load<u32>(cellBase + o);
    p = h & mask;
    while (load<u32>(idx + (<usize>p << 2)) != 0) p = (p + 1) & mask;
  }
  const at = cells + <usize>count * CELL;
  store<u32>(at, slot);
  store<u32>(at, month, 4);
  store<u64>(at, 0, 8);
  store<u64>(at, 0, 16);
  store<u64>(at, 0, 24);
  store<u64>(at, 0, 32);
  store<u64>(at, 0, 40);
  store<u32>(idx + (<usize>p << 2), count + 1);
  store<u32>(cellCount + o, count + 1);
  return at;
}

export function newTable(k: i32, cap: u32): void {
  const o = <usize>k << 2;
  const idx = alloc(<usize>cap << 3);
  memory.fill(idx, 0, <usize>cap << 3);
  store<u32>(dimIdx + o, <u32>idx);
  store<u32>(dimMask + o, (cap << 1) - 1);
  store<u32>(dimSlots + o, <u32>alloc(<usize>cap * SLOT));
  store<u32>(dimCount + o, 0);
  store<u32>(dimCap + o, cap);
}

function growTable(k: i32): void {
  const o = <usize>k << 2;
  const oldSlots = <usize>load<u32>(dimSlots + o);
  const count = load<u32>(dimCount + o);
  const cap = load<u32>(dimCap + o) << 1;
  const idx = alloc(<usize>cap << 3);
  memory.fill(idx, 0, <usize>cap << 3);
  const slots = alloc(<usize>cap * SLOT);
  memory.copy(slots, oldSlots, <usize>count * SLOT);
  const mask = (cap << 1) - 1;
  for (let s: u32 = 0; s < count; s++) {
    let p = load<u32>(slots + <usize>s * SLOT + 8) & mask;
    while (load<u32>(idx + (<usize>p << 2)) != 0) p = (p + 1) & mask;
    store<u32>(idx + (<usize>p << 2), s + 1);
  }
  store<u32>(dimIdx + o, <u32>idx);
  store<u32>(dimMask + o, mask);
  store<u32>(dimSlots + o, <u32>slots);
  store<u32>(dimCap + o, cap);
}

function hashKey(s: usize, len: usize): u32 {
  let h: u64 = 0x9e3779b97f4a7c15 ^ <u64>len;
  let i: usize = 0;
  for (; i + 8 <= len; i += 8) h = (h ^ load<u64>(s + i)) * 0xff51afd7ed558ccd;
  if (i < len) h = (h ^ (load<u64>(s + i) & tailMask(len - i))) * 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 29;
  return <u32>h;
}

function sameKey(a: usize, b: usize, len: usize): bool {
  let i: usize = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  if (i < len) return ((load<u64>(a + i) ^ load<u64>(b + i)) & tailMask(len - i)) == 0;
  return true;
}

/** The mask of the bytes of word i (bytes i..i+7) inside a key of len bytes, without branches. */
@inline
function wordMask(len: usize, i: usize): u64 {
  const r = select<usize>(len - i, 0, len > i);
  const bits = <u64>select<usize>(r, 8, r < 8) << 3; // 0..64
  return (((<u64>1) << (bits & 63)) - 1) | (0 - (bits >> 6));
}

/** The slot of key bytes [s, e) in dimension k, or -1 past maxKeys. */
export function slotOf(k: i32, s: usize, e: usize): i32 {
  const o = <usize>k << 2;
  const len = e - s;
  let mask = load<u32>(dimMask + o);
  let idx = <usize>load<u32>(dimIdx + o);
  let slots = <usize>load<u32>(dimSlots + o);
  let w0: u64 = 0;
  let w1: u64 = 0;
  let w2: u64 = 0;
  let w3: u64 = 0;
  let h: u32;
  let p: u32;
  if (len <= SHORT_KEY) {
    w0 = load<u64>(s) & wordMask(len, 0);
    w1 = load<u64>(s, 8) & wordMask(len, 8);
    w2 = load<u64>(s, 16) & wordMask(len, 16);
    w3 = load<u64>(s, 24) & wordMask(len, 24);
    let x = (w0 ^ (<u64>len << 56)) * 0xff51afd7ed558ccd;
    x = (x ^ w1 ^ (x >> 29)) * 0xc4ceb9fe1a85ec53;
    x = (x ^ w2 ^ (x >> 31)) * 0xff51afd7ed558ccd;
    x = (x ^ w3 ^ (x >> 29)) * 0xc4ceb9fe1a85ec53;
    x ^= x >> 32;
    h = <u32>x;
    p = h & mask;
    for (;;) {
      const v = load<u32>(idx + (<usize>p << 2));
      if (v == 0) break;
      const at = slots + <usize>(v - 1) * SLOT;
      if (
        (load<u32>(at, 8) == h) &
        (<usize>load<u32>(at, 4) == len) &
        (load<u64>(at, 48) == w0) &
        (load<u64>(at, 56) == w1) &
        (load<u64>(at, 64) == w2) &
        (load<u64>(at, 72) == w3)
      )
        return <i32>(v - 1);
      p = (p + 1) & mask;
    }
  } else {
    h = hashKey(s, len);
    p = h & mask;
    for (;;) {
      const v = load<u32>(idx + (<usize>p << 2));
      if (v == 0) break;
      const at = slots + <usize>(v - 1) * SLOT;
      if (load<u32>(at + 8) == h && <usize>load<u32>(at + 4) == len && sameKey(keyBase + load<u32>(at), s, len))
        return <i32>(v - 1);
      p = (p + 1) & mask;
    }
  }
  const count = load<u32>(dimCount + o);
  if (count >= maxKeys) return -1;
  if (count >= load<u32>(dimCap + o)) {
    growTable(k);
    mask = load<u32>(dimMask + o);
    idx = <usize>load<u32>(dimIdx + o);
    slots = <usize>load<u32>(dimSlots + o);
    p = h & mask;
    while (load<u32>(idx + (<usize>p << 2)) != 0) p = (p + 1) & mask;
  }
  const at = slots + <usize>count * SLOT;
  store<u32>(at, <u32>(s - keyBase));
  store<u32>(at + 4, <u32>len);
  store<u32>(at + 8, h);
  store<u32>(at + 12, 0);
  store<u64>(at + 16, 0);
  store<u64>(at + 24, 0);
  store<u64>(at + 32, 0);
  store<u64>(at + 40, 0);
  store<u64>(at, w0, 48);
  store<u64>(at, w1, 56);
  store<u64>(at, w2, 64);
  store<u64>(at, w3, 72);
  store<u32>(idx + (<usize>p << 2), count + 1);
  store<u32>(dimCount + o, count + 1);
  return <i32>count;
}

