/**
 * A data mart: exact rows/units/revenue per (key, month) for one column, kept as parallel arrays
 * (no object per cell) because keys can number in the hundreds of thousands. Month index is
 * (year - 1900) * 12 + month - 1; NO_MONTH holds rows of a file without dates.
 */
import { ProtocolError, TooManyKeysError } from '../errors.js';
import { pow10 } from './decimal.js';

export const NO_MONTH = 4095;
const STRIDE = 4096;
const LIMIT = 2 ** 52;

export function monthKey(month: number): string {
  if (month === NO_MONTH) return '';
  return `${1900 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`;
}

/** The compact wire form: parallel arrays; a value past 2^53 travels as a decimal string. */
export interface WireMart {
  name: string;
  scale: number;
  keys: string[];
  key: number[];
  month: number[];
  rows: number[];
  units: (number | string)[];
  revenue: (number | string)[];
}

export class Mart {
  readonly name: string;
  scale: number;
  readonly maxKeys: number;
  readonly keys: string[] = [];
  private readonly keyIds = new Map<string, number>();
  private readonly cellOf = new Map<number, number>();
  private cellKey = new Int32Array(64);
  private cellMonth = new Uint16Array(64);
  private cellRows = new Float64Array(64);
  private cellUnits = new Float64Array(64);
  private cellRevenue = new Float64Array(64);
  private readonly unitsBig = new Map<number, bigint>();
  private readonly revenueBig = new Map<number, bigint>();
  size = 0;

  constructor(name: string, scale: number, maxKeys: number) {
    this.name = name;
    this.scale = scale;
    this.maxKeys = maxKeys;
  }

  keyId(key: string): number {
    let id = this.keyIds.get(key);
    if (id === undefined) {
      if (this.keys.length >= this.maxKeys) {
        throw new TooManyKeysError(
          `column "${this.name}" has more than ${this.maxKeys} distinct values; raise --max-keys or leave the column out`,
        );
      }
      id = this.keys.length;
      this.keys.push(key);
      this.keyIds.set(key, id);
    }
    return id;
  }

  /** Cell index for (key id, month), created empty if new. */
  cell(keyId: number, month: number): number {
    const composite = keyId * STRIDE + month;
    let c = this.cellOf.get(composite);
    if (c === undefined) {
      c = this.size++;
      if (c >= this.cellKey.length) this.grow();
      this.cellKey[c] = keyId;
      this.cellMonth[c] = month;
      this.cellOf.set(composite, c);
    }
    return c;
  }

  private grow(): void {
    const n = this.cellKey.length * 2;
    const g = <T extends Int32Array | Uint16Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.cellKey = g(this.cellKey, (k) => new Int32Array(k));
    this.cellMonth = g(this.cellMonth, (k) => new Uint16Array(k));
    this.cellRows = g(this.cellRows, (k) => new Float64Array(k));
    this.cellUnits = g(this.cellUnits, (k) => new Float64Array(k));
    this.cellRevenue = g(this.cellRevenue, (k) => new Float64Array(k));
  }

  /** Adds one row's (or a partial's) numbers; revenue at this mart's scale. */
  add(c: number, rows: number, units: number, revenue: number): void {
    this.cellRows[c] += rows;
    let u = this.cellUnits[c] + units;
    if (u > LIMIT || u < -LIMIT) {
      this.unitsBig.set(c, (this.unitsBig.get(c) ?? 0n) + BigInt(u));
      u = 0;
    }
    this.cellUnits[c] = u;
    let r = this.cellRevenue[c] + revenue;
    if (r > LIMIT || r < -LIMIT) {
      this.revenueBig.set(c, (this.revenueBig.get(c) ?? 0n) + BigInt(r));
      r = 0;
    }
    this.cellRevenue[c] = r;
  }

  addBig(c: number, units: bigint, revenue: bigint): void {
    if (units !== 0n) this.unitsBig.set(c, (this.unitsBig.get(c) ?? 0n) + units);
    if (revenue !== 0n) this.revenueBig.set(c, (this.revenueBig.get(c) ?? 0n) + revenue);
  }

  /** Raises the scale of every revenue, exactly. */
  liftTo(scale: number): void {
    if (scale <= this.scale) return;
    const f = pow10(scale - this.scale);
    for (let c = 0; c < this.size; c++) {
      const big = (this.revenueBig.get(c) ?? 0n) + BigInt(this.cellRevenue[c]);
      this.cellRevenue[c] = 0;
      if (big !== 0n) this.revenueBig.set(c, big * f);
    }
    this.scale = scale;
  }

  unitsOf(c: number): bigint {
    return (this.unitsBig.get(c) ?? 0n) + BigInt(this.cellUnits[c]);
  }

  revenueOf(c: number): bigint {
    return (this.revenueBig.get(c) ?? 0n) + BigInt(this.cellRevenue[c]);
  }

  rowsOf(c: number): number {
    return this.cellRows[c];
  }

  keyOf(c: number): string {
    return this.keys[this.cellKey[c]];
  }

  monthOf(c: number): number {
    return this.cellMonth[c];
  }

  /** Adds another mart of the same column into this one (keys matched by text). */
  mergeFrom(other: Mart): void {
    const scale = Math.max(this.scale, other.scale);
    this.liftTo(scale);
    const f = pow10(scale - other.scale);
    for (let c = 0; c < other.size; c++) {
      const target = this.cell(this.keyId(other.keyOf(c)), other.monthOf(c));
      const units = other.unitsOf(c);
      const revenue = other.revenueOf(c) * f;
      this.cellRows[target] += other.cellRows[c];
      this.addBig(target, units, revenue);
    }
  }

  clone(): Mart {
    const m = new Mart(this.name, this.scale, this.maxKeys);
    m.mergeFrom(this);
    return m;
  }

  toWire(): WireMart {
    const w: WireMart = {
      name: this.name,
      scale: this.scale,
      keys: this.keys,
      key: [],
      month: [],
      rows: [],
      units: [],
      revenue: [],
    };
    for (let c = 0; c < this.size; c++) {
      w.key.push(this.cellKey[c]);
      w.month.push(this.cellMonth[c]);
      w.rows.push(this.cellRows[c]);
      const u = this.unitsOf(c);
      const r = this.revenueOf(c);
      w.units.push(u >= -LIMIT && u <= LIMIT ? Number(u) : u.toString());
      w.revenue.push(r >= -LIMIT && r <= LIMIT ? Number(r) : r.toString());
    }
    return w;
  }

  static fromWire(w: WireMart, maxKeys: number): Mart {
    const bad = (what: string): never => {
      throw new ProtocolError(`malformed mart: ${what}`);
    };
    if (w === null || typeof w !== 'object' || typeof w.name !== 'string') bad('name');
    if (!Number.isInteger(w.scale) || w.scale < 0 || w.scale > 9) bad('scale');
    if (!Array.isArray(w.keys) || w.keys.length > maxKeys || !w.keys.every((k) => typeof k === 'string'))
      bad('keys');
    const n = Array.isArray(w.key) ? w.key.length : -1;
    for (const a of [w.key, w.month, w.rows, w.units, w.revenue])
      if (!Array.isArray(a) || a.length !== n) bad('cells');
    const m = new Mart(w.name, w.scale, maxKeys);
    const toBig = (v: unknown, what: string): bigint => {
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      if (typeof v === 'string' && /^-?\d{1,60}$/.test(v)) return BigInt(v);
      return bad(what);
    };
    for (let i = 0; i < n; i++) {
      const k = w.key[i];
      const month = w.month[i];
      const rows = w.rows[i];
      if (!Number.isInteger(k) || k < 0 || k >= w.keys.length) bad('key index');
      if (!Number.isInteger(month) || month < 0 || month > NO_MONTH) bad('month');
      if (!Number.isSafeInteger(rows) || rows < 0) bad('rows');
      const c = m.cell(m.keyId(w.keys[k]), month);
      m.cellRows[c] += rows;
      m.addBig(c, toBig(w.units[i], 'units'), toBig(w.revenue[i], 'revenue'));
    }
    return m;
  }
}
