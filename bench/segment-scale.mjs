#!/usr/bin/env node
// Scale check for `runSegment`: N synthetic customers (default 1,000,000) with planted groups,
// streamed from a generator, through features, PCA, KMeans (k chosen by silhouette), profiles,
// RFM and deciles. Prints wall time, CPU time (wall on a loaded machine is mostly waiting),
// peak RSS and the phase timings.
//
//   npm run build && node bench/segment-scale.mjs [customers] [seed]
import { runSegment } from '../dist/segment/run-segment.js';

const n = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 42);

function* customers() {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const last = Date.UTC(2025, 11, 31) / 86_400_000;
  const day = (d) => new Date(d * 86_400_000).toISOString().slice(0, 10);
  for (let i = 0; i < n; i++) {
    const g = rand();
    const orders =
      g < 0.03
        ? 30 + Math.floor(rand() * 40)
        : g < 0.4
          ? 5 + Math.floor(rand() * 10)
          : g < 0.7
            ? 1
            : 2 + Math.floor(rand() * 4);
    const lapsed = g >= 0.7 && g < 0.9;
    const lastDay = last - (lapsed ? 400 + Math.floor(rand() * 300) : Math.floor(rand() * 60));
    const firstDay = orders === 1 ? lastDay : lastDay - 30 - Math.floor(rand() * 600);
    const cents = orders * (g < 0.03 ? 20_000 : 3_000) + Math.floor(rand() * 5_000);
    yield {
      customer: `C${String(i).padStart(7, '0')}`,
      rows: orders * 2,
      orders,
      units: orders * 3,
      revenue: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      firstDate: day(firstDay),
      lastDate: day(lastDay),
      monthsActive: Math.max(1, Math.min(orders, Math.round((lastDay - firstDay) / 30) + 1)),
      categoryShares: { Grocery: g < 0.8 ? 0.5 : 1, Books: g < 0.8 ? 0.3 : 0 },
    };
  }
}

const t0 = performance.now();
const res = runSegment(customers(), { seed });
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage();
const rssMb = process.resourceUsage().maxRSS / 1024;
const s = res.summary;
console.log(
  JSON.stringify(
    {
      customers: s.customers,
      wallSeconds: Number(wall.toFixed(2)),
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
      peakRssMb: Number(rssMb.toFixed(0)),
      k: s.k,
      silhouette: s.silhouette,
      componentsKept: s.componentsKept,
      sampleSize: res.clustering?.sampleSize,
      refineIterations: res.clustering?.refineIterations,
      timingsMs: s.timingsMs,
      clusterMs: res.clustering?.timingsMs,
      clusters: s.clusters.map((c) => `${c.cluster}: ${c.customers} ${c.label}`),
      elbow: s.elbow.map((e) => `${e.k}:${e.inertia.toFixed(0)}/${e.silhouette.toFixed(3)}`),
    },
    null,
    1,
  ),
);
