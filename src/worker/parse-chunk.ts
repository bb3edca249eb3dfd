/**
 * A chunk's bytes → one exact partial aggregate. The hot path: numbers and dates are parsed in
 * place from bytes (field-reader.ts), keys are interned by bytes (keyed-sums.ts), and no string is
 * built for a good row. Money accumulates as integers in the smallest unit of `scale`; a number
 * accumulator is folded into its bigint twin before it can pass 2^53.
 */

import { pow10 } from '../aggregate/decimal.js';
import type { KeyedRun } from '../aggregate/keyed-cells.js';
import { type Agg, type Cell, type ChunkOutcome, emptyAgg, type WireReject } from '../aggregate/partial.js';
import { brokenQuoteReason, DEFAULT_MAX_FIELD_BYTES, openQuotesBroken } from '../quote-limit.js';
import type { ScanSpec } from '../scan-spec.js';
import type { BasketCollector } from './basket-collector.js';
import type { CountedPart } from './counted-part.js';
import { FIRST_YEAR, FieldReader, MONTHS, NUM_OK, numberProblem, POW10N } from './field-reader.js';
import type { JoinTable } from './join-table.js';
import { KeyedSums } from './keyed-sums.js';
import {
  Fields,
  RECORD_OK,
  type RecordSink,
  TEXT_AFTER_QUOTE,
  tokenize,
  UNTERMINATED_QUOTE,
} from './tokenizer.js';

const LIMIT = 2 ** 52;
const RAW_MAX = 200;
/** Rejects itemized per chunk (line, reason, raw); the rest are counted by reason, so a file of bad lines cannot outgrow a frame. */
export const MAX_ITEMIZED = 10_000;

export class ChunkAggregator implements RecordSink {
  private readonly spec: ScanSpec;
  private readonly fields: Fields;
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** Numbers and dates of the current record; its outputs (num, numDecimals, dom) are read right after each call. */
  private readonly reader: FieldReader;
  /** Dimensions, marts, joins, customers and baskets: everything kept per key. */
  private readonly keyed: KeyedSums;

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

  constructor(spec: ScanSpec, joinTables: JoinTable[] = []) {
    this.spec = spec;
    this.scale = spec.scale;
    this.fields = new Fields(spec.fieldCount + 1);
    this.reader = new FieldReader(spec);
    this.keyed = new KeyedSums(spec, joinTables);
  }

  /** The chunk's orders and baskets, or null without `--order` and `--item`. */
  get baskets(): BasketCollector | null {
    return this.keyed.baskets;
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
      const status = this.reader.parseNumber(this.buf, fs[p], fe[p], ff[p]);
      if (status !== NUM_OK) return this.rejectNumber(line, start, end, p, status);
      price = this.scaled();
      // Past 2^52 at the current scale (a wide value after a scale raise): the bigint path.
      if (Number.isNaN(price)) priceBig = this.scaledBig();
    }
    const priceScale = this.scale;
    let qty = 1;
    if (spec.quantity >= 0) {
      const q = spec.quantity;
      const status = this.reader.parseNumber(this.buf, fs[q], fe[q], ff[q]);
      if (status !== NUM_OK) return this.rejectNumber(line, start, end, q, status);
      qty = this.reader.num;
      if (this.reader.numDecimals !== 0) {
        // "5.0" is five; "5.5" is not a count.
        const unit = POW10N[this.reader.numDecimals];
        if (qty % unit !== 0) return this.reject(line, start, end, `${spec.names[q]} is not a whole number`);
        qty /= unit;
      }
    }
    let lineTotal = 0;
    if (spec.revenue >= 0) {
      const r = spec.revenue;
      const status = this.reader.parseNumber(this.buf, fs[r], fe[r], ff[r]);
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
      month = this.reader.parseMonth(this.buf, fs[d], fe[d]);
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
    this.keyed.count(this.buf, this.view, this.fields, month, this.reader.dom, qty, rev, revBig, this.scale);
  }

  /** Min/max as bigints, once a scale raise made the number pair unsafe. */
  private minMaxBig: [bigint, bigint] | null = null;

  /** The last parsed number at the current scale, exactly, as a bigint. */
  private scaledBig(): bigint {
    return BigInt(this.reader.num) * pow10(this.scale - this.reader.numDecimals);
  }

  /** Counts a row whose amounts are past the number path (rare): every accumulator in bigints. */
  private countBig(month: number, qty: number, rev: bigint, stat: bigint): void {
    this.rows++;
    this.addUnits(qty);
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
    this.keyed.count(this.buf, this.view, this.fields, month, this.reader.dom, qty, 0, rev, this.scale);
  }

  /** The last parsed number at the current scale (raising the scale if it needs more decimals); NaN if unsafe. */
  private scaled(): number {
    const dec = this.reader.numDecimals;
    if (dec > this.scale) this.raiseScale(dec);
    const v = this.reader.num * POW10N[this.scale - dec];
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
    this.keyed.upscale(f, k);
    this.scale = to;
  }

  private rejectNumber(line: number, start: number, end: number, field: number, status: number): void {
    this.reject(line, start, end, numberProblem(this.spec.names[field], status));
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
    this.keyed.addCounted(part, f, POW10N[this.scale - part.scale]);
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
    return this.scale === this.spec.scale && this.keyed.martsEmpty();
  }

  /** True while no row parsed here reached the customers' days and the scale is the spec's. */
  customersUntouched(): boolean {
    return this.scale === this.spec.scale && this.keyed.customerDaysEmpty();
  }

  /**
   * The dimensions' and marts' cells, sorted and encoded as keyed-cell runs at the current scale.
   * `encoded[k]`, when given, is mart k's run already encoded elsewhere (WASM), used in its place;
   * `days` the customers' `days` run likewise.
   */
  keyedRuns(encoded: (KeyedRun | null)[] = [], days: KeyedRun | null = null): KeyedRun[] {
    return this.keyed.runs(this.scale, encoded, days);
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
