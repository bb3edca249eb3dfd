#!/usr/bin/env node
// The worker's two parse paths side by side, in one process: the JS row parser (parse-chunk.ts)
// and the WASM SIMD path (wasm-parse.ts), over the same record-aligned chunks of a CSV, rounds
// interleaved. Prints per-row parse CPU (minimum and median over rounds), the first chunks of a
// fresh module (tier-up), the module's compile time, and whether both paths gave the same totals.
//
//   npm run build && node bench/parse-paths.mjs data/sales.csv [--rounds 5] [--chunk 4] [--mb 0]
//     [--dimension col ...] [--no-dimensions] [--mart col ...] [--no-customers] [--warm] [--json]
// A customer column (given or detected, as in `run`) adds the customers' runs unless --no-customers.
// --warm warms the WASM path on a synthetic chunk first, as a worker does while it waits for its
// first task; compare the first chunks' times with and without it (separate processes).
import { closeSync, openSync, readSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { recordChunks } from './record-chunks.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    chunk: { type: 'string', default: '4' },
    mb: { type: 'string', default: '0' },
    dimension: { type: 'string', multiple: true },
    'no-dimensions': { type: 'boolean', default: false },
    mart: { type: 'string', multiple: true },
    'no-customers': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    warm: { type: 'boolean', default: false },
  },
});
const file = positionals[0];
if (!file) {
  console.error(
    'usage: node bench/parse-paths.mjs <csv> [--rounds n] [--chunk MiB] [--mb limit] [--no-dimensions]',
  );
  process.exit(2);
}

const t0 = performance.now();
const wasm = await import('../dist/worker/wasm-parse.js');
const engineMs = (() => {
  const s = performance.now();
  wasm.wasmEngine();
  return performance.now() - s;
})();
const { parseChunk } = await import('../dist/worker/parse-chunk.js');
const { detectLayout } = await import('../dist/coordinator/layout.js');
const { parseColumnOptions } = await import('../dist/config-columns.js');
const importMs = performance.now() - t0;

const fd = openSync(file, 'r');
const head = Buffer.alloc(1 << 20);
const got = readSync(fd, head, 0, head.length, 0);
const layout = detectLayout(
  { bytes: head.subarray(0, got), complete: got < head.length, path: file },
  parseColumnOptions({
    dimension: values.dimension,
    mart: values.mart,
    customers: values['no-customers'] ? false : undefined,
  }),
);
const spec = values['no-dimensions'] ? { ...layout.spec, dimensions: [] } : layout.spec;

// Record-aligned chunks held in memory, so file reads are not timed.
const chunks = recordChunks(fd, layout.dataStart, Number(values.chunk) * 1024 * 1024, {
  maxBytes: Number(values.mb) * 1e6,
});
closeSync(fd);
const bytes = chunks.reduce((s, c) => s + c.length, 0);

function pass(fn) {
  let rows = 0;
  let rejected = 0;
  let revenue = 0n;
  const per = [];
  const c0 = process.cpuUsage();
  for (const c of chunks) {
    // CPU, not wall time: the machine is shared.
    const s = process.cpuUsage();
    const out = fn(c, spec);
    const d = process.cpuUsage(s);
    per.push((d.user + d.system) / 1000);
    rows += out.agg.rows;
    rejected += out.agg.rejected;
    revenue += out.agg.revenue;
  }
  const cpu = process.cpuUsage(c0);
  return { rows, rejected, revenue, cpuMs: (cpu.user + cpu.system) / 1000, per };
}

let warmMs = null;
if (values.warm) {
  const { warmWasm } = await import('../dist/worker/wasm-warm.js');
  const s = performance.now();
  warmWasm(spec);
  warmMs = performance.now() - s;
}
const rounds = Number(values.rounds);
const res = { js: [], wasm: [] };
let first = null;
for (let r = 0; r < rounds; r++) {
  for (const path of r % 2 === 0 ? ['wasm', 'js'] : ['js', 'wasm']) {
    const out = pass(path === 'js' ? parseChunk : wasm.parseChunkWasm);
    if (path === 'wasm' && first === null) first = out.per.slice(0, 5);
    res[path].push(out);
  }
}
const nsPerRow = (o) => (o.cpuMs * 1e6) / (o.rows + o.rejected);
const med = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const same = res.js.every(
  (o, i) =>
    o.rows === res.wasm[i].rows && o.revenue === res.wasm[i].revenue && o.rejected === res.wasm[i].rejected,
);
const summary = {
  file,
  mb: bytes / 1e6,
  chunks: chunks.length,
  rows: res.js[0].rows,
  rejected: res.js[0].rejected,
  dimensions: spec.dimensions.map((d) => d.name),
  marts: (spec.marts ?? []).map((d) => d.name),
  customer: spec.customer === undefined ? null : layout.header[spec.customer],
  eligible: wasm.wasmIneligible(spec) ?? 'yes',
  nsPerRow: {
    js: { min: Math.min(...res.js.map(nsPerRow)), median: med(res.js.map(nsPerRow)) },
    wasm: { min: Math.min(...res.wasm.map(nsPerRow)), median: med(res.wasm.map(nsPerRow)) },
  },
  gbPerSecWasm: bytes / 1e9 / (Math.min(...res.wasm.map((o) => o.cpuMs)) / 1000),
  steadyChunkMsWasm: med(res.wasm.at(-1).per),
  // Per chunk, every round but the first (tier-up): median, and the best round's median.
  chunkMs: Object.fromEntries(
    ['js', 'wasm'].map((p) => {
      const later = res[p].slice(rounds > 1 ? 1 : 0);
      return [
        p,
        { median: med(later.flatMap((o) => o.per)), bestRound: Math.min(...later.map((o) => med(o.per))) },
      ];
    }),
  ),
  firstChunksMsWasm: first,
  compileMs: engineMs,
  warmMs,
  importMs,
  identicalTotals: same,
};
if (values.json) console.log(JSON.stringify(summary, null, 2));
else {
  console.log(
    `${file}: ${summary.mb.toFixed(0)} MB, ${chunks.length} chunks, ${summary.rows.toLocaleString('en-US')} rows, dimensions [${summary.dimensions.join(', ')}], marts [${summary.marts.join(', ')}], customers ${summary.customer ?? 'none'}`,
  );
  for (const p of ['js', 'wasm'])
    console.log(
      `  ${p.padEnd(5)} per chunk: median ${summary.chunkMs[p].median.toFixed(1)} ms, best round's median ${summary.chunkMs[p].bestRound.toFixed(1)} ms`,
    );
  for (const p of ['js', 'wasm'])
    console.log(
      `  ${p.padEnd(5)} parse CPU per row: min ${summary.nsPerRow[p].min.toFixed(0)} ns, median ${summary.nsPerRow[p].median.toFixed(0)} ns`,
    );
  console.log(`  wasm  ${summary.gbPerSecWasm.toFixed(2)} GB/s per core at best`);
  console.log(
    `  wasm  compile+instantiate ${engineMs.toFixed(1)} ms${warmMs === null ? '' : `, warm-up ${warmMs.toFixed(1)} ms`}; first chunks ${first.map((x) => x.toFixed(1)).join(', ')} ms vs steady ${summary.steadyChunkMsWasm.toFixed(1)} ms`,
  );
  console.log(`  identical totals on every round: ${same}`);
}
if (!same) process.exitCode = 1;
