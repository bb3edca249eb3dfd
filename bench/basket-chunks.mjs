#!/usr/bin/env node
// Per-chunk cost of baskets in one process: the same record-aligned chunks parsed on the WASM path
// without baskets, with baskets, and (with --js) on the JS path with baskets, rounds interleaved.
// Prints each variant's CPU per chunk (best and median over rounds) and
// whether the WASM and JS basket outcomes are identical.
//
//   npm run build && node bench/basket-chunks.mjs data/retail-5000000-p500-c50-l5.csv \
//     [--item category] [--rounds 9] [--chunks 20] [--chunk 4] [--js]
import { closeSync, openSync, readSync } from 'node:fs';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { recordChunks } from './record-chunks.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    item: { type: 'string', default: 'category' },
    rounds: { type: 'string', default: '9' },
    chunks: { type: 'string', default: '20' },
    chunk: { type: 'string', default: '4' },
    js: { type: 'boolean', default: false },
  },
});
const file = positionals[0];
const wasm = await import('../dist/worker/wasm-parse.js');
const { parseChunk } = await import('../dist/worker/parse-chunk.js');
const { detectLayout } = await import('../dist/coordinator/layout.js');
const { parseColumnOptions } = await import('../dist/config-columns.js');

const fd = openSync(file, 'r');
const head = Buffer.alloc(1 << 20);
const got = readSync(fd, head, 0, head.length, 0);
const layout = detectLayout(
  { bytes: head.subarray(0, got), complete: got < head.length, path: file },
  parseColumnOptions({ noCustomers: true, customers: false }),
);
const plain = { ...layout.spec, customer: undefined, category: undefined };
delete plain.customer;
delete plain.category;
const names = head.subarray(0, head.indexOf(0x0a)).toString().split(',');
const basket = {
  ...plain,
  order: names.indexOf('order_id'),
  item: names.indexOf(values.item),
  basketItems: 1000,
};
const chunks = recordChunks(fd, layout.dataStart, Number(values.chunk) * 1024 * 1024, {
  maxChunks: Number(values.chunks),
});
closeSync(fd);

const variants = {
  'wasm plain': (c) => wasm.parseChunkWasm(c, plain),
  'wasm baskets': (c) => wasm.parseChunkWasm(c, basket),
};
if (values.js) variants['js baskets'] = (c) => parseChunk(c, basket);
const med = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const perRound = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const names2 = Object.keys(variants);
for (let r = 0; r < Number(values.rounds); r++) {
  const order = r % 2 === 0 ? names2 : [...names2].reverse();
  for (const name of order) {
    // CPU of the process (all threads, GC included) per chunk: steadier than wall on a shared machine.
    const c0 = process.cpuUsage();
    for (const c of chunks) variants[name](c);
    const cpu = process.cpuUsage(c0);
    perRound[name].push((cpu.user + cpu.system) / 1000 / chunks.length);
  }
}
let identical = null;
if (values.js) {
  const cells = (o) =>
    o.cells
      .filter((r) => r.kind === 'basket')
      .map((r) => ({ name: r.name, blocks: r.blocks.map((b) => Buffer.from(b).toString('hex')) }));
  identical = chunks.every((c) =>
    isDeepStrictEqual(cells(wasm.parseChunkWasm(c, basket)), cells(parseChunk(c, basket))),
  );
}
console.log(
  `${file}: ${chunks.length} chunks of ${values.chunk} MiB, --item ${values.item}, ${values.rounds} rounds`,
);
for (const name of names2)
  console.log(
    `  ${name.padEnd(13)} CPU per chunk: best ${Math.min(...perRound[name]).toFixed(2)} ms, median ${med(perRound[name]).toFixed(2)} ms`,
  );
if (identical !== null) console.log(`  WASM and JS basket runs identical on every chunk: ${identical}`);
