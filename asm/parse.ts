// The WASM SIMD hot path of a worker (AssemblyScript, built with --enable simd --runtime stub).
// Stage 1 lists the positions of delimiters, line feeds and quotes in a window, 16 bytes at a
// time (i8x16.eq + bitmask). Stage 2 walks that index record by record: it parses the money
// columns at the run's scale, the date, and interns dimension keys, and counts only rows that
// are plainly good. Every other row is listed for the JS parser (src/worker/wasm-parse.ts), as is
// the rest of the chunk from a record whose quoting it does not follow.
// No managed objects: all state lives in linear memory from a bump pointer reset per chunk.
// Amounts are u64 with a carry word; nothing here uses floats.

import { add128, alloc, resetHeap } from './heap';
import { basketBreak, basketFull, basketItemTable, basketOn, basketRedo, noteBasket, prepareBasket } from './baskets';
import { customerCell, customerCol, customerMartTable, customerOn, keyBytesOk, newCustomerTables } from './customers';
import { cellOf, NO_MONTH, newCells, newTable, setKeys, slotAt, slotOf } from './keys';
import { forgetRanks } from './mart-blocks';
import { dateDay, LIMIT_DIV, monthOf, numDec, numM, parseNum, POW10, prepareDateCache, setFormats } from './numbers';

export { basketCount, basketCountsPtr, basketPtr, setBasket } from './baskets';
export { setCustomer } from './customers';
export { dimSize, dimSlotsPtr, martCellCount, martCellsPtr } from './keys';
export { blocksBytes, blocksPtr, blockTablePtr, encodeDays, encodeMart, sizeMarts } from './mart-blocks';

const LF: u32 = 0x0a;
const CR: u32 = 0x0d;
const QUOTE: u32 = 0x22;
const MONTHS: i32 = 3600;
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
/** A basket run's order ids did not ascend: parse the chunk again without order counting. */
export const STATUS_REDO: i32 = 2;

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
let scale: i32 = 2;
let quoteLimit: u32 = 1 << 20;
let nDims: i32 = 0;
/** Marts: key tables nDims.. nDims + nMarts - 1, each with a (key, month) cell table. */
let nMarts: i32 = 0;
let keyCap: u32 = 100000;
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
  setFormats(point, fmt);
  scale = sc;
  quoteLimit = limit;
  nDims = dims;
  keyCap = keys;
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
  resetHeap();
  // The date cache comes first, so it keeps its place (and its entries) from chunk to chunk.
  prepareDateCache();
  INPUT = alloc(<usize>n + SLACK);
  setKeys(INPUT, keyCap);
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
  newCustomerTables(1024);
  forgetRanks();
  prepareBasket(n, nDims + nMarts);
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
  // The orders next to JS's rows are counted by JS.
  basketBreak();
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
  let itemSlot: i32 = -1;
  let custSlot: i32 = -1;
  for (let k = 0; k < nDims; k++) {
    const col = load<i32>(dimCol + (<usize>k << 2));
    const slot = slotOf(k, INPUT + load<u32>(FS + (<usize>col << 2)), INPUT + load<u32>(FE + (<usize>col << 2)));
    if (slot < 0) return false;
    if (k == basketItemTable()) itemSlot = slot;
    const at = slotAt(k, slot);
    store<u32>(at + 12, load<u32>(at + 12) + 1);
    add128(at + 16, qty);
    add128(at + 32, rev);
  }
  for (let m = 0; m < nMarts; m++) {
    const k = nDims + m;
    const col = load<i32>(dimCol + (<usize>k << 2));
    const slot = slotOf(k, INPUT + load<u32>(FS + (<usize>col << 2)), INPUT + load<u32>(FE + (<usize>col << 2)));
    if (slot < 0) return false;
    if (k == customerMartTable()) custSlot = slot;
    const at = cellOf(m, <u32>slot, month >= 0 ? <u32>month : NO_MONTH);
    store<u32>(at, load<u32>(at, 8) + 1, 8);
    add128(at + 16, qty);
    add128(at + 32, rev);
  }
  if (customerOn()) {
    const col = <usize>customerCol() << 2;
    const at = customerCell(INPUT + load<u32>(FS + col), INPUT + load<u32>(FE + col), custSlot, month, dateDay);
    if (at == 0) return false;
    store<u32>(at, load<u32>(at, 8) + 1, 8);
    add128(at + 16, qty);
    add128(at + 32, rev);
  }
  if (basketOn() && !noteBasket(INPUT, FS, FE, rev, itemSlot)) return false;
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

/**
 * Whether the row's mart and customer keys are bytes JS would key as they are: valid UTF-8, and a
 * customer id without NUL (JS keys those with U+FFFD); else the row goes to JS.
 */
function keysOk(): bool {
  const cust = customerCol();
  for (let k = nDims; k < nDims + nMarts; k++) {
    const col = load<i32>(dimCol + (<usize>k << 2));
    const s = INPUT + load<u32>(FS + (<usize>col << 2));
    if (!keyBytesOk(s, INPUT + load<u32>(FE + (<usize>col << 2)), col == cust)) return false;
  }
  if (cust >= 0 && customerMartTable() < 0) {
    const s = INPUT + load<u32>(FS + (<usize>cust << 2));
    if (!keyBytesOk(s, INPUT + load<u32>(FE + (<usize>cust << 2)), true)) return false;
  }
  return true;
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
  if (!keysOk()) return 0;
  return count(price, qty, total, month) ? 1 : -1;
}

/**
 * Scans the n bytes at INPUT. Returns STATUS_OK, STATUS_TOO_MANY_KEYS (the JS path then takes
 * the whole chunk, so the error is the one it gives) or STATUS_REDO.
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
      if (ok && basketFull()) {
        // The basket rows' region is full: JS takes the rest of the chunk.
        pos = rs;
        rest = true;
        break;
      }
      if (ok) {
        const r = row();
        if (r < 0) return basketRedo() ? STATUS_REDO : STATUS_TOO_MANY_KEYS;
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
