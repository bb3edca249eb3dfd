#!/usr/bin/env node
// Renders the segmentation charts of a retail-layout file to PNG, to look at them before the
// `segment` command exists. Per-customer rows are computed here from the CSV with plain splits.
//
//   npm run build && node bench/segment-charts.mjs data/retail.csv results/segment-charts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChart } from '../dist/eda/render.js';
import { segmentSpecs } from '../dist/segment/charts.js';
import { renderSegment } from '../dist/segment/format.js';
import { runSegment } from '../dist/segment/run-segment.js';

const [file = 'data/retail.csv', out = 'results/segment-charts'] = process.argv.slice(2);
const by = new Map();
const lines = readFileSync(file, 'latin1').split('\n');
for (let i = 1; i < lines.length; i++) {
  if (lines[i] === '') continue;
  const f = lines[i].split(',');
  let c = by.get(f[1]);
  if (!c) {
    c = {
      rows: 0,
      orders: new Set(),
      units: 0,
      cents: 0n,
      first: f[6],
      last: f[6],
      months: new Set(),
      cat: new Map(),
    };
    by.set(f[1], c);
  }
  const v = BigInt(f[9].replace('.', ''));
  c.rows++;
  c.orders.add(f[0]);
  c.units += Number(f[8]);
  c.cents += v;
  if (f[6] < c.first) c.first = f[6];
  if (f[6] > c.last) c.last = f[6];
  c.months.add(f[6].slice(0, 7));
  c.cat.set(f[5], (c.cat.get(f[5]) ?? 0n) + v);
}
const rows = [...by].map(([id, c]) => ({
  customer: id,
  rows: c.rows,
  orders: c.orders.size,
  units: c.units,
  revenue: `${c.cents / 100n}.${String(c.cents % 100n).padStart(2, '0')}`,
  firstDate: c.first,
  lastDate: c.last,
  monthsActive: c.months.size,
  categoryShares: Object.fromEntries([...c.cat].map(([k, v]) => [k, Number(v) / Number(c.cents)])),
}));
const res = runSegment(rows, { seed: 42, restarts: Number(process.env.RESTARTS ?? 2) });
process.stdout.write(renderSegment(res.summary));
mkdirSync(out, { recursive: true });
for (const [name, spec] of Object.entries(segmentSpecs(res.summary))) {
  const { png } = await renderChart(spec);
  writeFileSync(join(out, `${name}.png`), png);
  console.log(`${join(out, `${name}.png`)}`);
}
