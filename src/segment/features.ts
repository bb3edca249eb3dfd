// Owns the segmentation features: raw per-customer values (recency, frequency, monetary, average
// order value, units per order, tenure, months active, category shares), a log transform of the
// skewed ones, standardization, and a weight that makes the category shares count as one feature. Pure: typed arrays in, typed arrays out.

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

export interface FeatureMatrix {
  n: number;
  names: string[];
  /** raw[f][i]: feature f of customer i, in its own units (days, orders, money). */
  raw: (Float64Array | Float32Array)[];
  /** Which features were log1p-transformed before standardizing. */
  logged: boolean[];
  /** Mean and sd of each transformed feature (the standardization). */
  mean: number[];
  sd: number[];
  /** Multiplier after standardizing: 1, or 1/√(share columns) for each category share. */
  weights: number[];
  /** z[i * d + f]: row-major standardized (and weighted) matrix. */
  z: Float64Array;
  /** Recency and tenure are measured back from this day (YYYY-MM-DD). */
  asOf: string;
}

/** The last purchase day over all customers: the file's last date. */
export function lastDayOf(table: CustomerTable): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < table.n; i++) if (table.lastDay[i] > max) max = table.lastDay[i];
  return max;
}

export function rawFeatures(
  table: CustomerTable,
  asOfDay: number,
): { names: string[]; raw: (Float64Array | Float32Array)[] } {
  const { n } = table;
  // Frequency and months active are the table's own columns (a million customers: 16 MB saved).
  const cols = BASE_FEATURES.map((name) =>
    name === 'frequency' ? table.orders : name === 'monthsActive' ? table.monthsActive : new Float64Array(n),
  );
  const [recency, , monetary, aov, upo, tenure] = cols;
  const unit = 10 ** table.scale;
  for (let i = 0; i < n; i++) {
    const money = Number(table.revenue[i]) / unit;
    recency[i] = asOfDay - table.lastDay[i];
    monetary[i] = money;
    aov[i] = money / table.orders[i];
    upo[i] = table.units[i] / table.orders[i];
    tenure[i] = asOfDay - table.firstDay[i];
  }
  if (table.categories.length === 0) return { names: [...BASE_FEATURES], raw: cols };
  // How concentrated a customer's spending is: the largest of its category shares.
  const top = new Float64Array(n);
  for (const share of table.shares) for (let i = 0; i < n; i++) if (share[i] > top[i]) top[i] = share[i];
  return {
    names: [...BASE_FEATURES, TOP_SHARE, ...table.categories.map((c) => `share:${c}`)],
    raw: [...cols, top, ...table.shares],
  };
}

export interface Moments {
  mean: number;
  sd: number;
  skew: number;
  min: number;
}

/** Mean, sample sd (n - 1), sample skewness and minimum, in two passes for accuracy. */
export function moments(x: Float64Array | Float32Array): Moments {
  const n = x.length;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    sum += x[i];
    if (x[i] < min) min = x[i];
  }
  const mean = n > 0 ? sum / n : 0;
  let m2 = 0;
  let m3 = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    m2 += d * d;
    m3 += d * d * d;
  }
  const sd = n > 1 ? Math.sqrt(m2 / (n - 1)) : 0;
  const pop = n > 0 ? Math.sqrt(m2 / n) : 0;
  const skew = pop > 0 ? m3 / n / pop ** 3 : 0;
  return { mean, sd, skew, min };
}

/** Raw features → log1p where skewed → z-scores (constant features become 0). */
export function buildFeatures(table: CustomerTable, asOfDay = lastDayOf(table)): FeatureMatrix {
  const { n } = table;
  const { names, raw } = rawFeatures(table, asOfDay);
  const d = names.length;
  const z = new Float64Array(n * d);
  const logged: boolean[] = [];
  const mean: number[] = [];
  const sd: number[] = [];
  const weights: number[] = [];
  const work = new Float64Array(n);
  for (let f = 0; f < d; f++) {
    const m = moments(raw[f]);
    const log = f < BASE_FEATURES.length && m.min >= 0 && m.skew > SKEW_THRESHOLD;
    for (let i = 0; i < n; i++) work[i] = log ? Math.log1p(raw[f][i]) : raw[f][i];
    const t = log ? moments(work) : m;
    logged.push(log);
    mean.push(t.mean);
    sd.push(t.sd);
    // The category shares together weigh as much as one base feature, so many categories
    // cannot drown recency, frequency and money.
    const isShare = names[f].startsWith('share:');
    const weight = isShare ? 1 / Math.sqrt(table.categories.length) : 1;
    weights.push(weight);
    const inv = t.sd > 0 ? weight / t.sd : 0;
    for (let i = 0; i < n; i++) z[i * d + f] = (work[i] - t.mean) * inv;
  }
  return { n, names, raw, logged, mean, sd, weights, z, asOf: formatDay(asOfDay) };
}
