#!/usr/bin/env node
// Baskets benchmark: `run --order order_id --item <col>` against the same run without baskets on
// one retail file (paired rounds, order flipped every round), with each process's peak RSS, and
// the many-products case (10,000 products, --basket-items 1000) for memory.
//
//   node bench/baskets.mjs [--runs 3] [--rows 5000000] [--products 500] [--categories 50] [--lines-per-order 5] [--item product]
//
// Writes results/baskets-bench.json and results/baskets-bench.md and prints the table. Exit code 1
// when a run fails or the baskets' order count differs from the file's distinct order ids.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const CLI = join(ROOT, 'bin', 'salesgrid.js');
const RESULTS = join(ROOT, 'results');
const Database = createRequire(join(ROOT, 'package.json'))('better-sqlite3');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rows: { type: 'string', default: '5000000' },
    products: { type: 'string', default: '500' },
    categories: { type: 'string', default: '50' },
    'lines-per-order': { type: 'string', default: '5' },
    data: { type: 'string', default: join(ROOT, 'data') },
    extra: { type: 'string', default: '' },
    minimal: { type: 'string', default: '--no-customers' },
    item: { type: 'string', default: 'category,product' },
    workers: { type: 'string', default: '2' },
    skip: { type: 'string', default: '' },
    timeout: { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: node bench/baskets.mjs [options]
  --runs <n>        paired rounds, medians quoted (default 3)
  --rows <n>        order lines of the retail file (default 5000000)
  --products <n>    products of the retail file (default 500)
  --categories <n>  categories of the retail file (default 50, the issue's speed case)
  --lines-per-order <n>  mean lines per order (default 5: about 1M orders in 5M lines, the
                    issue's speed case; 0 for the generator's own ~2.2)
  --data <dir>      where the generated files are kept (default data/)
  --extra <flags>   run flags for every run, space-separated (e.g. --no-customers)
  --minimal <flags> flags of a second, stricter pair per round: the plain run and the first
                    --item run, both with these flags (default --no-customers: the retail
                    file's customers table, which both default runs build, left out); '' for none
  --item <list>     basket item columns, each a case (default category,product)
  --workers <n>     salesgrid workers (default 2)
  --skip <list>     leave out: many (the 10,000-product memory case)
  --timeout <s>     limit for any one child process (default 3600)`);
  process.exit(0);
}
const runs = Number(values.runs);
const rows = Number(values.rows);
const products = Number(values.products);
const categories = Number(values.categories);
const linesPerOrder = Number(values['lines-per-order']);
const workers = Number(values.workers);
const skip = new Set(values.skip.split(',').filter(Boolean));
const extra = values.extra.split(' ').filter(Boolean);
const minimal = values.minimal.split(' ').filter(Boolean);
const timeoutMs = Number(values.timeout) * 1000;
const tmp = mkdtempSync(join(os.tmpdir(), 'salesgrid-baskets-'));
const log = (s) => process.stderr.write(`${s}\n`);
const failures = [];

function timed(cmd, args) {
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, wallMs: performance.now() - t0, out, err });
    });
  });
}

const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  return s.length === 0
    ? null
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (v, d = 1) => (v == null ? '–' : v.toFixed(d));

async function ensureRetail(file, n, nProducts, nCategories, perOrder = 0) {
  if (existsSync(file)) return;
  log(`generating ${file}`);
  mkdirSync(dirname(file), { recursive: true });
  const g = await timed(process.execPath, [
    ...[CLI, 'generate', '--layout', 'retail', '--rows', String(n), '--products', String(nProducts)],
    ...(nCategories ? ['--categories', String(nCategories)] : []),
    ...(perOrder ? ['--lines-per-order', String(perOrder)] : []),
    ...['--seed', '42', '--out', file, '--quiet'],
  ]);
  if (g.code !== 0) throw new Error(`generate failed: ${g.err}`);
}

/** One run; with `basket`, the item column and extra flags; `more`: flags of the minimal pair. */
async function run(file, basket, more = []) {
  const db = join(tmp, `sg-${Date.now()}-${Math.random().toString(36).slice(2)}.db`);
  const args = [
    CLI,
    'run',
    file,
    '--workers',
    String(workers),
    '--db',
    db,
    '--json',
    '--quiet',
    ...extra,
    ...more,
  ];
  if (basket) args.push('--order', 'order_id', '--item', basket.item, ...(basket.extra ?? []));
  const r = await timed(process.execPath, args);
  let summary = null;
  try {
    summary = JSON.parse(r.out);
  } catch {
    // reported below
  }
  const out = {
    ok: r.code === 0 && summary?.status === 'done',
    wallMs: r.wallMs,
    coordRssMb: summary ? summary.coordinatorUsage.maxRssKb / 1024 : null,
    workerRssMb: summary ? Math.max(...summary.workers.map((w) => (w.usage?.maxRssKb ?? 0) / 1024)) : null,
    // CPU seconds of the coordinator and every worker (less sensitive than wall to a shared machine).
    cpuS: summary
      ? [summary.coordinatorUsage, ...summary.workers.map((w) => w.usage)]
          .filter(Boolean)
          .reduce((a, u) => a + (u.userMs + u.systemMs) / 1000, 0)
      : null,
    baskets: summary?.baskets ?? null,
  };
  if (!out.ok) failures.push(`run ${basket ? 'with' : 'without'} baskets failed: ${r.err.slice(-500)}`);
  if (basket && out.ok) {
    const d = new Database(db, { readonly: true });
    const s = d.prepare('SELECT orders, items, pairs, non_contiguous FROM orders_summary').get();
    d.close();
    out.stored = s;
  }
  rmSync(db, { force: true });
  rmSync(`${db}-wal`, { force: true });
  rmSync(`${db}-shm`, { force: true });
  return out;
}

async function main() {
  mkdirSync(RESULTS, { recursive: true });
  const tail = linesPerOrder ? `-l${linesPerOrder}` : '';
  const file = join(values.data, `retail-${rows}-p${products}-c${categories}${tail}.csv`);
  await ensureRetail(file, rows, products, categories, linesPerOrder);
  const items = values.item.split(',').filter(Boolean);
  const plain = [];
  const basket = Object.fromEntries(items.map((i) => [i, []]));
  const strict = { plain: [], basket: [] };
  for (let i = 0; i < runs; i++) {
    // The plain run first in even rounds, last in odd ones.
    const first = i % 2 === 0;
    log(`round ${i + 1}/${runs}`);
    const a = first ? await run(file, null) : null;
    for (const item of items) basket[item].push(await run(file, { item }));
    const c = first ? null : await run(file, null);
    plain.push(a ?? c);
    log(
      `  plain ${f(plain.at(-1).wallMs / 1000, 2)} s, ${items.map((it) => `${it} ${f(basket[it].at(-1).wallMs / 1000, 2)} s`).join(', ')}`,
    );
    if (minimal.length > 0) {
      const a2 = first ? await run(file, null, minimal) : null;
      strict.basket.push(await run(file, { item: items[0] }, minimal));
      const c2 = first ? null : await run(file, null, minimal);
      strict.plain.push(a2 ?? c2);
      log(
        `  with ${minimal.join(' ')}: plain ${f(strict.plain.at(-1).wallMs / 1000, 2)} s, ${items[0]} ${f(strict.basket.at(-1).wallMs / 1000, 2)} s`,
      );
    }
  }
  const stored = items.map((it) => basket[it].find((b) => b.stored)?.stored);
  for (const s of stored)
    if (s && s.non_contiguous !== 0) failures.push('the retail file was judged not contiguous');
  const orders = stored[0];
  const summarize = ([label, xs]) => ({
    label,
    wallS: median(xs.map((x) => x.wallMs / 1000)),
    cpuS: median(xs.map((x) => x.cpuS)),
    coordRssMb: median(xs.map((x) => x.coordRssMb)),
    workerRssMb: median(xs.map((x) => x.workerRssMb)),
  });
  const rowsOut = [
    ['plain run', plain],
    ...items.map((it, k) => [`--order order_id --item ${it} (${stored[k]?.items ?? '?'} items)`, basket[it]]),
  ].map(summarize);
  const ratioOf = (item, plainRuns, basketRuns, p, b) => ({
    item,
    ratio: b.wallS / p.wallS,
    pairs: plainRuns.map((x, i) => basketRuns[i].wallMs / x.wallMs),
    cpuRatio: b.cpuS / p.cpuS,
  });
  const ratios = items.map((it, k) => ratioOf(it, plain, basket[it], rowsOut[0], rowsOut[k + 1]));
  const strictRows =
    minimal.length === 0
      ? []
      : [
          [`plain run ${minimal.join(' ')}`, strict.plain],
          [`--order order_id --item ${items[0]} ${minimal.join(' ')}`, strict.basket],
        ].map(summarize);
  const strictRatio =
    strictRows.length === 0
      ? null
      : ratioOf(items[0], strict.plain, strict.basket, strictRows[0], strictRows[1]);

  let many = null;
  if (!skip.has('many')) {
    const manyFile = join(values.data, `retail-${rows}-p10000.csv`);
    await ensureRetail(manyFile, rows, 10_000, null);
    log('10,000 products, --basket-items 1000');
    const m = await run(manyFile, { item: 'product', extra: ['--basket-items', '1000'] });
    many = {
      wallS: m.wallMs / 1000,
      cpuS: m.cpuS,
      coordRssMb: m.coordRssMb,
      workerRssMb: m.workerRssMb,
      baskets: m.baskets,
    };
  }

  const md = [
    `### Baskets (${rows.toLocaleString('en-US')} order lines, ${orders ? orders.orders.toLocaleString('en-US') : '?'} orders, ${products} products in ${categories} categories, ${workers} workers, medians of ${runs} paired rounds)`,
    '',
    `file: ${file}`,
    '',
    `run flags: ${extra.length ? extra.join(' ') : '(none)'}`,
    '',
    '| run | wall s | CPU s (all processes) | coordinator peak RSS MB | worker peak RSS MB |',
    '|---|---:|---:|---:|---:|',
    ...[...rowsOut, ...strictRows].map(
      (r) =>
        `| ${r.label} | ${f(r.wallS, 2)} | ${f(r.cpuS, 2)} | ${f(r.coordRssMb, 0)} | ${f(r.workerRssMb, 0)} |`,
    ),
    '',
    ...ratios.map(
      (r) =>
        `--item ${r.item}: ${f(r.ratio, 2)}× the plain run (median walls; per round ${r.pairs.map((x) => f(x, 2)).join(', ')}${r.item === 'category' ? '; target ≤ 1.3×' : ''}); CPU ${f(r.cpuRatio, 2)}×.`,
    ),
    ...(strictRatio
      ? [
          '',
          `Minimal pair, both with ${minimal.join(' ')} (the baskets' cost against the smallest run of this file): --item ${strictRatio.item} ${f(strictRatio.ratio, 2)}× (per round ${strictRatio.pairs.map((x) => f(x, 2)).join(', ')}); CPU ${f(strictRatio.cpuRatio, 2)}×.`,
        ]
      : []),
    ...(many
      ? [
          '',
          `10,000 products, \`--item product --basket-items 1000\`: ${f(many.wallS, 1)} s (CPU ${f(many.cpuS, 1)} s), coordinator ${f(many.coordRssMb, 0)} MB, workers ${f(many.workerRssMb, 0)} MB peak RSS (${many.baskets ? `${many.baskets.items.toLocaleString('en-US')} items, ${many.baskets.itemsLeftOut.toLocaleString('en-US')} left out of the pairs, ${many.baskets.pairs.toLocaleString('en-US')} pairs` : 'no baskets'}).`,
        ]
      : []),
    '',
  ].join('\n');
  writeFileSync(
    join(RESULTS, 'baskets-bench.json'),
    `${JSON.stringify({ rows, products, categories, linesPerOrder, items, workers, runs, plain, basket, ratios, minimal, strict, strictRatio, many, failures }, null, 2)}\n`,
  );
  const tag = extra.length ? `-${extra.join('').replace(/[^a-z0-9]+/gi, '')}` : '';
  writeFileSync(join(RESULTS, `baskets-bench${tag}.md`), md);
  log('');
  log(md);
  rmSync(tmp, { recursive: true, force: true });
  if (failures.length) {
    for (const x of failures) log(`FAILED: ${x}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(`bench: ${err?.stack ?? err}`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});
