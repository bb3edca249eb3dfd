// Owns the choice of k and the clustering: ml-kmeans (k-means++, seeded) on a seeded sample for
// every k in a range, the inertia (elbow) and the mean silhouette of each, the best k, then
// Lloyd refinement of the chosen centroids over every customer and their final assignment.
// Points are row-major Float64Arrays; only the sample becomes number[][] for ml-kmeans.

import { kmeans } from 'ml-kmeans';
import { SalesgridError, UsageError } from '../errors.js';
import { mulberry32, seedState } from '../generate/random.js';

export interface ClusterOptions {
  seed: number;
  kMin: number;
  kMax: number;
  /** Fixes k instead of choosing it by the silhouette. */
  k?: number;
  /** Most points that ml-kmeans sees (a seeded sample). */
  sampleSize: number;
  /** Most points the silhouette is computed on: the first of the sample (O(n²)). */
  silhouetteSample: number;
  /** k is the largest whose silhouette is at least the best minus this. */
  silhouetteTolerance: number;
  /** ml-kmeans runs per k with consecutive seeds; the lowest inertia wins. */
  restarts: number;
  maxIterations: number;
  /** Lloyd passes over all points after the sample fit. */
  refineIterations: number;
}

export const DEFAULT_CLUSTER_OPTIONS: Readonly<Omit<ClusterOptions, 'seed'>> = Object.freeze({
  kMin: 2,
  kMax: 10,
  sampleSize: 20_000,
  silhouetteSample: 10_000,
  silhouetteTolerance: 0.01,
  restarts: 2,
  maxIterations: 300,
  refineIterations: 50,
});

export interface KScore {
  k: number;
  /** Sum of squared distances to the nearest centroid, over the sample. */
  inertia: number;
  /** Mean silhouette over the silhouette sample. */
  silhouette: number;
}

export interface ClusterResult {
  k: number;
  chosenBy: 'silhouette' | 'override';
  scores: KScore[];
  /** The silhouette of the chosen k on the sample. */
  silhouette: number;
  sampleSize: number;
  /** centroids[c * dims + j]. */
  centroids: Float64Array;
  /** Cluster of every point, numbered by size (0 = largest). */
  assignment: Int32Array;
  /** Inertia of the final assignment over all points. */
  inertia: number;
  refineIterations: number;
  /** Milliseconds spent fitting the sample, on silhouettes, and refining over all points. */
  timingsMs: { fit: number; silhouette: number; refine: number };
}

/** A seeded sample of `size` distinct indices from 0..n-1, ascending. */
export function sampleIndices(n: number, size: number, seed: number): Int32Array {
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  if (size >= n) return all;
  const rand = mulberry32(seedState(seed) ^ 0x5a3b1e);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = all[i];
    all[i] = all[j];
    all[j] = t;
  }
  return all.slice(0, size).sort();
}

function sqDist(p: Float64Array, pi: number, c: Float64Array, ci: number, dims: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) {
    const t = p[pi + j] - c[ci + j];
    s += t * t;
  }
  return s;
}

/** Nearest centroid of every point; returns the inertia. */
export function assign(points: Float64Array, dims: number, centroids: Float64Array, out: Int32Array): number {
  const n = out.length;
  const k = centroids.length / dims;
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const d = sqDist(points, i * dims, centroids, c * dims, dims);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    out[i] = best;
    inertia += bestD;
  }
  return inertia;
}

/**
 * Mean silhouette for several labelings of the same points at once: each pair's distance is
 * computed once and added to every labeling's per-cluster sums. O(n² · (dims + labelings)).
 */
export function silhouettes(
  points: Float64Array,
  dims: number,
  labelings: Int32Array[],
  ks: number[],
): number[] {
  const n = points.length / dims;
  const L = labelings.length;
  // One slot per (labeling, cluster); labels[j * L + l] is point j's slot in labeling l.
  const offset = new Int32Array(L + 1);
  for (let l = 0; l < L; l++) offset[l + 1] = offset[l] + ks[l];
  const slots = offset[L];
  const labels = new Int32Array(n * L);
  const size = new Float64Array(slots);
  for (let l = 0; l < L; l++) {
    for (let j = 0; j < n; j++) {
      const slot = offset[l] + labelings[l][j];
      labels[j * L + l] = slot;
      size[slot]++;
    }
  }
  const sum = new Float64Array(slots);
  const totals = new Float64Array(L);
  for (let i = 0; i < n; i++) {
    sum.fill(0);
    const pi = i * dims;
    for (let j = 0; j < n; j++) {
      const pj = j * dims;
      let s = 0;
      for (let t = 0; t < dims; t++) {
        const u = points[pi + t] - points[pj + t];
        s += u * u;
      }
      const d = Math.sqrt(s);
      const base = j * L;
      for (let l = 0; l < L; l++) sum[labels[base + l]] += d;
    }
    for (let l = 0; l < L; l++) {
      const own = labels[i * L + l];
      if (size[own] <= 1) continue; // a singleton's silhouette is 0
      const a = sum[own] / (size[own] - 1);
      let b = Number.POSITIVE_INFINITY;
      for (let c = offset[l]; c < offset[l + 1]; c++) {
        if (c !== own && size[c] > 0 && sum[c] / size[c] < b) b = sum[c] / size[c];
      }
      const m = Math.max(a, b);
      if (m > 0 && Number.isFinite(b)) totals[l] += (b - a) / m;
    }
  }
  return Array.from(totals, (t) => (n > 0 ? t / n : 0));
}

function fitSample(
  rows: number[][],
  k: number,
  opts: ClusterOptions,
): { centroids: number[][]; inertia: number } {
  let best: { centroids: number[][]; inertia: number } | undefined;
  for (let r = 0; r < opts.restarts; r++) {
    const res = kmeans(rows, k, {
      initialization: 'kmeans++',
      seed: opts.seed + r,
      maxIterations: opts.maxIterations,
    });
    let inertia = 0;
    for (let i = 0; i < rows.length; i++) {
      const c = res.centroids[res.clusters[i]];
      for (let j = 0; j < c.length; j++) inertia += (rows[i][j] - c[j]) ** 2;
    }
    if (!best || inertia < best.inertia) best = { centroids: res.centroids, inertia };
  }
  return best as { centroids: number[][]; inertia: number };
}

/** Share of points whose move still counts as not converged. */
const REFINE_TOLERANCE = 1e-4;

/** Lloyd iterations over all points from the given centroids; an emptied cluster keeps its centroid. */
function refine(
  points: Float64Array,
  dims: number,
  centroids: Float64Array,
  out: Int32Array,
  max: number,
): number {
  const k = centroids.length / dims;
  const n = out.length;
  const sums = new Float64Array(k * dims);
  const counts = new Float64Array(k);
  let iterations = 0;
  out.fill(-1);
  const next = new Int32Array(n);
  for (; iterations < max; iterations++) {
    assign(points, dims, centroids, next);
    let changed = 0;
    for (let i = 0; i < n; i++) if (next[i] !== out[i]) changed++;
    out.set(next);
    // Stop once at most 1 in 10,000 points moves: on overlapping retail clusters the last few
    // hundred boundary points kept 1M customers in all 50 passes (33 s of a 76 s segment run).
    if (changed <= n * REFINE_TOLERANCE) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = out[i];
      counts[c]++;
      for (let j = 0; j < dims; j++) sums[c * dims + j] += points[i * dims + j];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < dims; j++) centroids[c * dims + j] = sums[c * dims + j] / counts[c];
    }
  }
  return iterations;
}

/** Chooses k (or takes the override), clusters every point, and numbers clusters by size. */
export function clusterPoints(points: Float64Array, dims: number, opts: ClusterOptions): ClusterResult {
  const n = points.length / dims;
  const idx = sampleIndices(n, opts.sampleSize, opts.seed);
  const s = idx.length;
  const rows: number[][] = Array.from(idx, (i) => Array.from(points.subarray(i * dims, (i + 1) * dims)));
  const flat = new Float64Array(s * dims);
  for (let r = 0; r < s; r++) flat.set(rows[r], r * dims);

  // k-means++ cannot place more centroids than there are distinct points.
  const distinct = new Set(rows.map((r) => r.join(','))).size;
  if (distinct < 2) {
    throw new SalesgridError(
      'E_TOO_FEW_CUSTOMERS',
      'every customer has the same features: there is nothing to cluster',
      {
        exitCode: 2,
      },
    );
  }
  if (opts.k !== undefined && opts.k > distinct) {
    throw new UsageError(`--k ${opts.k} is more than the ${distinct} distinct customers in the sample`);
  }
  const kMax = Math.min(opts.kMax, s - 1, distinct);
  const ks: number[] = [];
  if (opts.k !== undefined) ks.push(opts.k);
  else for (let k = Math.min(opts.kMin, kMax); k <= kMax; k++) ks.push(k);
  let t = performance.now();
  const fits = ks.map((k) => fitSample(rows, k, opts));
  const fitMs = performance.now() - t;
  t = performance.now();
  const labelings = fits.map((f) => {
    const lab = new Int32Array(s);
    assign(flat, dims, Float64Array.from(f.centroids.flat()), lab);
    return lab;
  });
  // The sample is in index order; a seeded sub-sample of it keeps the silhouette O(m²) affordable.
  const sub = sampleIndices(s, Math.min(s, opts.silhouetteSample), opts.seed + 1);
  const subFlat = new Float64Array(sub.length * dims);
  for (let r = 0; r < sub.length; r++)
    subFlat.set(flat.subarray(sub[r] * dims, (sub[r] + 1) * dims), r * dims);
  const subLabels = labelings.map((lab) => Int32Array.from(sub, (r) => lab[r]));
  const sil = silhouettes(subFlat, dims, subLabels, ks);
  const silMs = performance.now() - t;
  t = performance.now();
  const scores = ks.map((k, i) => ({ k, inertia: fits[i].inertia, silhouette: sil[i] }));
  // The finest k whose silhouette is within the tolerance of the best: a near-tie between a
  // coarse and a detailed segmentation goes to the detailed one.
  // A k whose fit left a cluster empty (tied points) is no candidate, unless it is the only one.
  const full = labelings.map((lab, i) => new Set(lab).size === ks[i]);
  const candidates = scores.map((_, i) => i).filter((i) => full[i] || !full.some(Boolean));
  const top = Math.max(...candidates.map((i) => scores[i].silhouette));
  let best = candidates[0];
  for (const i of candidates) if (scores[i].silhouette >= top - opts.silhouetteTolerance) best = i;

  const k = ks[best];
  const centroids = Float64Array.from(fits[best].centroids.flat());
  const assignment = new Int32Array(n);
  const iterations = s < n ? refine(points, dims, centroids, assignment, opts.refineIterations) : 0;
  const inertia = assign(points, dims, centroids, assignment);

  // Number clusters by size (largest first; ties by first member) so the output reads the same way.
  const size = new Float64Array(k);
  const first = new Float64Array(k).fill(n);
  for (let i = 0; i < n; i++) {
    size[assignment[i]]++;
    if (first[assignment[i]] === n) first[assignment[i]] = i;
  }
  const order = Array.from({ length: k }, (_, c) => c).sort(
    (a, b) => size[b] - size[a] || first[a] - first[b],
  );
  const rename = new Int32Array(k);
  order.forEach((c, r) => {
    rename[c] = r;
  });
  for (let i = 0; i < n; i++) assignment[i] = rename[assignment[i]];
  const renamed = new Float64Array(k * dims);
  for (let c = 0; c < k; c++) renamed.set(centroids.subarray(c * dims, (c + 1) * dims), rename[c] * dims);

  return {
    k,
    chosenBy: opts.k === undefined ? 'silhouette' : 'override',
    scores,
    silhouette: scores[best].silhouette,
    sampleSize: s,
    centroids: renamed,
    assignment,
    inertia,
    refineIterations: iterations,
    timingsMs: {
      fit: Math.round(fitMs),
      silhouette: Math.round(silMs),
      refine: Math.round(performance.now() - t),
    },
  };
}
