// Owns the whole segmentation of per-customer rows, as one pure call: features → PCA → KMeans →
// profiles, plus RFM and lifetime-value deciles. With fewer than MIN_CUSTOMERS customers the
// clustering is refused with a coded error while RFM and deciles are still given.

import { formatScaled } from '../aggregate/decimal.js';
import { SalesgridError, UsageError } from '../errors.js';
import {
  type ClusterOptions,
  type ClusterResult,
  clusterPoints,
  DEFAULT_CLUSTER_OPTIONS,
  type KScore,
} from './cluster.js';
import { buildCustomerTable, type CustomerRow, type CustomerTable, dayNumber } from './customer-table.js';
import { buildFeatures, lastDayOf, type RowFill } from './features.js';
import { covarianceOfRows, fitPcaCovariance, projectRows } from './pca.js';
import { type ClusterProfile, profileClusters } from './profile.js';
import { clvDeciles, type DecileRow, RFM_SEGMENTS, type RfmSegment, scoreRfm } from './rfm.js';

/** Fewest customers that KMeans is run on. */
export const MIN_CUSTOMERS = 20;
/** Points kept per run for the PCA scatter chart. */
const SCATTER_POINTS = 2_000;

export interface SegmentOptions extends Partial<Omit<ClusterOptions, 'seed'>> {
  seed?: number;
  /** Expected number of rows, so the columns are allocated once. */
  sizeHint?: number;
  /** Day that recency and tenure count back from (YYYY-MM-DD); default: the last purchase day. */
  asOf?: string;
  /** Share of variance the kept components must explain. */
  varianceTarget?: number;
}

export interface SegmentSummary {
  customers: number;
  /** Exact total revenue. */
  revenue: string;
  asOf: string;
  k: number | null;
  silhouette: number | null;
  explainedVariance: number[];
  componentsKept: number;
  features: Array<{ name: string; logged: boolean }>;
  elbow: KScore[];
  clusters: ClusterProfile[];
  rfm: Array<{ segment: RfmSegment; customers: number; revenue: string }>;
  clvDeciles: DecileRow[];
  /** Why clustering was not run, when it was not. */
  refused?: { code: string; message: string };
  /** Milliseconds per phase (ingest, features, rfm, deciles, pca, cluster, profile). */
  timingsMs: Record<string, number>;
  /** Up to SCATTER_POINTS customers on the first two components, for the chart. */
  scatter: Array<{ pc1: number; pc2: number; cluster: number }>;
}

export interface SegmentResult {
  summary: SegmentSummary;
  table: CustomerTable;
  /** Per customer in table order (customer id order); -1 when clustering was refused. */
  cluster: Int32Array;
  rfmSegment: Uint8Array;
  clvDecile: Uint8Array;
  clustering: ClusterResult | null;
}

export function resolveSegmentOptions(opts: SegmentOptions): ClusterOptions & { varianceTarget: number } {
  const { sizeHint: _, ...rest } = opts;
  const o = { ...DEFAULT_CLUSTER_OPTIONS, seed: 42, varianceTarget: 0.9, ...stripUndefined(rest) };
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  };
  int('--seed', o.seed, 0, 2 ** 31 - 1);
  int('--k', o.k ?? 2, 2, 50);
  int('kMin', o.kMin, 2, 50);
  int('kMax', o.kMax, o.kMin, 50);
  int('--sample', o.sampleSize, MIN_CUSTOMERS, 1_000_000);
  int('silhouetteSample', o.silhouetteSample, MIN_CUSTOMERS, 20_000);
  int('restarts', o.restarts, 1, 20);
  int('maxIterations', o.maxIterations, 1, 10_000);
  int('refineIterations', o.refineIterations, 0, 10_000);
  if (!(o.silhouetteTolerance >= 0 && o.silhouetteTolerance < 1))
    throw new UsageError('silhouetteTolerance must be in [0, 1)');
  if (!(o.varianceTarget > 0 && o.varianceTarget <= 1))
    throw new UsageError('varianceTarget must be in (0, 1]');
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Segments customers; `rows` may be any iterable (for example a database cursor). */
export function runSegment(rows: Iterable<CustomerRow>, options: SegmentOptions = {}): SegmentResult {
  const opts = resolveSegmentOptions(options);
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round(now - mark);
    mark = now;
  };
  const table = buildCustomerTable(rows, options.sizeHint);
  lap('ingest');
  if (table.n === 0)
    throw new SalesgridError('E_TOO_FEW_CUSTOMERS', 'no customers to segment', { exitCode: 2 });
  let asOfDay = lastDayOf(table);
  if (options.asOf !== undefined) {
    asOfDay = dayNumber(options.asOf);
    if (Number.isNaN(asOfDay))
      throw new UsageError(`--as-of must be a YYYY-MM-DD date, got "${options.asOf}"`);
  }
  const features = buildFeatures(table, asOfDay);
  lap('features');
  const rfm = scoreRfm(table, asOfDay);
  lap('rfm');
  const { decile, deciles } = clvDeciles(table);
  lap('deciles');
  let total = 0n;
  for (let i = 0; i < table.n; i++) total += table.revenue[i];

  const summary: SegmentSummary = {
    customers: table.n,
    revenue: formatScaled(total, table.scale),
    asOf: features.asOf,
    k: null,
    silhouette: null,
    explainedVariance: [],
    componentsKept: 0,
    features: features.names.map((name, f) => ({ name, logged: features.logged[f] })),
    elbow: [],
    clusters: [],
    rfm: rfm.segments,
    clvDeciles: deciles,
    scatter: [],
    timingsMs: timings,
  };
  const cluster = new Int32Array(table.n).fill(-1);
  const result: SegmentResult = {
    summary,
    table,
    cluster,
    rfmSegment: rfm.segment,
    clvDecile: decile,
    clustering: null,
  };
  if (table.n < MIN_CUSTOMERS) {
    summary.refused = {
      code: 'E_TOO_FEW_CUSTOMERS',
      message: `segmentation needs at least ${MIN_CUSTOMERS} customers, found ${table.n}; RFM and deciles are still given`,
    };
    return result;
  }
  if (opts.k !== undefined && opts.k >= Math.min(table.n, opts.sampleSize)) {
    throw new UsageError(
      `--k ${opts.k} needs more customers in the sample than ${Math.min(table.n, opts.sampleSize)}`,
    );
  }

  const d = features.names.length;
  // The standardized rows are recomputed from the table in each pass instead of being stored:
  // at a million customers and 18 features they would be 144 MB.
  const fit = fitPcaCovariance(covarianceOfRows(table.n, d, features.zRow), opts.varianceTarget);
  const scatter = scatterSample(table.n, d, features.zRow, fit.loadings);
  const pca = { ...fit, scores: projectRows(table.n, d, features.zRow, fit.loadings, fit.kept) };
  lap('pca');
  let clustering: ClusterResult;
  try {
    clustering = clusterPoints(pca.scores, pca.kept, opts);
  } catch (err) {
    if (!(err instanceof SalesgridError && err.code === 'E_TOO_FEW_CUSTOMERS')) throw err;
    summary.refused = { code: err.code, message: `${err.message}; RFM and deciles are still given` };
    return result;
  }
  lap('cluster');
  cluster.set(clustering.assignment);
  result.clustering = clustering;
  summary.k = clustering.k;
  summary.silhouette = clustering.silhouette;
  summary.explainedVariance = pca.explainedVariance;
  summary.componentsKept = pca.kept;
  summary.elbow = clustering.scores;
  summary.clusters = profileClusters(table, features, clustering.assignment, clustering.k);
  summary.scatter = scatter.map(([i, pc1, pc2]) => ({ pc1, pc2, cluster: clustering.assignment[i] }));
  lap('profile');
  return result;
}

/** Evenly spaced customers on the first two components: [index, pc1, pc2]. */
function scatterSample(
  n: number,
  d: number,
  zRow: RowFill,
  loadings: number[][],
): Array<[number, number, number]> {
  const z = new Float64Array(d);
  const step = Math.max(1, Math.ceil(n / SCATTER_POINTS));
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < n; i += step) {
    let pc1 = 0;
    let pc2 = 0;
    zRow(i, z);
    for (let f = 0; f < d; f++) {
      pc1 += z[f] * loadings[f][0];
      pc2 += d > 1 ? z[f] * loadings[f][1] : 0;
    }
    out.push([i, pc1, pc2]);
  }
  return out;
}

/** Customer → segments, in customer id order, for a CRM export or the customer_segments table. */
export function* customerSegments(
  result: SegmentResult,
): Generator<{ customer: string; cluster: number | null; rfmSegment: RfmSegment; clvDecile: number }> {
  for (let i = 0; i < result.table.n; i++) {
    yield {
      customer: result.table.ids.get(i),
      cluster: result.cluster[i] < 0 ? null : result.cluster[i],
      rfmSegment: RFM_SEGMENTS[result.rfmSegment[i]],
      clvDecile: result.clvDecile[i],
    };
  }
}
