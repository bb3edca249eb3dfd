/**
 * The basket tables: written once at the end of a run from the spilled basket runs (inside the
 * finishing transaction, aggregate/basket-count.ts), and the reads behind `basket` and `eda`.
 */

import {
  type BasketTotals,
  countBaskets,
  type OrderConflicts,
  type OrderRange,
  orderConflicts,
} from '../aggregate/basket-count.js';
import { divRound, formatScaled, pow10 } from '../aggregate/decimal.js';
import { CellBlock } from '../aggregate/keyed-cells.js';
import type { RunSource } from '../coordinator/keyed-merge.js';
import { BASKET_KIND, RUN_ITEMS, RUN_PAIRS, RUN_PAIRS_BY_NAME, RUN_RANGE } from '../worker/basket-runs.js';
import { readSpilled, runSources, type SpillRow, spilledBlockReader } from './cell-runs.js';
import type { Store } from './store.js';

export interface BasketColumns {
  order: string;
  item: string;
  /** Pairs among this many most frequent items. */
  k: number;
}

/**
 * Whether the done chunks' counted orders hold up: order ids in more than one chunk (read from
 * the spill, which stays). Run before the end; a non-zero count means a second pass is needed.
 */
export function checkOrderIds(store: Store, runId: number, scale: number): OrderConflicts {
  return orderConflicts(
    (name, consume) => runSources(store, runId, BASKET_KIND, name, consume),
    orderRanges(store, runId),
    scale,
    false,
  );
}

/** Whether the spill holds name-keyed pair runs (an older worker's, before a resume): never counted. */
export function hasNamedPairs(store: Store, runId: number): boolean {
  return (
    store
      .statement('SELECT 1 FROM cell_runs WHERE run_id = ? AND kind = ? AND name = ? LIMIT 1')
      .get(runId, BASKET_KIND, RUN_PAIRS_BY_NAME) !== undefined
  );
}

/**
 * Counts the run's baskets from the spill (consuming it) and writes the four tables. `checked`:
 * the `checkOrderIds` result of the same spill, so the id check does not run twice.
 */
export function writeBaskets(
  store: Store,
  runId: number,
  cols: BasketColumns,
  scale: number,
  checked?: OrderConflicts,
): BasketTotals {
  for (const t of ['orders_summary', 'order_sizes', 'basket_items', 'basket_pairs'])
    store.statement(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
  const item = store.statement(
    'INSERT INTO basket_items (run_id, item, orders, lines, value) VALUES (?, ?, ?, ?, ?)',
  );
  const pair = store.statement(
    'INSERT INTO basket_pairs (run_id, item_a, item_b, orders) VALUES (?, ?, ?, ?)',
  );
  const totals = countBaskets(
    (name, consume) => runSources(store, runId, BASKET_KIND, name, consume),
    orderRanges(store, runId),
    scale,
    cols.k,
    {
      item: (name, orders, lines, value) => item.run(runId, name, orders, lines, formatScaled(value, scale)),
      pair: (a, b, orders) => pair.run(runId, a, b, orders),
    },
    () => pairChunks(store, runId),
    checked,
  );
  const size = store.statement('INSERT INTO order_sizes (run_id, measure, size, orders) VALUES (?, ?, ?, ?)');
  for (const [s, n] of totals.linesHist) size.run(runId, 'lines', s, n);
  for (const [s, n] of totals.itemsHist) size.run(runId, 'items', s, n);
  store
    .statement(
      `INSERT INTO orders_summary (run_id, order_column, item_column, orders, lines, value, avg_value,
         no_order_lines, shipped_orders, items, items_kept, pairs, non_contiguous, examples)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      runId,
      cols.order,
      cols.item,
      totals.orders,
      totals.lines,
      formatScaled(totals.value, scale),
      totals.orders === 0 ? null : divRound(totals.value, BigInt(totals.orders) * pow10(scale), scale),
      totals.noOrderLines,
      totals.shippedOrders,
      totals.items,
      totals.itemsKept,
      totals.pairs,
      totals.nonContiguous,
      JSON.stringify(totals.examples),
    );
  return totals;
}

/** Per done chunk with pair counts: its items and pair-ranks runs, a block at a time (the spill stays). */
function* pairChunks(store: Store, runId: number): Generator<{ items: RunSource; pairs: RunSource }> {
  const ids = store
    .statement(
      `SELECT DISTINCT r.chunk_id AS id FROM cell_runs r
         JOIN chunks c ON c.run_id = r.run_id AND c.chunk_id = r.chunk_id AND c.status = 'done'
       WHERE r.run_id = ? AND r.kind = ? AND r.name = ? ORDER BY r.chunk_id`,
    )
    .all(runId, BASKET_KIND, RUN_PAIRS) as { id: number }[];
  const block = spilledBlockReader(store, runId);
  const source = (chunk: number, name: string): RunSource => {
    let seq = 0;
    return () => block(BASKET_KIND, name, chunk, seq++) ?? null;
  };
  for (const { id } of ids) yield { items: source(id, RUN_ITEMS), pairs: source(id, RUN_PAIRS) };
}

/** The order-id ranges of the done chunks whose ids ascend, in file order. */
function orderRanges(store: Store, runId: number): OrderRange[] {
  const rows = store
    .statement(
      `SELECT r.off AS off, r.len AS len, r.crc AS crc FROM cell_runs r
         JOIN chunks c ON c.run_id = r.run_id AND c.chunk_id = r.chunk_id AND c.status = 'done'
       WHERE r.run_id = ? AND r.kind = ? AND r.name = ? ORDER BY c.byte_start, r.seq`,
    )
    .all(runId, BASKET_KIND, RUN_RANGE) as SpillRow[];
  return rows.map((row) => {
    const key = new CellBlock(readSpilled(store, runId, row), true, true).keyText(0);
    const cut = key.indexOf('\0');
    return { lo: key.slice(0, cut), hi: key.slice(cut + 1) };
  });
}

export interface OrdersSummaryRow {
  run_id: number;
  order_column: string;
  item_column: string;
  orders: number;
  lines: number;
  value: string;
  avg_value: string | null;
  no_order_lines: number;
  shipped_orders: number;
  items: number;
  items_kept: number;
  pairs: number;
  non_contiguous: number;
  examples: string;
}

export function ordersSummary(store: Store, runId: number): OrdersSummaryRow | undefined {
  return store.query<OrdersSummaryRow>('SELECT * FROM orders_summary WHERE run_id = ?', runId)[0];
}

/** The latest done run that counted baskets, if any. */
export function latestBasketRun(store: Store): number | undefined {
  return store.query<{ id: number }>(
    `SELECT r.id AS id FROM runs r JOIN orders_summary o ON o.run_id = r.id
     WHERE r.status = 'done' ORDER BY r.id DESC LIMIT 1`,
  )[0]?.id;
}

export function orderSizes(
  store: Store,
  runId: number,
  measure: 'lines' | 'items',
): { size: number; orders: number }[] {
  return store.query(
    'SELECT size, orders FROM order_sizes WHERE run_id = ? AND measure = ? ORDER BY size',
    runId,
    measure,
  );
}

export interface RuleRow {
  antecedent: string;
  consequent: string;
  /** Orders holding both items. */
  orders: number;
  antecedentOrders: number;
  consequentOrders: number;
}

export interface RuleQuery {
  minSupport: number;
  minConfidence: number;
  minLift: number;
  by: 'lift' | 'confidence' | 'support';
  limit: number;
}

/**
 * Rules A → B from the exact counts, both directions of each pair, filtered and ranked in SQL
 * (ties: antecedent, consequent). `n` is the run's order count.
 */
export function ruleRows(store: Store, runId: number, n: number, q: RuleQuery): RuleRow[] {
  const metric =
    q.by === 'support'
      ? 'orders'
      : q.by === 'confidence'
        ? 'CAST(orders AS REAL) / antecedent_orders'
        : 'CAST(orders AS REAL) * ? / (CAST(antecedent_orders AS REAL) * consequent_orders)';
  const sql = `
    WITH p AS (
      SELECT p.item_a AS a, p.item_b AS b, p.orders AS orders, ia.orders AS na, ib.orders AS nb
      FROM basket_pairs p
      JOIN basket_items ia ON ia.run_id = p.run_id AND ia.item = p.item_a
      JOIN basket_items ib ON ib.run_id = p.run_id AND ib.item = p.item_b
      WHERE p.run_id = ?
    ), r AS (
      SELECT a AS antecedent, b AS consequent, orders, na AS antecedent_orders, nb AS consequent_orders FROM p
      UNION ALL
      SELECT b, a, orders, nb, na FROM p
    )
    SELECT antecedent, consequent, orders, antecedent_orders AS antecedentOrders,
      consequent_orders AS consequentOrders
    FROM r
    WHERE ? > 0
      AND CAST(orders AS REAL) >= ? * ?
      AND CAST(orders AS REAL) >= ? * antecedent_orders
      AND CAST(orders AS REAL) * ? >= ? * CAST(antecedent_orders AS REAL) * consequent_orders
    ORDER BY ${metric} DESC, antecedent, consequent
    LIMIT ?`;
  const params: unknown[] = [runId, n, q.minSupport, n, q.minConfidence, n, q.minLift];
  if (q.by === 'lift') params.push(n);
  params.push(q.limit);
  return store.query<RuleRow>(sql, ...params);
}
