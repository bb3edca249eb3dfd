/**
 * `top`: the top keys of a data mart per month, year or overall, e.g. the ten best customers of
 * each month (coupons) or the best seller of each month (incentives). Reads SQLite only.
 */
import { formatScaled, groupThousands } from './aggregate/decimal.js';
import type { RunRow, Store } from './db/store.js';
import { SalesgridError } from './errors.js';
import { renderTable } from './table.js';

export interface TopOptions {
  column: string;
  per: 'month' | 'year' | 'all';
  by: 'revenue' | 'units' | 'rows';
  limit: number;
}

export interface TopRow {
  period: string;
  rank: number;
  key: string;
  rows: number;
  /** An exact integer as decimal text: unit counts may pass 2^53. */
  units: string;
  revenue: string;
}

export function topRows(store: Store, run: RunRow, opts: TopOptions): TopRow[] {
  const marts = store.martNames(run.id);
  const name =
    marts.find((m) => m === opts.column) ?? marts.find((m) => m.toLowerCase() === opts.column.toLowerCase());
  if (name === undefined) {
    const have = marts.length ? `its marts: ${marts.join(', ')}` : 'it has no marts';
    throw new SalesgridError(
      'E_NO_RUN',
      `run ${run.id} has no mart for "${opts.column}" (${have}); run again with --mart "${opts.column}"`,
      { exitCode: 2 },
    );
  }
  const spec = JSON.parse(run.spec) as { date: number };
  if (opts.per !== 'all' && spec.date < 0) {
    throw new SalesgridError(
      'E_USAGE',
      `run ${run.id} has no date column, so there is no --per ${opts.per}; use --per all`,
      {
        exitCode: 2,
      },
    );
  }
  return store.martTop(run.id, name, opts.per, opts.by, opts.limit).map((r) => ({
    period: r.period === '' ? 'all' : r.period,
    rank: Number(r.rank),
    key: r.key,
    rows: Number(r.rows),
    units: r.units.toString(),
    revenue: formatScaled(r.revenueScaled, run.scale),
  }));
}

export function formatTop(rows: TopRow[], opts: TopOptions, runId: number): string {
  if (rows.length === 0) return `run ${runId}: the mart "${opts.column}" is empty`;
  const out: string[] = [`run ${runId}: top ${opts.limit} "${opts.column}" by ${opts.by}, per ${opts.per}`];
  const periods = [...new Set(rows.map((r) => r.period))];
  const grouped = periods.length > 1;
  out.push(
    renderTable(
      [...(grouped ? ['period'] : []), 'rank', opts.column, 'rows', 'units', 'revenue'],
      rows.map((r) => [
        ...(grouped ? [r.period] : []),
        r.rank,
        r.key,
        r.rows.toLocaleString('en-US'),
        groupThousands(r.units),
        groupThousands(r.revenue),
      ]),
    ),
  );
  return out.join('\n');
}

/**
 * One CSV field. Text that a spreadsheet would run as a formula (starting with = + - @, tab or
 * CR) gets a leading single quote, per OWASP's CSV-injection guidance; numbers we wrote stay as
 * they are.
 */
export function csvField(v: string | number, text = true): string {
  let s = String(v);
  if (text && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r\t']/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s;
}

export function topCsv(rows: TopRow[]): string {
  const lines = ['period,rank,key,rows,units,revenue'];
  for (const r of rows)
    lines.push(
      [
        csvField(r.period),
        csvField(r.rank, false),
        csvField(r.key),
        csvField(r.rows, false),
        csvField(r.units, false),
        csvField(r.revenue, false),
      ].join(','),
    );
  return `${lines.join('\n')}\n`;
}
