/**
 * `top`: the top keys of a data mart per month, year or overall, e.g. the ten best customers of
 * each month (coupons) or the best seller of each month (incentives). Reads SQLite only.
 */
import { formatScaled, groupThousands } from './aggregate/decimal.js';
import { joinTables, joinValues } from './db/joins.js';
import type { RunRow, Store } from './db/store.js';
import { SalesgridError } from './errors.js';
import { renderTable } from './table.js';

export interface TopOptions {
  column: string;
  per: 'month' | 'year' | 'all';
  by: 'revenue' | 'units' | 'rows';
  limit: number;
  /** The joined column shown beside each key (default: the join table's first text column). */
  label?: string;
}

export interface TopRow {
  period: string;
  rank: number;
  key: string;
  rows: number;
  /** An exact integer as decimal text: unit counts may pass 2^53. */
  units: string;
  revenue: string;
  /** The key's joined display value (a name) when a `--join` table is keyed by this column. */
  label?: string;
  /** The joined column `label` comes from. */
  labelColumn?: string;
}

/** The label column for a mart: from the run's join on that column, if any. */
function labelSource(
  store: Store,
  run: RunRow,
  mart: string,
  wanted: string | undefined,
): { join: string; attr: number; column: string } | null {
  const tables = joinTables(store, run.id);
  const t = tables.find((j) => j.factColumn === mart);
  if (t === undefined) {
    if (wanted === undefined) return null;
    const have = tables.length ? tables.map((j) => `${j.name} on ${j.factColumn}`).join(', ') : 'none';
    throw new SalesgridError(
      'E_USAGE',
      `--label ${wanted}: run ${run.id} joined no table on "${mart}" (its joins: ${have}); run with --join FILE:${mart}`,
      { exitCode: 2 },
    );
  }
  const column = wanted ?? t.label;
  if (column === null) return null;
  let attr = t.columns.indexOf(column);
  if (attr < 0) attr = t.columns.findIndex((c) => c.toLowerCase() === column.toLowerCase());
  if (attr < 0)
    throw new SalesgridError(
      'E_USAGE',
      `--label ${column}: the joined table ${t.name} has no such column; its columns are: ${t.columns.join(', ')}`,
      { exitCode: 2 },
    );
  return { join: t.name, attr, column: t.columns[attr] };
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
  const labels = labelSource(store, run, name, opts.label);
  const top = store.martTop(run.id, name, opts.per, opts.by, opts.limit);
  const names =
    labels === null
      ? []
      : joinValues(
          store,
          run.id,
          labels.join,
          labels.attr,
          top.map((r) => r.key),
        );
  return top.map((r, i) => {
    const row: TopRow = {
      period: r.period === '' ? 'all' : r.period,
      rank: Number(r.rank),
      key: r.key,
      rows: Number(r.rows),
      units: r.units.toString(),
      revenue: formatScaled(r.revenueScaled, run.scale),
    };
    if (labels !== null) {
      row.label = names[i] ?? '(no match)';
      row.labelColumn = labels.column;
    }
    return row;
  });
}

export function formatTop(rows: TopRow[], opts: TopOptions, runId: number): string {
  if (rows.length === 0) return `run ${runId}: the mart "${opts.column}" is empty`;
  const out: string[] = [`run ${runId}: top ${opts.limit} "${opts.column}" by ${opts.by}, per ${opts.per}`];
  const periods = [...new Set(rows.map((r) => r.period))];
  const grouped = periods.length > 1;
  const labelled = rows.some((r) => r.label !== undefined);
  out.push(
    renderTable(
      [
        ...(grouped ? ['period'] : []),
        'rank',
        opts.column,
        ...(labelled ? [rows[0].labelColumn ?? 'label'] : []),
        'rows',
        'units',
        'revenue',
      ],
      rows.map((r) => [
        ...(grouped ? [r.period] : []),
        r.rank,
        r.key,
        ...(labelled ? [r.label ?? ''] : []),
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
  const labelled = rows.some((r) => r.label !== undefined);
  const lines = [`period,rank,key,${labelled ? 'label,' : ''}rows,units,revenue`];
  for (const r of rows)
    lines.push(
      [
        csvField(r.period),
        csvField(r.rank, false),
        csvField(r.key),
        ...(labelled ? [csvField(r.label ?? '')] : []),
        csvField(r.rows, false),
        csvField(r.units, false),
        csvField(r.revenue, false),
      ].join(','),
    );
  return `${lines.join('\n')}\n`;
}
