/**
 * Rows counted outside the JS row parser (the WASM path, wasm-parse.ts), in the shape
 * `ChunkAggregator.addCounted` adds to a chunk's partial. Amounts are exact, at `scale`.
 */

/** Exact non-negative amounts: a number below 2^52, else NaN with the value in `big` (rare). */
export interface Amounts {
  num: Float64Array;
  big: Map<number, bigint>;
}

/** Amount i, exactly. */
export function amountAt(a: Amounts, i: number): bigint {
  const v = a.num[i];
  return Number.isNaN(v) ? (a.big.get(i) as bigint) : BigInt(v);
}

/** A dimension's keys as byte ranges of `bytes`, with their sums. */
export interface CountedKeys {
  bytes: Uint8Array;
  starts: Uint32Array;
  ends: Uint32Array;
  rows: Uint32Array;
  units: Amounts;
  revenue: Amounts;
}

/** A mart's cells: `slot` indexes `keys` (whose own sums are unused), `month` as in keyed cells. */
export interface CountedCells {
  keys: CountedKeys;
  slot: Uint32Array;
  month: Uint16Array;
  rows: Uint32Array;
  units: Amounts;
  revenue: Amounts;
}

export interface CountedPart {
  scale: number;
  rows: number;
  units: bigint;
  revenue: bigint;
  priceSum: bigint;
  /** Smallest and largest unit price (or line total without a price column); only when rows > 0. */
  priceMin: bigint;
  priceMax: bigint;
  /** [month index from 1900-01, rows, units, revenue]. */
  months: [number, number, bigint, bigint][];
  /** One per spec dimension, in order. */
  dims: CountedKeys[];
  /** One per spec mart, in order. */
  marts: CountedCells[];
  /** The customers' (customer, day) cells (`month` holds the day), when not encoded as a run. */
  customerDays?: CountedCells;
}
