// Owns the columnar form of per-customer rows: ingest with validation, exact revenue as scaled
// 64-bit integers, dates as UTC day numbers, and a canonical order (by customer id) so results do
// not depend on the order rows arrive in. Pure: no I/O.

import { parseDecimal } from '../aggregate/decimal.js';
import { InputError } from '../errors.js';

/** One customer as the keyed aggregation stores it (the `customers` table). */
export interface CustomerRow {
  customer: string;
  rows: number;
  /** Distinct orders (or purchase dates when the file has no order column). */
  orders: number;
  units: number;
  /** Exact decimal text, e.g. "1234.50". */
  revenue: string;
  /** YYYY-MM-DD. */
  firstDate: string;
  lastDate: string;
  monthsActive: number;
  /** Share of the customer's revenue per category (top categories only), each in [0, 1]. */
  categoryShares?: Readonly<Record<string, number>>;
}

export interface CustomerTable {
  n: number;
  ids: CustomerIds;
  orders: Float64Array;
  units: Float64Array;
  /** revenue × 10^scale, exact. */
  revenue: BigInt64Array;
  scale: number;
  firstDay: Int32Array;
  lastDay: Int32Array;
  monthsActive: Float64Array;
  categories: string[];
  /** shares[c][i]: customer i's share of category c (0 when absent); single precision is plenty for a share. */
  shares: Float32Array[];
}

/** Category share columns are features; more than this is not a "top categories" list. */
export const MAX_CATEGORIES = 32;
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Customer ids packed as UTF-8 in one buffer with an offset per id: a million ids are ~12 MB
 * instead of a million JS strings. Ordered by bytes, which is SQLite's BINARY order.
 */
export class CustomerIds {
  private bytes: Buffer;
  private offsets: Uint32Array;
  private count = 0;

  constructor(capacity = 1024) {
    this.bytes = Buffer.allocUnsafe(Math.max(64, capacity * 8));
    this.offsets = new Uint32Array(Math.max(2, capacity + 1));
  }

  get length(): number {
    return this.count;
  }

  push(id: string): void {
    const at = this.offsets[this.count];
    if (at + id.length * 3 > this.bytes.length) {
      const size = Math.max(this.bytes.length * 2, at + id.length * 3);
      if (size > 0xffff_ffff) throw new InputError('customer ids exceed 4 GiB');
      const b = Buffer.allocUnsafe(size);
      this.bytes.copy(b, 0, 0, at);
      this.bytes = b;
    }
    if (this.count + 2 > this.offsets.length) {
      const o = new Uint32Array(this.offsets.length * 2);
      o.set(this.offsets);
      this.offsets = o;
    }
    this.offsets[++this.count] = at + this.bytes.write(id, at, 'utf8');
  }

  get(i: number): string {
    return this.bytes.toString('utf8', this.offsets[i], this.offsets[i + 1]);
  }

  /** Byte order of ids a and b: negative, 0 or positive. */
  compare(a: number, b: number): number {
    const bytes = this.bytes;
    let p = this.offsets[a];
    let q = this.offsets[b];
    const pe = this.offsets[a + 1];
    const qe = this.offsets[b + 1];
    for (; p < pe && q < qe; p++, q++) if (bytes[p] !== bytes[q]) return bytes[p] - bytes[q];
    return pe - p - (qe - q);
  }

  /** The ids in the given order, packed afresh. */
  permute(order: Int32Array): CustomerIds {
    const out = new CustomerIds(0);
    out.bytes = Buffer.allocUnsafe(Math.max(64, this.offsets[this.count]));
    out.offsets = new Uint32Array(order.length + 1);
    let at = 0;
    for (let r = 0; r < order.length; r++) {
      const i = order[r];
      at += this.bytes.copy(out.bytes, at, this.offsets[i], this.offsets[i + 1]);
      out.offsets[r + 1] = at;
    }
    out.count = order.length;
    return out;
  }
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function dayNumber(text: string): number {
  const m = DATE_RE.exec(text);
  if (!m) return Number.NaN;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  return back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d
    ? t / 86_400_000
    : Number.NaN;
}

/** YYYY-MM-DD from a UTC day number. */
export function formatDay(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

function grow<T extends Float64Array | Float32Array | Int32Array | BigInt64Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a as never);
  return b;
}

function bad(row: CustomerRow, index: number, what: string): never {
  const who = typeof row?.customer === 'string' ? JSON.stringify(row.customer) : `#${index + 1}`;
  throw new InputError(`customer row ${index + 1} (${who}): ${what}`);
}

function count(row: CustomerRow, index: number, field: 'rows' | 'orders' | 'units', min: number): number {
  const v = row[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
    bad(row, index, `${field} must be a number ≥ ${min}`);
  return v;
}

/** Reads every row into columns, validates each field, and sorts by customer id. */
export function buildCustomerTable(input: Iterable<CustomerRow>, sizeHint = 1024): CustomerTable {
  // With the count known up front, no column is ever grown (a grow briefly holds two copies).
  let cap = Math.max(16, sizeHint);
  let n = 0;
  const ids = new CustomerIds(cap);
  let orders = new Float64Array(cap);
  let units = new Float64Array(cap);
  let revenue = new BigInt64Array(cap);
  let firstDay = new Int32Array(cap);
  let lastDay = new Int32Array(cap);
  let months = new Float64Array(cap);
  let scale = 0;
  const categories: string[] = [];
  const categoryIndex = new Map<string, number>();
  let shares: Float32Array[] = [];

  // A file spans a few thousand distinct days, so parsed dates are cached.
  const days = new Map<string, number>();
  const cachedDay = (text: string): number => {
    let d = days.get(text);
    if (d === undefined) {
      d = dayNumber(String(text));
      if (days.size < 100_000) days.set(text, d);
    }
    return d;
  };
  for (const row of input) {
    if (n === cap) {
      cap *= 2;
      orders = grow(orders, cap);
      units = grow(units, cap);
      revenue = grow(revenue, cap);
      firstDay = grow(firstDay, cap);
      lastDay = grow(lastDay, cap);
      months = grow(months, cap);
      shares = shares.map((s) => grow(s, cap));
    }
    if (typeof row?.customer !== 'string' || row.customer === '')
      bad(row, n, 'customer must be a non-empty string');
    ids.push(row.customer);
    count(row, n, 'rows', 1);
    orders[n] = count(row, n, 'orders', 1);
    units[n] = count(row, n, 'units', 0);
    let value: bigint;
    let s: number;
    try {
      [value, s] = parseMoney(String(row.revenue));
    } catch {
      bad(row, n, `revenue must be exact decimal text, got ${JSON.stringify(row.revenue)}`);
    }
    if (s > scale) {
      const lift = 10n ** BigInt(s - scale);
      for (let i = 0; i < n; i++) revenue[i] = checked(revenue[i] * lift, row, n);
      scale = s;
    }
    revenue[n] = checked(value * 10n ** BigInt(scale - s), row, n);
    const first = cachedDay(row.firstDate);
    const last = cachedDay(row.lastDate);
    if (Number.isNaN(first) || Number.isNaN(last) || first > last)
      bad(
        row,
        n,
        `firstDate/lastDate must be YYYY-MM-DD dates in order, got ${row.firstDate}..${row.lastDate}`,
      );
    firstDay[n] = first;
    lastDay[n] = last;
    if (!Number.isInteger(row.monthsActive) || row.monthsActive < 1)
      bad(row, n, 'monthsActive must be an integer ≥ 1');
    months[n] = row.monthsActive;
    if (row.categoryShares) {
      for (const [name, share] of Object.entries(row.categoryShares)) {
        if (typeof share !== 'number' || !(share >= 0 && share <= 1))
          bad(row, n, `category share for ${JSON.stringify(name)} must be in [0, 1]`);
        let c = categoryIndex.get(name);
        if (c === undefined) {
          if (categories.length === MAX_CATEGORIES)
            bad(row, n, `more than ${MAX_CATEGORIES} distinct categories in the shares`);
          c = categories.length;
          categoryIndex.set(name, c);
          categories.push(name);
          shares.push(new Float32Array(cap));
        }
        shares[c][n] = share;
      }
    }
    n++;
  }

  // Canonical order by id bytes: ties in rankings and samples then never depend on arrival
  // order. Rows read with ORDER BY customer are already in it, and skip the sort.
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = ids.compare(i - 1, i) < 0;
  const order = new Int32Array(sorted ? 0 : n);
  if (!sorted) {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => ids.compare(a, b));
  }
  const sortedIds = sorted ? ids : ids.permute(order);
  for (let i = 1; i < n; i++) {
    if (sortedIds.compare(i - 1, i) === 0)
      throw new InputError(`customer ${JSON.stringify(sortedIds.get(i))} appears twice`);
  }
  const permute = <T extends Float64Array | Float32Array | Int32Array | BigInt64Array>(a: T): T => {
    if (sorted) return a.subarray(0, n) as T;
    const b = new (a.constructor as new (k: number) => T)(n);
    for (let i = 0; i < n; i++) (b as Float64Array)[i] = (a as Float64Array)[order[i]];
    return b;
  };
  return {
    n,
    ids: sortedIds,
    orders: permute(orders),
    units: permute(units),
    revenue: permute(revenue),
    scale,
    firstDay: permute(firstDay),
    lastDay: permute(lastDay),
    monthsActive: permute(months),
    categories,
    shares: shares.map(permute),
  };
}

const SHORT_DECIMAL = /^(-?)(\d{1,15})(?:\.(\d{1,6}))?$/;

/** parseDecimal with a fast path for values that fit a double exactly (≤ 15 + 6 digits... checked). */
function parseMoney(text: string): [bigint, number] {
  const m = SHORT_DECIMAL.exec(text);
  if (!m) return parseDecimal(text);
  const frac = m[3] ?? '';
  const digits = m[2] + frac;
  if (digits.length > 15) return parseDecimal(text);
  const v = BigInt(Number(digits));
  return [m[1] === '-' ? -v : v, frac.length];
}

function checked(v: bigint, row: CustomerRow, index: number): bigint {
  if (v > INT64_MAX || v < -INT64_MAX) bad(row, index, 'revenue is too large for an exact 64-bit sum');
  return v;
}
