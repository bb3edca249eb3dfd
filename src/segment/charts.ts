// Owns the segmentation chart specs (vega-lite), pure: a segmentation summary in, specs out.
// `eda` will render them once the segments table exists; the style comes from src/eda/chart-style.ts.

import type { TopLevelSpec } from 'vega-lite';
import { BLUE, CONFIG, GREY, HEIGHT, ORANGE, SCHEMA, WIDTH } from '../eda/chart-style.js';
import type { SegmentSummary } from './run-segment.js';

const clusterName = (summary: SegmentSummary, c: number) => `${c}: ${summary.clusters[c]?.label ?? ''}`;

/** Explained variance per component (bars) and cumulative (line), with the 90% rule. */
export function explainedVarianceSpec(summary: SegmentSummary, target = 0.9): TopLevelSpec {
  let run = 0;
  const values = summary.explainedVariance.map((v, j) => ({
    component: `PC${j + 1}`,
    share: v,
    cumulative: (run += v),
    kept: j < summary.componentsKept ? 'kept' : 'dropped',
  }));
  return {
    $schema: SCHEMA,
    title: {
      text: 'PCA: explained variance',
      subtitle: `${summary.componentsKept} of ${values.length} components explain ${(100 * (values[summary.componentsKept - 1]?.cumulative ?? 0)).toFixed(1)}% (target ${100 * target}%)`,
    },
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: 'bar', width: { band: 0.6 } },
        encoding: {
          x: { field: 'component', type: 'ordinal', sort: null, axis: { labelAngle: 0, title: null } },
          y: {
            field: 'share',
            type: 'quantitative',
            axis: { format: '.0%', title: 'share of variance' },
            scale: { domain: [0, 1] },
          },
          color: {
            field: 'kept',
            type: 'nominal',
            scale: { domain: ['kept', 'dropped'], range: [BLUE, '#b7c9dd'] },
            legend: { title: null },
          },
        },
      },
      {
        mark: { type: 'line', color: ORANGE, point: true, strokeWidth: 2.5 },
        encoding: {
          x: { field: 'component', type: 'ordinal', sort: null, axis: { labelAngle: 0, title: null } },
          y: { field: 'cumulative', type: 'quantitative', scale: { domain: [0, 1] } },
        },
      },
      {
        data: { values: [{ y: target }] },
        mark: { type: 'rule', color: GREY, strokeDash: [6, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** Inertia (the elbow) and mean silhouette against k, the chosen k marked. */
export function kChoiceSpec(summary: SegmentSummary): TopLevelSpec {
  const panel = (field: 'inertia' | 'silhouette', color: string, title: string) => ({
    width: WIDTH / 2 - 40,
    height: HEIGHT - 100,
    layer: [
      {
        mark: { type: 'line' as const, color, point: true, strokeWidth: 2.5 },
        encoding: {
          x: { field: 'k', type: 'ordinal' as const, axis: { labelAngle: 0 } },
          y: { field, type: 'quantitative' as const, axis: { title }, scale: { zero: false } },
        },
      },
      {
        transform: [{ filter: `datum.k == ${summary.k ?? -1}` }],
        mark: { type: 'point' as const, color: 'black', size: 220, shape: 'diamond', filled: true },
        encoding: {
          x: { field: 'k', type: 'ordinal' as const },
          y: { field, type: 'quantitative' as const },
        },
      },
    ],
  });
  return {
    $schema: SCHEMA,
    title: {
      text: `Choosing k: k = ${summary.k}`,
      subtitle: 'the elbow (inertia on the sample) and the mean silhouette; the diamond is the chosen k',
    },
    config: CONFIG,
    data: { values: summary.elbow },
    hconcat: [
      panel('inertia', BLUE, 'inertia (sum of squared distances)'),
      panel('silhouette', ORANGE, 'mean silhouette'),
    ],
  } as TopLevelSpec;
}

/** Customers on the first two components, coloured by cluster (an even sample). */
export function pcaScatterSpec(summary: SegmentSummary): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: {
      text: 'Customers on the first two principal components',
      subtitle: `${summary.scatter.length.toLocaleString('en-US')} of ${summary.customers.toLocaleString('en-US')} customers, coloured by cluster`,
    },
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: summary.scatter.map((p) => ({ ...p, name: clusterName(summary, p.cluster) })) },
    mark: { type: 'circle', size: 28, opacity: 0.6 },
    encoding: {
      x: { field: 'pc1', type: 'quantitative', axis: { title: 'PC1' } },
      y: { field: 'pc2', type: 'quantitative', axis: { title: 'PC2' } },
      color: { field: 'name', type: 'nominal', legend: { title: 'cluster' }, scale: { scheme: 'tableau10' } },
    },
  } as TopLevelSpec;
}

/** Cluster × feature z-scores of the mean raw features, with the means written in. */
export function profileHeatmapSpec(summary: SegmentSummary): TopLevelSpec {
  const values = summary.clusters.flatMap((c) =>
    Object.keys(c.zScores).map((feature) => ({
      cluster: clusterName(summary, c.cluster),
      feature,
      z: Math.max(-3, Math.min(3, c.zScores[feature])),
      mean:
        Math.abs(c.profile[feature]) >= 100 ? c.profile[feature].toFixed(0) : c.profile[feature].toFixed(2),
    })),
  );
  return {
    $schema: SCHEMA,
    title: {
      text: 'Cluster profiles',
      subtitle: 'colour: z-score of the cluster mean against all customers (clipped at ±3); text: the mean',
    },
    width: WIDTH,
    height: Math.max(200, 48 * summary.clusters.length),
    config: CONFIG,
    data: { values },
    encoding: {
      x: { field: 'feature', type: 'nominal', sort: null, axis: { labelAngle: -30, title: null } },
      y: { field: 'cluster', type: 'nominal', sort: null, axis: { title: null, labelLimit: 360 } },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'z',
            type: 'quantitative',
            scale: { scheme: 'redblue', reverse: true, domain: [-3, 3] },
            legend: { title: 'z' },
          },
        },
      },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'mean', type: 'nominal' } } },
    ],
  } as TopLevelSpec;
}

/** Customers and revenue per RFM segment. */
export function rfmSegmentsSpec(summary: SegmentSummary): TopLevelSpec {
  const values = summary.rfm.map((r) => ({
    segment: r.segment,
    customers: r.customers,
    revenue: Number(r.revenue),
  }));
  const bar = (field: 'customers' | 'revenue', color: string, title: string) => ({
    width: WIDTH / 2 - 80,
    height: HEIGHT - 100,
    mark: { type: 'bar' as const, color },
    encoding: {
      y: { field: 'segment', type: 'nominal' as const, sort: null, axis: { title: null } },
      x: {
        field,
        type: 'quantitative' as const,
        // At half width the last label, flushed inside the axis, ran into the one before it.
        axis: { title, format: field === 'revenue' ? '$.3~s' : ',.0f', tickCount: 5, labelFlush: false },
      },
    },
  });
  return {
    $schema: SCHEMA,
    title: {
      text: 'RFM segments',
      subtitle: 'R, F and M quintile scores; segments from R and the mean of F and M',
    },
    config: CONFIG,
    data: { values },
    hconcat: [bar('customers', BLUE, 'customers'), bar('revenue', ORANGE, 'revenue')],
  } as TopLevelSpec;
}

/** The lifetime-value Pareto curve: revenue share per decile and the running share. */
export function paretoSpec(summary: SegmentSummary): TopLevelSpec {
  const values = summary.clvDeciles.map((d) => ({
    decile: d.decile,
    share: Number(d.share),
    cumulative: Number(d.cumulativeShare),
  }));
  const top = values[0]?.share ?? 0;
  return {
    $schema: SCHEMA,
    title: {
      text: 'Lifetime value: revenue by customer decile',
      subtitle: `the top tenth of customers brings ${(100 * top).toFixed(1)}% of the revenue`,
    },
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values },
    encoding: {
      x: { field: 'decile', type: 'ordinal', axis: { labelAngle: 0, title: 'decile (1 = highest revenue)' } },
    },
    layer: [
      {
        mark: { type: 'bar', color: BLUE, width: { band: 0.6 } },
        encoding: {
          y: {
            field: 'share',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { format: '.0%', title: 'share of revenue' },
          },
        },
      },
      {
        mark: { type: 'line', color: ORANGE, point: true, strokeWidth: 2.5 },
        encoding: { y: { field: 'cumulative', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** Every segmentation chart by file name; without clusters, only RFM and Pareto. */
export function segmentSpecs(summary: SegmentSummary): Record<string, TopLevelSpec> {
  const always = { 'rfm-segments': rfmSegmentsSpec(summary), 'clv-pareto': paretoSpec(summary) };
  if (summary.k === null) return always;
  return {
    'pca-explained-variance': explainedVarianceSpec(summary),
    'k-choice': kChoiceSpec(summary),
    'pca-scatter': pcaScatterSpec(summary),
    'cluster-profiles': profileHeatmapSpec(summary),
    ...always,
  };
}
