// The WASM SIMD hot path of a worker (AssemblyScript, built with --enable simd --runtime stub).
// Stage 1 lists the positions of delimiters, line feeds and quotes in a window, 16 bytes at a
// time (i8x16.eq + bitmask). Stage 2 walks that index record by record: it parses the money
// columns at the run's scale, the date, and interns dimension keys, and counts only rows that
// are plainly good. Every other row is listed for the JS parser (src/worker/wasm-parse.ts), as is
// the rest of the chunk from a record whose quoting it does not follow.
// No managed objects: all state lives in linear memory from a bump pointer reset per chunk.
// Amounts are u64 with a carry word; nothing here uses floats.

const LF: u32 = 0x0a;
const CR: u32 = 0x0d;
const QUOTE: u32 = 0x22;
const MONTHS: i32 = 3600;
const FIRST_YEAR: i32 = 1900;
const LIMIT: u64 = 1 << 52;
/** Bytes of input indexed per pass; a record longer than this goes to JS. */
const WINDOW: u32 = 1 << 16;
/** Slack after the input and the index: SIMD loads and word reads run past the end. */
const SLACK: u32 = 64;
const MAX_DIMS: i32 = 16;
/** Listed fallback ranges before the rest of the chunk goes to JS as one block. */
const FB_CAP: u32 = 1 << 16;

export const STATUS_OK: i32 = 0;
export const STATUS_TOO_MANY_KEYS: i32 = 1;

// Result words (u64) at RES.
const R_ROWS = 0;
const R_UNITS = 1; // lo, hi
const R_REV = 3; // lo, hi
const R_PSUM = 5; // lo, hi
const R_MIN = 7;
const R_MAX = 8;
const R_LINES = 9;
const R_FALLBACKS = 10;
const R_REST = 11; // 1 when the last fallback range is the rest of the chunk
const R_WORDS = 16;

// Configuration.
let delim: u32 = 0x2c;
let fieldCount: i32 = 0;
let priceCol: i32 = -1;
let qtyCol: i32 = -1;
let revCol: i32 = -1;
let dateCol: i32 = -1;
let dateFmt: i32 = 0; // 1 mdy, 2 dmy, 3 ymd
let decPoint: u32 = 0x2e;
let scale: i32 = 2;
let quoteLimit: u32 = 1 << 20;
let nDims: i32 = 0;
/** Marts: key tables nDims.. nDims + nMarts - 1, each with a (key, month) cell table. */
let nMarts: i32 = 0;
let maxKeys: u32 = 100000;
const dimCol = memory.data(MAX_DIMS * 4);

// Regions, set by prepare().
let INPUT: usize = 0;
let INDEX: usize = 0;
let FS: usize = 0;
let FE: usize = 0;
let MROWS: usize = 0;
let MUNITS: usize = 0; // lo, hi per month
let MREV: usize = 0;
let FB: usize = 0;
let RES: usize = 0;
let bump: usize = 0;
let top: usize = 0;

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

// Outputs of parseNum.
let numM: u64 = 0;
let numDec: i32 = 0;

const POW10 = memory.data<u64>([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]);
/** floor(2^52 / 10^k). */
const LIMIT_DIV = memory.data<u64>([
  4503599627370496, 450359962737049, 45035996273704, 4503599627370, 450359962737, 45035996273, 4503599627,
  450359962, 45035996, 4503599,
]);
const DAYS = memory.data<u8>([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);

function alloc(size: usize): usize {
  const p = (bump + 15) & ~(<usize>15);
  bump = p + size;
  if (bump > top) {
    const need = <i32>((bump - top + 0xffff) >>> 16);
    if (memory.grow(need) < 0) unreachable();
    top = (<usize>memory.size()) << 16;
  }
  return p;
}

export function configure(
  d: u32,
  fields: i32,
  price: i32,
  qty: i32,
  rev: i32,
  date: i32,
  fmt: i32,
  point: u32,
  sc: i32,
  limit: u32,
  dims: i32,
  keys: u32,
): void {
  delim = d;
  fieldCount = fields;
  priceCol = price;
  qtyCol = qty;
  revCol = rev;
  dateCol = date;
  dateFmt = fmt;
  decPoint = point;
  scale = sc;
  quoteLimit = limit;
  nDims = dims;
  maxKeys = keys;
}

/** Column of key table k: dimensions first, then marts (see setMarts). */
export function setDimension(k: i32, col: i32): void {
  store<i32>(dimCol + (<usize>k << 2), col);
}

/** The last n key tables (set with setDimension after the dimensions) are marts. */
export function setMarts(n: i32): void {
  nMarts = n;
}

/** Lays out memory for a chunk of n bytes and returns where its bytes go (slack after them). */
export function prepare(n: u32): usize {
  bump = (__heap_base + 15) & ~(<usize>15);
  top = (<usize>memory.size()) << 16;
  // The date cache comes first, so it keeps its place (and its entries) from chunk to chunk.
  DCACHE = alloc(DC_ENTRY << <usize>DC_BITS);
  if (dcacheFmt != dateFmt) {
    memory.fill(DCACHE, 0, DC_ENTRY << <usize>DC_BITS);
    dcacheFmt = dateFmt;
  }
  INPUT = alloc(<usize>n + SLACK);
  INDEX = alloc(((<usize>WINDOW + SLACK) << 2) + SLACK);
  FS = alloc(<usize>(fieldCount + 1) << 2);
  FE = alloc(<usize>(fieldCount + 1) << 2);
  MROWS = alloc(<usize>MONTHS << 3);
  MUNITS = alloc(<usize>MONTHS << 4);
  MREV = alloc(<usize>MONTHS << 4);
  FB = alloc(<usize>(FB_CAP + 1) * 12);
  RES = alloc(R_WORDS << 3);
  for (let k = 0; k < nDims + nMarts; k++) newTable(k, 1024);
  for (let m = 0; m < nMarts; m++) newCells(m, 4096);
  return INPUT;
}

export function resultPtr(): usize {
  return RES;
}
export function monthsPtr(): usize {
  return MROWS;
}
export function monthUnitsPtr(): usize {
  return MUNITS;
}
export function monthRevenuePtr(): usize {
  return MREV;
}
export function fallbackPtr(): usize {
  return FB;
}
export function dimSlotsPtr(k: i32): usize {
  return load<u32>(dimSlots + (<usize>k << 2));
}
export function dimSize(k: i32): u32 {
  return load<u32>(dimCount + (<usize>k << 2));
}
export function slotBytes(): usize {
  return SLOT;
}

// Mart cells: index (u32 cell+1) and cells of CELL bytes: slot u32, month u32, rows u32, pad,
// units lo/hi u64, revenue lo/hi u64.
const CELL: usize = 48;
const NO_MONTH: u32 = 4095;
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

function newCells(m: i32, cap: u32): void {
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
  const x = (<u64>slot * 4096 + <u64>month) * 0x9e3779b97f4a7c15;
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
function cellOf(m: i32, slot: u32, month: u32): usize {
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

function newTable(k: i32, cap: u32): void {
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

@inline
function tailMask(len: usize): u64 {
  return len >= 8 ? 0xffffffffffffffff : ((<u64>1) << (<u64>len << 3)) - 1;
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
function slotOf(k: i32, s: usize, e: usize): i32 {
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
      if (load<u32>(at + 8) == h && <usize>load<u32>(at + 4) == len && sameKey(INPUT + load<u32>(at), s, len))
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
  store<u32>(at, <u32>(s - INPUT));
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

@inline
function add128(at: usize, v: u64): void {
  const lo = load<u64>(at);
  const s = lo + v;
  store<u64>(at, s);
  if (s < lo) store<u64>(at + 8, load<u64>(at + 8) + 1);
}

@inline
function eightDigits(w: u64): bool {
  return (
    (w & 0xf0f0f0f0f0f0f0f0) == 0x3030303030303030 &&
    ((w + 0x0606060606060606) & 0xf0f0f0f0f0f0f0f0) == 0x3030303030303030
  );
}

/**
 * Parses digits with at most one decimal point in [s, e) into numM/numDec. False for anything
 * else (signs, `$`, spaces, separators, no digits, more than 15 digits): the JS path decides.
 * Eight digits are checked and converted at a time where they fit.
 */
function parseNum(s: usize, e: usize): bool {
  let m: u64 = 0;
  let dec: i32 = -1;
  let i = s;
  while (i + 8 <= e) {
    const w = load<u64>(i);
    // All eight bytes are digits: each byte minus '0' is below 10.
    if (!eightDigits(w)) break;
    const d = w - 0x3030303030303030;
    // Pairs, then quads, then the eight (little-endian: the first digit is the low byte).
    let v = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ff;
    v = (v * 100 + (v >> 16)) & 0x0000ffff0000ffff;
    v = (v * 10000 + (v >> 32)) & 0xffffffff;
    m = m * 100000000 + v;
    i += 8;
  }
  for (; i < e; i++) {
    const c = <u32>load<u8>(i);
    const d = c - 48;
    if (d < 10) {
      m = m * 10 + <u64>d;
      if (dec >= 0) dec++;
    } else if (c == decPoint && dec < 0) {
      dec = 0;
      // Digits after the point: the same eight-at-a-time step.
      while (i + 9 <= e) {
        const w = load<u64>(i + 1);
        if (!eightDigits(w)) break;
        const dd = w - 0x3030303030303030;
        let v = (dd * 10 + (dd >> 8)) & 0x00ff00ff00ff00ff;
        v = (v * 100 + (v >> 16)) & 0x0000ffff0000ffff;
        v = (v * 10000 + (v >> 32)) & 0xffffffff;
        m = m * 100000000 + v;
        dec += 8;
        i += 8;
      }
    } else return false;
  }
  const digits = <i32>(e - s) - (dec >= 0 ? 1 : 0);
  if (digits < 1 || digits > 15) return false;
  numM = m;
  numDec = dec < 0 ? 0 : dec;
  return true;
}

/** Month index of a date in [s, e) (trailing time parts ignored), or -1: mirrors parse-chunk.ts. */
function parseMonth(s: usize, e: usize): i32 {
  let a: i32 = 0;
  let b: i32 = 0;
  let c: i32 = 0;
  let na: i32 = 0;
  let nb: i32 = 0;
  let nc: i32 = 0;
  let i = s;
  let ch: u32 = 0;
  while (i < e && (ch = <u32>load<u8>(i) - 48) < 10 && na < 5) {
    a = a * 10 + <i32>ch;
    na++;
    i++;
  }
  if (i >= e) return -1;
  const sep = <u32>load<u8>(i++);
  if (sep != 0x2f && sep != 0x2d && sep != 0x2e) return -1;
  while (i < e && (ch = <u32>load<u8>(i) - 48) < 10 && nb < 3) {
    b = b * 10 + <i32>ch;
    nb++;
    i++;
  }
  if (i >= e || <u32>load<u8>(i++) != sep) return -1;
  while (i < e && (ch = <u32>load<u8>(i) - 48) < 10 && nc < 5) {
    c = c * 10 + <i32>ch;
    nc++;
    i++;
  }
  if (i < e && load<u8>(i) != 0x20 && load<u8>(i) != 0x54) return -1;
  let year: i32;
  let month: i32;
  let day: i32;
  if (dateFmt == 3) {
    if (na != 4 || nb < 1 || nb > 2 || nc < 1 || nc > 2) return -1;
    year = a;
    month = b;
    day = c;
  } else {
    if (nc != 4 || na < 1 || na > 2 || nb < 1 || nb > 2) return -1;
    year = c;
    month = dateFmt == 1 ? a : b;
    day = dateFmt == 1 ? b : a;
  }
  if (month < 1 || month > 12 || day < 1 || year < FIRST_YEAR || year >= FIRST_YEAR + 300) return -1;
  const leap = month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 1 : 0;
  if (day > <i32>load<u8>(DAYS + <usize>(month - 1)) + leap) return -1;
  return (year - FIRST_YEAR) * 12 + month - 1;
}

// Dates repeat: a direct-mapped cache of 8,192 date texts (up to 16 bytes) → month, kept across
// chunks and cleared when the date format changes. Only valid dates are cached.
const DC_BITS: u64 = 13;
const DC_ENTRY: usize = 24; // text lo u64, hi u64, length i32, month i32
let DCACHE: usize = 0;
let dcacheFmt: i32 = -1;

function monthOf(s: usize, e: usize): i32 {
  const len = e - s;
  if (len == 0 || len > 16) return parseMonth(s, e);
  const lo = load<u64>(s) & tailMask(len);
  const hi = len > 8 ? load<u64>(s + 8) & tailMask(len - 8) : 0;
  const h = <usize>(((lo ^ (hi * 0x9e3779b97f4a7c15) ^ <u64>len) * 0xff51afd7ed558ccd) >> (64 - DC_BITS));
  const at = DCACHE + h * DC_ENTRY;
  if (load<u64>(at) == lo && load<u64>(at, 8) == hi && load<u32>(at, 16) == <u32>len) return load<i32>(at, 20);
  const m = parseMonth(s, e);
  if (m >= 0) {
    store<u64>(at, lo);
    store<u64>(at, hi, 8);
    store<u32>(at, <u32>len, 16);
    store<i32>(at, m, 20);
  }
  return m;
}

/** Stage 1: positions of delimiter, LF and quote bytes in [from, to) into INDEX; returns the count. */
function index(from: usize, to: usize): u32 {
  const vd = i8x16.splat(<i8>delim);
  const vl = i8x16.splat(<i8>LF);
  const vq = i8x16.splat(<i8>QUOTE);
  let out = INDEX;
  let p = from;
  while (p < to) {
    const a = v128.load(p);
    const b = v128.load(p, 16);
    const c = v128.load(p, 32);
    const d = v128.load(p, 48);
    const ma = <u64>i8x16.bitmask(v128.or(v128.or(i8x16.eq(a, vd), i8x16.eq(a, vl)), i8x16.eq(a, vq)));
    const mb = <u64>i8x16.bitmask(v128.or(v128.or(i8x16.eq(b, vd), i8x16.eq(b, vl)), i8x16.eq(b, vq)));
    const mc = <u64>i8x16.bitmask(v128.or(v128.or(i8x16.eq(c, vd), i8x16.eq(c, vl)), i8x16.eq(c, vq)));
    const md = <u64>i8x16.bitmask(v128.or(v128.or(i8x16.eq(d, vd), i8x16.eq(d, vl)), i8x16.eq(d, vq)));
    let m = ma | (mb << 16) | (mc << 32) | (md << 48);
    if (p + 64 > to) m &= ((<u64>1) << <u64>(to - p)) - 1;
    const base = <u32>(p - INPUT);
    // Eight positions written whatever the count (the index has slack; extra ones are overwritten),
    // so the usual block costs no branch per position.
    const cnt = <usize>popcnt<u64>(m);
    let o = out;
    for (let i = 0; i < 8; i++) {
      store<u32>(o, base + <u32>ctz<u64>(m));
      o += 4;
      m &= m - 1;
    }
    while (m != 0) {
      store<u32>(o, base + <u32>ctz<u64>(m));
      o += 4;
      m &= m - 1;
    }
    out += cnt << 2;
    p += 64;
  }
  return <u32>((out - INDEX) >> 2);
}

function countLf(from: u32, to: u32): u32 {
  const vl = i8x16.splat(<i8>LF);
  let lfs: u32 = 0;
  let p = INPUT + from;
  const end = INPUT + to;
  while (p < end) {
    let m = <u32>i8x16.bitmask(i8x16.eq(v128.load(p), vl));
    if (p + 16 > end) m &= (1 << <u32>(end - p)) - 1;
    lfs += popcnt<u32>(m);
    p += 16;
  }
  return lfs;
}

let fbCount: u32 = 0;
let fbEnd: u32 = 0xffffffff;

/** Lists [s, e) starting at `line` for the JS parser, joined to the previous range when adjacent. */
function fallback(s: u32, e: u32, line: u32): void {
  if (fbCount > 0 && fbEnd == s) {
    store<u32>(FB + <usize>(fbCount - 1) * 12 + 4, e);
  } else {
    const at = FB + <usize>fbCount * 12;
    store<u32>(at, s);
    store<u32>(at + 4, e);
    store<u32>(at + 8, line);
    fbCount++;
  }
  fbEnd = e;
}

/** Counts a good row: totals, month, dimensions. False when a dimension is past maxKeys. */
function count(price: u64, qty: u64, total: u64, month: i32): bool {
  const rev = revCol >= 0 ? total : price * qty;
  const stat = priceCol >= 0 ? price : total;
  for (let k = 0; k < nDims; k++) {
    const col = load<i32>(dimCol + (<usize>k << 2));
    const slot = slotOf(k, INPUT + load<u32>(FS + (<usize>col << 2)), INPUT + load<u32>(FE + (<usize>col << 2)));
    if (slot < 0) return false;
    const at = <usize>load<u32>(dimSlots + (<usize>k << 2)) + <usize>slot * SLOT;
    store<u32>(at + 12, load<u32>(at + 12) + 1);
    add128(at + 16, qty);
    add128(at + 32, rev);
  }
  for (let m = 0; m < nMarts; m++) {
    const k = nDims + m;
    const col = load<i32>(dimCol + (<usize>k << 2));
    const slot = slotOf(k, INPUT + load<u32>(FS + (<usize>col << 2)), INPUT + load<u32>(FE + (<usize>col << 2)));
    if (slot < 0) return false;
    const at = cellOf(m, <u32>slot, month >= 0 ? <u32>month : NO_MONTH);
    store<u32>(at, load<u32>(at, 8) + 1, 8);
    add128(at + 16, qty);
    add128(at + 32, rev);
  }
  store<u64>(RES, load<u64>(RES) + 1);
  add128(RES + (R_UNITS << 3), qty);
  add128(RES + (R_REV << 3), rev);
  add128(RES + (R_PSUM << 3), stat);
  if (stat < load<u64>(RES + (R_MIN << 3))) store<u64>(RES + (R_MIN << 3), stat);
  if (stat > load<u64>(RES + (R_MAX << 3))) store<u64>(RES + (R_MAX << 3), stat);
  if (month >= 0) {
    const mo = <usize>month;
    store<u64>(MROWS + (mo << 3), load<u64>(MROWS + (mo << 3)) + 1);
    add128(MUNITS + (mo << 4), qty);
    add128(MREV + (mo << 4), rev);
  }
  return true;
}

/** A money field at the run's scale, or u64.MAX_VALUE when the JS path must take the row. */
function money(col: i32): u64 {
  const s = INPUT + load<u32>(FS + (<usize>col << 2));
  const e = INPUT + load<u32>(FE + (<usize>col << 2));
  if (!parseNum(s, e) || numDec > scale) return u64.MAX_VALUE;
  const k = <usize>(scale - numDec) << 3;
  // m × 10^k past 2^52 takes JS's bigint path (and would overflow here).
  if (numM > load<u64>(LIMIT_DIV + k)) return u64.MAX_VALUE;
  return numM * load<u64>(POW10 + k);
}

/** True when the row with fields in FS/FE is counted here; false sends it to JS. */
function row(): i32 {
  let price: u64 = 0;
  let total: u64 = 0;
  let qty: u64 = 1;
  if (priceCol >= 0) {
    price = money(priceCol);
    if (price == u64.MAX_VALUE) return 0;
  }
  if (qtyCol >= 0) {
    const s = INPUT + load<u32>(FS + (<usize>qtyCol << 2));
    const e = INPUT + load<u32>(FE + (<usize>qtyCol << 2));
    if (!parseNum(s, e) || numDec != 0) return 0;
    qty = numM;
  }
  if (revCol >= 0) {
    total = money(revCol);
    if (total == u64.MAX_VALUE) return 0;
  }
  let month: i32 = -1;
  if (dateCol >= 0) {
    month = monthOf(INPUT + load<u32>(FS + (<usize>dateCol << 2)), INPUT + load<u32>(FE + (<usize>dateCol << 2)));
    if (month < 0) return 0;
  }
  // price × qty past 2^52 takes JS's bigint path.
  if (revCol < 0 && (price | qty) >= 1 << 26 && qty != 0 && price > LIMIT / qty) return 0;
  return count(price, qty, total, month) ? 1 : -1;
}

/**
 * Scans the n bytes at INPUT. Returns STATUS_OK, or STATUS_TOO_MANY_KEYS (the JS path then takes
 * the whole chunk, so the error is the one it gives).
 */
export function scan(n: u32): i32 {
  memory.fill(RES, 0, R_WORDS << 3);
  store<u64>(RES + (R_MIN << 3), u64.MAX_VALUE);
  memory.fill(MROWS, 0, <usize>MONTHS << 3);
  memory.fill(MUNITS, 0, <usize>MONTHS << 4);
  memory.fill(MREV, 0, <usize>MONTHS << 4);
  memory.fill(INPUT + n, 0, SLACK);
  fbCount = 0;
  fbEnd = 0xffffffff;
  let pos: u32 = 0; // start of the next record
  let line: u32 = 0;
  let rest = false;
  const nf = fieldCount;
  while (pos < n && !rest) {
    const winEnd: u32 = n - pos > WINDOW ? pos + WINDOW : n;
    const entries = index(INPUT + pos, INPUT + winEnd);
    store<u32>(INDEX + (<usize>entries << 2), 0xffffffff);
    let j: u32 = 0;
    let progressed = false;
    for (;;) {
      // One record from pos, its fields from index entries j...
      const rs = pos;
      let f: i32 = 0;
      let fs = pos;
      let ok = true;
      let complete = false;
      let hard = false;
      let k = j;
      while (k < entries) {
        const p = load<u32>(INDEX + (<usize>k << 2));
        const c = <u32>load<u8>(INPUT + p);
        k++;
        if (c == QUOTE) {
          if (p != fs) continue; // a quote inside an unquoted field is text
          // A quoted field closed on this line, no doubled quote, a delimiter or line end next.
          let q: u32 = 0xffffffff;
          while (k < entries) {
            const pq = load<u32>(INDEX + (<usize>k << 2));
            k++;
            const cq = <u32>load<u8>(INPUT + pq);
            if (cq == QUOTE) {
              q = pq;
              break;
            }
            if (cq == LF) {
              hard = true;
              break;
            }
          }
          if (hard) break;
          if (q == 0xffffffff) break; // ran out of index: refill or hand over
          const after = <u32>load<u8>(INPUT + q + 1);
          if (q - p - 1 >= quoteLimit || q + 1 >= n) {
            hard = true;
            break;
          }
          let end = q + 1;
          if (after == CR && q + 2 < n && <u32>load<u8>(INPUT + q + 2) == LF) end = q + 2;
          else if (after != delim && after != LF) {
            hard = true;
            break;
          }
          // The next index entry is the delimiter or LF at `end`.
          const pe = load<u32>(INDEX + (<usize>k << 2));
          if (k >= entries || pe != end) break;
          k++;
          if (f < nf) {
            store<u32>(FS + (<usize>f << 2), p + 1);
            store<u32>(FE + (<usize>f << 2), q);
          }
          f++;
          if (<u32>load<u8>(INPUT + end) == LF) {
            pos = end + 1;
            complete = true;
            break;
          }
          fs = end + 1;
          continue;
        }
        let fe = p;
        if (c == LF && fe > fs && <u32>load<u8>(INPUT + fe - 1) == CR) fe--;
        if (f < nf) {
          store<u32>(FS + (<usize>f << 2), fs);
          store<u32>(FE + (<usize>f << 2), fe);
        }
        f++;
        if (c == LF) {
          pos = p + 1;
          complete = true;
          break;
        }
        fs = p + 1;
      }
      if (hard) {
        rest = true;
        pos = rs;
        break;
      }
      if (!complete) {
        pos = rs;
        // The record runs past the window: refill from its start, unless it alone fills the
        // window or the buffer ends without a line feed; then JS takes the rest.
        if (winEnd == n || !progressed) rest = true;
        break;
      }
      progressed = true;
      j = k;
      if (f != nf) ok = false;
      if (ok) {
        const r = row();
        if (r < 0) return STATUS_TOO_MANY_KEYS;
        ok = r == 1;
      }
      if (!ok) {
        if (fbCount >= FB_CAP) {
          pos = rs;
          rest = true;
          break;
        }
        fallback(rs, pos, line);
      }
      line++;
      if (pos >= n) break;
    }
  }
  if (rest && pos < n) {
    fallback(pos, n, line);
    store<u64>(RES + (R_REST << 3), 1);
    line += countLf(pos, n);
  }
  store<u64>(RES + (R_LINES << 3), line);
  store<u64>(RES + (R_FALLBACKS << 3), fbCount);
  return STATUS_OK;
}
