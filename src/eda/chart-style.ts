/**
 * What every chart shares, pure: size, font, colours and the vega-lite config; the money, number
 * and title text; the month axis and the month helpers of the time and mart charts.
 */
import type { Config } from 'vega-lite';
import type { MonthRevenue } from './data.js';

export const WIDTH = 900;
export const HEIGHT = 500;
export const FONT = 'DejaVu Sans';
export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export const BLUE = '#4c78a8';
export const ORANGE = '#f58518';
export const RED = '#d62728';
export const GREY = '#555555';

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

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const plural = (n: number, one: string, many = `${one}s`) => `${int(n)} ${n === 1 ? one : many}`;

export function title(text: string, subtitle?: string): { text: string; subtitle?: string } {
  return subtitle === undefined ? { text } : { text, subtitle };
}

// --- months ------------------------------------------------------------------------------------

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

/** 'YYYY-MM' → UTC ms of the month's first day. */
export const utcMs = (month: string) => Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1);

/** x encoding of field `t` (UTC ms of a month's first day): year ticks, month ticks for ≤ 2 years. */
export function monthAxisX(monthCount: number) {
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
