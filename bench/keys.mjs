#!/usr/bin/env node
// Keyed-aggregation benchmark: `run --mart customer_id` on star-schema files with 100k, 1M and 10M
// customers against DuckDB's GROUP BY customer_id, month (paired, order flipped every round), with
// each process's peak RSS; `top --per month` on the result; and the plain path (no marts) on the
// same file, optionally next to a baseline build, to show it got no slower.
//
//   node bench/keys.mjs [--runs 3] [--keys 100000,1000000,10000000] [--baseline /path/bin/salesgrid.js]
//
// Writes results/keys-bench.json and results/keys-bench.md and prints the table. Exit code 1 when a
// salesgrid run fails or its mart differs from DuckDB's (cell count or exact revenue total).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const CLI = join(ROOT, 'bin', 'salesgrid.js');
const RESULTS = join(ROOT, 'results');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    keys: { type: 'string', default: '100000,1000000,10000000' },
    'rows-per-key': { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    baseline: { type: 'string' },
    skip: { type: 'string', default: '' },
    timeout: { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: node bench/keys.mjs [options]
  --runs <n>            paired rounds per size, medians quoted (default 3)
  --keys <list>         customer counts, each optionally :rows-per-key[:rounds] (default
                        100000,1000000,10000000); rounds overrides --runs for that size
  --rows-per-key <n>    rows per customer (default 3: 1M customers → 3M rows)
  --workers <n>         salesgrid workers and DuckDB threads (default 2)
  --baseline <bin>      another build's bin/salesgrid.js: its plain path runs beside ours
  --skip <list>         leave out any of: duckdb, plain, top, customers
  --timeout <s>         limit for any one child process (default 3600)`);
  process.exit(0);
}
const runs = Number(values.runs);
// "K", "K:r" (r rows per key for that size) or "K:r:n" (n rounds for that size).
const sizes = values.keys.split(',').map((k) => k.split(':').map(Number));
const rowsPerKey = Number(values['rows-per-key']);
const workers = Number(values.workers);
const skip = new Set(values.skip.split(',').filter(Boolean));
const timeoutMs = Number(values.timeout) * 1000;
const haveDuck = !skip.has('duckdb') && existsSync(join(BENCH_DIR, 'node_modules', '@duckdb', 'node-api'));
const tmp = mkdtempSync(join(os.tmpdir(), 'salesgrid-keys-'));
const log = (s) => process.stderr.write(`${s}\n`);
const failures = [];

/** Runs a process to its end: wall time, stdout, exit code. */
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
const mb = (kb) => (kb == null ? null : kb / 1024);
const f = (v, d = 1) => (v == null ? '–' : v.toFixed(d));

/** The stored mart's cell count and exact revenue total (through the build's own reader), at 2 decimals. */
async function exactSum(db, mart) {
  const { Store } = await import(join(ROOT, 'dist', 'db', 'store.js'));
  const { martCells } = await import(join(ROOT, 'dist', 'db', 'mart-blocks.js'));
  const store = Store.openReadOnly(db);
  const run = store.latestRun();
  let total = 0n;
  let cells = 0;
  for (const c of martCells(store.prep, run.id, mart)) {
    total += c.revenue;
    cells++;
  }
  store.close();
  const cents = run.scale >= 2 ? total / 10n ** BigInt(run.scale - 2) : total * 10n ** BigInt(2 - run.scale);
  const s = (cents < 0n ? -cents : cents).toString().padStart(3, '0');
  return { cells, revenue: `${cents < 0n ? '-' : ''}${s.slice(0, -2)}.${s.slice(-2)}` };
}

async function salesgrid(bin, file, mart, checkMart, customers = false) {
  const db = join(tmp, `sg-${Date.now()}.db`);
  const args = [bin, 'run', file, '--workers', String(workers), '--db', db, '--json', '--quiet'];
  if (mart) args.push('--mart', 'customer_id');
  // Marts alone: the customers table that customer_id would also build has its own bench
  // (segment-cli.mjs); a baseline build may predate the flag.
  if (bin === CLI && !customers) args.push('--no-customers');
  const r = await timed(process.execPath, args);
  let summary = null;
  try {
    summary = JSON.parse(r.out);
  } catch {
    // reported below
  }
  const rec = { wallMs: r.wallMs, ok: r.code === 0 && summary?.status === 'done' };
  if (!rec.ok) {
    rec.error = summary?.error ?? r.err.trim().split('\n').pop();
  } else {
    rec.coordRssKb = summary.coordinatorUsage?.maxRssKb ?? null;
    rec.workerRssKb = Math.max(...summary.workers.map((w) => w.usage?.maxRssKb ?? 0));
    // The child process that merges part of a large mart at the end (absent when none ran).
    rec.childRssKb = Math.max(0, ...(summary.mergeChildren ?? []).map((c) => c.maxRssKb)) || null;
    rec.runWallMs = summary.wallMs;
    if (checkMart) rec.mart = await exactSum(db, 'customer_id');
    if (mart && !customers && !skip.has('top')) {
      const tops = [];
      for (let i = 0; i < 3; i++) {
        const t = await timed(process.execPath, [
          CLI,
          'top',
          'customer_id',
          '--per',
          'month',
          '--limit',
          '10',
          '--db',
          db,
        ]);
        if (t.code !== 0) failures.push(`top failed: ${t.err}`);
        tops.push(t.wallMs);
      }
      rec.topMs = median(tops);
    }
  }
  for (const s of ['', '-wal', '-shm']) rmSync(`${db}${s}`, { force: true });
  return rec;
}

async function duck(file) {
  const r = await timed(process.execPath, [join(BENCH_DIR, 'duckdb-mart.mjs'), file, String(workers)]);
  try {
    const o = JSON.parse(r.out);
    return {
      ok: r.code === 0,
      wallMs: r.wallMs,
      rssKb: o.usage.maxRssKb,
      cells: o.cells,
      revenue: o.revenue,
    };
  } catch {
    return { ok: false, wallMs: r.wallMs, error: r.err.trim().split('\n').pop() };
  }
}

const results = [];
for (const [keys, rpk = rowsPerKey, sizeRuns = runs] of sizes) {
  const rows = Math.round(keys * rpk);
  const file = join(ROOT, 'data', rpk === 3 ? `star-${keys}.csv` : `star-${keys}x${rpk}.csv`);
  if (!existsSync(file)) {
    log(
      `generating ${file} (${rows.toLocaleString('en-US')} rows, ${keys.toLocaleString('en-US')} customers)`,
    );
    const g = await timed(process.execPath, [
      CLI,
      'generate',
      '--layout',
      'star',
      '--customers',
      String(keys),
      '--rows',
      String(rows),
      '--seed',
      '42',
      '--out',
      file,
      '--quiet',
    ]);
    if (g.code !== 0) throw new Error(`generate failed: ${g.err}`);
  }
  const rec = { keys, rows, rounds: [] };
  for (let round = 0; round < sizeRuns; round++) {
    const r = {};
    const steps = [
      async () => {
        r.mart = await salesgrid(CLI, file, true, round === 0);
      },
      async () => {
        if (haveDuck) r.duck = await duck(file);
      },
    ];
    if (round % 2 === 1) steps.reverse();
    // The issue's command as a user types it: customer_id also builds the customers table.
    if (!skip.has('customers') && keys <= 1_000_000) {
      steps.push(async () => {
        r.cust = await salesgrid(CLI, file, true, false, true);
      });
    }
    if (!skip.has('plain')) {
      steps.push(async () => {
        r.plain = await salesgrid(CLI, file, false, false);
      });
      if (values.baseline) {
        steps.push(async () => {
          r.basePlain = await salesgrid(resolve(values.baseline), file, false, false);
        });
      }
    }
    for (const s of steps) await s();
    if (!r.mart.ok) failures.push(`${keys} keys, round ${round + 1}: salesgrid failed: ${r.mart.error}`);
    if (r.cust && !r.cust.ok)
      failures.push(`${keys} keys, round ${round + 1}: salesgrid with customers failed: ${r.cust.error}`);
    if (
      r.mart.mart &&
      r.duck?.ok &&
      (r.mart.mart.cells !== r.duck.cells || r.mart.mart.revenue !== r.duck.revenue)
    ) {
      failures.push(
        `${keys} keys: salesgrid mart ${r.mart.mart.cells} cells / ${r.mart.mart.revenue}, DuckDB ${r.duck.cells} / ${r.duck.revenue}`,
      );
    }
    log(
      `${keys} keys round ${round + 1}: mart ${f(r.mart.wallMs / 1000, 2)} s (coord ${f(mb(r.mart.coordRssKb), 0)} MB, workers ${f(mb(r.mart.workerRssKb), 0)} MB, child ${f(mb(r.mart.childRssKb), 0)} MB, top ${f(r.mart.topMs, 0)} ms)` +
        (r.duck ? `  duckdb ${f(r.duck.wallMs / 1000, 2)} s (${f(mb(r.duck.rssKb), 0)} MB)` : '') +
        (r.cust
          ? `  with customers ${f(r.cust.wallMs / 1000, 2)} s (coord ${f(mb(r.cust.coordRssKb), 0)} MB, workers ${f(mb(r.cust.workerRssKb), 0)} MB)`
          : '') +
        (r.plain ? `  plain ${f(r.plain.wallMs / 1000, 2)} s` : '') +
        (r.basePlain ? `  baseline plain ${f(r.basePlain.wallMs / 1000, 2)} s` : ''),
    );
    rec.rounds.push(r);
  }
  const m = (pick) => median(rec.rounds.map(pick));
  rec.median = {
    martS: m((r) => (r.mart.ok ? r.mart.wallMs / 1000 : null)),
    duckS: m((r) => (r.duck?.ok ? r.duck.wallMs / 1000 : null)),
    ratio: m((r) => (r.mart.ok && r.duck?.ok ? r.mart.wallMs / r.duck.wallMs : null)),
    coordMb: m((r) => mb(r.mart.coordRssKb)),
    workerMb: m((r) => mb(r.mart.workerRssKb)),
    childMb: m((r) => mb(r.mart.childRssKb)),
    duckMb: m((r) => mb(r.duck?.rssKb)),
    topMs: m((r) => r.mart.topMs),
    custS: m((r) => (r.cust?.ok ? r.cust.wallMs / 1000 : null)),
    custRatio: m((r) => (r.cust?.ok && r.duck?.ok ? r.cust.wallMs / r.duck.wallMs : null)),
    custCoordMb: m((r) => mb(r.cust?.coordRssKb)),
    custWorkerMb: m((r) => mb(r.cust?.workerRssKb)),
    plainS: m((r) => (r.plain?.ok ? r.plain.wallMs / 1000 : null)),
    basePlainS: m((r) => (r.basePlain?.ok ? r.basePlain.wallMs / 1000 : null)),
  };
  rec.check = rec.rounds[0].mart.mart ?? null;
  results.push(rec);
}

const md = [
  `Keyed aggregation, \`run --workers ${workers} --mart customer_id\` vs DuckDB \`GROUP BY customer_id, month\` (${workers} threads), medians of paired rounds (rounds column), ${os.cpus().length} cores:`,
  '',
  '| customers | rows | cells | rounds | salesgrid s | DuckDB s | ratio | coord MB | worker MB | child MB | DuckDB MB | top ms | with customers s (ratio, coord/worker MB) | plain s | baseline plain s |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.keys.toLocaleString('en-US')} | ${r.rows.toLocaleString('en-US')} | ${r.check?.cells?.toLocaleString('en-US') ?? '–'} | ${r.rounds.length} | ${f(r.median.martS, 2)} | ${f(r.median.duckS, 2)} | ${f(r.median.ratio, 2)} | ${f(r.median.coordMb, 0)} | ${f(r.median.workerMb, 0)} | ${f(r.median.childMb, 0)} | ${f(r.median.duckMb, 0)} | ${f(r.median.topMs, 0)} | ${r.median.custS == null ? '–' : `${f(r.median.custS, 2)} (${f(r.median.custRatio, 2)}×, ${f(r.median.custCoordMb, 0)}/${f(r.median.custWorkerMb, 0)})`} | ${f(r.median.plainS, 2)} | ${f(r.median.basePlainS, 2)} |`,
  ),
  '',
  'salesgrid s: `--no-customers` (the marts alone). with customers: the same command as typed, which also builds the customers table (issue 13) because the file has a customer_id column; up to 1M customers. coord/worker/child MB: peak RSS of the coordinator, of the larger worker and of the child process that merges part of the mart at the end (medians). top ms: `top customer_id --per month --limit 10`, whole process. plain: the same file without --mart.',
];
mkdirSync(RESULTS, { recursive: true });
writeFileSync(
  join(RESULTS, 'keys-bench.json'),
  `${JSON.stringify({ date: new Date().toISOString(), results, failures }, null, 2)}\n`,
);
writeFileSync(join(RESULTS, 'keys-bench.md'), `${md.join('\n')}\n`);
console.log(md.join('\n'));
for (const x of failures) log(`FAIL: ${x}`);
rmSync(tmp, { recursive: true, force: true });
process.exit(failures.length > 0 ? 1 : 0);
