/**
 * `basket`: association rules A → B of a run's baskets, from the exact counts in basket_items and
 * basket_pairs. support = orders(A, B) / orders, confidence = orders(A, B) / orders(A),
 * lift = orders(A, B) × orders / (orders(A) × orders(B)). Reads SQLite only.
 */
import type { BasketOptions } from './config-views.js';
import { latestBasketRun, type OrdersSummaryRow, ordersSummary, ruleRows } from './db/baskets.js';
import type { Store } from './db/store.js';
import { SalesgridError } from './errors.js';
import { renderTable } from './table.js';
import { csvField } from './top.js';

export interface Rule {
  antecedent: string;
  consequent: string;
  orders: number;
  support: number;
  confidence: number;
  lift: number;
}

export interface BasketReport {
  runId: number;
  orders: number;
  items: number;
  /** Items beyond --basket-items, left out of the pairs. */
  itemsLeftOut: number;
  orderColumn: string;
  itemColumn: string;
  averageOrderValue: string | null;
  rules: Rule[];
}

function noBaskets(message: string): SalesgridError {
  return new SalesgridError('E_NO_BASKETS', message, { exitCode: 2 });
}

/** The run's summary row, or a clear error when the run has no baskets. */
export function basketRun(store: Store, runId: number | null): OrdersSummaryRow {
  const id = runId ?? latestBasketRun(store);
  if (id === undefined)
    throw noBaskets(
      `${store.path} holds no run with baskets; run "salesgrid run <csv> --order <col> --item <col>" first`,
    );
  const run = store.getRun(id);
  if (run === undefined) throw noBaskets(`${store.path} has no run ${id}`);
  const summary = ordersSummary(store, id);
  if (summary === undefined) {
    throw noBaskets(
      run.status !== 'done'
        ? `run ${id} is ${run.status}; baskets are counted when a run finishes`
        : `run ${id} counted no baskets; run again with --order <col> --item <col> (or --basket)`,
    );
  }
  if (summary.non_contiguous > 0) {
    const ex = (JSON.parse(summary.examples) as string[]).map((e) => JSON.stringify(e)).join(', ');
    throw noBaskets(
      `run ${id}: ${summary.non_contiguous} order id(s) occur in more than one chunk (e.g. ${ex}), and the salesgrid that ran it did not count such baskets; run the file again (this version counts scattered orders in a second pass)`,
    );
  }
  return summary;
}

export function basketReport(store: Store, opts: BasketOptions): BasketReport {
  const s = basketRun(store, opts.runId);
  const n = s.orders;
  const rules = ruleRows(store, s.run_id, n, opts).map((r) => ({
    antecedent: r.antecedent,
    consequent: r.consequent,
    orders: r.orders,
    support: r.orders / n,
    confidence: r.orders / r.antecedentOrders,
    lift: (r.orders * n) / (r.antecedentOrders * r.consequentOrders),
  }));
  return {
    runId: s.run_id,
    orders: n,
    items: s.items,
    itemsLeftOut: s.items - s.items_kept,
    orderColumn: s.order_column,
    itemColumn: s.item_column,
    averageOrderValue: s.avg_value,
    rules,
  };
}

const fmt = (v: number, digits: number) => v.toFixed(digits);

export function formatBasket(r: BasketReport, opts: BasketOptions): string {
  const out = [
    `run ${r.runId}: ${r.orders.toLocaleString('en-US')} orders ("${r.orderColumn}"), ${r.items.toLocaleString('en-US')} items ("${r.itemColumn}"), average order value ${r.averageOrderValue ?? '-'}`,
  ];
  if (r.itemsLeftOut > 0)
    out.push(
      `${r.itemsLeftOut.toLocaleString('en-US')} less frequent item(s) left out of the pairs (raise --basket-items on run)`,
    );
  if (r.rules.length === 0) {
    out.push('no rule passes the thresholds');
    return out.join('\n');
  }
  out.push(
    `rules by ${opts.by}:`,
    renderTable(
      ['antecedent', 'consequent', 'orders', 'support', 'confidence', 'lift'],
      r.rules.map((x) => [
        x.antecedent,
        x.consequent,
        x.orders.toLocaleString('en-US'),
        fmt(x.support, 4),
        fmt(x.confidence, 4),
        fmt(x.lift, 3),
      ]),
    ),
  );
  return out.join('\n');
}

export function basketCsv(r: BasketReport): string {
  const lines = ['antecedent,consequent,orders,support,confidence,lift'];
  for (const x of r.rules)
    lines.push(
      [
        csvField(x.antecedent),
        csvField(x.consequent),
        csvField(x.orders, false),
        csvField(x.support, false),
        csvField(x.confidence, false),
        csvField(x.lift, false),
      ].join(','),
    );
  return `${lines.join('\n')}\n`;
}

/** `basket` as the CLI runs it: the report in the chosen format. */
export function runBasket(store: Store, opts: BasketOptions): string {
  const r = basketReport(store, opts);
  if (opts.format === 'json') {
    const { runId, orders, items, rules } = r;
    return `${JSON.stringify({ runId, orders, items, rules }, null, 2)}\n`;
  }
  if (opts.format === 'csv') return basketCsv(r);
  return `${formatBasket(r, opts)}\n`;
}
