// Owns the segmentation features: raw per-customer values (recency, frequency, monetary, average
// order value, units per order, tenure, months active, category shares), a log transform of the
// skewed ones, standardization, and a weight that makes the category shares count as one feature.
// Pure. Nothing is materialized per customer: a row of raw or standardized features is computed
// from the customer table when asked for, so a million customers cost no n × d matrix.

import { type CustomerTable, formatDay } from './customer-table.js';

export const BASE_FEATURES = [
  'recency',
  'frequency',
  'monetary',
  'avgOrderValue',
  'unitsPerOrder',
  'tenure',
  'monthsActive',
] as const;

/** With category shares: the largest share per customer, a feature of its own. */
export const TOP_SHARE = 'topCategoryShare';

/** A feature is log-transformed (log1p) when it is non-negative and its skewness exceeds this. */
export const SKEW_THRESHOLD = 1;

/** Fills `out[0, d)` with one customer's features. */
export type RowFill = (i: number, out: Float64Array) => void;

export interface Moments {
  mean: number;
  sd: number;
  skew: number;
  min: number;
}

export interface FeatureMatrix {
  n: number;
  names: string[];
  /** Moments of each raw feature over all customers. */
  rawMoments: Moments[];
  /** Which features were log1p-transformed before standardizing. */
  logged: boolean[];
  /** Mean and sd of each transformed feature (the standardization). */
  mean: number[];
  sd: number[];
  /** Multiplier after standardizing: 1, or 1/√(share columns) for each category share. */
  weights: number[];
  /** Customer i's features in their own units (days, orders, money). */
  rawRow: RowFill;
  /** Customer i's standardized (and weighted) features: what PCA sees. */
  zRow: RowFill;
  /** Recency and tenure are measured back from this day (YYYY-MM-DD). */
  asOf: string;
}

/** The last purchase day over all customers: the file's last date. */
export function lastDayOf(table: CustomerTable): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < table.n; i++) if (table.lastDay[i] > max) max = table.lastDay[i];
  return max;
}

/** Feature names of a table, and the function that computes a customer's raw row. */
export function rawFeatures(table: CustomerTable, asOfDay: number): { names: string[]; rawRow: RowFill } {
  const unit = 10 ** table.scale;
  const base = BASE_FEATURES.length;
  const { shares } = table;
  const rawRow: RowFill = (i, out) => {
    const orders = table.orders[i];
    const money = Number(table.revenue[i]) / unit;
    out[0] = asOfDay - table.lastDay[i];
    out[1] = orders;
    out[2] = money;
    out[3] = money / orders;
    out[4] = table.units[i] / orders;
    out[5] = asOfDay - table.firstDay[i];
    out[6] = table.monthsActive[i];
    if (shares.length === 0) return;
    // How concentrated a customer's spending is: the largest of its category shares.
    let top = 0;
    for (let c = 0; c < shares.length; c++) {
      const s = shares[c][i];
      out[base + 1 + c] = s;
      if (s > top) top = s;
    }
    out[base] = top;
  };
  const names: string[] = [...BASE_FEATURES];
  if (shares.length > 0) names.push(TOP_SHARE, ...table.categories.map((c) => `share:${c}`));
  return { names, rawRow };
}

/** Mean, sample sd (n - 1), sample skewness and minimum, in two passes for accuracy. */
export function moments(x: ArrayLike<number>): Moments {
  return columnMoments(x.length, 1, (i, out) => {
    out[0] = x[i];
  })[0];
}

/** `moments` of every column of n rows of d values, each row computed by `fill` (twice). */
export function columnMoments(n: number, d: number, fill: RowFill): Moments[] {
  const row = new Float64Array(d);
  const sum = new Float64Array(d);
  const min = new Float64Array(d).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    fill(i, row);
    for (let f = 0; f < d; f++) {
      sum[f] += row[f];
      if (row[f] < min[f]) min[f] = row[f];
    }
  }
  const mean = Array.from(sum, (s) => (n > 0 ? s / n : 0));
  const m2 = new Float64Array(d);
  const m3 = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    fill(i, row);
    for (let f = 0; f < d; f++) {
      const t = row[f] - mean[f];
      m2[f] += t * t;
      m3[f] += t * t * t;
    }
  }
  return mean.map((m, f) => {
    const sd = n > 1 ? Math.sqrt(m2[f] / (n - 1)) : 0;
    const pop = n > 0 ? Math.sqrt(m2[f] / n) : 0;
    return { mean: m, sd, skew: pop > 0 ? m3[f] / n / pop ** 3 : 0, min: min[f] };
  });
}

/** Raw features → log1p where skewed → z-scores (constant features become 0). */
export function buildFeatures(table: CustomerTable, asOfDay = lastDayOf(table)): FeatureMatrix {
  const { n } = table;
  const { names, rawRow } = rawFeatures(table, asOfDay);
  const d = names.length;
  const rawMoments = columnMoments(n, d, rawRow);
  const logged = rawMoments.map((m, f) => f < BASE_FEATURES.length && m.min >= 0 && m.skew > SKEW_THRESHOLD);
  const transformed: RowFill = (i, out) => {
    rawRow(i, out);
    for (let f = 0; f < d; f++) if (logged[f]) out[f] = Math.log1p(out[f]);
  };
  const t = logged.some(Boolean) ? columnMoments(n, d, transformed) : rawMoments;
  // The category shares together weigh as much as one base feature, so many categories
  // cannot drown recency, frequency and money.
  const weights = names.map((name) =>
    name.startsWith('share:') ? 1 / Math.sqrt(table.categories.length) : 1,
  );
  const mean = t.map((m) => m.mean);
  const sd = t.map((m) => m.sd);
  const inv = Float64Array.from(t, (m, f) => (m.sd > 0 ? weights[f] / m.sd : 0));
  const zRow: RowFill = (i, out) => {
    transformed(i, out);
    for (let f = 0; f < d; f++) out[f] = (out[f] - mean[f]) * inv[f];
  };
  return { n, names, rawMoments, logged, mean, sd, weights, rawRow, zRow, asOf: formatDay(asOfDay) };
}

/** Feature `f` of every customer as one column (for tests and small tables). */
export function featureColumn(fill: RowFill, n: number, d: number, f: number): Float64Array {
  const row = new Float64Array(d);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    fill(i, row);
    out[i] = row[f];
  }
  return out;
}
