/**
 * Chart specs: plain data in, a vega-lite spec out. No I/O, so each chart is testable as data.
 */
import type { Config, TopLevelSpec } from 'vega-lite';
import type {
  AttemptSpan,
  ChunkFinish,
  DimensionKey,
  MartKey,
  MartTop,
  MonthRevenue,
  WorkerStat,
} from './data.js';

export const WIDTH = 900;
export const HEIGHT = 500;
export const FONT = 'DejaVu Sans';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

const BLUE = '#4c78a8';
const ORANGE = '#f58518';
const RED = '#d62728';
const GREY = '#555555';

export const CONFIG: Config = {
  font: FONT,
  background: 'white',
  padding: 24,
  title: { fontSize: 20, subtitleFontSize: 13, subtitleColor: GREY, anchor: 'start', offset: 14 },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 10, labelPadding: 4, gridColor: '#e6e6e6' },
  axisQuantitative: { tickCount: 8 },
  legend: { labelFontSize: 12, titleFontSize: 13, symbolSize: 140, labelLimit: 320 },
  view: { stroke: null },
};

/** Vega expression: money in a compact form, `$1.23B` (d3 SI prefix, G shown as B). */
export function moneyExpr(value: string): string {
  return `replace(format(${value}, '$.3~s'), 'G', 'B')`;
}

/** The same compact money text in JS, for titles: 6.654e12 → '$6.65T'. */
export function compactMoney(n: number): string {
  return `${n < 0 ? '-' : ''}$${compactNumber(Math.abs(n)).replace('G', 'B')}`;
}

/** 3 significant digits with an SI suffix, trailing zeros trimmed: 2_345_678 → '2.35M'. */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  const trim = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  for (const [u, suffix] of units) {
    if (abs >= u * 0.9995) return `${n < 0 ? '-' : ''}${trim((abs / u).toPrecision(3))}${suffix}`;
  }
  return `${n < 0 ? '-' : ''}${trim(abs.toPrecision(3))}`;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`) => `${int(n)} ${n === 1 ? one : many}`;

/** Worker ids in natural order (w2 before w10). */
function byWorker<T extends { workerId: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.workerId.localeCompare(b.workerId, 'en', { numeric: true }));
}

/** '; not shown: w2 (no rows)' for workers left out of a chart. */
function without(all: WorkerStat[], shown: WorkerStat[], reason = 'no rows'): string {
  const left = byWorker(all.filter((w) => !shown.includes(w)));
  if (left.length === 0) return '';
  const names = left.slice(0, 5).map((w) => w.workerId);
  return `; not shown: ${names.join(', ')}${left.length > 5 ? ` and ${left.length - 5} more` : ''} (${reason})`;
}

function title(text: string, subtitle?: string): { text: string; subtitle?: string } {
  return subtitle === undefined ? { text } : { text, subtitle };
}

// --- 1. rows per worker ------------------------------------------------------------------------

export function rowsPerWorkerSpec(workers: WorkerStat[]): TopLevelSpec {
  const list = byWorker(workers);
  const total = list.reduce((s, w) => s + w.rows, 0);
  const max = Math.max(1, ...list.map((w) => w.rows));
  const many = list.length > 10;
  return {
    $schema: SCHEMA,
    title: title(
      'Rows processed per worker',
      `${plural(total, 'row')} over ${plural(list.length, 'worker')}, ${plural(
        list.reduce((s, w) => s + w.chunks, 0),
        'chunk',
      )}`,
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: {
      values: list.map((w) => ({ worker: w.workerId, rows: w.rows, chunks: w.chunks, label: int(w.rows) })),
    },
    encoding: {
      x: {
        field: 'worker',
        type: 'nominal',
        sort: null,
        axis: { title: 'worker', labelAngle: many ? -40 : 0, labelLimit: 160 },
      },
      y: {
        field: 'rows',
        type: 'quantitative',
        scale: { domainMax: max * 1.1 },
        axis: { title: 'rows processed', format: ',.0f' },
      },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE, width: { band: 0.6 } } },
      ...(many
        ? []
        : [
            {
              mark: { type: 'text' as const, baseline: 'bottom' as const, dy: -6, fontSize: 13 },
              encoding: { text: { field: 'label', type: 'nominal' as const } },
            },
          ]),
    ],
  };
}

// --- 2. revenue share --------------------------------------------------------------------------

export function revenueShareSpec(workers: WorkerStat[]): TopLevelSpec {
  const list = byWorker(workers).filter((w) => w.revenue > 0);
  const total = list.reduce((s, w) => s + w.revenue, 0);
  const values = list.map((w) => {
    const share = total > 0 ? w.revenue / total : 0;
    return {
      worker: w.workerId,
      revenue: w.revenue,
      share,
      // Slices under 4% are too thin to hold a label; the legend still names them.
      label: share >= 0.04 ? `${(share * 100).toFixed(1)}%` : '',
    };
  });
  const theta = { field: 'revenue', type: 'quantitative' as const, stack: true as const };
  const color = {
    field: 'worker',
    type: 'nominal' as const,
    sort: null,
    legend: { title: 'worker', orient: 'right' as const, labelLimit: 200 },
  };
  const order = { field: 'order', type: 'quantitative' as const };
  const cx = WIDTH / 2;
  const cy = HEIGHT / 2;
  return {
    $schema: SCHEMA,
    title: title(
      'Revenue share per worker',
      `${compactMoney(total)} across ${plural(list.length, 'worker')}${without(workers, list, 'no revenue')}`,
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: values.map((v, i) => ({ ...v, order: i })) },
        encoding: { theta, color, order },
        layer: [
          { mark: { type: 'arc', innerRadius: 120, outerRadius: 230, stroke: 'white', strokeWidth: 2 } },
          {
            mark: { type: 'text', radius: 175, fontSize: 17, fontWeight: 'bold', fill: 'white' },
            encoding: { text: { field: 'label', type: 'nominal' } },
          },
        ],
      },
      {
        data: { values: [{ line: compactMoney(total) }] },
        mark: { type: 'text', fontSize: 24, fontWeight: 'bold', baseline: 'bottom', dy: -2 },
        encoding: { x: { value: cx }, y: { value: cy }, text: { field: 'line', type: 'nominal' } },
      },
      {
        data: { values: [{ line: 'total revenue' }] },
        mark: { type: 'text', fontSize: 13, baseline: 'top', dy: 4, fill: GREY },
        encoding: { x: { value: cx }, y: { value: cy }, text: { field: 'line', type: 'nominal' } },
      },
    ],
  };
}

// --- 3. price per worker -----------------------------------------------------------------------

export function pricePerWorkerSpec(workers: WorkerStat[], basis: 'unit price' | 'line amount'): TopLevelSpec {
  const list = byWorker(workers).filter(
    (w) => w.priceAvg !== null && w.priceMin !== null && w.priceMax !== null,
  );
  const top = Math.max(1, ...list.map((w) => w.priceMax ?? 0));
  const bottom = Math.min(0, ...list.map((w) => w.priceMin ?? 0));
  const labels = list.length <= 8;
  const money = (n: number) =>
    `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const values = list.map((w) => ({
    worker: w.workerId,
    avg: w.priceAvg,
    min: w.priceMin,
    max: w.priceMax,
    avgLabel: `avg ${money(w.priceAvg ?? 0)}`,
    minLabel: `min ${money(w.priceMin ?? 0)}`,
    maxLabel: `max ${money(w.priceMax ?? 0)}`,
  }));
  const x = {
    field: 'worker',
    type: 'nominal' as const,
    sort: null,
    axis: { title: 'worker', labelAngle: list.length > 10 ? -40 : 0, labelLimit: 160 },
  };
  const y = {
    type: 'quantitative' as const,
    scale: { domain: [bottom === 0 ? 0 : bottom * 1.1, top * 1.1] },
    axis: { title: `${basis} ($)`, format: '$,.0f' },
  };
  const text = (field: string, extra: Record<string, unknown>) => ({
    mark: { type: 'text' as const, fontSize: 12, ...extra },
    encoding: { y: { field: field.replace('Label', ''), ...y }, text: { field, type: 'nominal' as const } },
  });
  return {
    $schema: SCHEMA,
    title: title(
      `${basis === 'unit price' ? 'Unit price' : 'Line amount'} per worker`,
      `dot: average (${basis} sum ÷ rows); whiskers: minimum to maximum${without(workers, list)}`,
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values },
    encoding: { x },
    layer: [
      {
        mark: { type: 'errorbar', ticks: { size: 28, thickness: 2 }, thickness: 2, color: GREY },
        encoding: { y: { field: 'min', ...y }, y2: { field: 'max' } },
      },
      {
        mark: { type: 'point', filled: true, size: 180, color: BLUE, opacity: 1 },
        encoding: { y: { field: 'avg', ...y } },
      },
      ...(labels
        ? [
            text('avgLabel', { align: 'left', dx: 14, fontWeight: 'bold', fill: BLUE }),
            text('minLabel', { align: 'left', dx: 20, baseline: 'bottom', dy: -2 }),
            text('maxLabel', { align: 'left', dx: 20, baseline: 'top', dy: 2 }),
          ]
        : []),
    ],
  };
}

// --- 4. monthly revenue ------------------------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** 'YYYY-MM' → 'Mar 2012'. */
export function monthName(month: string): string {
  return `${MONTHS[Number(month.slice(5, 7)) - 1]} ${month.slice(0, 4)}`;
}

/** Every month from the first to the last, missing ones as 0 (a month without sales). */
export function fillMonths(monthly: MonthRevenue[]): MonthRevenue[] {
  if (monthly.length === 0) return [];
  const sorted = [...monthly].sort((a, b) => (a.month < b.month ? -1 : a.month > b.month ? 1 : 0));
  const have = new Map(sorted.map((m) => [m.month, m]));
  const out: MonthRevenue[] = [];
  let y = Number(sorted[0].month.slice(0, 4));
  let m = Number(sorted[0].month.slice(5, 7));
  const last = sorted[sorted.length - 1].month;
  for (;;) {
    const key = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}`;
    out.push(have.get(key) ?? { month: key, revenue: 0, rows: 0 });
    if (key >= last) break;
    if (++m > 12) {
      m = 1;
      y++;
    }
  }
  return out;
}

/** The month with the most revenue (the earliest on a tie). */
export function peakMonth(monthly: MonthRevenue[]): MonthRevenue | undefined {
  let best: MonthRevenue | undefined;
  for (const m of monthly) if (best === undefined || m.revenue > best.revenue) best = m;
  return best;
}

export const ROLLING_MONTHS = 3;

const utcMs = (month: string) => Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1);

/** x encoding of field `t` (UTC ms of a month's first day): year ticks, month ticks for ≤ 2 years. */
function monthAxisX(monthCount: number) {
  const short = monthCount <= 24;
  return {
    field: 't',
    type: 'temporal' as const,
    scale: { type: 'utc' as const },
    axis: {
      title: 'order month',
      format: short ? '%b %Y' : '%Y',
      tickCount: short
        ? { interval: 'month' as const, step: Math.ceil(monthCount / 8) }
        : { interval: 'year' as const, step: Math.ceil(monthCount / 144) },
      labelOverlap: true,
    },
  };
}

export function monthlyRevenueSpec(monthly: MonthRevenue[]): TopLevelSpec {
  const months = fillMonths(monthly);
  const peak = peakMonth(months);
  const lo = Math.min(...months.map((m) => m.revenue));
  const hi = Math.max(...months.map((m) => m.revenue));
  const span = hi - lo || Math.abs(hi) || 1;
  const peakIndex = peak === undefined ? 0 : months.indexOf(peak);
  const rightHalf = peakIndex > months.length / 2;
  const series = ['monthly revenue', `${ROLLING_MONTHS}-month rolling average`];
  const color = (name: string) => ({
    datum: name,
    type: 'nominal' as const,
    scale: { domain: series, range: [BLUE, ORANGE] },
    legend: {
      title: null,
      orient: 'top' as const,
      direction: 'horizontal' as const,
      symbolType: 'stroke',
      symbolStrokeWidth: 4,
      labelLimit: 400,
    },
  });
  const x = monthAxisX(months.length);
  const y = {
    field: 'revenue',
    type: 'quantitative' as const,
    scale: {
      zero: false,
      domain: [lo >= 0 ? Math.max(0, lo - span * 0.1) : lo - span * 0.1, hi + span * 0.2],
    },
    axis: { title: 'revenue per month ($)', labelExpr: moneyExpr('datum.value'), tickCount: 8 },
  };
  const peakData =
    peak === undefined ? [] : [{ t: utcMs(peak.month), revenue: peak.revenue, month: peak.month }];
  return {
    $schema: SCHEMA,
    title: title(
      'Monthly revenue',
      `${monthName(months[0]?.month ?? '0000-01')} to ${monthName(months[months.length - 1]?.month ?? '0000-01')}, ` +
        `with a ${ROLLING_MONTHS}-month rolling average; the peak month is marked`,
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: months.map((m) => ({ t: utcMs(m.month), month: m.month, revenue: m.revenue })) },
    encoding: { x, y },
    layer: [
      {
        mark: {
          type: 'line',
          strokeWidth: 1.5,
          point: months.length <= 120 ? { size: 16, filled: true } : false,
        },
        encoding: { color: color(series[0]) },
      },
      {
        transform: [
          {
            window: [
              { op: 'mean', field: 'revenue', as: 'rolling' },
              { op: 'count', as: 'months' },
            ],
            frame: [-(ROLLING_MONTHS - 1), 0],
            sort: [{ field: 't', order: 'ascending' }],
          },
          // Only where a full window exists.
          { filter: `datum.months === ${ROLLING_MONTHS}` },
        ],
        mark: { type: 'line', strokeWidth: 3 },
        encoding: { y: { ...y, field: 'rolling' }, color: color(series[1]) },
      },
      {
        data: { values: peakData },
        mark: { type: 'rule', color: RED, strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { x, y: { value: 0 }, y2: { value: HEIGHT } },
      },
      {
        data: { values: peakData },
        mark: { type: 'point', filled: true, size: 110, color: RED, opacity: 1 },
      },
      {
        data: { values: peakData },
        transform: [
          {
            calculate: `'peak: ' + ${JSON.stringify(peak === undefined ? '' : monthName(peak.month))} + ', ' + ${moneyExpr('datum.revenue')}`,
            as: 'label',
          },
        ],
        mark: {
          type: 'text',
          color: RED,
          fontSize: 14,
          fontWeight: 'bold',
          align: rightHalf ? 'right' : 'left',
          dx: rightHalf ? -10 : 10,
          dy: -14,
          baseline: 'bottom',
        },
        encoding: { text: { field: 'label', type: 'nominal' } },
      },
    ],
  };
}

// --- 5. yearly revenue -------------------------------------------------------------------------

export interface YearRevenue {
  year: string;
  revenue: number;
  /** Months with any rows; fewer than 12 marks a partial year. */
  months: number;
}

/** Yearly sums of the monthly rows (Numbers: for plotting only). */
export function yearlyFromMonthly(monthly: MonthRevenue[]): YearRevenue[] {
  const years = new Map<string, YearRevenue>();
  for (const m of monthly) {
    const year = m.month.slice(0, 4);
    const cur = years.get(year) ?? { year, revenue: 0, months: 0 };
    cur.revenue += m.revenue;
    if (m.rows > 0) cur.months++;
    years.set(year, cur);
  }
  return [...years.values()].sort((a, b) => (a.year < b.year ? -1 : 1));
}

export function yearlyRevenueSpec(monthly: MonthRevenue[]): TopLevelSpec {
  const years = yearlyFromMonthly(monthly);
  const max = Math.max(1, ...years.map((y) => y.revenue));
  const partial = years.filter((y) => y.months < 12);
  const note =
    partial.length === 0
      ? `${plural(years.length, 'year')}, ${compactMoney(years.reduce((s, y) => s + y.revenue, 0))} in all`
      : `lighter bars are partial years: ${partial.map((y) => `${y.year} has ${plural(y.months, 'month')}`).join(', ')}`;
  return {
    $schema: SCHEMA,
    title: title('Yearly revenue', note),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: years.map((y) => ({ ...y, partial: y.months < 12 })) },
    encoding: {
      x: { field: 'year', type: 'ordinal', sort: null, axis: { title: 'order year', labelAngle: 0 } },
      y: {
        field: 'revenue',
        type: 'quantitative',
        scale: { domainMax: max * 1.1 },
        axis: { title: 'revenue per year ($)', labelExpr: moneyExpr('datum.value') },
      },
    },
    layer: [
      {
        mark: { type: 'bar', color: BLUE, width: { band: 0.7 } },
        encoding: { opacity: { condition: { test: 'datum.partial', value: 0.45 }, value: 1 } },
      },
      {
        transform: [{ calculate: moneyExpr('datum.revenue'), as: 'label' }],
        mark: { type: 'text', baseline: 'bottom', dy: -6, fontSize: 13 },
        encoding: { text: { field: 'label', type: 'nominal' } },
      },
    ],
  };
}

// --- 6. chunk timeline -------------------------------------------------------------------------

export const ATTEMPT_KINDS = [
  'done, first attempt',
  'done on a retry',
  'not done (lost, failed, …)',
] as const;
export type AttemptKind = (typeof ATTEMPT_KINDS)[number];

export function attemptKind(a: Pick<AttemptSpan, 'attempt' | 'outcome'>): AttemptKind {
  if (a.outcome !== 'done') return ATTEMPT_KINDS[2];
  return a.attempt > 1 ? ATTEMPT_KINDS[1] : ATTEMPT_KINDS[0];
}

/**
 * Puts each worker's overlapping attempts (several chunks in flight) on separate rows of the
 * worker's lane: the lowest row that is free when the attempt starts.
 */
export function assignSlots(attempts: AttemptSpan[]): (AttemptSpan & { slot: number })[] {
  const ends = new Map<string, number[]>();
  const sorted = [...attempts].sort(
    (a, b) => a.start - b.start || a.chunkId - b.chunkId || a.attempt - b.attempt,
  );
  return sorted.map((a) => {
    let rows = ends.get(a.workerId);
    if (rows === undefined) ends.set(a.workerId, (rows = []));
    let slot = rows.findIndex((end) => end <= a.start);
    if (slot === -1) slot = rows.push(a.end) - 1;
    else rows[slot] = a.end;
    return { ...a, slot };
  });
}

export function chunkTimelineSpec(attempts: AttemptSpan[], wallSeconds: number | null): TopLevelSpec {
  const bars = assignSlots(attempts);
  const lastEnd = Math.max(0, ...bars.map((b) => b.end));
  const span = Math.max(wallSeconds ?? 0, lastEnd) || 1;
  // At least ~2 px wide, so a short lost attempt still shows.
  const minWidth = span / 450;
  const workers = [...new Set(bars.map((b) => b.workerId))].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  const slots = Math.max(1, ...bars.map((b) => b.slot + 1));
  const height = Math.max(HEIGHT, workers.length * slots * 26);
  const retries = bars.filter((b) => attemptKind(b) !== ATTEMPT_KINDS[0]).length;
  return {
    $schema: SCHEMA,
    title: title(
      'Chunk timeline',
      `one lane per worker, one bar per chunk attempt from dispatch to result; ${plural(bars.length, 'attempt')}, ` +
        `${retries === 0 ? 'no retries or lost attempts' : `${plural(retries, 'retry or lost attempt', 'retries or lost attempts')}`}`,
    ),
    width: WIDTH,
    height,
    config: CONFIG,
    data: {
      values: bars.map((b) => ({
        worker: b.workerId,
        chunk: b.chunkId,
        attempt: b.attempt,
        outcome: b.outcome,
        slot: b.slot,
        start: b.start,
        end: Math.max(b.end, b.start + minWidth),
        kind: attemptKind(b),
      })),
    },
    mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
    encoding: {
      x: {
        field: 'start',
        type: 'quantitative',
        scale: { domain: [0, span], nice: false },
        axis: { title: 'time since run start (s)', format: ',.2~f', tickCount: 12 },
      },
      x2: { field: 'end' },
      y: {
        field: 'worker',
        type: 'nominal',
        sort: workers,
        scale: { paddingInner: 0.25, paddingOuter: 0.1 },
        axis: { title: 'worker (a row per chunk in flight)', labelFontSize: 13, labelLimit: 200 },
      },
      yOffset: { field: 'slot', type: 'nominal', scale: { paddingInner: 0.15 } },
      color: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: [...ATTEMPT_KINDS], range: [BLUE, ORANGE, RED] },
        legend: { title: 'attempt', orient: 'top', direction: 'horizontal' },
      },
    },
  };
}

// --- 7. revenue by dimension -------------------------------------------------------------------

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
    transform: [
      {
        calculate: `${moneyExpr('datum.revenue')} + '  (' + format(datum.share * 100, '.3~r') + '%)'`,
        as: 'label',
      },
    ],
    encoding: {
      y: {
        field: 'key',
        type: 'nominal',
        sort: null,
        axis: { title: dimension, labelLimit: 260, labelFontSize: 13 },
      },
      x: {
        field: 'revenue',
        type: 'quantitative',
        scale: { domainMax: max * 1.18 },
        axis: { title: 'revenue ($)', labelExpr: moneyExpr('datum.value') },
      },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE, height: { band: top.length > 4 ? 0.7 : 0.45 } } },
      {
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 12 },
        encoding: { text: { field: 'label', type: 'nominal' } },
      },
    ],
  };
}

// --- 8. throughput -----------------------------------------------------------------------------

export interface ThroughputBucket {
  t0: number;
  t1: number;
  rows: number;
  rowsPerSecond: number;
}

export const THROUGHPUT_BUCKETS = 30;

/** Rows of finished chunks per equal time bucket over [0, seconds]. */
export function throughputBuckets(
  finishes: ChunkFinish[],
  seconds: number,
  n = THROUGHPUT_BUCKETS,
): ThroughputBucket[] {
  if (!(seconds > 0)) return [];
  const step = seconds / n;
  const rows = new Array<number>(n).fill(0);
  for (const f of finishes) rows[Math.min(n - 1, Math.max(0, Math.floor(f.t / step)))] += f.rows;
  return rows.map((r, i) => ({ t0: i * step, t1: (i + 1) * step, rows: r, rowsPerSecond: r / step }));
}

/** 0.0987 → '99 ms', 2.5 → '2.5 s'. */
export function formatSeconds(s: number): string {
  return s < 1 ? `${Number((s * 1000).toPrecision(2))} ms` : `${Number(s.toPrecision(3))} s`;
}

export function throughputSpec(finishes: ChunkFinish[], seconds: number): TopLevelSpec {
  const buckets = throughputBuckets(finishes, seconds);
  const total = finishes.reduce((s, f) => s + f.rows, 0);
  const average = seconds > 0 ? total / seconds : 0;
  const step = buckets.length > 0 ? buckets[0].t1 - buckets[0].t0 : 0;
  // Step line: each bucket's rate from its start; a last point closes the final bucket.
  const points = buckets.map((b) => ({ t: b.t0, rate: b.rowsPerSecond }));
  if (buckets.length > 0)
    points.push({ t: buckets[buckets.length - 1].t1, rate: buckets[buckets.length - 1].rowsPerSecond });
  const max = Math.max(1, ...points.map((p) => p.rate));
  const x = {
    field: 't',
    type: 'quantitative' as const,
    scale: { domain: [0, seconds], nice: false },
    axis: { title: 'time since run start (s)', format: ',.2~f', tickCount: 12 },
  };
  const y = {
    field: 'rate',
    type: 'quantitative' as const,
    scale: { domain: [0, max * 1.15] },
    axis: { title: 'rows per second', labelExpr: "format(datum.value, '.3~s')" },
  };
  const series = ['rows per second in each bucket', `run average: ${compactNumber(average)} rows/s`];
  const color = (name: string) => ({
    datum: name,
    type: 'nominal' as const,
    scale: { domain: series, range: [BLUE, ORANGE] },
    legend: { title: null, orient: 'top' as const, direction: 'horizontal' as const, symbolType: 'stroke' },
  });
  return {
    $schema: SCHEMA,
    title: title(
      'Throughput',
      `rows of finished chunks per ${formatSeconds(step)} bucket over the run's ${formatSeconds(seconds)}`,
    ),
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: points },
        encoding: { x, y },
        layer: [
          { mark: { type: 'area', interpolate: 'step-after', color: BLUE, opacity: 0.2 } },
          {
            mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
            encoding: { color: color(series[0]) },
          },
        ],
      },
      {
        data: { values: [{ rate: average }] },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y, color: color(series[1]) },
      },
    ],
  };
}

// --- 9. top keys of a data mart ----------------------------------------------------------------

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
    transform: [
      {
        calculate: `${moneyExpr('datum.revenue')} + '  (' + format(datum.share * 100, '.3~r') + '%)'`,
        as: 'label',
      },
    ],
    encoding: {
      y: {
        field: 'name',
        type: 'nominal',
        sort: null,
        axis: { title: mart.mart, labelLimit: 260, labelFontSize: 13 },
      },
      x: {
        field: 'revenue',
        type: 'quantitative',
        scale: { domainMax: max * 1.18 },
        axis: { title: 'total revenue ($)', labelExpr: moneyExpr('datum.value') },
      },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE, height: { band: keys.length > 4 ? 0.7 : 0.45 } } },
      {
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 12 },
        encoding: { text: { field: 'label', type: 'nominal' } },
      },
    ],
  };
}
