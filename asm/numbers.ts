// Numbers and dates for the WASM parse path: money digits (eight at a time), dates by the run's
// format, and a cache of date texts. Mirrors the fast paths of src/worker/field-reader.ts; anything
// else is left to it.
import { alloc, tailMask } from './heap';

const FIRST_YEAR: i32 = 1900;
let decPoint: u32 = 0x2e;
let dateFmt: i32 = 0; // 1 mdy, 2 dmy, 3 ymd

// Outputs of parseNum.
export let numM: u64 = 0;
export let numDec: i32 = 0;
/** Day number (since 1900-01-01) of the last date monthOf accepted. */
export let dateDay: i32 = 0;

export function setFormats(point: u32, fmt: i32): void {
  decPoint = point;
  dateFmt = fmt;
}

export const POW10 = memory.data<u64>([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]);
/** floor(2^52 / 10^k). */
export const LIMIT_DIV = memory.data<u64>([
  4503599627370496, 450359962737049, 45035996273704, 4503599627370, 450359962737, 45035996273, 4503599627,
  450359962, 45035996, 4503599,
]);
const DAYS = memory.data<u8>([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);

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
export function parseNum(s: usize, e: usize): bool {
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

/** Month index of a date in [s, e) (trailing time parts ignored), or -1: mirrors field-reader.ts. */
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
  dateDay = civilDays(year, month, day) - civilDays(FIRST_YEAR, 1, 1);
  return (year - FIRST_YEAR) * 12 + month - 1;
}

/** Days from 1970-01-01 to a valid date (proleptic Gregorian; years ≥ 1 here). */
function civilDays(year: i32, month: i32, day: i32): i32 {
  const y = month <= 2 ? year - 1 : year;
  const era = y / 400;
  const yoe = y - era * 400;
  const doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

// Dates repeat: a direct-mapped cache of 8,192 date texts (up to 16 bytes) → month, kept across
// chunks and cleared when the date format changes. Only valid dates are cached.
const DC_BITS: u64 = 13;
const DC_ENTRY: usize = 24; // text lo u64, hi u64, length i32, month | day number << 12 (months < 3600, days < 2^20)
let DCACHE: usize = 0;
let dcacheFmt: i32 = -1;

export function monthOf(s: usize, e: usize): i32 {
  const len = e - s;
  if (len == 0 || len > 16) return parseMonth(s, e);
  const lo = load<u64>(s) & tailMask(len);
  const hi = len > 8 ? load<u64>(s + 8) & tailMask(len - 8) : 0;
  const h = <usize>(((lo ^ (hi * 0x9e3779b97f4a7c15) ^ <u64>len) * 0xff51afd7ed558ccd) >> (64 - DC_BITS));
  const at = DCACHE + h * DC_ENTRY;
  if (load<u64>(at) == lo && load<u64>(at, 8) == hi && load<u32>(at, 16) == <u32>len) {
    const v = load<u32>(at, 20);
    dateDay = <i32>(v >> 12);
    return <i32>(v & 0xfff);
  }
  const m = parseMonth(s, e);
  if (m >= 0) {
    store<u64>(at, lo);
    store<u64>(at, hi, 8);
    store<u32>(at, <u32>len, 16);
    store<u32>(at, <u32>m | (<u32>dateDay << 12), 20);
  }
  return m;
}


/** Places the date cache (first of a chunk's allocations, so it keeps its entries) and clears it when the format changed. */
export function prepareDateCache(): void {
  DCACHE = alloc(DC_ENTRY << <usize>DC_BITS);
  if (dcacheFmt != dateFmt) {
    memory.fill(DCACHE, 0, DC_ENTRY << <usize>DC_BITS);
    dcacheFmt = dateFmt;
  }
}
