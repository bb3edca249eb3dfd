#!/usr/bin/env node
// salesgrid benchmark: whole-process timings of salesgrid against DuckDB, pandas and two floors
// (cat, a newline-only scan in Node), with an exact correctness check in the same session.
//
//   npm run bench                         # from the repository root: installs bench/ deps, runs this
//   node bench/bench.mjs --help
//
// Writes results/bench.json (every raw run and the medians), results/bench.md (a markdown table
// for the README) and results/charts/bench.png, and prints the table.
// Exit code: 1 when salesgrid fails or its totals differ from DuckDB's; 0 otherwise (a missing
// DuckDB or pandas, or a failed comparison tool, is reported and skipped).
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const CLI = join(ROOT, 'bin', 'salesgrid.js');
const RESULTS = join(ROOT, 'results');
const REFERENCE_ROWS = 5_000_000;
const SEED = 42;
const MB = 1e6; // every "MB" in the output is 10^6 bytes; RSS from the kernel is KiB
const TARGETS = {
  vsDuckdb: 0.6, // run --workers 2 wall ≤ 0.6 × DuckDB threads=2 wall (issue 16)
  vsDuckdbBig: 0.5, // the same on the --big file (20M rows)
  oneWorker: 0.6, // run --workers 1 ≤ 0.6 × DuckDB threads=1
  parseNsPerRow: 120, // workers' own CPU per row, --workers 2, reference dimensions
  quoted: 1.3, // quoted ≤ 1.3 × unquoted
  rssMb: 150, // coordinator and worker peak RSS ≤ 150 MB
  coordCpu: 0.15, // coordinator CPU ≤ 15% of all CPU
};

// ---------------------------------------------------------------------------------------------
// options

const USAGE = `usage: node bench/bench.mjs [options]

  --runs <n>            timed runs per case, the median is quoted (default 3)
  --workers <list>      salesgrid worker counts / DuckDB thread counts, e.g. 1,2,4 (default 1,2;
                        2 is always included, the targets need it)
  --rows <n>            rows of the reference file (default 5000000 → data/sales.csv); another
                        value uses data/sales-<n>.csv, for quick trials
  --scaling             also time run --workers 2 over 1M, 2.5M, 5M and 10M rows
  --quick               with --scaling, skip sizes above 5M rows
  --scaling-rows <list> the scaling sizes (default 1000000,2500000,5000000,10000000)
  --skip <list>         leave out any of: duckdb, pandas, floors, quoted, keys, baskets, transport, segment,
                        js-path (the paired run with the JS parser forced), big
  --big <n>             rows of the large paired file (default 20000000 → data/sales-20m.csv)
  --keys <list>         customer counts of the keyed-aggregation rows (bench/keys.mjs), each
                        optionally :rows-per-key[:rounds] (default
                        100000,1000000,10000000:1.2:1: 10M keys once, the others --runs times)
  --timeout <s>         limit for any one child process (default 900)
  --no-chart            do not render results/charts/bench.png
  -h, --help            this text`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      workers: { type: 'string', default: '1,2' },
      rows: { type: 'string', default: String(REFERENCE_ROWS) },
      scaling: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'scaling-rows': { type: 'string', default: '1000000,2500000,5000000,10000000' },
      skip: { type: 'string', default: '' },
      keys: { type: 'string', default: '100000,1000000,10000000:1.2:1' },
      big: { type: 'string', default: '20000000' },
      timeout: { type: 'string', default: '900' },
      'no-chart': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positiveInt = (name, text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer, got "${text}"`);
    return n;
  };
  const list = (name, text) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => positiveInt(name, s.replace(/_/g, '')));
  const workers = [...new Set([...list('workers', values.workers), 2])].sort((a, b) => a - b);
  const skip = new Set(
    values.skip
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const s of skip) {
    if (
      ![
        'duckdb',
        'pandas',
        'floors',
        'quoted',
        'keys',
        'baskets',
        'transport',
        'segment',
        'js-path',
        'big',
      ].includes(s)
    )
      throw new Error(`--skip: unknown step "${s}"`);
  }
  let scalingRows = list('scaling-rows', values['scaling-rows']).sort((a, b) => a - b);
  if (values.quick) scalingRows = scalingRows.filter((n) => n <= REFERENCE_ROWS);
  return {
    runs: positiveInt('runs', values.runs),
    workers,
    rows: positiveInt('rows', values.rows.replace(/_/g, '')),
    scaling: values.scaling,
    quick: values.quick,
    scalingRows,
    skip,
    keys: values.keys,
    big: positiveInt('big', values.big.replace(/_/g, '')),
    timeoutMs: positiveInt('timeout', values.timeout) * 1000,
    chart: !values['no-chart'],
  };
}

// ---------------------------------------------------------------------------------------------
// small helpers

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const maxOf = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
};
const minOf = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
};
const fmt = (x, digits = 2) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const sec = (ms, digits = 2) => (ms == null ? '—' : (ms / 1000).toFixed(digits));
const kbToMb = (kb) => (kb == null ? null : (kb * 1024) / MB);
const rowsLabel = (n) => {
  if (n % 1_000_000 === 0) return `${n / 1_000_000}m`;
  if (n >= 1_000_000 && n % 100_000 === 0) return `${n / 1_000_000}m`;
  if (n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
};
const rowsHuman = (n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));
const rel = (p) => relative(ROOT, p) || '.';
const log = (...a) => console.log(...a);

/** A decimal text normalized to at least 2 decimals, for exact comparison ("12.5" → "12.50"). */
function normDec(value) {
  const s = String(value).trim();
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return `not-a-decimal(${s})`;
  const int = m[2].replace(/^0+(?=\d)/, '');
  let frac = (m[3] ?? '').padEnd(2, '0');
  while (frac.length > 2 && frac.endsWith('0')) frac = frac.slice(0, -1);
  const zero = /^0+$/.test(int) && /^0*$/.test(frac);
  return `${m[1] === '-' && !zero ? '-' : ''}${int}.${frac}`;
}
/** An integer text normalized (units can exceed 2^53 in big files, so compare as text). */
function normInt(value) {
  const s = String(value).trim();
  const m = /^([+-]?)(\d+)$/.exec(s);
  if (!m) return `not-an-integer(${s})`;
  const int = m[2].replace(/^0+(?=\d)/, '');
  return `${m[1] === '-' && int !== '0' ? '-' : ''}${int}`;
}

// ---------------------------------------------------------------------------------------------
// child processes

const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const live = new Set();
let tmpDir = null;

function cleanupAndExit(signal) {
  for (const child of live) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  console.error(`\nbench: stopped by ${signal}`);
  process.exit(130);
}
process.on('SIGINT', () => cleanupAndExit('SIGINT'));
process.on('SIGTERM', () => cleanupAndExit('SIGTERM'));

/**
 * Runs one process and measures it from spawn to exit. When GNU time is present it wraps the
 * command (`-f '%e %U %S %M'`), which adds the same ~1 ms to every case and gives CPU and peak
 * RSS of processes that do not report their own. The child gets its own process group so a
 * timeout can end it together with anything it started.
 */
function runTimed(cmd, args, { timeoutMs, stdoutFile = null, useTime = true, env = process.env } = {}) {
  return new Promise((resolvePromise) => {
    const timeFile = useTime && TIME_BIN ? join(tmpDir, `time-${process.hrtime.bigint()}.txt`) : null;
    const argv = timeFile ? ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] : args;
    const bin = timeFile ? TIME_BIN : cmd;
    const outFd = stdoutFile ? openSync(stdoutFile, 'w') : null;
    const stdout = [];
    const stderr = [];
    let timedOut = false;
    let wallMs = null;
    let spawnError = null;
    const t0 = performance.now();
    let child;
    try {
      child = spawn(bin, argv, {
        cwd: ROOT,
        env,
        detached: true,
        stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
      });
    } catch (err) {
      if (outFd != null) closeSync(outFd);
      resolvePromise({
        code: null,
        signal: null,
        wallMs: null,
        stdout: '',
        stderr: String(err),
        error: String(err),
      });
      return;
    }
    live.add(child);
    child.stdout?.on('data', (d) => stdout.push(d));
    child.stderr.on('data', (d) => stderr.push(d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('error', (err) => {
      spawnError = err;
      setTimeout(() => finish(null, null), 100); // a process that never started has no 'close'
    });
    let finished = false;
    let lingerTimer = null;
    const finish = (code, signal) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(lingerTimer);
      live.delete(child);
      if (outFd != null) closeSync(outFd);
      let time = null;
      if (timeFile && existsSync(timeFile)) {
        const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
        const parts = (lines.at(-1) ?? '').trim().split(/\s+/).map(Number);
        if (parts.length === 4 && parts.every(Number.isFinite)) {
          time = {
            elapsedS: parts[0],
            userMs: Math.round(parts[1] * 1000),
            systemMs: Math.round(parts[2] * 1000),
            maxRssKb: parts[3],
          };
        }
        rmSync(timeFile, { force: true });
      }
      resolvePromise({
        code,
        signal,
        timedOut,
        wallMs: wallMs ?? performance.now() - t0,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        time,
        error: spawnError ? String(spawnError) : timedOut ? `timed out after ${timeoutMs / 1000} s` : null,
      });
    };
    child.on('exit', (code, signal) => {
      wallMs = performance.now() - t0;
      // 'close' waits for the pipes; a grandchild that outlives the process could hold them open
      lingerTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr.destroy();
        finish(code, signal);
      }, 15_000);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** The last JSON object in a child's stdout (salesgrid --json prints one, pretty-printed). */
function parseJsonOutput(text) {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {}
  const start = t.lastIndexOf('\n{');
  if (start >= 0) {
    try {
      return JSON.parse(t.slice(start + 1));
    } catch {}
  }
  const first = t.indexOf('{');
  if (first >= 0) {
    try {
      return JSON.parse(t.slice(first));
    } catch {}
  }
  return null;
}

const tail = (s, n = 600) => (s.length > n ? `…${s.slice(-n)}` : s).trim();
function why(res) {
  if (res.error) return `${res.error}${res.stderr ? `: ${tail(res.stderr)}` : ''}`;
  if (res.signal) return `killed by ${res.signal}${res.stderr ? `: ${tail(res.stderr)}` : ''}`;
  return `exit code ${res.code}${res.stderr ? `: ${tail(res.stderr)}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// machine and inputs

function machineInfo() {
  let nproc = null;
  const np = spawnSync('nproc', [], { encoding: 'utf8' });
  if (np.status === 0) nproc = Number(np.stdout.trim());
  nproc ??= os.availableParallelism?.() ?? os.cpus().length;
  let cpuModel = null;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? null;
  } catch {}
  cpuModel ??= os.cpus()[0]?.model ?? 'unknown';
  let commit = null;
  const git = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: ROOT, encoding: 'utf8' });
  if (git.status === 0) commit = git.stdout.trim();
  let duckdbVersion = null;
  try {
    duckdbVersion = JSON.parse(
      readFileSync(join(BENCH_DIR, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8'),
    ).version;
  } catch {}
  return {
    nproc,
    cpuModel,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    commit,
    duckdb: duckdbVersion,
    pandas: null,
    python: null,
  };
}

function referenceFiles(rows) {
  if (rows === REFERENCE_ROWS) {
    return { plain: join(ROOT, 'data', 'sales.csv'), quoted: join(ROOT, 'data', 'sales-quoted.csv') };
  }
  const l = rowsLabel(rows);
  return { plain: join(ROOT, 'data', `sales-${l}.csv`), quoted: join(ROOT, 'data', `sales-${l}-quoted.csv`) };
}

async function ensureFile(file, rows, quoted, timeoutMs) {
  if (existsSync(file) && statSync(file).size > 0) {
    log(`  reuse    ${rel(file)} (${(statSync(file).size / MB).toFixed(0)} MB)`);
    return true;
  }
  mkdirSync(dirname(file), { recursive: true });
  log(
    `  generate ${rel(file)} (${rows.toLocaleString('en-US')} rows, seed ${SEED}${quoted ? ', quoted' : ''}) …`,
  );
  const args = [CLI, 'generate', '--rows', String(rows), '--seed', String(SEED), '--out', file, '--quiet'];
  if (quoted) args.push('--quote-text');
  const res = await runTimed(process.execPath, args, { timeoutMs, useTime: false });
  if (res.code !== 0) {
    console.error(`  generate failed: ${why(res)}`);
    rmSync(file, { force: true });
    return false;
  }
  log(`           done in ${sec(res.wallMs, 1)} s (${(statSync(file).size / MB).toFixed(0)} MB)`);
  return true;
}

/** Reads the file once so every timed run starts from the page cache. */
function warm(file) {
  const t0 = performance.now();
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  let n = 0;
  let total = 0;
  do {
    n = readSync(fd, buf, 0, buf.length, null);
    total += n;
  } while (n > 0);
  closeSync(fd);
  log(`  warm     ${rel(file)}: ${(total / MB).toFixed(0)} MB in ${sec(performance.now() - t0)} s`);
}

function findPandasPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import sys, pandas; print(sys.version.split()[0], pandas.__version__)'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status === 0) {
      const [python, pandas] = r.stdout.trim().split(/\s+/);
      return { python: py, pythonVersion: python, pandas };
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// the cases

const records = []; // every timed run
const failures = []; // steps that failed and were skipped
const mismatches = []; // correctness differences
let salesgridFailed = false;

function usageCpuMs(u) {
  return u ? (u.userMs ?? 0) + (u.systemMs ?? 0) : null;
}

async function salesgridRun({
  caseId,
  label,
  file,
  workers,
  round,
  opts,
  group = 'salesgrid',
  parse = null,
}) {
  const db = join(tmpDir, `${caseId}-${round}.db`);
  // The workers inherit SALESGRID_PARSE: `js` forces the JS parser, anything else is the default.
  const env = { ...process.env };
  if (parse) env.SALESGRID_PARSE = parse;
  else delete env.SALESGRID_PARSE;
  const res = await runTimed(
    process.execPath,
    [CLI, 'run', file, '--workers', String(workers), '--json', '--quiet', '--db', db],
    { timeoutMs: opts.timeoutMs, env },
  );
  const summary = parseJsonOutput(res.stdout);
  const rec = {
    case: caseId,
    label,
    group,
    tool: 'salesgrid',
    round,
    file: rel(file),
    bytes: statSync(file).size,
    workers,
    ok: false,
    wallMs: res.wallMs,
    time: res.time,
  };
  if (res.code !== 0 || !summary || summary.status !== 'done') {
    salesgridFailed = true;
    rec.error = summary?.error ? `${summary.error} (${why(res)})` : why(res);
    failures.push(`${label} (run ${round + 1}): salesgrid failed: ${rec.error}`);
    log(`    ${label.padEnd(34)} FAILED: ${rec.error}`);
    records.push(rec);
    cleanupDb(db);
    return rec;
  }
  const coord = summary.coordinatorUsage ?? null;
  const workerUsages = (summary.workers ?? []).map((w) => w.usage).filter(Boolean);
  const workersCpu = workerUsages.reduce((s, u) => s + usageCpuMs(u), 0);
  const coordCpu = usageCpuMs(coord);
  Object.assign(rec, {
    ok: true,
    summaryWallMs: summary.wallMs,
    rows: summary.totals?.rows,
    rejected: summary.totals?.rejected,
    totals: summary.totals,
    coordinatorUsage: coord,
    workerUsages: (summary.workers ?? []).map((w) => ({
      workerId: w.workerId,
      chunks: w.chunks,
      usage: w.usage,
    })),
    chunks: summary.chunks,
    retries: summary.retries,
    cpuMs: coordCpu != null ? coordCpu + workersCpu : usageCpuMs(res.time),
    coordCpuMs: coordCpu,
    workersCpuMs: workersCpu,
    coordCpuShare: coordCpu != null && coordCpu + workersCpu > 0 ? coordCpu / (coordCpu + workersCpu) : null,
    rssKb: coord?.maxRssKb ?? res.time?.maxRssKb ?? null,
    workerRssKb: maxOf(workerUsages.map((u) => u.maxRssKb)),
    // The workers' own CPU (start-up, reads, parse, results) per row: the parse target's measure.
    workerNsPerRow: summary.totals?.rows ? (workersCpu * 1e6) / Number(summary.totals.rows) : null,
  });
  // the monthly table comes from the database, like a user would read it (not timed)
  const rep = await runTimed(process.execPath, [CLI, 'report', '--json', '--db', db], {
    timeoutMs: opts.timeoutMs,
    useTime: false,
  });
  const report = parseJsonOutput(rep.stdout);
  if (rep.code !== 0 || !report || !Array.isArray(report.monthly)) {
    salesgridFailed = true;
    failures.push(`${label} (run ${round + 1}): salesgrid report failed: ${why(rep)}`);
  } else {
    rec.monthly = report.monthly.map((m) => ({
      month: m.month,
      rows: m.rows,
      units: String(m.units),
      revenue: String(m.revenue),
    }));
  }
  cleanupDb(db);
  log(
    `    ${label.padEnd(34)} ${sec(rec.wallMs)} s  cpu ${sec(rec.cpuMs)} s  coord ${fmt(kbToMb(rec.rssKb), 0)} MB  worker ${fmt(kbToMb(rec.workerRssKb), 0)} MB`,
  );
  records.push(rec);
  return rec;
}

function cleanupDb(db) {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${db}${suffix}`, { force: true });
}

/** A comparison tool that prints one JSON object with totals (DuckDB, pandas, newline scan). */
async function toolRun({ caseId, label, group, tool, cmd, args, file, round, opts, threads = null }) {
  const res = await runTimed(cmd, args, { timeoutMs: opts.timeoutMs });
  const out = parseJsonOutput(res.stdout);
  const rec = {
    case: caseId,
    label,
    group,
    tool,
    round,
    file: rel(file),
    bytes: statSync(file).size,
    threads,
    ok: false,
    wallMs: res.wallMs,
    time: res.time,
  };
  if (res.code !== 0 || !out) {
    rec.error = why(res);
    failures.push(`${label} (run ${round + 1}): ${rec.error}`);
    log(`    ${label.padEnd(34)} FAILED: ${rec.error}`);
    records.push(rec);
    return rec;
  }
  const u = res.time ?? out.usage ?? null;
  Object.assign(rec, {
    ok: true,
    innerMs: out.queryMs ?? null,
    rows: out.totals?.rows ?? (out.newlines != null ? out.newlines - 1 : null),
    totals: out.totals ?? null,
    monthly: out.monthly ?? null,
    selfUsage: out.usage ?? null,
    cpuMs: usageCpuMs(u),
    rssKb: u?.maxRssKb ?? null,
    extra:
      tool === 'pandas'
        ? { pandas: out.pandas }
        : out.newlines != null
          ? { newlines: out.newlines }
          : undefined,
  });
  log(
    `    ${label.padEnd(34)} ${sec(rec.wallMs)} s  cpu ${sec(rec.cpuMs)} s  rss ${fmt(kbToMb(rec.rssKb), 0)} MB`,
  );
  records.push(rec);
  return rec;
}

async function catRun({ file, round, opts }) {
  const res = await runTimed('cat', [file], { timeoutMs: opts.timeoutMs, stdoutFile: '/dev/null' });
  const rec = {
    case: 'floor-cat',
    label: 'floor: cat > /dev/null',
    group: 'floor',
    tool: 'cat',
    round,
    file: rel(file),
    bytes: statSync(file).size,
    ok: res.code === 0,
    wallMs: res.wallMs,
    time: res.time,
    cpuMs: usageCpuMs(res.time),
    rssKb: res.time?.maxRssKb ?? null,
  };
  if (!rec.ok) {
    rec.error = why(res);
    failures.push(`cat (run ${round + 1}): ${rec.error}`);
  }
  log(`    ${rec.label.padEnd(34)} ${rec.ok ? `${sec(rec.wallMs, 3)} s` : `FAILED: ${rec.error}`}`);
  records.push(rec);
  return rec;
}

// ---------------------------------------------------------------------------------------------
// correctness

function compareTotals(what, got, ref, refName) {
  const diffs = [];
  if (!got?.totals) return [`${what}: no totals`];
  const g = got.totals;
  const r = ref.totals;
  const check = (field, a, b, norm) => {
    if (a === undefined || b === undefined) {
      diffs.push(`${what}: ${field} missing (salesgrid ${a}, ${refName} ${b})`);
      return;
    }
    if (norm(a) !== norm(b)) diffs.push(`${what}: ${field} salesgrid ${norm(a)} ≠ ${refName} ${norm(b)}`);
  };
  check('rows', g.rows, r.rows, normInt);
  check('units', g.units, r.units, normInt);
  check('revenue', g.revenue, r.revenue, normDec);
  check('minPrice', g.minPrice, r.minPrice, normDec);
  check('maxPrice', g.maxPrice, r.maxPrice, normDec);
  if (g.priceSum !== undefined) check('priceSum', g.priceSum, r.priceSum, normDec);
  if (Number(g.rejected ?? 0) !== 0)
    diffs.push(`${what}: ${g.rejected} rows rejected (the generated file has none)`);
  if (!Array.isArray(got.monthly)) {
    diffs.push(`${what}: no monthly table from report --json`);
    return diffs;
  }
  const refMonths = new Map(ref.monthly.map((m) => [m.month, m]));
  const gotMonths = new Map(got.monthly.map((m) => [m.month, m]));
  for (const [month, rm] of refMonths) {
    const gm = gotMonths.get(month);
    if (!gm) {
      diffs.push(`${what}: month ${month} missing (${refName} has ${rm.rows} rows, revenue ${rm.revenue})`);
      continue;
    }
    if (normInt(gm.rows) !== normInt(rm.rows)) diffs.push(`${what}: ${month} rows ${gm.rows} ≠ ${rm.rows}`);
    if (normInt(gm.units) !== normInt(rm.units))
      diffs.push(`${what}: ${month} units ${gm.units} ≠ ${rm.units}`);
    if (normDec(gm.revenue) !== normDec(rm.revenue))
      diffs.push(`${what}: ${month} revenue ${normDec(gm.revenue)} ≠ ${normDec(rm.revenue)}`);
  }
  for (const month of gotMonths.keys()) {
    if (!refMonths.has(month)) diffs.push(`${what}: month ${month} not in ${refName}'s result`);
  }
  return diffs;
}

// ---------------------------------------------------------------------------------------------
// summary

function summarizeCase(caseId) {
  const runs = records.filter((r) => r.case === caseId);
  const ok = runs.filter((r) => r.ok);
  if (runs.length === 0) return null;
  const first = runs[0];
  const wallMs = median(ok.map((r) => r.wallMs));
  const rows = ok.find((r) => r.rows != null)?.rows ?? null;
  return {
    case: caseId,
    label: first.label,
    group: first.group,
    tool: first.tool,
    file: first.file,
    bytes: first.bytes,
    workers: first.workers ?? first.threads ?? null,
    runs: runs.length,
    okRuns: ok.length,
    wallMs,
    wallMinMs: minOf(ok.map((r) => r.wallMs)),
    wallMaxMs: maxOf(ok.map((r) => r.wallMs)),
    innerMs: median(ok.map((r) => r.innerMs ?? r.summaryWallMs)),
    cpuMs: median(ok.map((r) => r.cpuMs)),
    rssMb: kbToMb(median(ok.map((r) => r.rssKb))),
    rssMaxMb: kbToMb(maxOf(ok.map((r) => r.rssKb))),
    workerRssMb: kbToMb(median(ok.map((r) => r.workerRssKb))),
    workerRssMaxMb: kbToMb(maxOf(ok.map((r) => r.workerRssKb))),
    coordCpuShare: median(ok.map((r) => r.coordCpuShare)),
    workerNsPerRow: median(ok.map((r) => r.workerNsPerRow)),
    rowsPerS: wallMs && rows ? rows / (wallMs / 1000) : null,
    mbPerS: wallMs ? first.bytes / MB / (wallMs / 1000) : null,
  };
}

/** Ratios a_i / b_i for runs of the same round, and their median. */
function pairedRatio(caseA, caseB) {
  const pairs = [];
  for (const a of records.filter((r) => r.case === caseA && r.ok)) {
    const b = records.find((r) => r.case === caseB && r.ok && r.round === a.round);
    if (b) pairs.push({ round: a.round, a: a.wallMs, b: b.wallMs, ratio: a.wallMs / b.wallMs });
  }
  return { of: caseA, to: caseB, pairs, median: median(pairs.map((p) => p.ratio)) };
}

function linearFit(points) {
  // least squares wall(ms) = a + b·rows
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
    syy += (p.y - my) ** 2;
  }
  if (sxx === 0) return null;
  const b = sxy / sxx;
  const a = my - b * mx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { interceptMs: a, msPerMillionRows: b * 1e6, r2 };
}

// ---------------------------------------------------------------------------------------------
// output

function markdownTable(header, rows, align) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const sep = `|${align.map((a) => (a === 'r' ? '---:' : ':---')).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}

function buildMarkdown({ machine, opts, summaries, ratios, targets, scaling, correctness, files }) {
  const out = [];
  const fileMb = (f) => (statSync(f).size / MB).toFixed(0);
  out.push(
    `Measured ${machine.date.slice(0, 10)} on ${machine.nproc} cores (${machine.cpuModel}), ${machine.memGiB} GiB, Node ${machine.node}` +
      `${machine.duckdb ? `, DuckDB node-api ${machine.duckdb}` : ''}${machine.pandas ? `, pandas ${machine.pandas}` : ''}` +
      `${machine.commit ? `, salesgrid ${machine.commit}` : ''}.`,
  );
  out.push(
    `Input: \`${rel(files.plain)}\` (${opts.rows.toLocaleString('en-US')} rows, ${fileMb(files.plain)} MB)` +
      `${existsSync(files.quoted) && !opts.skip.has('quoted') ? ` and the all-quoted \`${rel(files.quoted)}\` (${fileMb(files.quoted)} MB)` : ''}, from the page cache. ` +
      `Whole processes, spawn to exit, median of ${opts.runs} run${opts.runs > 1 ? 's' : ''}; salesgrid and DuckDB runs alternate and "× DuckDB" is the median of the per-pair ratios.`,
  );
  out.push('');
  const rows = summaries.map((s) => {
    const ratio = ratios[s.case];
    const ratioText =
      ratio?.median != null
        ? `${fmt(ratio.median)}${ratio.paired ? '' : ' ≈'}`
        : s.tool === 'duckdb'
          ? '1.00'
          : '—';
    return [
      s.label,
      s.okRuns === s.runs ? String(s.runs) : `${s.okRuns}/${s.runs}`,
      sec(s.wallMs),
      s.wallMinMs != null ? `${sec(s.wallMinMs)}–${sec(s.wallMaxMs)}` : '—',
      sec(s.cpuMs),
      fmt(s.rssMb, 0),
      fmt(s.workerRssMb, 0),
      s.coordCpuShare != null ? `${(s.coordCpuShare * 100).toFixed(1)}%` : '—',
      s.rowsPerS != null ? fmt(s.rowsPerS / 1e6, 2) : '—',
      s.mbPerS != null ? fmt(s.mbPerS, 0) : '—',
      ratioText,
    ];
  });
  out.push(
    markdownTable(
      [
        'case',
        'runs',
        'wall (s)',
        'min–max (s)',
        'CPU (s)',
        'peak RSS (MB)',
        'worker RSS (MB)',
        'coord. CPU',
        'M rows/s',
        'MB/s',
        '× DuckDB',
      ],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'CPU is user + system. For salesgrid it is the coordinator plus every worker (from `--json`), "peak RSS" is the coordinator\'s ' +
      'and "worker RSS" the largest worker\'s; for the others it is the process, from GNU time. MB = 10^6 bytes. ' +
      '"× DuckDB" pairs each salesgrid case with DuckDB at the same thread count (the quoted case with DuckDB on the quoted file); ' +
      'ratios marked ≈ are ratios of medians, not pairs.',
  );
  out.push('');
  out.push('**Targets**');
  out.push('');
  out.push(
    markdownTable(
      ['target', 'measured', 'result'],
      targets.map((t) => [t.name, t.measured, t.result]),
      ['l', 'l', 'l'],
    ),
  );
  out.push('');
  out.push(
    correctness.checked
      ? correctness.ok
        ? `**Correctness:** every salesgrid run (${correctness.runs}) matched DuckDB to the cent: rows, units, revenue, min/max price, price sum and all ${correctness.months} monthly rows.`
        : `**Correctness: MISMATCH** (${correctness.mismatches.length} differences, see results/bench.json).`
      : '**Correctness:** not checked (DuckDB did not run).',
  );
  if (scaling) {
    out.push('');
    out.push(`**Scaling** (\`run --workers 2\`, median of ${opts.runs})`);
    out.push('');
    out.push(
      markdownTable(
        [
          'rows',
          'file (MB)',
          'wall (s)',
          's per 1M rows',
          'M rows/s',
          'CPU (s)',
          'coord. peak RSS (MB)',
          'worker RSS (MB)',
        ],
        scaling.points.map((p) => [
          rowsHuman(p.rows),
          fmt(p.bytes / MB, 0),
          sec(p.wallMs),
          fmt(p.wallMs / 1000 / (p.rows / 1e6), 3),
          fmt(p.rows / (p.wallMs / 1000) / 1e6, 2),
          sec(p.cpuMs),
          fmt(p.rssMaxMb, 0),
          fmt(p.workerRssMaxMb, 0),
        ]),
        ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    if (scaling.fit) {
      out.push('');
      out.push(
        `Least-squares fit: wall ≈ ${sec(scaling.fit.interceptMs)} s + ${sec(scaling.fit.msPerMillionRows, 3)} s per million rows (R² = ${scaling.fit.r2.toFixed(4)}). ` +
          `Coordinator peak RSS across sizes: ${fmt(scaling.coordRssMinMb, 0)}–${fmt(scaling.coordRssMaxMb, 0)} MB.`,
      );
    }
  }
  if (failures.length) {
    out.push('');
    out.push('**Steps that failed or were skipped**');
    out.push('');
    for (const f of failures) out.push(`- ${f.replace(/\n/g, ' ')}`);
  }
  return `${out.join('\n')}\n`;
}

async function renderChart(summaries, file) {
  const [{ compile }, vega, { Resvg }] = await Promise.all([
    import('vega-lite'),
    import('vega'),
    import('@resvg/resvg-js'),
  ]);
  const fontDir = join(ROOT, 'node_modules', 'dejavu-fonts-ttf', 'ttf');
  const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => join(fontDir, f)).filter(existsSync);
  if (fontFiles.length === 0) throw new Error(`no fonts in ${fontDir}`);
  const values = summaries
    .filter((s) => s.wallMs != null)
    .map((s) => ({
      case: s.label,
      tool: { salesgrid: 'salesgrid', duckdb: 'DuckDB', pandas: 'pandas' }[s.group] ?? 'floor',
      seconds: Math.round(s.wallMs) / 1000,
      text: `${(s.wallMs / 1000).toFixed(2)} s`,
    }));
  const order = values.map((v) => v.case);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Median wall time, whole process (lower is better)', anchor: 'start', fontSize: 14 },
    width: 560,
    height: { step: 24 },
    data: { values },
    encoding: {
      y: {
        field: 'case',
        type: 'nominal',
        sort: order,
        title: null,
        axis: { labelLimit: 320, labelFontSize: 11 },
      },
      x: { field: 'seconds', type: 'quantitative', title: 'seconds' },
    },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          color: {
            field: 'tool',
            type: 'nominal',
            title: null,
            scale: {
              domain: ['salesgrid', 'DuckDB', 'pandas', 'floor'],
              range: ['#2f6db5', '#e0a526', '#8c5fb0', '#9a9a9a'],
            },
            legend: { orient: 'bottom' },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: { text: { field: 'text' } },
      },
    ],
    config: { font: 'DejaVu Sans', view: { stroke: null } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, png);
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  tmpDir = mkdtempSync(join(os.tmpdir(), 'salesgrid-bench-'));
  const machine = machineInfo();
  log(`salesgrid bench: ${machine.nproc} cores, ${machine.cpuModel}, Node ${machine.node}, ${machine.date}`);
  log(
    `  runs ${opts.runs}, workers/threads ${opts.workers.join(',')}, rows ${opts.rows.toLocaleString('en-US')}` +
      `${opts.scaling ? `, scaling ${opts.scalingRows.map(rowsHuman).join('/')}` : ''}`,
  );
  if (!TIME_BIN)
    log('  note: /usr/bin/time not found; CPU and RSS of the comparison tools come from their own reports');

  if (!existsSync(join(ROOT, 'dist'))) {
    console.error('bench: dist/ is missing: run `npm run build` first');
    process.exit(1);
  }

  // tools
  const haveDuckdb =
    !opts.skip.has('duckdb') &&
    existsSync(join(BENCH_DIR, 'node_modules', '@duckdb', 'node-api', 'package.json'));
  if (!opts.skip.has('duckdb') && !haveDuckdb) {
    log(
      '  DuckDB: @duckdb/node-api is not installed (run `npm --prefix bench ci`); skipping DuckDB and the correctness check',
    );
    failures.push('DuckDB: @duckdb/node-api not installed in bench/node_modules');
  }
  let pandas = null;
  if (!opts.skip.has('pandas')) {
    pandas = findPandasPython();
    if (pandas) {
      machine.pandas = pandas.pandas;
      machine.python = `${pandas.python} (${pandas.pythonVersion})`;
      log(`  pandas ${pandas.pandas} via ${pandas.python} (Python ${pandas.pythonVersion})`);
    } else {
      log(
        '  pandas: not available (`python3 -c "import pandas"` fails for python3 and /usr/bin/python3); skipping it. On Debian: apt-get install python3-pandas',
      );
      failures.push('pandas: not installed, skipped');
    }
  }

  // inputs
  log('inputs');
  const files = referenceFiles(opts.rows);
  if (!(await ensureFile(files.plain, opts.rows, false, opts.timeoutMs))) {
    console.error('bench: could not generate the reference file with salesgrid');
    process.exit(1);
  }
  let doQuoted = !opts.skip.has('quoted');
  if (doQuoted && !(await ensureFile(files.quoted, opts.rows, true, opts.timeoutMs))) {
    salesgridFailed = true;
    failures.push('quoted file: generation failed');
    doQuoted = false;
  }
  let bigFile = null;
  if (!opts.skip.has('big') && opts.big !== opts.rows) {
    const f = referenceFiles(opts.big).plain;
    if (await ensureFile(f, opts.big, false, opts.timeoutMs)) bigFile = f;
    else failures.push(`big file: could not generate ${rel(f)}`);
  }
  warm(files.plain);
  if (doQuoted) warm(files.quoted);

  // timed rounds: salesgrid and DuckDB alternate, and the order flips every round
  const duckScript = join(BENCH_DIR, 'duckdb-agg.mjs');
  const duckRefs = new Map(); // file → first successful DuckDB result, the reference totals
  for (let round = 0; round < opts.runs; round++) {
    log(`round ${round + 1}/${opts.runs}`);
    const pairs = opts.workers.map((n) => ({ n, file: files.plain, quoted: false }));
    if (doQuoted) pairs.push({ n: 2, file: files.quoted, quoted: true });
    if (bigFile) pairs.push({ n: 2, file: bigFile, quoted: false, big: true });
    for (const { n, file, quoted, big } of pairs) {
      const q = quoted ? '-quoted' : big ? `-${rowsLabel(opts.big)}` : '';
      const sg = async () => {
        await salesgridRun({
          caseId: `salesgrid-w${n}${q}`,
          label: `salesgrid run --workers ${n}${quoted ? ', quoted' : big ? `, ${rowsHuman(opts.big)} rows` : ''}`,
          file,
          workers: n,
          round,
          opts,
        });
        // The same run with the JS parser forced, right after: the WASM path's gain, paired.
        if (n === 2 && !quoted && !big && !opts.skip.has('js-path'))
          await salesgridRun({
            caseId: `salesgrid-w${n}-js`,
            label: `salesgrid run --workers ${n}, JS parser`,
            file,
            workers: n,
            round,
            opts,
            parse: 'js',
          });
      };
      const dk = async () => {
        if (!haveDuckdb) return;
        const rec = await toolRun({
          caseId: `duckdb-t${n}${q}`,
          label: `DuckDB threads=${n}${quoted ? ', quoted' : big ? `, ${rowsHuman(opts.big)} rows` : ''}`,
          group: 'duckdb',
          tool: 'duckdb',
          cmd: process.execPath,
          args: [duckScript, file, String(n)],
          file,
          round,
          threads: n,
          opts,
        });
        if (rec.ok && !duckRefs.has(file)) duckRefs.set(file, rec);
      };
      if (round % 2 === 0) {
        await sg();
        await dk();
      } else {
        await dk();
        await sg();
      }
    }
  }

  if (pandas) {
    log('pandas');
    for (let round = 0; round < opts.runs; round++) {
      await toolRun({
        caseId: 'pandas',
        label: 'pandas read_csv + groupby',
        group: 'pandas',
        tool: 'pandas',
        cmd: pandas.python,
        args: [join(BENCH_DIR, 'pandas-agg.py'), files.plain],
        file: files.plain,
        round,
        opts,
      });
    }
  }

  if (!opts.skip.has('floors')) {
    log('floors');
    for (let round = 0; round < opts.runs; round++) {
      await catRun({ file: files.plain, round, opts });
      await toolRun({
        caseId: 'floor-newlines',
        label: 'floor: Node newline scan, 4 MiB',
        group: 'floor',
        tool: 'node',
        cmd: process.execPath,
        args: [join(BENCH_DIR, 'newline-scan.mjs'), files.plain],
        file: files.plain,
        round,
        opts,
      });
    }
  }

  // the cost of encryption: the same transfers with and without a token (TLS 1.3 PSK)
  if (!opts.skip.has('transport')) {
    log('transport: plain vs TLS (bench/transport-cost.mjs)');
    const res = await runTimed(
      process.execPath,
      [join(BENCH_DIR, 'transport-cost.mjs'), files.plain, String(opts.runs)],
      {
        timeoutMs: opts.timeoutMs,
        useTime: false,
      },
    );
    if (res.code === 0) {
      const lines = res.stdout.trim().split('\n');
      const table = lines.filter((l) => l.startsWith('|'));
      for (const l of table) log(`  ${l}`);
      mkdirSync(RESULTS, { recursive: true });
      writeFileSync(join(RESULTS, 'transport-cost.md'), `${table.join('\n')}\n`);
      writeFileSync(join(RESULTS, 'transport-cost.json'), `${lines.at(-1)}\n`);
    } else {
      failures.push(`transport cost: ${why(res)}`);
    }
  }

  // scaling
  let scaling = null;
  if (opts.scaling) {
    log('scaling');
    const sizes = [];
    for (const n of opts.scalingRows) {
      const f = referenceFiles(n).plain;
      if (await ensureFile(f, n, false, opts.timeoutMs)) {
        warm(f);
        sizes.push({ n, f });
      } else {
        salesgridFailed = true;
        failures.push(`scaling: could not generate ${rel(f)}`);
      }
    }
    for (let round = 0; round < opts.runs; round++) {
      log(`  scaling round ${round + 1}/${opts.runs}`);
      for (const { n, f } of sizes) {
        const rec = await salesgridRun({
          caseId: `scaling-${rowsLabel(n)}`,
          label: `scaling ${rowsHuman(n)} rows, --workers 2`,
          group: 'scaling',
          file: f,
          workers: 2,
          round,
          opts,
        });
        if (rec.ok && (Number(rec.rows) !== n || Number(rec.rejected) !== 0)) {
          mismatches.push(
            `scaling ${rowsHuman(n)}: ${rec.rows} rows and ${rec.rejected} rejected, expected ${n} and 0`,
          );
        }
      }
    }
    const points = [];
    for (const { n } of sizes) {
      const s = summarizeCase(`scaling-${rowsLabel(n)}`);
      if (!s || s.wallMs == null) continue;
      points.push({
        rows: n,
        bytes: s.bytes,
        wallMs: s.wallMs,
        cpuMs: s.cpuMs,
        rssMaxMb: s.rssMaxMb,
        workerRssMaxMb: s.workerRssMaxMb,
      });
    }
    scaling = {
      points,
      fit: linearFit(points.map((p) => ({ x: p.rows, y: p.wallMs }))),
      coordRssMinMb: minOf(points.map((p) => p.rssMaxMb)),
      coordRssMaxMb: maxOf(points.map((p) => p.rssMaxMb)),
    };
  }

  // correctness: every salesgrid run against DuckDB on the same file
  const sgRuns = records.filter((r) => r.tool === 'salesgrid' && r.ok && r.group === 'salesgrid');
  let checkedRuns = 0;
  if (duckRefs.size > 0) {
    // the DuckDB runs must agree among themselves too
    for (const r of records.filter((x) => x.tool === 'duckdb' && x.ok)) {
      const ref = duckRefs.get(join(ROOT, r.file));
      if (ref && ref !== r) {
        for (const d of compareTotals(`${r.label} run ${r.round + 1}`, r, ref, 'DuckDB (first run)')) {
          mismatches.push(`DuckDB disagrees with itself: ${d}`);
        }
      }
    }
    for (const r of sgRuns) {
      const ref = duckRefs.get(join(ROOT, r.file));
      if (!ref) continue;
      checkedRuns++;
      mismatches.push(...compareTotals(`${r.label} run ${r.round + 1}`, r, ref, 'DuckDB'));
    }
    const ref = duckRefs.get(files.plain);
    if (ref && Number(ref.totals.rows) !== opts.rows) {
      log(
        `  note: ${rel(files.plain)} has ${ref.totals.rows} rows, not ${opts.rows}: was it generated with other settings?`,
      );
    }
  }
  // pandas is only reported, not a gate (it is another independent computation)
  const pandasRef = records.find((r) => r.tool === 'pandas' && r.ok);
  const duckPlain = duckRefs.get(files.plain);
  let pandasAgrees = null;
  if (pandasRef && duckPlain) {
    const d = compareTotals('pandas', pandasRef, duckPlain, 'DuckDB');
    pandasAgrees = d.length === 0;
    if (!pandasAgrees)
      failures.push(`pandas totals differ from DuckDB (not a gate): ${d.slice(0, 3).join('; ')}`);
  }
  const correctness = {
    checked: checkedRuns > 0,
    ok: mismatches.length === 0,
    runs: checkedRuns,
    months: duckPlain?.monthly?.length ?? 0,
    mismatches,
    pandasAgreesWithDuckdb: pandasAgrees,
    reference: duckPlain ? { totals: duckPlain.totals, monthly: duckPlain.monthly } : null,
  };

  // summaries, ratios, targets
  const caseOrder = [];
  for (const r of records) if (r.group !== 'scaling' && !caseOrder.includes(r.case)) caseOrder.push(r.case);
  const rank = (c) => {
    const s = records.find((r) => r.case === c);
    const g = { salesgrid: 0, duckdb: 1, pandas: 2, floor: 3 }[s.group] ?? 4;
    return g;
  };
  caseOrder.sort((a, b) => rank(a) - rank(b) || caseOrder.indexOf(a) - caseOrder.indexOf(b));
  const summaries = caseOrder.map(summarizeCase).filter(Boolean);
  const byCase = Object.fromEntries(summaries.map((s) => [s.case, s]));

  const ratios = {};
  for (const s of summaries) {
    if (s.tool === 'salesgrid') {
      const duckCase = s.case.replace(/^salesgrid-w/, 'duckdb-t').replace(/-js$/, '');
      if (byCase[duckCase]) ratios[s.case] = { ...pairedRatio(s.case, duckCase), paired: true };
    } else if (s.tool === 'pandas' || s.group === 'floor') {
      const d = byCase['duckdb-t2'];
      if (d?.wallMs && s.wallMs)
        ratios[s.case] = { of: s.case, to: 'duckdb-t2', median: s.wallMs / d.wallMs, paired: false };
    }
  }
  const quotedRatio = byCase['salesgrid-w2-quoted']
    ? pairedRatio('salesgrid-w2-quoted', 'salesgrid-w2')
    : null;

  const targets = [];
  let parsePaths = null;
  const passMiss = (ok) => (ok == null ? 'n/a' : ok ? 'PASS' : 'MISS');
  {
    const r = ratios['salesgrid-w2'];
    const v = r?.median ?? null;
    targets.push({
      id: 'vs-duckdb',
      name: `run --workers 2 ≤ ${TARGETS.vsDuckdb}× DuckDB threads=2`,
      value: v,
      measured:
        v != null
          ? `${v.toFixed(2)}× (${sec(byCase['salesgrid-w2']?.wallMs)} s vs ${sec(byCase['duckdb-t2']?.wallMs)} s; pairs ${r.pairs.map((p) => p.ratio.toFixed(2)).join(', ')})`
          : 'not measured',
      result: passMiss(v == null ? null : v <= TARGETS.vsDuckdb),
    });
  }
  {
    const big = `salesgrid-w2-${rowsLabel(opts.big)}`;
    const r = ratios[big];
    const v = r?.median ?? null;
    targets.push({
      id: 'vs-duckdb-big',
      name: `run --workers 2 on ${rowsHuman(opts.big)} rows ≤ ${TARGETS.vsDuckdbBig}× DuckDB threads=2`,
      value: v,
      measured:
        v != null
          ? `${v.toFixed(2)}× (${sec(byCase[big]?.wallMs)} s vs ${sec(byCase[`duckdb-t2-${rowsLabel(opts.big)}`]?.wallMs)} s; pairs ${r.pairs.map((p) => p.ratio.toFixed(2)).join(', ')})`
          : 'not measured',
      result: passMiss(v == null ? null : v <= TARGETS.vsDuckdbBig),
    });
  }
  {
    const r = ratios['salesgrid-w1'];
    const v = r?.median ?? null;
    targets.push({
      id: 'one-worker',
      name: `run --workers 1 ≤ ${TARGETS.oneWorker}× DuckDB threads=1`,
      value: v,
      measured:
        v != null
          ? `${v.toFixed(2)}× (${sec(byCase['salesgrid-w1']?.wallMs)} s vs ${sec(byCase['duckdb-t1']?.wallMs)} s)`
          : 'not measured',
      result: passMiss(v == null ? null : v <= TARGETS.oneWorker),
    });
  }
  {
    // Parse CPU alone, both paths over the same chunks in one process (bench/parse-paths.mjs).
    const pp = spawnSync(
      process.execPath,
      [join(BENCH_DIR, 'parse-paths.mjs'), files.plain, '--rounds', '3', '--mb', '256', '--json'],
      { cwd: ROOT, encoding: 'utf8', timeout: opts.timeoutMs, maxBuffer: 1 << 24 },
    );
    parsePaths = pp.status === 0 ? parseJsonOutput(pp.stdout) : null;
    if (parsePaths === null)
      failures.push(`parse paths: bench/parse-paths.mjs exited ${pp.status ?? pp.signal}`);
    else if (!parsePaths.identicalTotals) mismatches.push('parse paths: WASM and JS totals differ');
    const v = parsePaths?.nsPerRow?.wasm?.median ?? null;
    targets.push({
      id: 'parse-ns',
      name: `parse CPU per row ≤ ${TARGETS.parseNsPerRow} ns (reference dimensions)`,
      value: v,
      measured:
        v != null
          ? `${v.toFixed(0)} ns WASM, ${parsePaths.nsPerRow.js.median.toFixed(0)} ns JS (medians of 3 passes over ${parsePaths.mb.toFixed(0)} MB, one process; minima ${parsePaths.nsPerRow.wasm.min.toFixed(0)} / ${parsePaths.nsPerRow.js.min.toFixed(0)} ns)`
          : 'not measured',
      result: passMiss(v == null ? null : v <= TARGETS.parseNsPerRow),
    });
    const w = byCase['salesgrid-w2'];
    const js = byCase['salesgrid-w2-js'];
    const gain = pairedRatio('salesgrid-w2', 'salesgrid-w2-js');
    targets.push({
      id: 'worker-ns',
      name: "workers' own CPU per row, WASM vs JS parser (--workers 2; start-up, reads and results included)",
      value: w?.workerNsPerRow ?? null,
      measured:
        w?.workerNsPerRow != null
          ? `${w.workerNsPerRow.toFixed(0)} ns${js?.workerNsPerRow != null ? ` vs ${js.workerNsPerRow.toFixed(0)} ns with JS forced; wall ${fmt(gain.median)}× the JS run (paired)` : ''}`
          : 'not measured',
      result: 'info',
    });
  }
  targets.push({
    id: 'keyed',
    name: 'keyed paths (marts, customers, baskets) no slower than before issue 16',
    value: null,
    measured:
      'runs with marts, customers, orders or items parse on the JS path by default, unchanged (WASM marts, forced with SALESGRID_PARSE=wasm, cost ~20% more worker CPU at customer scale; see docs/architecture.md)',
    result: 'n/a',
  });
  {
    const v = quotedRatio?.median ?? null;
    targets.push({
      id: 'quoted',
      name: `quoted ≤ ${TARGETS.quoted}× unquoted (--workers 2)`,
      value: v,
      measured:
        v != null
          ? `${v.toFixed(2)}× (${sec(byCase['salesgrid-w2-quoted']?.wallMs)} s vs ${sec(byCase['salesgrid-w2']?.wallMs)} s)`
          : 'not measured',
      result: passMiss(v == null ? null : v <= TARGETS.quoted),
    });
  }
  {
    const sgCases = summaries.filter((s) => s.tool === 'salesgrid');
    const coord = maxOf(sgCases.map((s) => s.rssMaxMb));
    const worker = maxOf(sgCases.map((s) => s.workerRssMaxMb));
    targets.push({
      id: 'coord-rss',
      name: `coordinator peak RSS ≤ ${TARGETS.rssMb} MB`,
      value: coord,
      measured: coord != null ? `${coord.toFixed(0)} MB (largest of all runs)` : 'not measured',
      result: passMiss(coord == null ? null : coord <= TARGETS.rssMb),
    });
    targets.push({
      id: 'worker-rss',
      name: `worker peak RSS ≤ ${TARGETS.rssMb} MB`,
      value: worker,
      measured: worker != null ? `${worker.toFixed(0)} MB (largest worker of all runs)` : 'not measured',
      result: passMiss(worker == null ? null : worker <= TARGETS.rssMb),
    });
    const w2 = byCase['salesgrid-w2'];
    const share = w2?.coordCpuShare ?? null;
    const others = sgCases
      .filter((s) => s.case !== 'salesgrid-w2' && s.coordCpuShare != null)
      .map((s) => `${s.label.replace('salesgrid run ', '')}: ${(s.coordCpuShare * 100).toFixed(1)}%`);
    targets.push({
      id: 'coord-cpu',
      name: `coordinator CPU ≤ ${TARGETS.coordCpu * 100}% of total (--workers 2)`,
      value: share,
      measured:
        share != null
          ? `${(share * 100).toFixed(1)}% (${sec(median(records.filter((r) => r.case === 'salesgrid-w2' && r.ok).map((r) => r.coordCpuMs)))} s of ${sec(w2.cpuMs)} s)${others.length ? `; ${others.join(', ')}` : ''}`
          : 'not measured',
      result: passMiss(share == null ? null : share <= TARGETS.coordCpu),
    });
  }

  // write
  mkdirSync(join(RESULTS, 'charts'), { recursive: true });
  const md = buildMarkdown({ machine, opts, summaries, ratios, targets, scaling, correctness, files });
  const json = {
    machine,
    settings: {
      runs: opts.runs,
      workers: opts.workers,
      rows: opts.rows,
      files: { plain: rel(files.plain), quoted: doQuoted ? rel(files.quoted) : null },
      scaling: opts.scaling ? opts.scalingRows : null,
      skip: [...opts.skip],
      timeWrapper: TIME_BIN,
      mb: MB,
    },
    targets,
    parsePaths,
    ratios: { ...ratios, quotedVsUnquoted: quotedRatio },
    summaries,
    scaling,
    correctness,
    failures,
    runs: records,
  };
  writeFileSync(join(RESULTS, 'bench.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'bench.md'), md);
  if (opts.chart) {
    try {
      await renderChart(summaries, join(RESULTS, 'charts', 'bench.png'));
    } catch (err) {
      log(`chart: not rendered: ${err?.stack ?? err}`);
      failures.push(`chart: ${err?.message ?? err}`);
    }
  }
  rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = null;

  // Keyed aggregation (marts at customer scale vs DuckDB's GROUP BY): bench/keys.mjs, same session.
  let keysMd = '';
  if (!opts.skip.has('keys')) {
    log('keyed aggregation (bench/keys.mjs)');
    const keysArgs = [join(BENCH_DIR, 'keys.mjs'), '--runs', String(opts.runs), '--keys', opts.keys];
    if (opts.skip.has('duckdb')) keysArgs.push('--skip', 'duckdb');
    const k = spawnSync(process.execPath, keysArgs, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (k.status !== 0) {
      salesgridFailed = true;
      failures.push(`keyed aggregation: bench/keys.mjs exited ${k.status ?? k.signal}`);
    }
    if (existsSync(join(RESULTS, 'keys-bench.md'))) {
      keysMd = `\n${readFileSync(join(RESULTS, 'keys-bench.md'), 'utf8')}`;
      writeFileSync(join(RESULTS, 'bench.md'), md + keysMd);
    }
  }

  // Per-customer features and `segment` at 1M customers: bench/segment-cli.mjs, same session.
  if (!opts.skip.has('segment')) {
    log('customers and segment (bench/segment-cli.mjs)');
    const segArgs = [join(BENCH_DIR, 'segment-cli.mjs'), '--runs', String(opts.runs)];
    const g = spawnSync(process.execPath, segArgs, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (g.status !== 0) {
      salesgridFailed = true;
      failures.push(`segment: bench/segment-cli.mjs exited ${g.status ?? g.signal}`);
    }
    if (existsSync(join(RESULTS, 'segment-bench.md'))) {
      keysMd += `\n${readFileSync(join(RESULTS, 'segment-bench.md'), 'utf8')}`;
      writeFileSync(join(RESULTS, 'bench.md'), md + keysMd);
    }
  }

  // Orders and baskets (run --order --item vs the plain run): bench/baskets.mjs, same session.
  if (!opts.skip.has('baskets')) {
    log('orders and baskets (bench/baskets.mjs)');
    const b = spawnSync(process.execPath, [join(BENCH_DIR, 'baskets.mjs'), '--runs', String(opts.runs)], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (b.status !== 0) {
      salesgridFailed = true;
      failures.push(`baskets: bench/baskets.mjs exited ${b.status ?? b.signal}`);
    }
    if (existsSync(join(RESULTS, 'baskets-bench.md'))) {
      keysMd += `\n${readFileSync(join(RESULTS, 'baskets-bench.md'), 'utf8')}`;
      writeFileSync(join(RESULTS, 'bench.md'), md + keysMd);
    }
  }

  log('');
  log(md + keysMd);
  if (mismatches.length) {
    log('CORRECTNESS MISMATCH:');
    for (const m of mismatches.slice(0, 50)) log(`  ${m}`);
    if (mismatches.length > 50) log(`  … ${mismatches.length - 50} more in results/bench.json`);
  }
  log(
    `wrote ${rel(join(RESULTS, 'bench.json'))}, ${rel(join(RESULTS, 'bench.md'))}${opts.chart ? `, ${rel(join(RESULTS, 'charts', 'bench.png'))}` : ''}`,
  );
  if (mismatches.length || salesgridFailed) {
    process.exitCode = 1;
    if (salesgridFailed) log('salesgrid failed in at least one run (see above)');
  }
}

main().catch((err) => {
  console.error(`bench: ${err?.stack ?? err}`);
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  process.exit(1);
});
