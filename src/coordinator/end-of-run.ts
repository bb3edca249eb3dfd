/**
 * The end of a run: recording it (a `done` run only when its done chunks tile the data section,
 * checked in the same transaction) and the summary. A run whose end cannot be recorded is left
 * failed and unlocked, so `--resume` can finish it.
 */

import v8 from 'node:v8';
import type { BasketTotals, OrderConflicts } from '../aggregate/basket-count.js';
import { divRound, formatScaled, pow10 } from '../aggregate/decimal.js';
import { type Agg, finalizeTotals } from '../aggregate/partial.js';
import { type BasketColumns, writeBaskets } from '../db/baskets.js';
import { deleteCellRuns, dropSpillFile, mergedDimensionRows } from '../db/cell-runs.js';
import { type CustomerFeatureSpec, writeCustomers } from '../db/customers.js';
import { type JoinStat, writeJoinStats } from '../db/joins.js';
import { startMartClose } from '../db/mart-close.js';
import type { Store } from '../db/store.js';
import { errorMessage, SalesgridError } from '../errors.js';
import { processUsage, type Usage } from '../protocol/messages.js';
import { type FinishPlan, planMonthly, type WorkerStats } from './commit-plan.js';
import { iso } from './input.js';
import { describeTilingFault, tilingFault } from './lease-table.js';
import type { BasketSummary, CoordinatorUi, MergeChildUsage, RunSummary, SecondPass } from './run-types.js';

type Status = RunSummary['status'];

export interface EndInput {
  store: Store;
  runId: number;
  status: Status;
  error: SalesgridError | null;
  total: Agg;
  /** The run's dimension and mart columns: their cells are merged from the spill (db/cell-runs.ts). */
  dimensions: string[];
  marts: string[];
  /** With a customer column: what its spilled runs hold, written to `customers` (db/customers.ts). */
  customers: CustomerFeatureSpec | null;
  /** Orders and baskets (`--order` with `--item`), counted from the spill: db/baskets.ts. */
  basket: BasketColumns | null;
  /** The order-id check the coordinator ran on this spill before ending (not repeated). */
  orderCheck?: OrderConflicts;
  dataStart: number;
  fileSize: number;
  /** Workers still connected, recorded as disconnected now. */
  connected: string[];
  nowMs: number;
  lockStaleMs: number;
  ui: CoordinatorUi;
}

/** Records the end; returns the status and error the run really ended with. */
export function recordEnd(e: EndInput): {
  status: Status;
  error: SalesgridError | null;
  baskets?: BasketTotals;
  mergeChildren?: MergeChildUsage[];
} {
  const at = iso(e.nowMs);
  try {
    for (const w of e.connected) e.store.workerDisconnected(e.runId, w, at);
    const scale = e.total.scale;
    // Lazy: the merges start only once finishRun has checked the tiling, inside its transaction,
    // and they delete each spilled block as they read it (a failure keeps the spill for --resume).
    const merged: FinishPlan | null =
      e.status === 'done'
        ? {
            monthly: planMonthly(e.total),
            dims: mergedDimensionRows(e.store, e.runId, e.dimensions, scale, true),
          }
        : null;
    // The merges allocate short-lived number boxes fast over a small live set, which V8 answers by
    // doubling the young generation twice: +30 MB of peak RSS at 10M keys for no speed. Its size
    // by now is enough; the flag is read whenever V8 would grow it.
    if (merged !== null) v8.setFlagsFromString('--semi-space-growth-factor=1');
    let baskets: BasketTotals | undefined;
    const mergeChildren: MergeChildUsage[] = [];
    e.store.transaction(() => {
      e.store.finishRun(e.runId, e.status, at, e.error?.message ?? null, merged, (ranges) => {
        const fault = tilingFault(ranges, e.dataStart, e.fileSize);
        if (fault !== null) {
          throw new SalesgridError(
            'E_TILING',
            `run ${e.runId} cannot be marked done: ${describeTilingFault(fault)}; the run is left failed (resume it with --resume)`,
          );
        }
      });
      if (e.status === 'done') {
        // After finishRun's tiling check, in its transaction: the marts' merge into blocks.
        // A large mart merges in a child process meanwhile (db/mart-close.ts).
        const marts = startMartClose(e.store, e.runId, e.marts, scale, {
          consume: true,
          busy: e.customers !== null,
        });
        try {
          if (e.customers !== null) writeCustomers(e.store, e.runId, scale, e.customers, true);
          for (const m of marts.finish()) {
            if (m.childUsage !== undefined) mergeChildren.push({ mart: m.name, ...m.childUsage });
            if (m.how === 'fallback')
              e.ui.warn(
                `mart ${m.name}: the parallel merge failed (${m.childError}); merged in one process instead`,
              );
          }
        } finally {
          marts.abandon();
        }
        // The join report comes from the spilled unmatched keys, so it must precede their deletion.
        writeJoinStats(e.store, e.runId, e.total.rows, scale);
        if (e.basket !== null) baskets = writeBaskets(e.store, e.runId, e.basket, scale, e.orderCheck);
        // What is left of the spill (runs of chunks that never counted) goes with the done run.
        deleteCellRuns(e.store, e.runId);
      }
    });
    // Committed: no row refers to the spill file any more.
    if (e.status === 'done') {
      try {
        dropSpillFile(e.store, e.runId, true);
      } catch (err) {
        e.ui.warn(
          `could not delete run ${e.runId}'s spill file (${errorMessage(err)}); nothing refers to it`,
        );
      }
    }
    return { status: e.status, error: e.error, baskets, mergeChildren };
  } catch (err) {
    const error =
      err instanceof SalesgridError && err.code === 'E_TILING'
        ? err
        : new SalesgridError(
            'E_FINISH',
            `could not record the end of run ${e.runId} (${errorMessage(err)}); it is left unfinished: resume it with --resume`,
          );
    try {
      e.store.markUnfinished(e.runId, at, error.message);
    } catch (again) {
      e.ui.warn(
        `could not release run ${e.runId} either (${errorMessage(again)}); its lock goes stale in ${e.lockStaleMs / 1000}s`,
      );
    }
    return { status: 'failed', error };
  }
}

export interface SummaryInput {
  runId: number;
  status: Status;
  error: SalesgridError | null;
  file: string;
  db: string;
  wallMs: number;
  total: Agg;
  chunks: number;
  retries: number;
  duplicates: number;
  workerStats: Map<string, WorkerStats>;
  usage: Map<string, Usage>;
  resumed: boolean;
  hasPrice: boolean;
  /** The join report of a done run with `--join` tables. */
  joins?: JoinStat[];
  baskets?: BasketTotals;
  mergeChildren?: MergeChildUsage[];
  secondPass?: SecondPass;
}

export function summarize(s: SummaryInput): RunSummary {
  return {
    runId: s.runId,
    status: s.status,
    file: s.file,
    db: s.db,
    wallMs: s.wallMs,
    totals: finalizeTotals(s.total),
    chunks: s.chunks,
    retries: s.retries,
    duplicates: s.duplicates,
    workers: [...s.workerStats]
      .map(([workerId, w]) => ({
        workerId,
        chunks: w.chunks,
        rows: w.agg.rows,
        revenue: formatScaled(w.agg.revenue, w.agg.scale),
        busyMs: Math.round(w.busyMs),
        usage: s.usage.get(workerId) ?? null,
      }))
      .sort((a, b) => (a.workerId < b.workerId ? -1 : 1)),
    error: s.error?.message ?? null,
    resumed: s.resumed,
    priceBasis: s.hasPrice ? 'unit price' : 'line amount',
    coordinatorUsage: processUsage(),
    ...(s.mergeChildren !== undefined && s.mergeChildren.length > 0
      ? { mergeChildren: s.mergeChildren }
      : {}),
    ...(s.joins !== undefined ? { joins: s.joins } : {}),
    ...(s.baskets === undefined ? {} : { baskets: basketSummary(s.baskets, s.secondPass) }),
  };
}

function basketSummary(b: BasketTotals, secondPass: SecondPass | undefined): BasketSummary {
  return {
    orders: b.orders,
    lines: b.lines,
    avgOrderValue: b.orders === 0 ? null : divRound(b.value, BigInt(b.orders) * pow10(b.scale), b.scale),
    items: b.items,
    itemsLeftOut: b.items - b.itemsKept,
    pairs: b.pairs,
    shippedOrders: b.shippedOrders,
    nonContiguous: b.nonContiguous,
    noOrderLines: b.noOrderLines,
    ...(secondPass === undefined ? {} : { secondPass }),
  };
}
