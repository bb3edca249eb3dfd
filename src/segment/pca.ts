// Owns PCA over the standardized features: the covariance matrix in one pass over the rows (so a
// million customers never become a million-row ml-matrix), its eigen-decomposition by ml-pca,
// the explained variance of every component, and the projection onto the kept components.

import { PCA } from 'ml-pca';

export interface PcaResult {
  /** Share of the variance per component, largest first; sums to 1 (0s when all is constant). */
  explainedVariance: number[];
  cumulativeVariance: number[];
  /** Components kept: the fewest whose cumulative share reaches `target`. */
  kept: number;
  /** loadings[f][j]: weight of feature f in component j (unit eigenvectors as columns). */
  loadings: number[][];
  /** scores[i * kept + j]: customer i on component j. */
  scores: Float64Array;
}

/** Sample covariance (n - 1) of a row-major n × d matrix whose columns are already centered. */
export function covariance(z: Float64Array, n: number, d: number): number[][] {
  const acc = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    const base = i * d;
    for (let a = 0; a < d; a++) {
      const va = z[base + a];
      if (va === 0) continue;
      for (let b = a; b < d; b++) acc[a * d + b] += va * z[base + b];
    }
  }
  const den = Math.max(1, n - 1);
  const out: number[][] = [];
  for (let a = 0; a < d; a++) {
    out.push([]);
    for (let b = 0; b < d; b++) out[a].push((a <= b ? acc[a * d + b] : acc[b * d + a]) / den);
  }
  return out;
}

/** Projects centered rows onto the first `k` columns of `loadings`. */
export function project(
  z: Float64Array,
  n: number,
  d: number,
  loadings: number[][],
  k: number,
): Float64Array {
  const out = new Float64Array(n * k);
  const w = new Float64Array(d * k);
  for (let f = 0; f < d; f++) for (let j = 0; j < k; j++) w[f * k + j] = loadings[f][j];
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < d; f++) {
      const v = z[i * d + f];
      if (v === 0) continue;
      for (let j = 0; j < k; j++) out[i * k + j] += v * w[f * k + j];
    }
  }
  return out;
}

/**
 * `project` written over the input: row i's scores go to z[i * k, i * k + k), which only covers
 * rows already read (k ≤ d), so a million customers need no second matrix. Returns that prefix.
 */
export function projectInPlace(
  z: Float64Array,
  n: number,
  d: number,
  loadings: number[][],
  k: number,
): Float64Array {
  const w = new Float64Array(d * k);
  for (let f = 0; f < d; f++) for (let j = 0; j < k; j++) w[f * k + j] = loadings[f][j];
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let f = 0; f < d; f++) {
      const v = z[i * d + f];
      if (v === 0) continue;
      for (let j = 0; j < k; j++) row[j] += v * w[f * k + j];
    }
    z.set(row, i * k);
  }
  return z.subarray(0, n * k);
}

/** PCA without the projection: explained variance, components kept, sign-fixed loadings. */
export function fitPca(z: Float64Array, n: number, d: number, target = 0.9): Omit<PcaResult, 'scores'> {
  const pca = new PCA(covariance(z, n, d), { isCovarianceMatrix: true });
  const eigen = pca.getEigenvalues().map((v) => Math.max(0, v));
  const total = eigen.reduce((s, v) => s + v, 0);
  const explainedVariance = eigen.map((v) => (total > 0 ? v / total : 0));
  const cumulativeVariance: number[] = [];
  let run = 0;
  for (const v of explainedVariance) cumulativeVariance.push((run += v));
  let kept = cumulativeVariance.findIndex((c) => c >= target - 1e-12) + 1;
  if (kept <= 0) kept = d;
  const vectors = pca.getEigenvectors().to2DArray();
  for (let j = 0; j < d; j++) {
    let big = 0;
    for (let f = 0; f < d; f++) if (Math.abs(vectors[f][j]) > Math.abs(big)) big = vectors[f][j];
    if (big < 0) for (let f = 0; f < d; f++) vectors[f][j] = -vectors[f][j];
  }
  return { explainedVariance, cumulativeVariance, kept, loadings: vectors };
}

/**
 * PCA of a centered row-major matrix. The sign of each component is fixed (its largest-magnitude
 * loading positive), so the same data always gives the same scores.
 */
export function runPca(z: Float64Array, n: number, d: number, target = 0.9): PcaResult {
  const fit = fitPca(z, n, d, target);
  return { ...fit, scores: project(z, n, d, fit.loadings, fit.kept) };
}
