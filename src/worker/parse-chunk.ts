/**
 * A chunk's bytes → one exact partial aggregate. The hot path: numbers and dates are parsed in
 * place from bytes, dimension keys are interned by bytes, and no string is built for a good row.
 * Money accumulates as integers in the smallest unit of `scale`; a number accumulator is folded
 * into its bigint twin before it can pass 2^53.
 */

import { pow10 } from '../aggregate/decimal.js';
import { type KeyedRun, NO_MONTH } from '../aggregate/keyed-cells.js';
import { type Agg, type Cell, type ChunkOutcome, emptyAgg, type WireReject } from '../aggregate/partial.js';
import { brokenQuoteReason, DEFAULT_MAX_FIELD_BYTES, openQuotesBroken } from '../quote-limit.js';
import { MAX_SCALE, type ScanSpec } from '../scan-spec.js';
import { BasketCollector } from './basket-collector.js';
import { CellTable, encodeDimension } from './cell-table.js';
import { amountAt, type CountedPart } from './counted-part.js';
import { CustomerCells } from './customer-cells.js';
import { JoinProbe, type JoinTable } from './join-table.js';
import { KeyTable } from './key-table.js';
import {
  ESCAPED,
  Fields,
  fieldText,
  RECORD_OK,
  type RecordSink,
  TEXT_AFTER_QUOTE,
  tokenize,
  UNTERMINATED_QUOTE,
} from './tokenizer.js';

const LIMIT = 2 ** 52;
/** Months from 1900-01 to 2199-12, indexed (year - 1900) * 12 + month - 1. */
const FIRST_YEAR = 1900;
const YEARS = 300;
const MONTHS = YEARS * 12;
const RAW_MAX = 200;
/** Rejects itemized per chunk (line, reason, raw); the rest are counted by reason, so a file of bad lines cannot outgrow a frame. */
export const MAX_ITEMIZED = 10_000;
const POW10N: number[] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
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

const NUM_OK = 0;
const NUM_BAD = 1;
const NUM_TOO_PRECISE = 2;
const NUM_TOO_LARGE = 3;

export class ChunkAggregator implements RecordSink {
  private readonly spec: ScanSpec;
  private readonly fields: Fields;
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private readonly dimTables: KeyTable[];
  private readonly dimIndex: Int32Array;
  private readonly martTables: KeyTable[];
  private readonly martIndex: Int32Array;
  private readonly marts: CellTable[];
  private readonly decimalPoint: number;
  private readonly groupSep: number;
  /** `--join` tables: probed once per counted row; `joinUse` maps dimensions, then marts, to their joined attribute (-1: a plain column). */
  private readonly joins: JoinProbe | null;
  private readonly joinUse: Int32Array;
  /** Per-customer features (a customer column in the spec), else null: no cost per row. */
  private readonly customers: CustomerCells | null;
  /** The mart on the customer column (no join), whose key slots the customers reuse; -1: none. */
  private readonly customerMart: number;
  /** Day of the month of the last date parseMonth accepted. */
  private dom = 0;
  /** Orders and baskets (`--order` with `--item`), or null: nothing per row on the plain path. */
  private readonly basket: BasketCollector | null;
  private readonly basketDim: number;

  scale: number;
  rows = 0;
  rejected = 0;
  private units = 0;
  private unitsBig = 0n;
  private revenue = 0;
  private revenueBig = 0n;
  private priceSum = 0;
  private priceSumBig = 0n;
  private priceMin = Number.POSITIVE_INFINITY;
  private priceMax = Number.NEGATIVE_INFINITY;
  private readonly mRows = new Float64Array(MONTHS);
  private readonly mUnits = new Float64Array(MONTHS);
  private readonly mRevenue = new Float64Array(MONTHS);
  private readonly mBig = new Map<number, [bigint, bigint]>();
  readonly rejects: WireReject[] = [];
  /** Rejects past the itemized ones: reason → [count, first relative line]. Counts stay exact. */
  readonly omitted = new Map<string, [number, number]>();
  /** Quotes still open where the buffer ends (within the limit), judged broken for now. */
  readonly undecided: number[] = [];

  // Outputs of parseNumber / parseMonth, kept as fields to avoid allocating per call.
  private num = 0;
  private numDecimals = 0;

  constructor(spec: ScanSpec, joinTables: JoinTable[] = []) {
    this.spec = spec;
    this.scale = spec.scale;
    this.fields = new Fields(spec.fieldCount + 1);
    this.dimTables = spec.dimensions.map((d) => new KeyTable(d.name, spec.maxKeys));
    this.dimIndex = Int32Array.from(spec.dimensions.map((d) => d.index));
    const marts = spec.marts ?? [];
    this.martTables = marts.map((d) => new KeyTable(d.name, spec.maxKeys));
    this.martIndex = Int32Array.from(marts.map((d) => d.index));
    this.marts = marts.map((d) => CellTable.take(d.name));
    this.decimalPoint = spec.decimalComma ? COMMA : DOT;
    this.groupSep = spec.decimalComma ? DOT : COMMA;
    const refs = spec.joins ?? [];
    if (joinTables.length !== refs.length) throw new Error('the join tables have not all arrived');
    const probe = refs.length > 0 ? new JoinProbe(joinTables, refs, spec.maxKeys) : null;
    this.joins = probe;
    this.joinUse = Int32Array.from([...spec.dimensions, ...marts], (d) =>
      probe === null || d.join === undefined ? -1 : probe.use(d.join, d.attr as number),
    );
    this.customerMart =
      spec.customer === undefined
        ? -1
        : marts.findIndex((d) => d.index === spec.customer && d.join === undefined);
    this.customers =
      spec.customer === undefined
        ? null
        : new CustomerCells(spec, this.customerMart >= 0 ? this.martTables[this.customerMart] : null);
    // An item column that is also a dimension shares its key table: one lookup per row for both.
    this.basketDim =
      spec.item === undefined
        ? -1
        : spec.dimensions.findIndex((d) => d.index === spec.item && d.join === undefined);
    this.basket =
      spec.order !== undefined && spec.item !== undefined
        ? new BasketCollector(
            spec.order,
            spec.item,
            spec.maxKeys,
            spec.scale,
            spec.shipAllOrders === true,
            this.dimTables[this.basketDim],
          )
        : null;
  }

  /** The chunk's orders and baskets, or null without `--order` and `--item`. */
  get baskets(): BasketCollector | null {
    return this.basket;
  }

  /** Parses buf[0, n) and returns the number of line feeds in it. */
  scan(buf: Uint8Array, n = buf.length): number {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    return tokenize(buf, n, this.spec.delimiter, this.fields, this, this.limit);
  }

  get limit(): number {
    return this.spec.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  }

  record(line: number, nf: number, start: number, end: number, problem: number): void {
    const spec = this.spec;
    if (problem !== RECORD_OK) {
      if (problem === UNTERMINATED_QUOTE) this.undecided.push(this.fields.brokenAt);
      this.reject(
        line,
        start,
        end,
        problem === TEXT_AFTER_QUOTE ? 'text after a closing quote' : brokenQuoteReason(nf),
      );
      return;
    }
    if (nf !== spec.fieldCount) {
      if (nf === 1 && this.fields.end[0] === this.fields.start[0])
        this.reject(line, start, end, 'empty line');
      else this.reject(line, start, end, `expected ${spec.fieldCount} fields, found ${nf}`);
      return;
    }
    const fs = this.fields.start;
    const fe = this.fields.end;
    const ff = this.fields.flag;

    // Unit price (or the line amount standing in for it), at the current scale.
    let price = 0;
    let priceBig: bigint | null = null;
    let totalBig: bigint | null = null;
    if (spec.price >= 0) {
      const p = spec.price;
      const status = this.parseNumber(fs[p], fe[p], ff[p]);
      if (status !== NUM_OK) return this.rejectNumber(line, start, end, p, status);
      price = this.scaled();
      // Past 2^52 at the current scale (a wide value after a scale raise): the bigint path.
      if (Number.isNaN(price)) priceBig = this.scaledBig();
    }
    const priceScale = this.scale;
    let qty = 1;
    if (spec.quantity >= 0) {
      const q = spec.quantity;
      const status = this.parseNumber(fs[q], fe[q], ff[q]);
      if (status !== NUM_OK) return this.rejectNumber(line, start, end, q, status);
      qty = this.num;
      if (this.numDecimals !== 0) {
        // "5.0" is five; "5.5" is not a count.
        const unit = POW10N[this.numDecimals];
        if (qty % unit !== 0) return this.reject(line, start, end, `${spec.names[q]} is not a whole number`);
        qty /= unit;
      }
    }
    let lineTotal = 0;
    if (spec.revenue >= 0) {
      const r = spec.revenue;
      const status = this.parseNumber(fs[r], fe[r], ff[r]);
      if (status !== NUM_OK) return this.rejectNumber(line, start, end, r, status);
      lineTotal = this.scaled();
      if (Number.isNaN(lineTotal)) totalBig = this.scaledBig();
      // A scale raise while reading the total leaves `price` at the old scale.
      if (spec.price >= 0 && priceScale !== this.scale) {
        const k = this.scale - priceScale;
        if (priceBig !== null) priceBig *= pow10(k);
        else {
          const lifted = price * POW10N[k];
          if (lifted > LIMIT || lifted < -LIMIT) priceBig = BigInt(price) * pow10(k);
          else price = lifted;
        }
      }
    }
    let month = -1;
    if (spec.date >= 0) {
      const d = spec.date;
      month = this.parseMonth(fs[d], fe[d]);
      if (month < 0) return this.reject(line, start, end, `${spec.names[d]} is not a valid date`);
    }

    // All fields good: count the row.
    const useRevenueCol = spec.revenue >= 0;
    if (priceBig !== null || totalBig !== null) {
      const p = priceBig ?? BigInt(price);
      const t = totalBig ?? BigInt(lineTotal);
      return this.countBig(month, qty, useRevenueCol ? t : p * BigInt(qty), spec.price >= 0 ? p : t);
    }
    let rev = useRevenueCol ? lineTotal : price * qty;
    let revBig: bigint | null = null;
    // Every single value stays within 2^52, so value + accumulator (also ≤ 2^52) is exact.
    if (!useRevenueCol && (rev > LIMIT || rev < -LIMIT)) {
      revBig = BigInt(price) * BigInt(qty);
      rev = 0;
    }
    const stat = spec.price >= 0 ? price : lineTotal;
    this.rows++;
    this.addUnits(qty);
    if (revBig !== null) this.revenueBig += revBig;
    else {
      let r = this.revenue + rev;
      if (r > LIMIT || r < -LIMIT) {
        this.revenueBig += BigInt(r);
        r = 0;
      }
      this.revenue = r;
    }
    let ps = this.priceSum + stat;
    if (ps > LIMIT || ps < -LIMIT) {
      this.priceSumBig += BigInt(ps);
      ps = 0;
    }
    this.priceSum = ps;
    this.joins?.probe(this.buf, this.view, this.fields);
    if (this.minMaxBig === null) {
      if (stat < this.priceMin) this.priceMin = stat;
      if (stat > this.priceMax) this.priceMax = stat;
    } else {
      const b = BigInt(stat);
      if (b < this.minMaxBig[0]) this.minMaxBig[0] = b;
      if (b > this.minMaxBig[1]) this.minMaxBig[1] = b;
    }

    if (month >= 0) {
      this.mRows[month]++;
      let u = this.mUnits[month] + qty;
      let r = this.mRevenue[month] + rev;
      if (u > LIMIT || u < -LIMIT || r > LIMIT || r < -LIMIT || revBig !== null) {
        const big = this.monthBig(month);
        big[0] += BigInt(u);
        big[1] += BigInt(r) + (revBig ?? 0n);
        u = 0;
        r = 0;
      }
      this.mUnits[month] = u;
      this.mRevenue[month] = r;
    }
    const tables = this.dimTables;
    let itemSlot = -1;
    for (let k = 0; k < tables.length; k++) {
      const slot = this.slotOf(tables[k], this.dimIndex[k], k);
      if (k === this.basketDim) itemSlot = slot;
      if (revBig !== null) {
        tables[k].add(slot, qty, 0);
        tables[k].addBig(slot, revBig);
      } else tables[k].add(slot, qty, rev);
    }
    const martTables = this.martTables;
    let customerSlot = -1;
    for (let k = 0; k < martTables.length; k++) {
      const slot = this.slotOf(martTables[k], this.martIndex[k], this.dimTables.length + k);
      if (k === this.customerMart) customerSlot = slot;
      const mart = this.marts[k];
      const c = mart.cell(slot, month >= 0 ? month : NO_MONTH);
      if (revBig !== null) {
        mart.add(c, qty, 0);
        mart.addBigRevenue(c, revBig);
      } else mart.add(c, qty, rev);
    }
    if (this.customers !== null)
      this.customers.add(this.buf, this.fields, month, this.dom, qty, rev, revBig, customerSlot);
    this.basket?.row(this.buf, this.view, fs, fe, ff, rev, revBig, this.scale, itemSlot);
  }

  /** Min/max as bigints, once a scale raise made the number pair unsafe. */
  private minMaxBig: [bigint, bigint] | null = null;

  /**
   * The key slot of field `f` of the current record (quoted keys with doubled quotes are
   * unescaped), or of its joined attribute when dimension/mart `use` is one.
   */
  private slotOf(table: KeyTable, f: number, use: number): number {
    const u = this.joinUse[use];
    if (u >= 0) return (this.joins as JoinProbe).slot(u, table);
    const fs = this.fields.start;
    const fe = this.fields.end;
    if (this.fields.flag[f] === ESCAPED) {
      const key = Buffer.from(fieldText(this.buf, fs[f], fe[f], ESCAPED), 'utf8');
      return table.slot(key, 0, key.length);
    }
    return table.slot(this.buf, fs[f], fe[f], this.view);
  }

  /** The last parsed number at the current scale, exactly, as a bigint. */
  private scaledBig(): bigint {
    return BigInt(this.num) * pow10(this.scale - this.numDecimals);
  }

  /** Counts a row whose amounts are past the number path (rare): every accumulator in bigints. */
  private countBig(month: number, qty: number, rev: bigint, stat: bigint): void {
    this.rows++;
    this.addUnits(qty);
    this.joins?.probe(this.buf, this.view, this.fields);
    this.revenueBig += rev;
    this.priceSumBig += stat;
    if (this.minMaxBig === null) {
      this.minMaxBig = this.rows > 1 ? [BigInt(this.priceMin), BigInt(this.priceMax)] : [stat, stat];
    }
    if (stat < this.minMaxBig[0]) this.minMaxBig[0] = stat;
    if (stat > this.minMaxBig[1]) this.minMaxBig[1] = stat;
    if (month >= 0) {
      this.mRows[month]++;
      const big = this.monthBig(month);
      big[0] += BigInt(qty);
      big[1] += rev;
    }
    let itemSlot = -1;
    for (let k = 0; k < this.dimTables.length; k++) {
      const table = this.dimTables[k];
      const slot = this.slotOf(table, this.dimIndex[k], k);
      if (k === this.basketDim) itemSlot = slot;
      table.add(slot, qty, 0);
      table.addBig(slot, rev);
    }
    let customerSlot = -1;
    for (let k = 0; k < this.martTables.length; k++) {
      const slot = this.slotOf(this.martTables[k], this.martIndex[k], this.dimTables.length + k);
      if (k === this.customerMart) customerSlot = slot;
      const mart = this.marts[k];
      const c = mart.cell(slot, month >= 0 ? month : NO_MONTH);
      mart.add(c, qty, 0);
      mart.addBigRevenue(c, rev);
    }
    // With a shared customer mart, the row's customer is its slot there (-1 would key no customer).
    if (this.customers !== null)
      this.customers.add(this.buf, this.fields, month, this.dom, qty, 0, rev, customerSlot);
    const f = this.fields;
    this.basket?.row(this.buf, this.view, f.start, f.end, f.flag, 0, rev, this.scale, itemSlot);
  }

  /** The last parsed number at the current scale (raising the scale if it needs more decimals); NaN if unsafe. */
  private scaled(): number {
    const dec = this.numDecimals;
    if (dec > this.scale) this.raiseScale(dec);
    const v = this.num * POW10N[this.scale - dec];
    return v > LIMIT || v < -LIMIT ? Number.NaN : v;
  }

  private addUnits(qty: number): void {
    let u = this.units + qty;
    if (u > LIMIT || u < -LIMIT) {
      this.unitsBig += BigInt(u);
      u = 0;
    }
    this.units = u;
  }

  private monthBig(month: number): [bigint, bigint] {
    let big = this.mBig.get(month);
    if (big === undefined) this.mBig.set(month, (big = [0n, 0n]));
    return big;
  }

  /** Re-expresses every money accumulator at a larger scale, exactly. */
  private raiseScale(to: number): void {
    const k = to - this.scale;
    const f = pow10(k);
    const fn = POW10N[k];
    this.revenueBig = (this.revenueBig + BigInt(this.revenue)) * f;
    this.revenue = 0;
    this.priceSumBig = (this.priceSumBig + BigInt(this.priceSum)) * f;
    this.priceSum = 0;
    if (this.minMaxBig !== null) {
      this.minMaxBig[0] *= f;
      this.minMaxBig[1] *= f;
    } else if (this.rows > 0) {
      const lo = this.priceMin * fn;
      const hi = this.priceMax * fn;
      if (lo < -LIMIT || hi > LIMIT || lo > LIMIT || hi < -LIMIT) {
        this.minMaxBig = [BigInt(this.priceMin) * f, BigInt(this.priceMax) * f];
      } else {
        this.priceMin = lo;
        this.priceMax = hi;
      }
    }
    for (let m = 0; m < MONTHS; m++) {
      if (this.mRows[m] === 0) continue;
      const big = this.monthBig(m);
      big[1] = (big[1] + BigInt(this.mRevenue[m])) * f;
      this.mRevenue[m] = 0;
    }
    for (const [m, big] of this.mBig) if (this.mRows[m] === 0) big[1] *= f;
    for (const t of this.dimTables) t.upscale(f);
    for (const m of this.marts) m.upscale(k);
    this.customers?.upscale(k);
    this.scale = to;
  }

  /**
   * Parses a decimal number in buf[s, e) into this.num (integer mantissa) and this.numDecimals.
   * Accepts a sign, a leading `$`, surrounding spaces, and thousands separators in groups of three.
   */
  private parseNumber(s: number, e: number, flag: number): number {
    const buf = this.buf;
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
  private parseMonth(s: number, e: number): number {
    const buf = this.buf;
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
    const fmt = this.spec.dateFormat;
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

  private rejectNumber(line: number, start: number, end: number, field: number, status: number): void {
    const name = this.spec.names[field];
    const why =
      status === NUM_TOO_PRECISE
        ? `${name} has more than ${MAX_SCALE} decimals`
        : status === NUM_TOO_LARGE
          ? `${name} is too large`
          : `${name} is not a number`;
    this.reject(line, start, end, why);
  }

  private reject(line: number, start: number, end: number, reason: string): void {
    this.rejected++;
    if (this.rejects.length >= MAX_ITEMIZED) {
      const group = this.omitted.get(reason);
      if (group === undefined) this.omitted.set(reason, [1, line]);
      else group[0]++;
      return;
    }
    const raw = Buffer.from(this.buf.buffer, this.buf.byteOffset + start, Math.min(end - start, RAW_MAX * 4))
      .toString('utf8')
      .slice(0, RAW_MAX);
    this.rejects.push([line, reason, raw]);
  }

  /** Rows counted outside this class (the WASM path, wasm-parse.ts), at `part.scale` ≤ this scale. */
  addCounted(part: CountedPart): void {
    if (part.scale > this.scale) throw new RangeError('a counted part above the chunk scale');
    const f = pow10(this.scale - part.scale);
    if (part.rows > 0) {
      const lo = part.priceMin * f;
      const hi = part.priceMax * f;
      const mm = (this.minMaxBig ??=
        this.rows > 0 ? [BigInt(this.priceMin), BigInt(this.priceMax)] : [lo, hi]);
      if (lo < mm[0]) mm[0] = lo;
      if (hi > mm[1]) mm[1] = hi;
    }
    this.rows += part.rows;
    this.unitsBig += part.units;
    this.revenueBig += part.revenue * f;
    this.priceSumBig += part.priceSum * f;
    for (const [m, rows, units, revenue] of part.months) {
      this.mRows[m] += rows;
      const big = this.monthBig(m);
      big[0] += units;
      big[1] += revenue * f;
    }
    // Amounts within 2^52 stay numbers (exact), so keys and cells do not each hold bigints.
    const fn = POW10N[this.scale - part.scale];
    part.dims.forEach((d, k) => {
      const t = this.dimTables[k];
      const view = new DataView(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length);
      for (let i = 0; i < d.rows.length; i++) {
        const slot = t.slot(d.bytes, d.starts[i], d.ends[i], view);
        const units = d.units.num[i];
        const revenue = d.revenue.num[i] * fn;
        if (!Number.isNaN(units) && revenue <= LIMIT) {
          t.add(slot, units, revenue);
          t.rows[slot] += d.rows[i] - 1;
        } else {
          t.rows[slot] += d.rows[i];
          t.unitsBig[slot] += amountAt(d.units, i);
          t.revenueBig[slot] += amountAt(d.revenue, i) * f;
        }
      }
    });
    part.marts.forEach((m, k) => {
      const keys = this.martTables[k];
      const view = new DataView(m.keys.bytes.buffer, m.keys.bytes.byteOffset, m.keys.bytes.length);
      const slots = m.keys.starts.map((s, i) => keys.slot(m.keys.bytes, s, m.keys.ends[i], view));
      for (let i = 0; i < m.rows.length; i++) {
        const c = this.marts[k].cell(slots[m.slot[i]], m.month[i]);
        const units = m.units.num[i];
        const revenue = m.revenue.num[i] * fn;
        if (!Number.isNaN(units) && revenue <= LIMIT) this.marts[k].addCounted(c, m.rows[i], units, revenue);
        else this.marts[k].addCounted(c, m.rows[i], amountAt(m.units, i), amountAt(m.revenue, i) * f);
      }
    });
    if (part.customerDays !== undefined) this.customers?.addCountedDays(part.customerDays, f, fn);
  }

  /** The exact partial of everything scanned so far. */
  toAgg(): Agg {
    const agg = emptyAgg(this.scale);
    agg.rows = this.rows;
    agg.rejected = this.rejected;
    agg.units = this.unitsBig + BigInt(this.units);
    agg.revenue = this.revenueBig + BigInt(this.revenue);
    agg.priceSum = this.priceSumBig + BigInt(this.priceSum);
    if (this.rows > 0) {
      agg.priceMin = this.minMaxBig?.[0] ?? BigInt(this.priceMin);
      agg.priceMax = this.minMaxBig?.[1] ?? BigInt(this.priceMax);
    }
    for (let m = 0; m < MONTHS; m++) {
      const rows = this.mRows[m];
      if (rows === 0) continue;
      const big = this.mBig.get(m);
      const year = FIRST_YEAR + Math.floor(m / 12);
      const key = `${year}-${String((m % 12) + 1).padStart(2, '0')}`;
      const cell: Cell = {
        rows,
        units: (big?.[0] ?? 0n) + BigInt(this.mUnits[m]),
        revenue: (big?.[1] ?? 0n) + BigInt(this.mRevenue[m]),
      };
      agg.months.set(key, cell);
    }
    return agg;
  }

  /** True while no row parsed here reached a mart and the scale is the spec's (WASM may then encode the marts). */
  martsUntouched(): boolean {
    return this.scale === this.spec.scale && this.marts.every((m) => m.size === 0);
  }

  /** True while no row parsed here reached the customers' days and the scale is the spec's. */
  customersUntouched(): boolean {
    return this.scale === this.spec.scale && (this.customers?.daysUntouched() ?? true);
  }

  /**
   * The dimensions' and marts' cells, sorted and encoded as keyed-cell runs at the current scale.
   * `encoded[k]`, when given, is mart k's run already encoded elsewhere (WASM), used in its place;
   * `days` the customers' `days` run likewise.
   */
  keyedRuns(encoded: (KeyedRun | null)[] = [], days: KeyedRun | null = null): KeyedRun[] {
    // A mart's key order is sorted once, also for the customers that share its keys.
    const martOrders = this.martTables.map((t) => t.sortedSlots());
    const runs = [
      ...this.dimTables.map((t) => encodeDimension(t, this.scale)),
      ...this.marts.map(
        (m, k) => encoded[k] ?? m.encode(this.martTables[k], this.scale, 'mart', martOrders[k]),
      ),
      ...(this.joins?.runs(this.scale) ?? []),
      ...(this.customers?.runs(this.scale, martOrders[this.customerMart], days) ?? []),
      ...(this.basket?.runs(this.scale) ?? []),
    ];
    for (const m of this.marts) m.release();
    return runs;
  }
}

/** The file's bytes right after a chunk (fewer at the end of the file). */
export type Lookahead = (bytes: number) => Uint8Array;

/**
 * Parses one chunk (record-aligned bytes) into its exact partial, line count and rejects. Quotes
 * still open at the chunk's end are judged broken; with `lookahead` the bytes after the chunk
 * confirm it, otherwise `endsInQuote` asks the coordinator to (it re-cuts the file if needed).
 */
export function parseChunk(
  buf: Uint8Array,
  spec: ScanSpec,
  lookahead?: Lookahead,
  joins: JoinTable[] = [],
): ChunkOutcome {
  const aggregator = new ChunkAggregator(spec, joins);
  const lines = aggregator.scan(buf);
  return {
    agg: aggregator.toAgg(),
    lines,
    rejects: aggregator.rejects,
    omitted: [...aggregator.omitted].map(([reason, [count, line]]) => [reason, count, line]),
    endsInQuote:
      aggregator.undecided.length > 0 &&
      (lookahead === undefined || !confirmed(buf, aggregator.undecided, spec, aggregator.limit, lookahead)),
    cells: aggregator.keyedRuns(),
  };
}

/** Reads the bytes after the chunk that the rule needs to judge its open quotes; true when all are broken. */
export function confirmed(
  buf: Uint8Array,
  opens: number[],
  spec: ScanSpec,
  limit: number,
  lookahead: Lookahead,
): boolean {
  const need = opens[0] + limit + 4 - buf.length;
  const after = lookahead(need);
  return openQuotesBroken(buf, opens, after, after.length < need, spec.delimiter, limit);
}
