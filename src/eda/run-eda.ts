/**
 * `eda`: charts of one finished run, read from SQLite only, written as PNG (and SVG) plus a
 * self-contained index.html.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { groupThousands } from '../aggregate/decimal.js';
import { Store } from '../db/store.js';
import { UsageError } from '../errors.js';
import { segmentSpecs } from '../segment/charts.js';
import type { SegmentSummary } from '../segment/run-segment.js';
import { basketCharts, loadBasketEda } from './basket-charts.js';
import type { EdaData } from './data.js';
import { loadEdaData, pickDoneRun } from './data.js';
import { martTitle, martTopSpec, revenueByDimensionSpec } from './key-specs.js';
import { renderChart } from './render.js';
import { monthlyRevenueSpec, throughputSpec, yearlyRevenueSpec } from './time-specs.js';
import {
  chunkTimelineSpec,
  pricePerWorkerSpec,
  revenueShareSpec,
  rowsPerWorkerSpec,
} from './worker-specs.js';

export interface EdaOptions {
  db: string;
  /** Default: the latest finished run. */
  runId?: number;
  /** Output directory, e.g. 'results/charts'. */
  out: string;
  /** Also write .svg files. */
  svg: boolean;
  /** Keys per dimension chart, e.g. 10. */
  topN: number;
}

export interface EdaResult {
  runId: number;
  /** Every file written: png, svg, html. */
  files: string[];
  /** Charts not drawn, each with its reason. */
  skipped: string[];
}

export interface PlannedChart {
  /** File name without extension. */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** File-name-safe form of a dimension name: 'Item Type' → 'item-type'. */
export function slug(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'dimension'
  );
}

/** Which charts this run supports, and why the others are left out. Pure. */
export function planCharts(data: EdaData, topN: number): { charts: PlannedChart[]; skipped: string[] } {
  const charts: PlannedChart[] = [];
  const skipped: string[] = [];
  const { run, workers } = data;
  const withRows = workers.filter((w) => w.rows > 0);

  if (withRows.length === 0) {
    skipped.push('rows per worker: no worker produced rows');
    skipped.push('revenue share: no worker produced rows');
    skipped.push('price per worker: no worker produced rows');
  } else {
    charts.push({ name: 'rows-per-worker', title: 'Rows per worker', spec: rowsPerWorkerSpec(workers) });
    if (withRows.some((w) => w.revenue > 0))
      charts.push({
        name: 'revenue-share',
        title: 'Revenue share per worker',
        spec: revenueShareSpec(workers),
      });
    else skipped.push('revenue share: the run has no positive revenue');
    charts.push({
      name: 'price-per-worker',
      title: run.priceBasis === 'unit price' ? 'Unit price per worker' : 'Line amount per worker',
      spec: pricePerWorkerSpec(workers, run.priceBasis),
    });
  }

  const noMonths = !run.hasDateColumn
    ? 'the run has no date column'
    : data.monthly.length === 0
      ? 'the run has no rows with a date'
      : null;
  if (noMonths === null) {
    charts.push({
      name: 'monthly-revenue',
      title: 'Monthly revenue',
      spec: monthlyRevenueSpec(data.monthly),
    });
    charts.push({ name: 'yearly-revenue', title: 'Yearly revenue', spec: yearlyRevenueSpec(data.monthly) });
  } else {
    skipped.push(`monthly revenue: ${noMonths}`);
    skipped.push(`yearly revenue: ${noMonths}`);
  }

  const wallSeconds = run.wallMs === null ? null : run.wallMs / 1000;
  if (data.attempts.length > 0)
    charts.push({
      name: 'chunk-timeline',
      title: 'Chunk timeline',
      spec: chunkTimelineSpec(data.attempts, wallSeconds),
    });
  else skipped.push('chunk timeline: the run recorded no chunk attempts');

  const used = new Set(charts.map((c) => c.name));
  const present = new Set(data.dimensions.map((d) => d.dimension));
  for (const d of data.dimensions) {
    let name = `revenue-by-${slug(d.dimension)}`;
    for (let i = 2; used.has(name); i++) name = `revenue-by-${slug(d.dimension)}-${i}`;
    used.add(name);
    charts.push({
      name,
      title: `Revenue by ${d.dimension}`,
      spec: revenueByDimensionSpec(d.dimension, d.keys, topN),
    });
  }
  for (const name of run.dimensionNames)
    if (!present.has(name)) skipped.push(`revenue by ${name}: the dimension has no keys`);
  if (run.dimensionNames.length === 0) skipped.push('revenue by dimension: the run has no dimension columns');

  // One chart per data mart (`--mart`); a run without marts simply has none, so nothing is skipped.
  const withKeys = new Set(data.marts.map((m) => m.mart));
  for (const m of data.marts) {
    let name = `mart-${slug(m.mart)}`;
    for (let i = 2; used.has(name); i++) name = `mart-${slug(m.mart)}-${i}`;
    used.add(name);
    charts.push({ name, title: martTitle(m, topN), spec: martTopSpec(m, topN) });
  }
  for (const name of run.martNames)
    if (!withKeys.has(name)) skipped.push(`mart ${name}: the mart has no keys`);

  if (wallSeconds !== null && wallSeconds > 0 && data.finishes.length > 0)
    charts.push({
      name: 'throughput',
      title: 'Throughput',
      spec: throughputSpec(data.finishes, wallSeconds),
    });
  else skipped.push('throughput: the run has no finished chunks or no duration');

  if (data.baskets) charts.push(...basketCharts(data.baskets));

  return { charts, skipped };
}

const SEGMENT_TITLES: Record<string, string> = {
  'pca-explained-variance': 'Customer segments: PCA explained variance',
  'k-choice': 'Customer segments: elbow and silhouette against k',
  'pca-scatter': 'Customer segments: customers on the first two components',
  'cluster-profiles': 'Customer segments: cluster profiles',
  'rfm-segments': 'Customers per RFM segment',
  'clv-pareto': 'Lifetime value: Pareto curve of revenue',
};

/** The run's last `salesgrid segment` result (tables written by segment/run-segment-command.ts), if any. */
function loadSegmentSummary(store: Store, runId: number): SegmentSummary | null {
  const tables = store.query<{ n: number }>(
    "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'segment_summaries'",
  );
  if (tables[0].n === 0) return null;
  const row = store.query<{ summary: string }>(
    'SELECT summary FROM segment_summaries WHERE run_id = ?',
    runId,
  );
  return row.length === 0 ? null : (JSON.parse(row[0].summary) as SegmentSummary);
}

/** The segmentation charts, when `segment` ran for this run (RFM and Pareto only when it refused to cluster). */
export function planSegmentCharts(summary: SegmentSummary | null): PlannedChart[] {
  if (summary === null) return [];
  return Object.entries(segmentSpecs(summary)).map(([name, spec]) => ({
    name: `segments-${name}`,
    title: SEGMENT_TITLES[name] ?? name,
    spec,
  }));
}

export async function runEda(opts: EdaOptions): Promise<EdaResult> {
  if (!Number.isInteger(opts.topN) || opts.topN < 1) throw new UsageError(`--top must be a whole number ≥ 1`);
  const store = Store.openReadOnly(opts.db);
  let data: EdaData;
  let segments: SegmentSummary | null;
  try {
    data = loadEdaData(store, pickDoneRun(store, opts.runId), opts.topN);
    segments = loadSegmentSummary(store, data.run.id);
    data.baskets = loadBasketEda(store, data.run.id);
  } finally {
    store.close();
  }

  const { charts, skipped } = planCharts(data, opts.topN);
  charts.push(...planSegmentCharts(segments));
  fs.mkdirSync(opts.out, { recursive: true });
  const files: string[] = [];
  const figures: Figure[] = [];
  for (const chart of charts) {
    const { svg, png } = await renderChart(chart.spec);
    const pngPath = path.join(opts.out, `${chart.name}.png`);
    fs.writeFileSync(pngPath, png);
    files.push(pngPath);
    if (opts.svg) {
      const svgPath = path.join(opts.out, `${chart.name}.svg`);
      fs.writeFileSync(svgPath, svg);
      files.push(svgPath);
    }
    figures.push({ name: chart.name, title: chart.title, png });
  }
  const htmlPath = path.join(opts.out, 'index.html');
  fs.writeFileSync(htmlPath, indexHtml(data, figures, skipped));
  files.push(htmlPath);
  return { runId: data.run.id, files, skipped };
}

// --- index.html --------------------------------------------------------------------------------

interface Figure {
  name: string;
  title: string;
  png: Buffer;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const money = (v: string | null) => (v === null ? '–' : `$${groupThousands(v)}`);

/** The PNG's width in pixels, from its IHDR chunk. */
export function pngWidth(png: Buffer): number {
  return png.readUInt32BE(16);
}

export function indexHtml(data: EdaData, figures: Figure[], skipped: string[]): string {
  const r = data.run;
  const basis = r.priceBasis;
  const facts: [string, string][] = [
    ['run', String(r.id)],
    ['file', r.file],
    ['rows', r.rows.toLocaleString('en-US')],
    ['rejected', r.rejected.toLocaleString('en-US')],
    ['revenue', money(r.revenue)],
    [`min ${basis}`, money(r.priceMin)],
    [`max ${basis}`, money(r.priceMax)],
    [`avg ${basis}`, money(r.priceAvg)],
    ['wall time', r.wallMs === null ? '–' : `${(r.wallMs / 1000).toFixed(2)} s`],
    ['workers', String(data.workers.length)],
    ['chunks', r.chunks.toLocaleString('en-US')],
    ['started', r.startedAt],
    ['finished', r.finishedAt ?? '–'],
  ];
  const figs = figures
    .map((f) => {
      // Rendered at 2×: show at half the pixel width so it stays sharp.
      const w = Math.round(pngWidth(f.png) / 2);
      return `<figure id="${esc(f.name)}"><img src="data:image/png;base64,${f.png.toString('base64')}" width="${w}" alt="${esc(f.title)}"></figure>`;
    })
    .join('\n');
  const skippedHtml =
    skipped.length === 0
      ? ''
      : `<section><h2>Not drawn</h2><ul>${skipped.map((s) => `<li>${esc(s)}</li>`).join('')}</ul></section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>salesgrid run ${r.id}</title>
<style>
body { font-family: 'DejaVu Sans', system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.5rem; }
h2 { font-size: 1.15rem; }
dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 0.75rem 1.5rem; margin: 1.5rem 0; }
dl div { border-left: 3px solid #4c78a8; padding-left: 0.6rem; }
dt { font-size: 0.8rem; color: #666; text-transform: uppercase; letter-spacing: 0.04em; }
dd { margin: 0.15rem 0 0; font-size: 1.05rem; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
figure { margin: 2.5rem 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
ul { color: #555; }
</style>
</head>
<body>
<h1>salesgrid run ${r.id}</h1>
<dl>
${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('\n')}
</dl>
${figs}
${skippedHtml}
</body>
</html>
`;
}
