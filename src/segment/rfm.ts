// Owns RFM scoring and lifetime-value deciles. RFM: quintile scores 1..5 from ranks, with tied
// values sharing a score, and the usual named segments from R and the F/M average. Deciles:
// NTILE(10) over revenue, highest first, with exact revenue per decile and its share (Pareto).

import { divRound, formatScaled } from '../aggregate/decimal.js';
import type { CustomerTable } from './customer-table.js';

export const RFM_SEGMENTS = [
  'Champions',
  'Loyal',
  'Potential loyalists',
  'New customers',
  'Promising',
  'Need attention',
  'About to sleep',
  'At risk',
  'Cannot lose them',
  'Hibernating',
] as const;
export type RfmSegment = (typeof RFM_SEGMENTS)[number];

/** The segment of an R score and an FM score (each 1..5); the common RF segment map. */
export function rfmSegment(r: number, fm: number): RfmSegment {
  if (r <= 2) return fm <= 2 ? 'Hibernating' : fm <= 4 ? 'At risk' : 'Cannot lose them';
  if (r === 3) return fm <= 2 ? 'About to sleep' : fm === 3 ? 'Need attention' : 'Loyal';
  if (r === 4) return fm === 1 ? 'Promising' : fm <= 3 ? 'Potential loyalists' : 'Loyal';
  return fm === 1 ? 'New customers' : fm <= 3 ? 'Potential loyalists' : 'Champions';
}

/** Segment index per (r, fm) pair, r and fm from 1 to 5. */
const SEGMENT_INDEX = Uint8Array.from({ length: 25 }, (_, i) =>
  RFM_SEGMENTS.indexOf(rfmSegment(Math.floor(i / 5) + 1, (i % 5) + 1)),
);

/**
 * Quintile score of every value: 1 + floor(5 × (values strictly below) / n), so equal values
 * share a score. With `lowerIsBetter`, values strictly above count instead.
 */
export function quintileScores(values: Float64Array, lowerIsBetter = false): Uint8Array {
  const n = values.length;
  const sorted = Float64Array.from(values).sort();
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    // lower bound (first ≥ v) and upper bound (first > v) by binary search
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    const below = lo;
    hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    const above = n - lo;
    out[i] = 1 + Math.floor((5 * (lowerIsBetter ? above : below)) / n);
  }
  return out;
}

export interface RfmResult {
  r: Uint8Array;
  f: Uint8Array;
  m: Uint8Array;
  /** Index into RFM_SEGMENTS per customer. */
  segment: Uint8Array;
  /** Every segment, in RFM_SEGMENTS order, with customers and exact revenue. */
  segments: Array<{ segment: RfmSegment; customers: number; revenue: string }>;
}

export function scoreRfm(table: CustomerTable, asOfDay: number): RfmResult {
  const { n } = table;
  const recency = new Float64Array(n);
  const money = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    recency[i] = asOfDay - table.lastDay[i];
    // Scaled integers order exactly as long as they stay below 2^53.
    money[i] = Number(table.revenue[i]);
  }
  const r = quintileScores(recency, true);
  const f = quintileScores(table.orders);
  const m = quintileScores(money);
  const segment = new Uint8Array(n);
  const counts = new Float64Array(RFM_SEGMENTS.length);
  const revenue: bigint[] = RFM_SEGMENTS.map(() => 0n);
  for (let i = 0; i < n; i++) {
    const fm = Math.floor((f[i] + m[i] + 1) / 2);
    const s = SEGMENT_INDEX[(r[i] - 1) * 5 + fm - 1];
    segment[i] = s;
    counts[s]++;
    revenue[s] += table.revenue[i];
  }
  return {
    r,
    f,
    m,
    segment,
    segments: RFM_SEGMENTS.map((name, s) => ({
      segment: name,
      customers: counts[s],
      revenue: formatScaled(revenue[s], table.scale),
    })),
  };
}

export interface DecileRow {
  /** 1 = the highest-revenue tenth. */
  decile: number;
  customers: number;
  revenue: string;
  /** Share of all revenue, and the running share from decile 1, as decimal fractions (6 places). */
  share: string;
  cumulativeShare: string;
}

/** NTILE(10) over revenue descending (ties by customer id): the first n mod 10 deciles get one more. */
export function clvDeciles(table: CustomerTable): { decile: Uint8Array; deciles: DecileRow[] } {
  const { n } = table;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rev = table.revenue;
  const money = new Float64Array(n);
  let exact = true;
  for (let i = 0; i < n; i++) {
    money[i] = Number(rev[i]);
    if (!Number.isSafeInteger(money[i])) exact = false;
  }
  // Rows are in customer-id order; ties keep it. Doubles compare exactly below 2^53.
  if (exact) order.sort((a, b) => money[b] - money[a] || a - b);
  else order.sort((a, b) => (rev[a] > rev[b] ? -1 : rev[a] < rev[b] ? 1 : a - b));
  const decile = new Uint8Array(n);
  const buckets = Math.min(10, n);
  const base = Math.floor(n / 10);
  const extra = n % 10;
  const sums: bigint[] = [];
  const counts: number[] = [];
  let total = 0n;
  for (let b = 0, pos = 0; b < buckets; b++) {
    const size = base + (b < extra ? 1 : 0);
    let sum = 0n;
    for (let j = 0; j < size; j++, pos++) {
      decile[order[pos]] = b + 1;
      sum += rev[order[pos]];
    }
    sums.push(sum);
    counts.push(size);
    total += sum;
  }
  let running = 0n;
  const deciles = sums.map((sum, b) => {
    running += sum;
    return {
      decile: b + 1,
      customers: counts[b],
      revenue: formatScaled(sum, table.scale),
      share: total > 0n ? divRound(sum, total, 6) : '0.000000',
      cumulativeShare: total > 0n ? divRound(running, total, 6) : '0.000000',
    };
  });
  return { decile, deciles };
}
