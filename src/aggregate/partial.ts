/**
 * The aggregate: one shape for a chunk and for a whole run, with a pure, associative and
 * commutative merge. Money is bigint at a scale; merging two scales lifts both to the larger.
 */
import { ProtocolError } from '../errors.js';
import { MAX_SCALE } from '../scan-spec.js';
import { divRound, formatScaled, pow10, rescale } from './decimal.js';
import { type KeyedRun, validateRun } from './keyed-cells.js';

export interface Cell {
  rows: number;
  units: bigint;
  revenue: bigint;
}

export interface Agg {
  scale: number;
  rows: number;
  rejected: number;
  units: bigint;
  revenue: bigint;
  priceMin: bigint | null;
  priceMax: bigint | null;
  priceSum: bigint;
  /** "YYYY-MM" → cell. Dimensions and marts are keyed cells (keyed-cells.ts), outside the aggregate. */
  months: Map<string, Cell>;
}

/** A rejected row: line relative to the chunk's first line (0-based), reason, raw text (truncated). */
export type WireReject = [number, string, string];

/** A chunk's result as it travels: money as decimal-integer strings at `scale`. */
export interface WirePartial {
  scale: number;
  rows: number;
  rejected: number;
  /** Physical lines in the chunk, so the coordinator can place later chunks' line numbers. */
  lines: number;
  units: string;
  revenue: string;
  priceMin: string | null;
  priceMax: string | null;
  priceSum: string;
  /** [month, rows, units, revenue] */
  months: [string, number, string, string][];
  /** Per-key cells of each dimension and per-(key, month) cells of each mart, columnar. */
  cells: KeyedRun[];
  /** Rejects not itemized: [reason, count, first relative line]. */
  rejectsOmitted?: [string, number, number][];
  /**
   * A quote still open at the chunk's end (within the field limit) that the worker could not
   * confirm broken from the bytes after the chunk: for a chunk that is not the file's last, maybe a wrong cut.
   */
  endsInQuote?: boolean;
  rejects: WireReject[];
}

export function emptyAgg(scale = 2): Agg {
  return {
    scale,
    rows: 0,
    rejected: 0,
    units: 0n,
    revenue: 0n,
    priceMin: null,
    priceMax: null,
    priceSum: 0n,
    months: new Map(),
  };
}

function liftCell(c: Cell, from: number, to: number): Cell {
  return { rows: c.rows, units: c.units, revenue: rescale(c.revenue, from, to) };
}

function mergeCells(
  into: Map<string, Cell>,
  from: Map<string, Cell>,
  fromScale: number,
  toScale: number,
): void {
  for (const [key, c] of from) {
    const cur = into.get(key);
    const lifted = liftCell(c, fromScale, toScale);
    if (cur === undefined) into.set(key, lifted);
    else
      into.set(key, {
        rows: cur.rows + lifted.rows,
        units: cur.units + lifted.units,
        revenue: cur.revenue + lifted.revenue,
      });
  }
}

function minOf(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}
function maxOf(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/** Pure merge: neither input is modified. */
export function mergeAgg(a: Agg, b: Agg): Agg {
  const scale = Math.max(a.scale, b.scale);
  const la = (v: bigint) => rescale(v, a.scale, scale);
  const lb = (v: bigint) => rescale(v, b.scale, scale);
  const months = new Map<string, Cell>();
  mergeCells(months, a.months, a.scale, scale);
  mergeCells(months, b.months, b.scale, scale);
  return {
    scale,
    rows: a.rows + b.rows,
    rejected: a.rejected + b.rejected,
    units: a.units + b.units,
    revenue: la(a.revenue) + lb(b.revenue),
    priceMin: minOf(a.priceMin === null ? null : la(a.priceMin), b.priceMin === null ? null : lb(b.priceMin)),
    priceMax: maxOf(a.priceMax === null ? null : la(a.priceMax), b.priceMax === null ? null : lb(b.priceMax)),
    priceSum: la(a.priceSum) + lb(b.priceSum),
    months,
  };
}

/**
 * In-place merge of `b` into `acc`, for the coordinator's running total (avoids copying the maps
 * for every chunk). Same result as `mergeAgg`.
 */
export function mergeInto(acc: Agg, b: Agg): void {
  if (b.scale > acc.scale) {
    const lifted = mergeAgg(acc, emptyAgg(b.scale));
    Object.assign(acc, lifted);
  }
  const lb = (v: bigint) => rescale(v, b.scale, acc.scale);
  acc.rows += b.rows;
  acc.rejected += b.rejected;
  acc.units += b.units;
  acc.revenue += lb(b.revenue);
  acc.priceMin = minOf(acc.priceMin, b.priceMin === null ? null : lb(b.priceMin));
  acc.priceMax = maxOf(acc.priceMax, b.priceMax === null ? null : lb(b.priceMax));
  acc.priceSum += lb(b.priceSum);
  mergeCells(acc.months, b.months, b.scale, acc.scale);
}

// --- wire form ------------------------------------------------------------------------------

const INT_RE = /^-?\d{1,60}$/;

function big(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || !INT_RE.test(v)) throw new ProtocolError(`malformed partial: ${what}`);
  return BigInt(v);
}
function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ProtocolError(`malformed partial: ${what}`);
  return v;
}
function cellsFromWire(rows: unknown, what: string, maxKeys: number): Map<string, Cell> {
  if (!Array.isArray(rows) || rows.length > maxKeys) throw new ProtocolError(`malformed partial: ${what}`);
  const out = new Map<string, Cell>();
  for (const r of rows) {
    if (!Array.isArray(r) || r.length !== 4 || typeof r[0] !== 'string')
      throw new ProtocolError(`malformed partial: ${what}`);
    if (out.has(r[0])) throw new ProtocolError(`malformed partial: duplicate key in ${what}`);
    out.set(r[0], { rows: count(r[1], what), units: big(r[2], what), revenue: big(r[3], what) });
  }
  return out;
}

export function cellsToWire(cells: Map<string, Cell>): [string, number, string, string][] {
  const out: [string, number, string, string][] = [];
  for (const [k, c] of cells) out.push([k, c.rows, c.units.toString(), c.revenue.toString()]);
  return out;
}

export function aggToWire(
  agg: Agg,
  lines: number,
  rejects: WireReject[],
  endsInQuote = false,
  omitted: [string, number, number][] = [],
  cells: KeyedRun[] = [],
): WirePartial {
  return {
    scale: agg.scale,
    rows: agg.rows,
    rejected: agg.rejected,
    lines,
    units: agg.units.toString(),
    revenue: agg.revenue.toString(),
    priceMin: agg.priceMin === null ? null : agg.priceMin.toString(),
    priceMax: agg.priceMax === null ? null : agg.priceMax.toString(),
    priceSum: agg.priceSum.toString(),
    months: cellsToWire(agg.months),
    cells,
    ...(endsInQuote ? { endsInQuote: true } : {}),
    ...(omitted.length > 0 ? { rejectsOmitted: omitted } : {}),
    rejects,
  };
}

export interface ChunkOutcome {
  agg: Agg;
  lines: number;
  rejects: WireReject[];
  /** See WirePartial.rejectsOmitted. */
  omitted: [string, number, number][];
  /** See WirePartial.endsInQuote. */
  endsInQuote: boolean;
  /** See WirePartial.cells. */
  cells: KeyedRun[];
}

const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Validates a partial from the wire. Anything off is a ProtocolError, never a silent zero. */
export function aggFromWire(raw: WirePartial, maxKeys: number): ChunkOutcome {
  if (raw === null || typeof raw !== 'object') throw new ProtocolError('malformed partial');
  const scale = count(raw.scale, 'scale');
  if (scale > MAX_SCALE) throw new ProtocolError('malformed partial: scale');
  const months = cellsFromWire(raw.months, 'months', 100_000);
  for (const m of months.keys())
    if (!MONTH_RE.test(m)) throw new ProtocolError('malformed partial: month key');
  if (!Array.isArray(raw.cells)) throw new ProtocolError('malformed partial: cells');
  const cells = raw.cells.map((r) => validateRun(r, maxKeys));
  const names = new Set(cells.map((r) => `${r.kind}:${r.name}`));
  if (names.size !== cells.length) throw new ProtocolError('malformed partial: duplicate keyed run');
  if (!Array.isArray(raw.rejects)) throw new ProtocolError('malformed partial: rejects');
  for (const r of raw.rejects) {
    if (!Array.isArray(r) || r.length !== 3 || typeof r[1] !== 'string' || typeof r[2] !== 'string') {
      throw new ProtocolError('malformed partial: rejects');
    }
    count(r[0], 'reject line');
  }
  const rows = count(raw.rows, 'rows');
  const rejected = count(raw.rejected, 'rejected');
  const omitted = raw.rejectsOmitted ?? [];
  if (!Array.isArray(omitted)) throw new ProtocolError('malformed partial: rejectsOmitted');
  let omittedCount = 0;
  for (const o of omitted) {
    if (!Array.isArray(o) || o.length !== 3 || typeof o[0] !== 'string')
      throw new ProtocolError('malformed partial: rejectsOmitted');
    omittedCount += count(o[1], 'omitted count');
    count(o[2], 'omitted line');
  }
  if (raw.rejects.length + omittedCount !== rejected)
    throw new ProtocolError('malformed partial: reject count');
  return {
    agg: {
      scale,
      rows,
      rejected,
      units: big(raw.units, 'units'),
      revenue: big(raw.revenue, 'revenue'),
      priceMin: raw.priceMin === null ? null : big(raw.priceMin, 'priceMin'),
      priceMax: raw.priceMax === null ? null : big(raw.priceMax, 'priceMax'),
      priceSum: big(raw.priceSum, 'priceSum'),
      months,
    },
    lines: count(raw.lines, 'lines'),
    rejects: raw.rejects,
    omitted,
    endsInQuote: raw.endsInQuote === true,
    cells,
  };
}

// --- finalize -------------------------------------------------------------------------------

export interface Totals {
  rows: number;
  rejected: number;
  units: string;
  revenue: string;
  minPrice: string | null;
  maxPrice: string | null;
  avgPrice: string | null;
  priceSum: string;
}

/** Exact decimal strings; the average is the sum over the row count, rounded to 4 places. */
export function finalizeTotals(agg: Agg): Totals {
  return {
    rows: agg.rows,
    rejected: agg.rejected,
    units: agg.units.toString(),
    revenue: formatScaled(agg.revenue, agg.scale),
    minPrice: agg.priceMin === null ? null : formatScaled(agg.priceMin, agg.scale),
    maxPrice: agg.priceMax === null ? null : formatScaled(agg.priceMax, agg.scale),
    avgPrice: agg.rows === 0 ? null : divRound(agg.priceSum, BigInt(agg.rows) * pow10(agg.scale), 4),
    priceSum: formatScaled(agg.priceSum, agg.scale),
  };
}
