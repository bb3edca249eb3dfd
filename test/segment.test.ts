import { Matrix, SVD } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { clusterPoints, DEFAULT_CLUSTER_OPTIONS, silhouettes } from '../src/segment/cluster.js';
import { buildCustomerTable, CustomerIds, type CustomerRow } from '../src/segment/customer-table.js';
import { buildFeatures, featureColumn } from '../src/segment/features.js';
import { runPca } from '../src/segment/pca.js';
import { customerSegments, MIN_CUSTOMERS, runSegment } from '../src/segment/run-segment.js';
import { Rng } from './helpers/prng.js';

/** Standard normal by Box–Muller. */
function normal(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/** Adjusted Rand index of two labelings (Hubert and Arabie), from the contingency table. */
function adjustedRand(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]}|${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i], (rows.get(a[i]) ?? 0) + 1);
    cols.set(b[i], (cols.get(b[i]) ?? 0) + 1);
  }
  const c2 = (x: number) => (x * (x - 1)) / 2;
  const sum = (m: Map<unknown, number>) => [...m.values()].reduce((s, v) => s + c2(v), 0);
  const index = sum(table);
  const expected = (sum(rows) * sum(cols)) / c2(n);
  const max = (sum(rows) + sum(cols)) / 2;
  return (index - expected) / (max - expected);
}

function blobs(seed: number, centers: number[][], perBlob: number, sd: number) {
  const rng = new Rng(seed);
  const dims = centers[0].length;
  const points = new Float64Array(centers.length * perBlob * dims);
  const truth: number[] = [];
  let p = 0;
  for (let i = 0; i < centers.length * perBlob; i++) {
    // interleaved so no blob sits in one index range
    const c = i % centers.length;
    truth.push(c);
    for (let j = 0; j < dims; j++) points[p++] = centers[c][j] + sd * normal(rng);
  }
  return { points, truth, dims };
}

describe('clustering', () => {
  it('recovers planted Gaussian blobs (ARI ≥ 0.95) and chooses their number by silhouette', () => {
    const centers = [
      [0, 0, 0],
      [6, 0, 0],
      [0, 6, 0],
      [0, 0, 6],
      [6, 6, 6],
    ];
    const { points, truth, dims } = blobs(3, centers, 400, 1);
    const res = clusterPoints(points, dims, { ...DEFAULT_CLUSTER_OPTIONS, seed: 5 });
    expect(res.k).toBe(5);
    expect(res.scores.map((s) => s.k)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(adjustedRand(truth, res.assignment)).toBeGreaterThanOrEqual(0.95);
    // the elbow: inertia falls steeply up to 5 and slowly after
    const inertia = Object.fromEntries(res.scores.map((s) => [s.k, s.inertia]));
    expect(inertia[4] / inertia[5]).toBeGreaterThan(2);
    expect(inertia[5] / inertia[6]).toBeLessThan(1.2);
  });

  it('recovers blobs when only a sample is fitted, and assigns every point', () => {
    const { points, truth, dims } = blobs(
      8,
      [
        [0, 0],
        [8, 0],
        [0, 8],
      ],
      4_000,
      1,
    );
    const res = clusterPoints(points, dims, { ...DEFAULT_CLUSTER_OPTIONS, seed: 9, sampleSize: 1_000 });
    expect(res.sampleSize).toBe(1_000);
    expect(res.k).toBe(3);
    expect(res.assignment.every((c) => c >= 0 && c < 3)).toBe(true);
    expect(adjustedRand(truth, res.assignment)).toBeGreaterThanOrEqual(0.95);
  });

  it('computes the silhouette as its definition says (naive check)', () => {
    const rng = new Rng(4);
    const n = 60;
    const pts = Float64Array.from({ length: n * 2 }, () => rng.next() * 10);
    const lab = Int32Array.from({ length: n }, (_, i) => i % 3);
    const dist = (i: number, j: number) =>
      Math.hypot(pts[2 * i] - pts[2 * j], pts[2 * i + 1] - pts[2 * j + 1]);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const mean = (c: number) => {
        const js = [...Array(n).keys()].filter((j) => lab[j] === c && j !== i);
        return js.reduce((s, j) => s + dist(i, j), 0) / js.length;
      };
      const a = mean(lab[i]);
      const b = Math.min(...[0, 1, 2].filter((c) => c !== lab[i]).map(mean));
      total += (b - a) / Math.max(a, b);
    }
    const [got] = silhouettes(pts, 2, [lab], [3]);
    expect(got).toBeCloseTo(total / n, 12);
  });
});

describe('PCA', () => {
  it('matches an independent SVD of the standardized data to 1e-9', () => {
    const rng = new Rng(21);
    const n = 500;
    const d = 6;
    const z = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      const a = normal(rng);
      const b = normal(rng);
      const row = [a, 2 * a + 0.3 * normal(rng), b, b - a, normal(rng) * 0.2, 3 * normal(rng)];
      for (let f = 0; f < d; f++) z[i * d + f] = row[f];
    }
    // center and scale columns (what buildFeatures hands to PCA)
    for (let f = 0; f < d; f++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += z[i * d + f];
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (z[i * d + f] - m) ** 2;
      const sd = Math.sqrt(v / (n - 1));
      for (let i = 0; i < n; i++) z[i * d + f] = (z[i * d + f] - m) / sd;
    }
    const pca = runPca(z, n, d, 0.9);
    const X = new Matrix(Array.from({ length: n }, (_, i) => Array.from(z.subarray(i * d, (i + 1) * d))));
    const svd = new SVD(X, { computeLeftSingularVectors: true, computeRightSingularVectors: true });
    const eig = svd.diagonal.map((s) => (s * s) / (n - 1));
    const sum = eig.reduce((s, v) => s + v, 0);
    for (let j = 0; j < d; j++) expect(Math.abs(pca.explainedVariance[j] - eig[j] / sum)).toBeLessThan(1e-9);
    let cumulative = 0;
    let kept = 0;
    while (cumulative < 0.9) cumulative += eig[kept++] / sum;
    expect(pca.kept).toBe(kept);
    // scores = U·S, column signs free
    const U = svd.leftSingularVectors;
    for (let j = 0; j < pca.kept; j++) {
      const sign = Math.sign(pca.scores[j]) * Math.sign(U.get(0, j) * svd.diagonal[j]);
      for (let i = 0; i < n; i++) {
        expect(Math.abs(pca.scores[i * pca.kept + j] - sign * U.get(i, j) * svd.diagonal[j])).toBeLessThan(
          1e-9,
        );
      }
    }
  });
});

/** Customers with planted groups, as the keyed aggregation would give them. */
function plantedCustomers(seed: number, n: number): { rows: CustomerRow[]; group: number[] } {
  const rng = new Rng(seed);
  const last = Date.UTC(2025, 11, 31) / 86_400_000;
  const day = (d: number) => new Date(d * 86_400_000).toISOString().slice(0, 10);
  const rows: CustomerRow[] = [];
  const group: number[] = [];
  for (let i = 0; i < n; i++) {
    // 0 big spenders, 1 regulars, 2 one-time, 3 lapsed
    const g = i % 20 === 0 ? 0 : i % 3 === 0 ? 2 : i % 3 === 1 ? 1 : 3;
    const orders = g === 0 ? rng.int(40, 60) : g === 1 ? rng.int(8, 14) : g === 2 ? 1 : rng.int(3, 6);
    const lastDay = last - (g === 3 ? rng.int(500, 700) : rng.int(0, 40));
    const firstDay = orders === 1 ? lastDay : lastDay - rng.int(300, 600);
    const cents = orders * (g === 0 ? 30_000 : 4_000) + rng.int(0, 999);
    rows.push({
      customer: `c${String(i).padStart(5, '0')}`,
      rows: orders * 2,
      orders,
      units: orders * (g === 0 ? 6 : 2),
      revenue: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      firstDate: day(firstDay),
      lastDate: day(lastDay),
      monthsActive: Math.min(orders, 12),
    });
    group.push(g);
  }
  return { rows, group };
}

describe('runSegment', () => {
  it('finds the planted groups and labels them in plain words', () => {
    const { rows, group } = plantedCustomers(1, 2_000);
    const res = runSegment(rows, { seed: 3 });
    const s = res.summary;
    expect(s.customers).toBe(2_000);
    expect(s.explainedVariance).toHaveLength(7);
    expect(s.explainedVariance.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(s.clusters.reduce((a, c) => a + c.customers, 0)).toBe(2_000);
    // every customer is assigned; the planted groups come back
    const ids = rows.map((r) => r.customer);
    const byId = new Map([...customerSegments(res)].map((c) => [c.customer, c.cluster]));
    const assigned = ids.map((id) => byId.get(id) ?? -1);
    expect(assigned.every((c) => c >= 0)).toBe(true);
    expect(adjustedRand(group, assigned)).toBeGreaterThanOrEqual(0.95);
    const labelOf = (g: number) => s.clusters[assigned[group.indexOf(g)]].label;
    expect(labelOf(0)).toMatch(/frequent high spenders/);
    expect(labelOf(2)).toMatch(/one-time/);
    expect(labelOf(3)).toMatch(/^lapsed/);
    // exact revenue per cluster adds up to the total
    const cents = (t: string) => BigInt(t.replace('.', ''));
    expect(s.clusters.reduce((a, c) => a + cents(c.revenue), 0n)).toBe(cents(s.revenue));
  });

  it('gives the same segments for the same seed, whatever the row order', () => {
    const { rows } = plantedCustomers(2, 600);
    const a = runSegment(rows, { seed: 17 });
    const b = runSegment([...rows].reverse(), { seed: 17 });
    expect([...customerSegments(b)]).toEqual([...customerSegments(a)]);
    expect(b.summary.elbow).toEqual(a.summary.elbow);
    const k = runSegment(rows, { seed: 17, k: 7 });
    expect(k.summary.k).toBe(7);
    expect(k.clustering?.chosenBy).toBe('override');
  });

  it('refuses to cluster fewer than 20 customers with a coded reason, and still gives RFM and deciles', () => {
    const { rows } = plantedCustomers(3, MIN_CUSTOMERS - 1);
    const res = runSegment(rows);
    expect(res.summary.refused?.code).toBe('E_TOO_FEW_CUSTOMERS');
    expect(res.summary.k).toBeNull();
    expect(res.summary.rfm.reduce((a, r) => a + r.customers, 0)).toBe(MIN_CUSTOMERS - 1);
    expect(res.summary.clvDeciles).toHaveLength(10);
    expect([...customerSegments(res)].every((c) => c.cluster === null)).toBe(true);
  });

  it('does not invent clusters among identical customers', () => {
    const same: CustomerRow[] = Array.from({ length: 30 }, (_, i) => ({
      customer: `s${i}`,
      rows: 1,
      orders: 1,
      units: 1,
      revenue: '5.00',
      firstDate: '2025-01-01',
      lastDate: '2025-01-01',
      monthsActive: 1,
    }));
    const alike = runSegment(same);
    expect(alike.summary.refused?.code).toBe('E_TOO_FEW_CUSTOMERS');
    expect(alike.summary.clvDeciles).toHaveLength(10);
    const two = same.map((r, i) => (i % 2 ? r : { ...r, revenue: '900.00', orders: 5 }));
    const res = runSegment(two);
    expect(res.summary.k).toBe(2);
    expect(res.summary.clusters.map((c) => c.customers)).toEqual([15, 15]);
    expect(() => runSegment(two, { k: 3 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });

  it('rejects a bad customer row with a coded error naming it', () => {
    const { rows } = plantedCustomers(4, 30);
    const bad = [...rows];
    bad[7] = { ...bad[7], revenue: '12,50' };
    expect(() => runSegment(bad)).toThrow(
      expect.objectContaining({ code: 'E_INPUT', message: expect.stringContaining('c00007') }),
    );
    const dup = [...rows, rows[3]];
    expect(() => runSegment(dup)).toThrow(
      expect.objectContaining({ code: 'E_INPUT', message: expect.stringContaining('twice') }),
    );
    expect(() => runSegment(rows, { k: 1 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

describe('features', () => {
  it('computes each customer feature from its row, logs the skewed ones and standardizes', () => {
    const table = buildCustomerTable([
      {
        customer: 'a',
        rows: 4,
        orders: 2,
        units: 6,
        revenue: '100.50',
        firstDate: '2025-01-01',
        lastDate: '2025-03-01',
        monthsActive: 2,
      },
      {
        customer: 'b',
        rows: 1,
        orders: 1,
        units: 1,
        revenue: '9.999',
        firstDate: '2025-02-10',
        lastDate: '2025-02-10',
        monthsActive: 1,
        categoryShares: { Books: 1 },
      },
      {
        customer: 'c',
        rows: 9,
        orders: 5,
        units: 20,
        revenue: '2000',
        firstDate: '2024-12-01',
        lastDate: '2025-03-31',
        monthsActive: 4,
        categoryShares: { Books: 0.25, Toys: 0.75 },
      },
    ]);
    expect(table.scale).toBe(3);
    expect([...table.revenue]).toEqual([100_500n, 9_999n, 2_000_000n]);
    const f = buildFeatures(table);
    expect(f.asOf).toBe('2025-03-31');
    const d = f.names.length;
    const col = (name: string) => Array.from(featureColumn(f.rawRow, 3, d, f.names.indexOf(name)));
    expect(col('recency')).toEqual([30, 49, 0]);
    expect(col('frequency')).toEqual([2, 1, 5]);
    expect(col('monetary')).toEqual([100.5, 9.999, 2000]);
    expect(col('avgOrderValue')).toEqual([50.25, 9.999, 400]);
    expect(col('unitsPerOrder')).toEqual([3, 1, 4]);
    expect(col('tenure')).toEqual([89, 49, 120]);
    expect(col('monthsActive')).toEqual([2, 1, 4]);
    expect(col('topCategoryShare')).toEqual([0, 1, 0.75]);
    expect(col('share:Books')).toEqual([0, 1, 0.25]);
    expect(col('share:Toys')).toEqual([0, 0, 0.75]);
    for (let j = 0; j < d; j++) {
      const v = Array.from(featureColumn(f.zRow, 3, d, j));
      expect(v.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
      // base features and the top share have variance 1; the two share columns 1/2 each
      expect(v.reduce((a, b) => a + b * b, 0) / 2).toBeCloseTo(j < 8 ? 1 : 0.5, 12);
      expect(f.weights[j]).toBeCloseTo(j < 8 ? 1 : Math.SQRT1_2, 15);
    }
  });
});

describe('streamed rows', () => {
  it('PCA of the features computed row by row matches an SVD of the materialized matrix to 1e-9', () => {
    const { rows } = plantedCustomers(6, 800);
    const withShares = rows.map((r, i) => ({
      ...r,
      categoryShares: { Books: (i % 7) / 7, Toys: ((i * 3) % 5) / 10 },
    }));
    const table = buildCustomerTable(withShares);
    const f = buildFeatures(table);
    const n = table.n;
    const d = f.names.length;
    const X = new Matrix(n, d);
    const row = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      f.zRow(i, row);
      for (let j = 0; j < d; j++) X.set(i, j, row[j]);
    }
    const svd = new SVD(X, { computeLeftSingularVectors: false, computeRightSingularVectors: false });
    const eig = svd.diagonal.map((v) => (v * v) / (n - 1));
    const sum = eig.reduce((a, v) => a + v, 0);
    const res = runSegment(withShares, { seed: 1 });
    expect(res.summary.explainedVariance).toHaveLength(d);
    for (let j = 0; j < d; j++)
      expect(Math.abs(res.summary.explainedVariance[j] - eig[j] / sum)).toBeLessThan(1e-9);
    // each standardized column: mean 0, variance = weight²
    for (let j = 0; j < d; j++) {
      const col = featureColumn(f.zRow, n, d, j);
      const mean = col.reduce((a, v) => a + v, 0) / n;
      const variance = col.reduce((a, v) => a + v * v, 0) / (n - 1);
      expect(Math.abs(mean)).toBeLessThan(1e-12);
      if (f.sd[j] > 0) expect(variance).toBeCloseTo(f.weights[j] ** 2, 10);
    }
  });

  it('packs customer ids in byte order, finds duplicates, and sorts unsorted input the same way', () => {
    const ids = new CustomerIds(2);
    const words = ['b', 'a', 'ab', 'é', 'z', '\u{1F600}', '\uFFFD', 'a'.repeat(200)];
    for (const w of words) ids.push(w);
    expect(ids.length).toBe(words.length);
    expect(Array.from({ length: ids.length }, (_, i) => ids.get(i))).toEqual(words);
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const order = Int32Array.from(words.keys()).sort((x, y) => ids.compare(x, y));
    const sorted = ids.permute(order);
    expect(Array.from({ length: sorted.length }, (_, i) => sorted.get(i))).toEqual(byBytes);
    expect(ids.compare(0, 0)).toBe(0);
    const base = plantedCustomers(7, 40).rows;
    const shuffled = [...base].reverse().map((r, i) => ({ ...r, customer: words[i % 8] + String(i) }));
    const a = buildCustomerTable(shuffled);
    const b = buildCustomerTable([...shuffled].reverse(), 1);
    const list = (t: typeof a) => Array.from({ length: t.n }, (_, i) => t.ids.get(i));
    expect(list(a)).toEqual(list(b));
    expect(list(a)).toEqual(
      shuffled.map((r) => r.customer).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
    );
    expect([...a.revenue]).toEqual([...b.revenue]);
    expect(() => buildCustomerTable([...shuffled, { ...shuffled[3] }])).toThrow(/appears twice/);
  });
});
