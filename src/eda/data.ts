/**
 * Reads one finished run from the store into plain data for the chart specs. Money stays exact
 * text where it is shown as text (headline numbers) and becomes a Number only for plotting.
 */

import { divRound, formatScaled, parseDecimal, pow10, rescale } from '../aggregate/decimal.js';
import { martInfo, martKeyCells, martTop } from '../db/mart-blocks.js';
import type { RunRow, Store } from '../db/store.js';
import { SalesgridError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';
import type { BasketEdaData } from './basket-charts.js';

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
  /** Mart names (`--mart` columns) from the run's spec, in the order given. */
  martNames: string[];
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

/** One of a mart's top keys. Money is exact text in SQLite and a Number here, for plotting only. */
export interface MartKey {
  /** 1 = the highest total revenue over the run. */
  rank: number;
  key: string;
  /** Total over the run. */
  revenue: number;
  rows: number;
  /** Revenue per month ('YYYY-MM', ascending, only months with rows); empty when the run has no dates. */
  months: MonthRevenue[];
}

export interface MartTop {
  mart: string;
  /** Distinct keys in the mart. */
  keyCount: number;
  /** The mart's cells carry months (the run has a date column). */
  dated: boolean;
  /** First and last month of the whole mart ('' without dates), so every line spans the run. */
  firstMonth: string;
  lastMonth: string;
  /** The run's total revenue: every accepted row is in every mart. */
  total: number;
  /** Top keys by total revenue, ranked in SQL on exact integers, ties by key ascending. */
  keys: MartKey[];
}

export interface EdaData {
  run: RunInfo;
  workers: WorkerStat[];
  monthly: MonthRevenue[];
  attempts: AttemptSpan[];
  finishes: ChunkFinish[];
  dimensions: DimensionTotals[];
  /** Marts with at least one key, spec order first. */
  marts: MartTop[];
  /** Orders and baskets, when the run counted them (eda/basket-charts.ts). */
  baskets?: BasketEdaData | null;
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

/** Exact sum of decimal strings ('12.50' + '0.125' → '12.625'). */
export function sumDecimals(values: string[]): string {
  let sum = 0n;
  let scale = 0;
  for (const text of values) {
    const [v, s] = parseDecimal(text);
    if (s > scale) {
      sum = rescale(sum, scale, s);
      scale = s;
    }
    sum += rescale(v, s, scale);
  }
  return formatScaled(sum, scale);
}

/**
 * The top `topN` keys of one mart with their monthly revenue, ranked exactly by revenue (ties by
 * key) from the stored rankings (db/mart-blocks.ts); the exact amounts become Numbers for plotting.
 */
export function loadMartTop(store: Store, runId: number, mart: string, topN: number, total: number): MartTop {
  const info = martInfo(store.prep, runId, mart);
  const scale = store.getRun(runId)?.scale ?? 0;
  const keys: MartKey[] = martTop(store.prep, runId, mart, 'all', 'revenue', topN).map((t) => {
    const months = martKeyCells(store.prep, runId, mart, t.key)
      .filter((c) => c.month !== '')
      .map((c) => ({ month: c.month, revenue: Number(formatScaled(c.revenue, scale)), rows: c.rows }));
    return {
      rank: t.rank,
      key: t.key,
      revenue: Number(formatScaled(t.revenueScaled, scale)),
      rows: Number(t.rows),
      months,
    };
  });
  const dated = info !== undefined && info.firstMonth !== '';
  return {
    mart,
    keyCount: info?.keys ?? 0,
    dated,
    firstMonth: info?.firstMonth ?? '',
    lastMonth: info?.lastMonth ?? '',
    total,
    keys,
  };
}

export function loadEdaData(store: Store, run: RunRow, topN = 10): EdaData {
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

  const martNames = (spec.marts ?? []).map((d) => d.name);
  const marts: MartTop[] = [];
  for (const name of [...martNames, ...store.martNames(run.id).filter((m) => !martNames.includes(m))]) {
    const top = loadMartTop(store, run.id, name, topN, Number(run.revenue));
    if (top.keyCount > 0) marts.push(top);
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
      martNames,
    },
    workers,
    monthly,
    attempts,
    finishes,
    dimensions,
    marts,
  };
}
