// Owns the outputs of a segmentation: the `--json` document, the human tables and the
// customer → segment CSV for a CRM. Pure: a result in, text out.

import { groupThousands } from '../aggregate/decimal.js';
import { renderTable } from '../table.js';
import { customerSegments, type SegmentResult, type SegmentSummary } from './run-segment.js';

/** The `segment --json` document; revenue stays exact decimal text. */
export function segmentJson(summary: SegmentSummary, runId: number | null = null) {
  return {
    runId,
    customers: summary.customers,
    revenue: summary.revenue,
    asOf: summary.asOf,
    k: summary.k,
    silhouette: summary.silhouette,
    explainedVariance: summary.explainedVariance,
    componentsKept: summary.componentsKept,
    features: summary.features,
    elbow: summary.elbow,
    clusters: summary.clusters.map((c) => ({
      cluster: c.cluster,
      customers: c.customers,
      revenue: c.revenue,
      label: c.label,
      profile: c.profile,
      zScores: c.zScores,
    })),
    rfm: summary.rfm,
    clvDeciles: summary.clvDeciles,
    ...(summary.refused ? { refused: summary.refused } : {}),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/** Human tables: PCA, the choice of k, clusters with their profiles, RFM segments, deciles. */
export function renderSegment(summary: SegmentSummary): string {
  const out: string[] = [];
  out.push(
    `${summary.customers.toLocaleString('en-US')} customers, revenue ${groupThousands(summary.revenue)}, recency as of ${summary.asOf}`,
  );
  if (summary.refused) {
    out.push('', `no clusters: ${summary.refused.message} (${summary.refused.code})`);
  } else {
    let cumulative = 0;
    out.push(
      '',
      'principal components (explained variance)',
      renderTable(
        ['component', 'explained', 'cumulative', 'kept'],
        summary.explainedVariance.map((v, j) => {
          cumulative += v;
          return [`PC${j + 1}`, pct(v), pct(cumulative), j < summary.componentsKept ? 'yes' : ''];
        }),
      ),
      '',
      `k = ${summary.k} (silhouette ${summary.silhouette?.toFixed(3)})`,
      renderTable(
        ['k', 'inertia', 'silhouette'],
        summary.elbow.map((e) => [e.k, e.inertia.toFixed(1), e.silhouette.toFixed(3)]),
      ),
      '',
      'clusters',
      renderTable(
        ['cluster', 'customers', 'revenue', 'recency d', 'orders', 'monetary', 'avg order', 'label'],
        summary.clusters.map((c) => [
          c.cluster,
          c.customers.toLocaleString('en-US'),
          groupThousands(c.revenue),
          num(c.profile.recency),
          num(c.profile.frequency),
          num(c.profile.monetary),
          num(c.profile.avgOrderValue),
          c.label,
        ]),
      ),
    );
  }
  out.push(
    '',
    'RFM segments',
    renderTable(
      ['segment', 'customers', 'revenue'],
      summary.rfm
        .filter((r) => r.customers > 0)
        .map((r) => [r.segment, r.customers.toLocaleString('en-US'), groupThousands(r.revenue)]),
    ),
    '',
    'lifetime-value deciles (1 = highest revenue)',
    renderTable(
      ['decile', 'customers', 'revenue', 'share', 'cumulative'],
      summary.clvDeciles.map((d) => [
        d.decile,
        d.customers.toLocaleString('en-US'),
        groupThousands(d.revenue),
        pct(Number(d.share)),
        pct(Number(d.cumulativeShare)),
      ]),
    ),
  );
  return `${out.join('\n')}\n`;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** customer,cluster,cluster_label,rfm_segment,clv_decile lines (header first), for a CRM. */
export function* segmentCsvLines(result: SegmentResult): Generator<string> {
  yield 'customer,cluster,cluster_label,rfm_segment,clv_decile\n';
  const labels = result.summary.clusters.map((c) => c.label);
  for (const c of customerSegments(result)) {
    const cluster = c.cluster === null ? '' : String(c.cluster);
    const label = c.cluster === null ? '' : labels[c.cluster];
    yield `${csvField(c.customer)},${cluster},${csvField(label)},${csvField(c.rfmSegment)},${c.clvDecile}\n`;
  }
}
