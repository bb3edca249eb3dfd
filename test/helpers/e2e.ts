/**
 * End-to-end helpers: real CLI processes, temp files, an independent reference computation.
 * Every process started here is killed by `killAll()` (call it in afterEach).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'salesgrid.js');
export const FAULT_WORKER = path.join(ROOT, 'test', 'fixtures', 'fault-worker.mjs');

const started = new Set<Proc>();

export interface Proc {
  child: ChildProcess;
  pid: number;
  out(): string;
  err(): string;
  /** Resolves with the exit code (128 + n for a signal) when the process ends. */
  exit: Promise<number>;
  /** Waits until stdout+stderr match `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

export function spawnNode(args: string[], env: Record<string, string> = {}): Proc {
  return spawnProc(process.execPath, args, env);
}

/** Any command (e.g. `ip netns exec … node …`), tracked and killed like spawnNode's. */
export function spawnProc(command: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(out + err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const signals: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  const exit = new Promise<number>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? 128 + (signals[signal ?? ''] ?? 0)));
  });
  const proc: Proc = {
    child,
    pid: child.pid as number,
    out: () => out,
    err: () => err,
    exit,
    waitFor(re, timeoutMs = 30_000) {
      if (re.test(out + err)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out waiting for ${re} in:\n${out}\n${err}`));
        }, timeoutMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        exit.then(() => {
          if (!re.test(out + err)) {
            clearTimeout(timer);
            reject(new Error(`process exited before ${re}:\n${out}\n${err}`));
          }
        });
      });
    },
  };
  started.add(proc);
  exit.then(() => started.delete(proc));
  return proc;
}

export function cli(args: string[], env: Record<string, string> = {}): Proc {
  return spawnNode([BIN, ...args], env);
}

/** A worker fixture with fault hooks (see test/fixtures/fault-worker.mjs). */
export function faultWorker(connect: string, id: string, faults: Record<string, string | number> = {}): Proc {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(faults)) env[k] = String(v);
  return spawnNode([FAULT_WORKER, connect, id], env);
}

export function killAll(): void {
  for (const p of started) {
    try {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sg-e2e-'));
}

export async function generate(file: string, rows: number, seed = 7, extra: string[] = []): Promise<void> {
  const p = cli([
    'generate',
    '--rows',
    String(rows),
    '--seed',
    String(seed),
    '--out',
    file,
    '--quiet',
    ...extra,
  ]);
  const code = await p.exit;
  if (code !== 0) throw new Error(`generate failed: ${p.err()}`);
}

export interface Reference {
  rows: number;
  units: string;
  revenue: string;
  minPrice: string;
  maxPrice: string;
  monthly: Map<string, string>;
}

function cents(text: string): bigint {
  const m = /^(\d+)\.(\d{2})$/.exec(text);
  if (!m) throw new Error(`not a 2-decimal amount: ${text}`);
  return BigInt(m[1] + m[2]);
}

function fmt(c: bigint): string {
  const s = c.toString().padStart(3, '0');
  return `${s.slice(0, -2)}.${s.slice(-2)}`;
}

/** Totals of a reference-layout file computed independently: csv-parse and BigInt cents. */
export function reference(file: string): Reference {
  const records = parse(fs.readFileSync(file), { columns: true, bom: true }) as Record<string, string>[];
  let units = 0n;
  let revenue = 0n;
  let min: bigint | null = null;
  let max: bigint | null = null;
  const monthly = new Map<string, bigint>();
  for (const r of records) {
    const u = BigInt(r['Units Sold']);
    const p = cents(r['Unit Price']);
    const rev = p * u;
    units += u;
    revenue += rev;
    if (min === null || p < min) min = p;
    if (max === null || p > max) max = p;
    const [m, , y] = r['Order Date'].split('/');
    const key = `${y}-${m.padStart(2, '0')}`;
    monthly.set(key, (monthly.get(key) ?? 0n) + rev);
  }
  return {
    rows: records.length,
    units: units.toString(),
    revenue: fmt(revenue),
    minPrice: fmt(min ?? 0n),
    maxPrice: fmt(max ?? 0n),
    monthly: new Map([...monthly].map(([k, v]) => [k, fmt(v)])),
  };
}

export interface ReportJson {
  runId: number;
  status: string;
  rows: number;
  rejected: number;
  units: string;
  revenue: string;
  minPrice: string;
  maxPrice: string;
  avgPrice: string;
  monthly: { month: string; rows: number; units: string; revenue: string }[];
  workers: { workerId: string; chunks: number; rows: number }[];
  rejects: { reason: string; count: number; firstLine: number }[];
}

export async function report(db: string, runId?: number): Promise<ReportJson> {
  const p = cli(['report', '--db', db, '--json', ...(runId === undefined ? [] : ['--run', String(runId)])]);
  const code = await p.exit;
  if (code !== 0) throw new Error(`report failed (${code}): ${p.err()}`);
  return JSON.parse(p.out()) as ReportJson;
}

/** Asserts a finished run's totals equal the reference exactly (throws with a diff). */
export function sameTotals(r: ReportJson, ref: Reference): string[] {
  const diffs: string[] = [];
  const eq = (what: string, a: unknown, b: unknown) => {
    if (a !== b) diffs.push(`${what}: got ${String(a)}, expected ${String(b)}`);
  };
  eq('status', r.status, 'done');
  eq('rows', r.rows, ref.rows);
  eq('rejected', r.rejected, 0);
  eq('units', r.units, ref.units);
  eq('revenue', r.revenue, ref.revenue);
  eq('minPrice', r.minPrice, ref.minPrice);
  eq('maxPrice', r.maxPrice, ref.maxPrice);
  eq('months', r.monthly.length, ref.monthly.size);
  for (const m of r.monthly) eq(`monthly ${m.month}`, m.revenue, ref.monthly.get(m.month));
  return diffs;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Done chunks in a run database (0 while it does not exist yet). */
export function doneChunks(db: string): number {
  if (!fs.existsSync(db)) return 0;
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT COUNT(*) AS n FROM chunks WHERE status = 'done'").get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    d.close();
  }
}

/** Rows of a read-only query on a run's database. */
export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

/** Polls every 50 ms, at most `tries` times, until `db` has `n` done chunks; returns how many it has. */
export async function untilChunksDone(db: string, n: number, tries = 1200): Promise<number> {
  let done = doneChunks(db);
  for (let i = 0; i < tries && done < n; i++) {
    await sleep(50);
    done = doneChunks(db);
  }
  return done;
}

/** A free TCP port on loopback (bound and released). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A temp folder with a generated reference-layout file and its independent totals. */
export async function generatedFile(
  rows: number,
  seed: number,
): Promise<{ dir: string; csv: string; ref: Reference }> {
  const dir = tmpDir();
  const csv = path.join(dir, 'sales.csv');
  await generate(csv, rows, seed);
  return { dir, csv, ref: reference(csv) };
}

/** The port a coordinator started with `--port 0` bound, once it says it is listening. */
export async function listeningPort(proc: Proc): Promise<number> {
  await proc.waitFor(/listening on [^\s:]+:\d+/);
  return Number((/listening on [^\s:]+:(\d+)/.exec(proc.out() + proc.err()) ?? [])[1]);
}
