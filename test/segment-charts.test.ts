import { compile } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import { specToSvg } from '../src/eda/render.js';
import { segmentSpecs } from '../src/segment/charts.js';
import type { CustomerRow } from '../src/segment/customer-table.js';
import { runSegment } from '../src/segment/run-segment.js';
import { Rng } from './helpers/prng.js';

function rows(n: number): CustomerRow[] {
  const rng = new Rng(n);
  return Array.from({ length: n }, (_, i) => {
    const big = i % 10 === 0;
    const orders = big ? rng.int(20, 30) : rng.int(1, 4);
    return {
      customer: `c${i}`,
      rows: orders,
      orders,
      units: orders,
      revenue: `${orders * (big ? 900 : 40) + rng.int(0, 9)}.00`,
      firstDate: '2024-01-01',
      lastDate: `2025-0${rng.int(1, 9)}-15`,
      monthsActive: Math.min(orders, 12),
    };
  });
}

describe('segmentation charts', () => {
  it('gives six charts whose data is the summary, and each compiles and renders', async () => {
    const { summary } = runSegment(rows(400), { seed: 3 });
    const specs = segmentSpecs(summary);
    expect(Object.keys(specs)).toEqual([
      'pca-explained-variance',
      'k-choice',
      'pca-scatter',
      'cluster-profiles',
      'rfm-segments',
      'clv-pareto',
    ]);
    const values = (name: string) =>
      (specs[name] as { data: { values: Record<string, unknown>[] } }).data.values;
    expect(values('pca-explained-variance').map((v) => v.share)).toEqual(summary.explainedVariance);
    expect(values('k-choice')).toEqual(summary.elbow);
    expect(values('pca-scatter')).toHaveLength(summary.scatter.length);
    expect(values('cluster-profiles')).toHaveLength((summary.k ?? 0) * summary.features.length);
    expect(values('rfm-segments').map((v) => v.customers)).toEqual(summary.rfm.map((r) => r.customers));
    expect(values('clv-pareto').at(-1)?.cumulative).toBe(1);
    for (const [name, spec] of Object.entries(specs)) {
      expect(() => compile(spec), name).not.toThrow();
    }
    const svg = await specToSvg(specs['k-choice']);
    expect(svg).toContain(`Choosing k: k = ${summary.k}`);
  });

  it('without clusters, gives only the RFM and Pareto charts', () => {
    expect(Object.keys(segmentSpecs(runSegment(rows(10)).summary))).toEqual(['rfm-segments', 'clv-pareto']);
  });
});
