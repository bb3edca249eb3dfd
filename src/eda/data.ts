/**
 * Reads one finished run from the store into plain data for the chart specs. Money stays exact
 * text where it is shown as text (headline numbers) and becomes a Number only for plotting.
 */
import { divRound, parseDecimal, pow10, rescale } from '../aggregate/decimal.js';
import type { RunRow, Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';

export interface RunInfo {
  id: number;
  file: string;
  startedAt: string;
  finishedAt: string | null;
  /** finished_at − started_at, or null when the run has no end time. */
  wallMs: number | null;
  rows: number;
  rejected: number;
  chunks: number;
  revenue: string;
  priceMin: string | null;
  priceMax: string | null;
  priceAvg: string | null;
  /** What the price statistics are over: the unit price, or the line amount when there is no price column. */
  priceBasis: 'unit price' | 'line amount';
  /** The run's spec names a date column (monthly rows may still be empty). */
  hasDateColumn: boolean;
  /** Dimension names from the run's spec, in column order. */
  dimensionNames: string[];
}

export interface WorkerStat {
  workerId: string;
  rows: number;
  chunks: number;
  revenue: number;
  /** price_sum / rows; null when the worker produced no rows. */
  priceAvg: number | null;
  priceMin: number | null;
  priceMax: number | null;
}

export interface MonthRevenue {
  /** YYYY-MM */
  month: string;
  revenue: number;
  rows: number;
}

/** One chunk attempt; times are seconds since the run started. */
export interface AttemptSpan {
  workerId: string;
  chunkId: number;
  attempt: number;
  outcome: string;
  start: number;
  end: number;
}

/** A finished chunk: when (seconds since run start) and how many rows it held. */
export interface ChunkFinish {
  t: number;
  rows: number;
}

export interface DimensionKey {
  key: string;
  revenue: number;
  rows: number;
}

export interface DimensionTotals {
  dimension: string;
  /** Every key, by revenue descending (exact comparison), ties by key. */
  keys: DimensionKey[];
}

export interface EdaData {
  run: RunInfo;
  workers: WorkerStat[];
  monthly: MonthRevenue[];
  attempts: AttemptSpan[];
  finishes: ChunkFinish[];
  dimensions: DimensionTotals[];
}

/** The run to chart: `id`, or the latest finished one. Anything not 'done' is E_NO_RUN. */
export function pickDoneRun(store: Store, id: number | undefined): RunRow {
  if (id === undefined) {
    const run = store.latestRun('done');
    if (run === undefined) {
      throw new SalesgridError(
        'E_NO_RUN',
        `${store.path} holds no finished run; run "salesgrid run <csv>" first`,
        { exitCode: 2 },
      );
    }
    return run;
  }
  const run = store.getRun(id);
  if (run === undefined)
    throw new SalesgridError('E_NO_RUN', `${store.path} has no run ${id}`, { exitCode: 2 });
  if (run.status !== 'done') {
    throw new SalesgridError(
      'E_NO_RUN',
      `run ${id} in ${store.path} is ${run.status}, not done; charts need a finished run`,
      { exitCode: 2 },
    );
  }
  return run;
}

function num(text: string | null): number | null {
  return text === null ? null : Number(text);
}

/** Exact descending comparison of two decimal strings. */
export function compareDecimalDesc(a: string, b: string): number {
  const [av, as] = parseDecimal(a);
  const [bv, bs] = parseDecimal(b);
  const s = Math.max(as, bs);
  const d = rescale(bv, bs, s) - rescale(av, as, s);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}

/** sum / rows to 4 decimals, exactly; null for no rows. */
export function averageOf(sum: string, rows: number): string | null {
  if (rows <= 0) return null;
  const [v, s] = parseDecimal(sum);
  return divRound(v, BigInt(rows) * pow10(s), 4);
}

export function loadEdaData(store: Store, run: RunRow): EdaData {
  const spec = JSON.parse(run.spec) as Partial<ScanSpec>;
  const t0 = Date.parse(run.started_at);
  const end = run.finished_at === null ? null : Date.parse(run.finished_at);
  const since = (iso: string) => (Date.parse(iso) - t0) / 1000;

  const workers = store.workers(run.id).map((w) => {
    const avg = averageOf(w.price_sum, w.rows);
    return {
      workerId: w.worker_id,
      rows: w.rows,
      chunks: w.chunks,
      revenue: Number(w.revenue),
      priceAvg: avg === null ? null : Number(avg),
      priceMin: w.rows > 0 ? num(w.price_min) : null,
      priceMax: w.rows > 0 ? num(w.price_max) : null,
    };
  });

  const monthly = store
    .monthly(run.id)
    .map((m) => ({ month: m.month, revenue: Number(m.revenue), rows: m.rows }));

  const fallbackEnd = end === null ? null : (end - t0) / 1000;
  const attempts: AttemptSpan[] = [];
  for (const a of store.attempts(run.id)) {
    const start = since(a.dispatched_at);
    const stop = a.finished_at === null ? fallbackEnd : since(a.finished_at);
    if (stop === null) continue;
    attempts.push({
      workerId: a.worker_id,
      chunkId: a.chunk_id,
      attempt: a.attempt,
      outcome: a.outcome,
      start,
      end: Math.max(start, stop),
    });
  }

  const finishes: ChunkFinish[] = [];
  for (const c of store.allChunks(run.id)) {
    if (c.status === 'done' && c.finished_at !== null)
      finishes.push({ t: since(c.finished_at), rows: c.rows ?? 0 });
  }
  finishes.sort((a, b) => a.t - b.t);

  const byDim = new Map<string, { key: string; revenue: string; rows: number }[]>();
  for (const d of store.dimensions(run.id)) {
    let list = byDim.get(d.dimension);
    if (list === undefined) byDim.set(d.dimension, (list = []));
    list.push({ key: d.key, revenue: d.revenue, rows: d.rows });
  }
  const dimensionNames = (spec.dimensions ?? []).map((d) => d.name);
  const order = [...dimensionNames, ...[...byDim.keys()].filter((k) => !dimensionNames.includes(k))];
  const dimensions: DimensionTotals[] = [];
  for (const name of order) {
    const list = byDim.get(name);
    if (list === undefined) continue;
    list.sort(
      (a, b) => compareDecimalDesc(a.revenue, b.revenue) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
    dimensions.push({
      dimension: name,
      keys: list.map((k) => ({ key: k.key, revenue: Number(k.revenue), rows: k.rows })),
    });
  }

  return {
    run: {
      id: run.id,
      file: run.file,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      wallMs: end === null ? null : end - t0,
      rows: run.rows,
      rejected: run.rejected,
      chunks: run.chunks_done,
      revenue: run.revenue,
      priceMin: run.price_min,
      priceMax: run.price_max,
      priceAvg: run.avg_price,
      priceBasis: spec.price === -1 ? 'line amount' : 'unit price',
      hasDateColumn: spec.date !== undefined && spec.date !== -1,
      dimensionNames: order,
    },
    workers,
    monthly,
    attempts,
    finishes,
    dimensions,
  };
}
