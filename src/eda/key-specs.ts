/**
 * Revenue per key: a dimension's top keys as bars, and a data mart's top keys as monthly lines
 * (bars when the run has no dates). Plain data in, a vega-lite spec out, no I/O.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  BLUE,
  CONFIG,
  compactMoney,
  fillMonths,
  HEIGHT,
  int,
  moneyExpr,
  monthAxisX,
  monthName,
  plural,
  SCHEMA,
  title,
  utcMs,
  WIDTH,
} from './chart-style.js';
import type { DimensionKey, MartKey, MartTop } from './data.js';

// --- revenue by dimension ----------------------------------------------------------------------

/**
 * Horizontal revenue bars, one per row of the data (field `y` names the bar), each labelled with its
 * revenue and share (the data's `revenue` and `share`).
 */
function labelledBars(
  y: string,
  yTitle: string,
  xTitle: string,
  bars: number,
  max: number,
): Pick<Extract<TopLevelSpec, { layer: unknown }>, 'transform' | 'encoding' | 'layer'> {
  return {
    transform: [
      {
        calculate: `${moneyExpr('datum.revenue')} + '  (' + format(datum.share * 100, '.3~r') + '%)'`,
        as: 'label',
      },
    ],
    encoding: {
      y: {
        field: y,
        type: 'nominal',
        sort: null,
        axis: { title: yTitle, labelLimit: 260, labelFontSize: 13 },
      },
      x: {
        field: 'revenue',
        type: 'quantitative',
        scale: { domainMax: max * 1.18 },
        axis: { title: xTitle, labelExpr: moneyExpr('datum.value') },
      },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE, height: { band: bars > 4 ? 0.7 : 0.45 } } },
      {
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 12 },
        encoding: { text: { field: 'label', type: 'nominal' } },
      },
    ],
  };
}

export function revenueByDimensionSpec(dimension: string, keys: DimensionKey[], topN: number): TopLevelSpec {
  const total = keys.reduce((s, k) => s + k.revenue, 0);
  const top = [...keys].sort((a, b) => b.revenue - a.revenue).slice(0, Math.max(1, topN));
  const max = Math.max(1, ...top.map((k) => k.revenue));
  const shown =
    top.length === keys.length ? plural(keys.length, 'key') : `top ${top.length} of ${int(keys.length)} keys`;
  return {
    $schema: SCHEMA,
    title: title(
      `Revenue by ${dimension}`,
      `${shown} by revenue; labels show revenue and share of ${compactMoney(total)}`,
    ),
    width: WIDTH,
    height: Math.max(HEIGHT, top.length * 30),
    config: CONFIG,
    data: {
      values: top.map((k) => ({
        key: k.key,
        revenue: k.revenue,
        share: total > 0 ? k.revenue / total : 0,
      })),
    },
    ...labelledBars('key', dimension, 'revenue ($)', top.length, max),
  };
}

// --- top keys of a data mart -------------------------------------------------------------------

/** More lines than this are unreadable, and tableau20 has no more distinct colours. */
export const MART_MAX_LINES = 20;

/**
 * Colours for 11-20 lines: tableau10 for ranks 1-10 (as with ten lines), then the light halves of
 * tableau20's pairs, so neighbouring ranks never get two shades of one hue.
 */
export const MART_COLORS = [
  ...[
    '#4c78a8',
    '#f58518',
    '#e45756',
    '#72b7b2',
    '#54a24b',
    '#eeca3b',
    '#b279a2',
    '#ff9da6',
    '#9d755d',
    '#bab0ac',
  ],
  ...[
    '#9ecae9',
    '#ffbf79',
    '#ff9d98',
    '#83bcb6',
    '#88d27a',
    '#f2cf5b',
    '#d6a5c9',
    '#fcbfd2',
    '#d8b5a5',
    '#79706e',
  ],
];

/** How a key reads on a chart: the empty string would be an invisible label. */
export function keyLabel(key: string): string {
  return key === '' ? '(empty)' : key;
}

/** At most `max` characters, an ellipsis marking a cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max
    ? text
    : `${chars
        .slice(0, max - 1)
        .join('')
        .trimEnd()}…`;
}

/** 'the top 10 of 185 keys' or 'all 4 keys'. */
function topOf(shown: number, all: number): string {
  return shown >= all ? `all ${plural(all, 'key')}` : `the top ${shown} of ${plural(all, 'key')}`;
}

/**
 * The mart's top keys: monthly revenue as one line per key (x = month, colour = key, legend in
 * rank order), or a bar per key's total when the run has no dates. `mart.keys` arrive ranked.
 */
export function martTopSpec(mart: MartTop, topN: number): TopLevelSpec {
  return mart.dated ? martLinesSpec(mart, topN) : martBarsSpec(mart, topN);
}

/** Every month from `first` to `last`, 'YYYY-MM'. */
function monthRange(first: string, last: string): string[] {
  return fillMonths([
    { month: first, revenue: 0, rows: 0 },
    { month: last, revenue: 0, rows: 0 },
  ]).map((m) => m.month);
}

/** The keys a mart chart shows: the top N, and at most MART_MAX_LINES lines. */
export function martShown(mart: MartTop, topN: number): MartKey[] {
  return mart.keys.slice(0, Math.min(Math.max(1, topN), mart.dated ? MART_MAX_LINES : Infinity));
}

/** 'Top 10 customer_id by revenue'. */
export function martTitle(mart: MartTop, topN: number): string {
  return `Top ${martShown(mart, topN).length} ${mart.mart} by revenue`;
}

function martLinesSpec(mart: MartTop, topN: number): TopLevelSpec {
  const keys = martShown(mart, topN);
  const first = mart.firstMonth || keys.flatMap((k) => k.months.map((m) => m.month)).sort()[0] || '0000-01';
  const last = mart.lastMonth || first;
  const months = monthRange(first, last);
  // Legend entries: rank, key and the key's total, so the order and the sizes read at a glance.
  // A long key is cut here rather than by the legend's label limit, so the total stays visible.
  const series = (k: MartKey) => `${k.rank}. ${clip(keyLabel(k.key), 30)} (${compactMoney(k.revenue)})`;
  const values = keys.flatMap((k) => {
    const have = new Map(k.months.map((m) => [m.month, m.revenue]));
    return months.map((month) => ({
      t: utcMs(month),
      month,
      key: k.key,
      rank: k.rank,
      series: series(k),
      revenue: have.get(month) ?? 0,
    }));
  });
  const hi = Math.max(0, ...values.map((v) => v.revenue));
  const lo = Math.min(0, ...values.map((v) => v.revenue));
  const capped = topN > MART_MAX_LINES && mart.keyCount > MART_MAX_LINES;
  return {
    $schema: SCHEMA,
    title: title(
      martTitle(mart, topN),
      `monthly revenue of ${topOf(keys.length, mart.keyCount)} by total revenue, ` +
        `${monthName(first)} to ${monthName(last)}` +
        (capped ? ` (a line chart shows at most ${MART_MAX_LINES})` : ''),
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values },
    mark: {
      type: 'line',
      strokeWidth: 2,
      point: months.length <= 36 ? { size: 30, filled: true } : false,
    },
    encoding: {
      x: monthAxisX(months.length),
      y: {
        field: 'revenue',
        type: 'quantitative',
        scale: { domain: [lo, hi > lo ? hi * 1.08 : lo + 1] },
        axis: { title: 'revenue per month ($)', labelExpr: moneyExpr('datum.value') },
      },
      color: {
        field: 'series',
        type: 'nominal',
        scale:
          keys.length <= 10
            ? { domain: keys.map(series), scheme: 'tableau10' }
            : { domain: keys.map(series), range: MART_COLORS },
        legend: {
          title: `${mart.mart} (rank, total)`,
          orient: 'right',
          symbolType: 'stroke',
          symbolStrokeWidth: 4,
          labelLimit: 340,
          titleLimit: 340,
        },
      },
    },
  };
}

function martBarsSpec(mart: MartTop, topN: number): TopLevelSpec {
  const keys = martShown(mart, topN);
  const max = Math.max(1, ...keys.map((k) => k.revenue));
  return {
    $schema: SCHEMA,
    title: title(
      martTitle(mart, topN),
      `total revenue of ${topOf(keys.length, mart.keyCount)} (the run has no date column); ` +
        `labels show revenue and share of ${compactMoney(mart.total)}`,
    ),
    width: WIDTH,
    height: Math.max(HEIGHT, keys.length * 30),
    config: CONFIG,
    data: {
      values: keys.map((k) => ({
        key: k.key,
        name: keyLabel(k.key),
        rank: k.rank,
        revenue: k.revenue,
        share: mart.total > 0 ? k.revenue / mart.total : 0,
      })),
    },
    ...labelledBars('name', mart.mart, 'total revenue ($)', keys.length, max),
  };
}
