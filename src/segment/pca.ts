// Owns PCA over the standardized features: the covariance matrix in one pass over the rows (so a
// million customers never become a million-row ml-matrix), its eigen-decomposition by ml-pca,
// the explained variance of every component, and the projection onto the kept components. Rows
// come from a fill function, so the n × d standardized matrix never has to exist.

import { PCA } from 'ml-pca';
import type { RowFill } from './features.js';

export interface PcaFit {
  /** Share of the variance per component, largest first; sums to 1 (0s when all is constant). */
  explainedVariance: number[];
  cumulativeVariance: number[];
  /** Components kept: the fewest whose cumulative share reaches `target`. */
  kept: number;
  /** loadings[f][j]: weight of feature f in component j (unit eigenvectors as columns). */
  loadings: number[][];
}

export interface PcaResult extends PcaFit {
  /** scores[i * kept + j]: customer i on component j. */
  scores: Float64Array;
}

/** Rows of a row-major n × d matrix as a fill function. */
export function matrixRows(z: Float64Array, d: number): RowFill {
  return (i, out) => {
    for (let f = 0; f < d; f++) out[f] = z[i * d + f];
  };
}

/** Sample covariance (n - 1) of n rows of d values whose columns are already centered. */
export function covarianceOfRows(n: number, d: number, fill: RowFill): number[][] {
  const acc = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    fill(i, row);
    for (let a = 0; a < d; a++) {
      const va = row[a];
      if (va === 0) continue;
      for (let b = a; b < d; b++) acc[a * d + b] += va * row[b];
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

/** Sample covariance (n - 1) of a row-major n × d matrix whose columns are already centered. */
export function covariance(z: Float64Array, n: number, d: number): number[][] {
  return covarianceOfRows(n, d, matrixRows(z, d));
}

/** Projects n centered rows onto the first `k` columns of `loadings`: scores[i * k + j]. */
export function projectRows(
  n: number,
  d: number,
  fill: RowFill,
  loadings: number[][],
  k: number,
): Float64Array {
  const out = new Float64Array(n * k);
  const w = new Float64Array(d * k);
  for (let f = 0; f < d; f++) for (let j = 0; j < k; j++) w[f * k + j] = loadings[f][j];
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    fill(i, row);
    for (let f = 0; f < d; f++) {
      const v = row[f];
      if (v === 0) continue;
      for (let j = 0; j < k; j++) out[i * k + j] += v * w[f * k + j];
    }
  }
  return out;
}

/** Projects centered rows of a row-major matrix onto the first `k` columns of `loadings`. */
export function project(
  z: Float64Array,
  n: number,
  d: number,
  loadings: number[][],
  k: number,
): Float64Array {
  return projectRows(n, d, matrixRows(z, d), loadings, k);
}

/**
 * PCA of a d × d covariance matrix: explained variance, components kept, loadings. The sign of
 * each component is fixed (its largest-magnitude loading positive), so the same data always
 * gives the same scores.
 */
export function fitPcaCovariance(cov: number[][], target = 0.9): PcaFit {
  const d = cov.length;
  const pca = new PCA(cov, { isCovarianceMatrix: true });
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

/** PCA without the projection, of a centered row-major n × d matrix. */
export function fitPca(z: Float64Array, n: number, d: number, target = 0.9): PcaFit {
  return fitPcaCovariance(covariance(z, n, d), target);
}

/** PCA of a centered row-major n × d matrix, with the scores. */
export function runPca(z: Float64Array, n: number, d: number, target = 0.9): PcaResult {
  const fit = fitPca(z, n, d, target);
  return { ...fit, scores: project(z, n, d, fit.loadings, fit.kept) };
}
