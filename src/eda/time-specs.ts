/**
 * The charts along the run's calendar and clock: monthly and yearly revenue, and throughput.
 * Plain data in, a vega-lite spec out, no I/O.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  BLUE,
  CONFIG,
  compactMoney,
  compactNumber,
  fillMonths,
  HEIGHT,
  moneyExpr,
  monthAxisX,
  monthName,
  ORANGE,
  plural,
  RED,
  SCHEMA,
  title,
  utcMs,
  WIDTH,
} from './chart-style.js';
import type { ChunkFinish, MonthRevenue } from './data.js';

// --- monthly revenue ---------------------------------------------------------------------------

/** The month with the most revenue (the earliest on a tie). */
export function peakMonth(monthly: MonthRevenue[]): MonthRevenue | undefined {
  let best: MonthRevenue | undefined;
  for (const m of monthly) if (best === undefined || m.revenue > best.revenue) best = m;
  return best;
}

export const ROLLING_MONTHS = 3;

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

// --- yearly revenue ----------------------------------------------------------------------------

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

// --- throughput --------------------------------------------------------------------------------

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
