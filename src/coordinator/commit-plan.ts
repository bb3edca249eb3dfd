/**
 * What one chunk's result writes (the store row set and the new running totals), and what the end
 * of a run writes (the merged months; dimensions and marts stream from the spilled keyed cells,
 * db/cell-runs.ts). Pure: the coordinator stores the plan first and moves its memory only once the
 * transaction committed.
 */
import { formatScaled } from '../aggregate/decimal.js';
import {
  type Agg,
  type aggFromWire,
  aggToWire,
  type Cell,
  emptyAgg,
  finalizeTotals,
  mergeInto,
} from '../aggregate/partial.js';
import type { ChunkResultWrite } from '../db/store.js';
import type { Usage } from '../protocol/messages.js';
import type { ChunkRange } from './lease-table.js';

export interface WorkerStats {
  agg: Agg;
  chunks: number;
  busyMs: number;
  usage: Usage | null;
}

/** A worker's stats with one more chunk (totals only: months, dimensions and marts are not kept per worker). */
export function withChunk(cur: WorkerStats | undefined, agg: Agg, parseMs: number): WorkerStats {
  const base = cur ?? { agg: emptyAgg(agg.scale), chunks: 0, busyMs: 0, usage: null };
  const next = emptyAgg(base.agg.scale);
  mergeInto(next, base.agg);
  mergeInto(next, { ...agg, months: new Map() });
  return { agg: next, chunks: base.chunks + 1, busyMs: base.busyMs + parseMs, usage: null };
}

export interface CommitInput {
  runId: number;
  range: ChunkRange;
  attempt: number;
  workerId: string;
  nowIso: string;
  outcome: ReturnType<typeof aggFromWire>;
  parseMs: number;
  detail: string | null;
  total: Agg;
  stats: WorkerStats | undefined;
  chunksDone: number;
  bytesDone: number;
  pack: (wire: unknown) => Buffer;
}

export function planCommit(c: CommitInput): { write: ChunkResultWrite; stats: WorkerStats } {
  const { agg, lines, rejects, omitted } = c.outcome;
  const nextTotal = emptyAgg(c.total.scale);
  mergeInto(nextTotal, { ...c.total, months: new Map() });
  mergeInto(nextTotal, { ...agg, months: new Map() });
  const t = finalizeTotals(nextTotal);
  const stats = withChunk(c.stats, agg, c.parseMs);
  const ws = finalizeTotals(stats.agg);
  const totals = finalizeTotals(agg);
  const write: ChunkResultWrite = {
    runId: c.runId,
    chunkId: c.range.chunkId,
    attempt: c.attempt,
    workerId: c.workerId,
    finishedAt: c.nowIso,
    lines,
    rows: agg.rows,
    rejected: agg.rejected,
    units: totals.units,
    revenue: totals.revenue,
    priceMin: totals.minPrice,
    priceMax: totals.maxPrice,
    priceSum: totals.priceSum,
    parseMs: c.parseMs,
    detail: c.detail,
    partial: c.pack(aggToWire(agg, lines, [])),
    rejects,
    omitted,
    worker: {
      chunks: stats.chunks,
      rows: stats.agg.rows,
      revenue: ws.revenue,
      busyMs: stats.busyMs,
      priceMin: ws.minPrice,
      priceMax: ws.maxPrice,
      priceSum: ws.priceSum,
    },
    run: {
      rows: t.rows,
      rejected: t.rejected,
      units: t.units,
      revenue: t.revenue,
      priceMin: t.minPrice,
      priceMax: t.maxPrice,
      priceSum: t.priceSum,
      avgPrice: t.avgPrice,
      scale: nextTotal.scale,
      chunksDone: c.chunksDone + 1,
      bytesDone: c.bytesDone + (c.range.byteEnd - c.range.byteStart),
    },
  };
  return { write, stats };
}

type CellText = { rows: number; units: string; revenue: string };

export interface FinishPlan {
  monthly: [string, CellText][];
  dims: Iterable<[string, string, CellText]>;
}

/** The months of a done run, from the running totals (dimensions and marts come from the spill). */
export function planMonthly(total: Agg): [string, CellText][] {
  const scale = total.scale;
  const cell = (c: Cell): CellText => ({
    rows: c.rows,
    units: c.units.toString(),
    revenue: formatScaled(c.revenue, scale),
  });
  return [...total.months].sort(([a], [b]) => (a < b ? -1 : 1)).map(([m, c]) => [m, cell(c)]);
}
