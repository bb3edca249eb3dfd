#!/usr/bin/env node
// `salesgrid segment` at scale: a retail-layout file with 1M customers (generated once), one
// `run --workers 2` that builds its customers table, then `segment --json` timed under
// /usr/bin/time (wall and peak RSS of the whole process) against the targets (≤ 30 s, ≤ 500 MB).
// Also the run with --no-customers on the same file: what the per-customer features cost.
//
//   node bench/segment-cli.mjs [--customers 1000000] [--rows 3000000] [--runs 3] [--file CSV]
// --file reuses an existing retail-layout file (e.g. one generated with the same counts elsewhere).
//
// Writes results/segment-bench.json and results/segment-bench.md. Exit code 1 when a step fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'salesgrid.js');
const RESULTS = join(ROOT, 'results');
const TARGET = { wallS: 30, rssMb: 500 };

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '1000000' },
    rows: { type: 'string', default: '3000000' },
    runs: { type: 'string', default: '3' },
    file: { type: 'string' },
  },
});
const customers = Number(values.customers);
const rows = Number(values.rows);
const runs = Number(values.runs);
const file = values.file ? resolve(values.file) : join(ROOT, 'data', `retail-${customers}c-${rows}r.csv`);

/** Runs node CLI args under /usr/bin/time: wall and CPU seconds, peak RSS (MB), stdout. */
function timed(args) {
  return new Promise((res, rej) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %M %U %S', process.execPath, CLI, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => {
      const last = err.trim().split('\n').pop() ?? '';
      const [wall, kb, user, sys] = last.split(' ').map(Number);
      if (code !== 0) rej(new Error(`salesgrid ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      else res({ wallS: wall, rssMb: kb / 1024, cpuS: user + sys, out, err });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  mkdirSync(dirname(file), { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  if (!existsSync(file)) {
    console.error(`generating ${file}`);
    await timed([
      'generate',
      '--layout',
      'retail',
      '--customers',
      String(customers),
      '--rows',
      String(rows),
      '--out',
      file,
      '--quiet',
    ]);
  }
  const tmp = mkdtempSync(join(os.tmpdir(), 'sg-segbench-'));
  try {
    const db = join(tmp, 'segment.db');
    const record = { customers, rows, file, runs: [], plainRuns: [], segment: [] };
    for (let r = 0; r < runs; r++) {
      for (const plain of r % 2 === 0 ? [false, true] : [true, false]) {
        // The first run with customers keeps its database for `segment`; the others are dropped.
        const keep = !plain && r === 0;
        const d = keep ? db : join(tmp, `run-${r}-${plain}.db`);
        const t = await timed([
          'run',
          file,
          '--db',
          d,
          '--workers',
          '2',
          '--json',
          ...(plain ? ['--no-customers'] : []),
        ]);
        const s = JSON.parse(t.out);
        const rec = {
          wallS: t.wallS,
          coordCpuS: (s.coordinatorUsage.userMs + s.coordinatorUsage.systemMs) / 1000,
          workerCpuS: s.workers.reduce((a, w) => a + (w.usage.userMs + w.usage.systemMs) / 1000, 0),
          coordRssMb: s.coordinatorUsage.maxRssKb / 1024,
          workerRssMb: Math.max(...s.workers.map((w) => w.usage.maxRssKb / 1024)),
        };
        (plain ? record.plainRuns : record.runs).push(rec);
        console.error(`run ${plain ? '--no-customers' : 'with customers'}: ${JSON.stringify(rec)}`);
        if (!keep) for (const ext of ['', '-wal', '-shm']) rmSync(d + ext, { force: true });
      }
    }
    for (let r = 0; r < runs; r++) {
      const t = await timed(['segment', '--db', db, '--seed', '42', '--json']);
      const j = JSON.parse(t.out);
      record.segment.push({ wallS: t.wallS, cpuS: t.cpuS, rssMb: t.rssMb, k: j.k, customers: j.customers });
      console.error(
        `segment: ${t.wallS} s wall, ${t.cpuS.toFixed(1)} s CPU, ${t.rssMb.toFixed(0)} MB, k = ${j.k}, ${j.customers} customers`,
      );
    }
    const seg = {
      wallS: median(record.segment.map((s) => s.wallS)),
      cpuS: median(record.segment.map((s) => s.cpuS)),
      rssMb: Math.max(...record.segment.map((s) => s.rssMb)),
      rssMinMb: Math.min(...record.segment.map((s) => s.rssMb)),
    };
    const m = (list, k) => median(list.map((x) => x[k]));
    const md = [
      `### Customers and segment (${customers.toLocaleString('en-US')} customers, ${rows.toLocaleString('en-US')} rows, median of ${runs})`,
      '',
      '| step | wall | CPU coordinator / workers | peak RSS coordinator / worker | target |',
      '|---|---|---|---|---|',
      `| run --workers 2, with the customers table | ${m(record.runs, 'wallS').toFixed(1)} s | ${m(record.runs, 'coordCpuS').toFixed(1)} s / ${m(record.runs, 'workerCpuS').toFixed(1)} s | ${m(record.runs, 'coordRssMb').toFixed(0)} / ${m(record.runs, 'workerRssMb').toFixed(0)} MB | |`,
      `| run --workers 2 --no-customers | ${m(record.plainRuns, 'wallS').toFixed(1)} s | ${m(record.plainRuns, 'coordCpuS').toFixed(1)} s / ${m(record.plainRuns, 'workerCpuS').toFixed(1)} s | ${m(record.plainRuns, 'coordRssMb').toFixed(0)} / ${m(record.plainRuns, 'workerRssMb').toFixed(0)} MB | |`,
      `| segment --json | ${seg.wallS.toFixed(1)} s | ${seg.cpuS.toFixed(1)} s (one process) | ${seg.rssMinMb === seg.rssMb ? '' : `${seg.rssMinMb.toFixed(0)}–`}${seg.rssMb.toFixed(0)} MB | ≤ ${TARGET.wallS} s, ≤ ${TARGET.rssMb} MB: ${seg.wallS <= TARGET.wallS && seg.rssMb <= TARGET.rssMb ? 'PASS' : 'MISS'} (CPU ${seg.cpuS <= TARGET.wallS ? 'within' : 'over'} ${TARGET.wallS} s) |`,
      '',
    ].join('\n');
    writeFileSync(
      join(RESULTS, 'segment-bench.json'),
      `${JSON.stringify({ ...record, segmentMedian: seg }, null, 2)}\n`,
    );
    writeFileSync(join(RESULTS, 'segment-bench.md'), md);
    console.log(md);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
