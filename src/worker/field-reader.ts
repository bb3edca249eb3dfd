/**
 * The JS row parser's field readers (parse-chunk.ts): decimal numbers and dates read in place from
 * a field's bytes, no string built. A number comes out as an integer mantissa and its count of
 * decimals (the caller scales it), a date as a month index (with its day of the month kept); the
 * outputs are fields of one reader per chunk, so a call allocates nothing. asm/numbers.ts mirrors
 * the fast paths.
 */

import { MAX_SCALE, type ScanSpec } from '../scan-spec.js';
import { ESCAPED } from './tokenizer.js';

/** Months from 1900-01 to 2199-12, indexed (year - 1900) * 12 + month - 1. */
export const FIRST_YEAR = 1900;
const YEARS = 300;
export const MONTHS = YEARS * 12;
/** 10^k as numbers, exact for every k up to MAX_SCALE. */
export const POW10N: number[] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const ZERO = 48;
const NINE = 57;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOLLAR = 0x24;
const DOT = 0x2e;
const COMMA = 0x2c;
const SPACE = 0x20;
const SLASH = 0x2f;
const T_UPPER = 0x54;

/** parseNumber's statuses. */
export const NUM_OK = 0;
const NUM_BAD = 1;
const NUM_TOO_PRECISE = 2;
const NUM_TOO_LARGE = 3;

export class FieldReader {
  private readonly decimalPoint: number;
  private readonly groupSep: number;
  private readonly dateFormat: ScanSpec['dateFormat'];
  // Outputs of parseNumber / parseMonth, kept as fields to avoid allocating per call.
  num = 0;
  numDecimals = 0;
  /** Day of the month of the last date parseMonth accepted. */
  dom = 0;

  constructor(spec: ScanSpec) {
    this.decimalPoint = spec.decimalComma ? COMMA : DOT;
    this.groupSep = spec.decimalComma ? DOT : COMMA;
    this.dateFormat = spec.dateFormat;
  }

  /**
   * Parses a decimal number in buf[s, e) into this.num (integer mantissa) and this.numDecimals.
   * Accepts a sign, a leading `$`, surrounding spaces, and thousands separators in groups of three.
   */
  parseNumber(buf: Uint8Array, s: number, e: number, flag: number): number {
    if (flag === ESCAPED) return NUM_BAD;
    // Fast path, the usual case: digits with at most one decimal point.
    let fm = 0;
    let fdec = -1;
    let i = s;
    for (; i < e; i++) {
      const c = buf[i];
      if (c >= ZERO && c <= NINE) {
        fm = fm * 10 + (c - ZERO);
        if (fdec >= 0) fdec++;
      } else if (c === this.decimalPoint && fdec < 0) fdec = 0;
      else break;
    }
    const fdigits = e - s - (fdec >= 0 ? 1 : 0);
    if (i === e && fdigits >= 1 && fdigits <= 15 && fdec <= MAX_SCALE) {
      this.num = fm;
      this.numDecimals = fdec < 0 ? 0 : fdec;
      return NUM_OK;
    }
    while (s < e && buf[s] === SPACE) s++;
    while (e > s && buf[e - 1] === SPACE) e--;
    let neg = false;
    if (s < e && buf[s] === MINUS) {
      neg = true;
      s++;
    } else if (s < e && buf[s] === PLUS) s++;
    if (s < e && buf[s] === DOLLAR) {
      s++;
      if (!neg && s < e && buf[s] === MINUS) {
        neg = true;
        s++;
      }
    }
    let m = 0;
    let digits = 0;
    let dec = -1;
    let group = -1; // digits since the last separator, or -1 before any
    let lead = 0; // digits before the first separator
    for (let i = s; i < e; i++) {
      const c = buf[i];
      if (c >= ZERO && c <= NINE) {
        m = m * 10 + (c - ZERO);
        digits++;
        if (dec >= 0) dec++;
        else if (group >= 0) group++;
        else lead++;
      } else if (c === this.decimalPoint && dec < 0) {
        if (group >= 0 && group !== 3) return NUM_BAD;
        dec = 0;
      } else if (c === this.groupSep && dec < 0) {
        if (lead === 0 || lead > 3 || (group >= 0 && group !== 3)) return NUM_BAD;
        group = 0;
      } else return NUM_BAD;
    }
    if (digits === 0 || (group >= 0 && dec < 0 && group !== 3)) return NUM_BAD;
    if (digits > 15) return NUM_TOO_LARGE;
    if (dec > MAX_SCALE) return NUM_TOO_PRECISE;
    this.num = neg ? -m : m;
    this.numDecimals = Math.max(dec, 0);
    return NUM_OK;
  }

  /** Month index of a date in buf[s, e), or -1. Trailing time parts (` 10:23:00`, `T10:23Z`) are ignored. */
  parseMonth(buf: Uint8Array, s: number, e: number): number {
    let a = 0;
    let b = 0;
    let c = 0;
    let i = s;
    let na = 0;
    let nb = 0;
    let nc = 0;
    while (i < e && buf[i] >= ZERO && buf[i] <= NINE && na < 5) {
      a = a * 10 + buf[i++] - ZERO;
      na++;
    }
    if (i >= e) return -1;
    const sep = buf[i++];
    if (sep !== SLASH && sep !== MINUS && sep !== DOT) return -1;
    while (i < e && buf[i] >= ZERO && buf[i] <= NINE && nb < 3) {
      b = b * 10 + buf[i++] - ZERO;
      nb++;
    }
    if (i >= e || buf[i++] !== sep) return -1;
    while (i < e && buf[i] >= ZERO && buf[i] <= NINE && nc < 5) {
      c = c * 10 + buf[i++] - ZERO;
      nc++;
    }
    if (i < e && buf[i] !== SPACE && buf[i] !== T_UPPER) return -1;
    let year: number;
    let month: number;
    let day: number;
    const fmt = this.dateFormat;
    if (fmt === 'ymd') {
      if (na !== 4 || nb < 1 || nb > 2 || nc < 1 || nc > 2) return -1;
      year = a;
      month = b;
      day = c;
    } else {
      if (nc !== 4 || na < 1 || na > 2 || nb < 1 || nb > 2) return -1;
      year = c;
      month = fmt === 'mdy' ? a : b;
      day = fmt === 'mdy' ? b : a;
    }
    if (month < 1 || month > 12 || day < 1 || year < FIRST_YEAR || year >= FIRST_YEAR + YEARS) return -1;
    const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
    if (day > DAYS[month - 1] + leap) return -1;
    this.dom = day;
    return (year - FIRST_YEAR) * 12 + month - 1;
  }
}

/** The reject reason for column `name` whose number parseNumber refused with `status`. */
export function numberProblem(name: string, status: number): string {
  return status === NUM_TOO_PRECISE
    ? `${name} has more than ${MAX_SCALE} decimals`
    : status === NUM_TOO_LARGE
      ? `${name} is too large`
      : `${name} is not a number`;
}
