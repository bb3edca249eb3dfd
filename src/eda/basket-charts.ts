/**
 * The basket charts of `eda`: the top rules by lift, a co-occurrence heatmap among the most
 * frequent items, and the distribution of order sizes. The data comes from the basket tables
 * (db/baskets.ts); the specs are pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import { orderSizes, ordersSummary, ruleRows } from '../db/baskets.js';
import type { Store } from '../db/store.js';
import { BLUE, CONFIG, HEIGHT, ORANGE, SCHEMA, WIDTH } from './chart-style.js';

/** Rules shown, and items in the heatmap. */
export const RULES_SHOWN = 15;
export const HEAT_ITEMS = 15;
/** Order sizes past this are drawn as one "N+" bar. */
const SIZE_CAP = 20;

export interface BasketEdaData {
  orders: number;
  orderColumn: string;
  itemColumn: string;
  rules: { antecedent: string; consequent: string; orders: number; confidence: number; lift: number }[];
  /** The most frequent items, best first, with their supports. */
  top: { item: string; orders: number }[];
  /** Orders holding both, for each pair of `top` items (both orders of the pair). */
  cells: { a: string; b: string; orders: number; lift: number }[];
  lines: { size: number; orders: number }[];
  items: { size: number; orders: number }[];
}

/** The run's basket data, or null when it counted none (or refused them). */
export function loadBasketEda(store: Store, runId: number): BasketEdaData | null {
  const s = ordersSummary(store, runId);
  if (s === undefined || s.non_contiguous > 0 || s.orders === 0) return null;
  const n = s.orders;
  // Lift is symmetric: each pair once, in its more confident direction.
  const seen = new Set<string>();
  const rules = ruleRows(store, runId, n, {
    minSupport: 0,
    minConfidence: 0,
    minLift: 0,
    by: 'lift',
    limit: 4 * RULES_SHOWN,
  })
    .sort((x, y) => {
      const lx = (x.orders * n) / (x.antecedentOrders * x.consequentOrders);
      const ly = (y.orders * n) / (y.antecedentOrders * y.consequentOrders);
      return ly - lx || x.antecedentOrders - y.antecedentOrders;
    })
    .filter((r) => {
      const key = [r.antecedent, r.consequent].sort().join('\0');
      return !seen.has(key) && seen.add(key);
    })
    .slice(0, RULES_SHOWN)
    .map((r) => ({
      antecedent: r.antecedent,
      consequent: r.consequent,
      orders: r.orders,
      confidence: r.orders / r.antecedentOrders,
      lift: (r.orders * n) / (r.antecedentOrders * r.consequentOrders),
    }));
  const top = store.query<{ item: string; orders: number }>(
    'SELECT item, orders FROM basket_items WHERE run_id = ? ORDER BY orders DESC, item LIMIT ?',
    runId,
    HEAT_ITEMS,
  );
  const support = new Map(top.map((t) => [t.item, t.orders]));
  const pairs = store.query<{ a: string; b: string; orders: number }>(
    'SELECT item_a AS a, item_b AS b, orders FROM basket_pairs WHERE run_id = ?',
    runId,
  );
  const both = new Map<string, number>();
  for (const p of pairs)
    if (support.has(p.a) && support.has(p.b)) {
      both.set(`${p.a}\0${p.b}`, p.orders);
      both.set(`${p.b}\0${p.a}`, p.orders);
    }
  const cells: BasketEdaData['cells'] = [];
  for (const a of top)
    for (const b of top) {
      if (a.item === b.item) continue;
      const orders = both.get(`${a.item}\0${b.item}`) ?? 0;
      cells.push({ a: a.item, b: b.item, orders, lift: (orders * n) / (a.orders * b.orders) });
    }
  return {
    orders: n,
    orderColumn: s.order_column,
    itemColumn: s.item_column,
    rules,
    top,
    cells,
    lines: orderSizes(store, runId, 'lines'),
    items: orderSizes(store, runId, 'items'),
  };
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const int = (n: number) => n.toLocaleString('en-US');

export function topRulesSpec(d: BasketEdaData): TopLevelSpec {
  const values = d.rules.map((r, i) => ({
    rule: `${i + 1}. ${clip(r.antecedent, 28)} → ${clip(r.consequent, 28)}`,
    lift: r.lift,
    confidence: r.confidence,
    orders: r.orders,
  }));
  return {
    $schema: SCHEMA,
    title: {
      text: `Top ${values.length} basket rules by lift`,
      subtitle: `${d.itemColumn} per ${d.orderColumn}, ${int(d.orders)} orders; each pair once, in its more confident direction; the dashed line is lift 1 (chance)`,
    },
    width: WIDTH - 320,
    height: Math.max(200, 28 * values.length),
    config: CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: 'bar', color: BLUE },
        encoding: {
          y: { field: 'rule', type: 'nominal', sort: null, title: null, axis: { labelLimit: 360 } },
          x: { field: 'lift', type: 'quantitative', title: 'lift' },
          tooltip: [
            { field: 'rule', type: 'nominal' },
            { field: 'lift', type: 'quantitative', format: '.3f' },
            { field: 'confidence', type: 'quantitative', format: '.1%' },
            { field: 'orders', type: 'quantitative', format: ',' },
          ],
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 12 },
        encoding: {
          y: { field: 'rule', type: 'nominal', sort: null },
          x: { field: 'lift', type: 'quantitative' },
          text: { field: 'lift', type: 'quantitative', format: '.2f' },
        },
      },
      {
        data: { values: [{ one: 1 }] },
        mark: { type: 'rule', color: ORANGE, strokeDash: [4, 3], strokeWidth: 2 },
        encoding: { x: { field: 'one', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

export function cooccurrenceSpec(d: BasketEdaData): TopLevelSpec {
  const order = d.top.map((t) => t.item);
  const size = Math.min(HEIGHT + 100, 40 * order.length);
  // A log scale centred on 1, symmetric; pairs never bought together take the lowest colour.
  const seen = d.cells.filter((c) => c.lift > 0).map((c) => c.lift);
  const m = Math.max(2, ...seen, ...seen.map((l) => 1 / l));
  const values = d.cells.map((c) => ({ ...c, shade: Math.min(m, Math.max(1 / m, c.lift)) }));
  // Past 12 items the counts would not fit their cells.
  const labelled = order.length <= 12;
  return {
    $schema: SCHEMA,
    title: {
      text: `Co-occurrence among the top ${order.length} ${d.itemColumn} values`,
      subtitle: `colour: lift (blue: bought together more often than by chance, red: less)${
        labelled ? '; numbers: orders holding both' : ''
      }`,
    },
    width: size,
    height: size,
    config: CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          x: {
            field: 'a',
            type: 'nominal',
            sort: order,
            title: null,
            axis: { labelAngle: -40, labelLimit: 160 },
          },
          y: { field: 'b', type: 'nominal', sort: order, title: null, axis: { labelLimit: 160 } },
          color: {
            field: 'shade',
            type: 'quantitative',
            title: 'lift',
            scale: { type: 'log', scheme: 'redblue', domain: [1 / m, m] },
          },
          tooltip: [
            { field: 'a', type: 'nominal' },
            { field: 'b', type: 'nominal' },
            { field: 'orders', type: 'quantitative', format: ',' },
            { field: 'lift', type: 'quantitative', format: '.3f' },
          ],
        },
      },
      ...(labelled
        ? [
            {
              mark: { type: 'text' as const, fontSize: 11 },
              encoding: {
                x: { field: 'a', type: 'nominal' as const, sort: order },
                y: { field: 'b', type: 'nominal' as const, sort: order },
                text: { field: 'orders', type: 'quantitative' as const, format: ',' },
              },
            },
          ]
        : []),
    ],
  } as TopLevelSpec;
}

/** Order sizes (lines and distinct items per order), the tail past SIZE_CAP in one bar. */
export function orderSizeSpec(d: BasketEdaData): TopLevelSpec {
  const bucket = (rows: { size: number; orders: number }[], measure: string) => {
    const out = new Map<number, number>();
    for (const r of rows) {
      const s = Math.min(r.size, SIZE_CAP);
      out.set(s, (out.get(s) ?? 0) + r.orders);
    }
    return [...out].map(([s, orders]) => ({
      size: s === SIZE_CAP ? `${SIZE_CAP}+` : String(s),
      n: s,
      orders,
      share: orders / d.orders,
      measure,
    }));
  };
  const values = [...bucket(d.lines, 'lines per order'), ...bucket(d.items, 'distinct items per order')];
  const sizes = [...new Set(values.map((v) => v.n))].sort((a, b) => a - b);
  return {
    $schema: SCHEMA,
    title: {
      text: 'Order sizes',
      subtitle: `${int(d.orders)} orders: lines and distinct ${d.itemColumn} values per order`,
    },
    width: WIDTH,
    height: HEIGHT - 100,
    config: CONFIG,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 'size',
        type: 'ordinal',
        sort: sizes.map((s) => (s === SIZE_CAP ? `${SIZE_CAP}+` : String(s))),
        title: 'size',
        axis: { labelAngle: 0 },
      },
      xOffset: { field: 'measure', type: 'nominal' },
      y: { field: 'orders', type: 'quantitative', title: 'orders', axis: { format: '~s' } },
      color: {
        field: 'measure',
        type: 'nominal',
        title: null,
        scale: { range: [BLUE, ORANGE] },
        legend: { orient: 'top-right' },
      },
      tooltip: [
        { field: 'measure', type: 'nominal' },
        { field: 'size', type: 'ordinal' },
        { field: 'orders', type: 'quantitative', format: ',' },
        { field: 'share', type: 'quantitative', format: '.1%' },
      ],
    },
  } as TopLevelSpec;
}

/** The basket charts to draw, in order. */
export function basketCharts(d: BasketEdaData): { name: string; title: string; spec: TopLevelSpec }[] {
  const out = [];
  if (d.rules.length > 0)
    out.push({ name: 'basket-rules', title: 'Top basket rules by lift', spec: topRulesSpec(d) });
  if (d.cells.length > 0)
    out.push({ name: 'basket-cooccurrence', title: 'Basket co-occurrence', spec: cooccurrenceSpec(d) });
  out.push({ name: 'order-sizes', title: 'Order sizes', spec: orderSizeSpec(d) });
  return out;
}
