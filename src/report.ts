/**
 * `report`: a run's totals, monthly and yearly tables, workers and rejects, read from SQLite only.
 */
import { formatScaled, groupThousands, parseDecimal, rescale } from './aggregate/decimal.js';
import { type JoinStat, joinStats } from './db/joins.js';
import type { RunRow, Store } from './db/store.js';
import { SalesgridError } from './errors.js';
import { BROKEN_QUOTE_LIKE, BROKEN_QUOTE_RE, brokenQuoteWarning } from './quote-limit.js';
import type { ScanSpec } from './scan-spec.js';
import { renderTable } from './table.js';

export interface PeriodRow {
  rows: number;
  /** Exact integer as decimal text: unit counts may pass 2^53. */
  units: string;
  revenue: string;
}

export interface ReportData {
  runId: number;
  status: string;
  file: string;
  startedAt: string;
  finishedAt: string | null;
  wallMs: number | null;
  error: string | null;
  rows: number;
  rejected: number;
  /** Exact integer as decimal text. */
  units: string;
  revenue: string;
  minPrice: string | null;
  maxPrice: string | null;
  avgPrice: string | null;
  /** What the price statistics are over: the unit price, or the line amount when the file has no price column. */
  priceBasis: 'unit price' | 'line amount';
  chunks: number;
  monthly: ({ month: string } & PeriodRow)[];
  yearly: ({ year: string } & PeriodRow)[];
  workers: {
    workerId: string;
    address: string | null;
    chunks: number;
    rows: number;
    revenue: string;
    busyMs: number;
    minPrice: string | null;
    maxPrice: string | null;
    avgPrice: string | null;
    connectedAt: string;
    disconnectedAt: string | null;
  }[];
  dimensions: Record<string, ({ key: string } & PeriodRow)[]>;
  /** Reasons, those of quotes that never close first. */
  rejects: { reason: string; count: number; firstLine: number | null }[];
  /** Lines rejected because a quote opened on them never closes: how many, and the first lines. */
  brokenQuotes: BrokenQuotes;
  /** The `--join` report of a done run: matched and unmatched fact rows per joined table. */
  joins: JoinStat[];
}

/** The join report as a table, then a line per join with unmatched keys (never dropped silently). */
export function joinStatLines(stats: JoinStat[]): string[] {
  const out = [
    'joins',
    renderTable(
      ['join', 'on', 'fact rows', 'matched', 'unmatched rows', 'unmatched keys'],
      stats.map((j) => [
        j.name,
        j.factColumn,
        int(j.factRows),
        int(j.matchedRows),
        int(j.unmatchedRows),
        int(j.unmatchedKeys),
      ]),
    ),
  ];
  for (const j of stats) {
    if (j.unmatchedRows === 0) continue;
    const sample = j.sampleKeys.map((k) => `${JSON.stringify(k.key)} (${int(k.rows)})`).join(', ');
    out.push(
      `${int(j.unmatchedRows)} row(s) have a ${j.factColumn} with no row in ${j.name}: counted under "(no match)"; e.g. ${sample}`,
    );
  }
  return out;
}

export interface BrokenQuotes {
  count: number;
  lines: (number | null)[];
}

/** How many lines a run rejected for quotes that never close, and the first `max` of them. */
export function brokenQuotes(store: Store, runId: number, max = 20): BrokenQuotes {
  return store.rejectsLike(runId, BROKEN_QUOTE_LIKE, max);
}

/** The loud form: one line per rejected line (up to the ones listed), then how many more. */
export function brokenQuoteLines(b: BrokenQuotes): string[] {
  if (b.count === 0) return [];
  const out = [
    `WARNING: ${b.count.toLocaleString('en-US')} line(s) hold a quote that never closes (see --max-field-bytes):`,
    ...b.lines.map((l) => `  ${brokenQuoteWarning(l)}`),
  ];
  if (b.count > b.lines.length)
    out.push(`  … and ${(b.count - b.lines.length).toLocaleString('en-US')} more`);
  return out;
}

function addDecimal(a: string, b: string): string {
  const [av, as] = parseDecimal(a);
  const [bv, bs] = parseDecimal(b);
  const s = Math.max(as, bs);
  return formatScaled(rescale(av, as, s) + rescale(bv, bs, s), s);
}

function avgOf(sum: string, rows: number): string | null {
  if (rows === 0) return null;
  const [v, s] = parseDecimal(sum);
  const den = BigInt(rows) * 10n ** BigInt(s);
  const neg = v < 0n;
  const n = (neg ? -v : v) * 10000n;
  let q = n / den;
  if ((n % den) * 2n >= den) q += 1n;
  return formatScaled(neg ? -q : q, 4);
}

/** Picks the run (`id`, or the latest) and fails clearly when there is none. */
export function pickRun(store: Store, id: number | undefined): RunRow {
  const run = id === undefined ? store.latestRun() : store.getRun(id);
  if (run === undefined) {
    throw new SalesgridError(
      'E_NO_RUN',
      id === undefined
        ? `${store.path} holds no runs yet; run "salesgrid run <csv>" first`
        : `${store.path} has no run ${id}`,
      { exitCode: 2 },
    );
  }
  return run;
}

export function buildReport(store: Store, run: RunRow): ReportData {
  const spec = JSON.parse(run.spec) as ScanSpec;
  const monthly = store
    .monthly(run.id)
    .map((m) => ({ month: m.month, rows: m.rows, units: m.units, revenue: m.revenue }));
  const years = new Map<string, PeriodRow>();
  for (const m of monthly) {
    const y = m.month.slice(0, 4);
    const cur = years.get(y);
    if (cur === undefined) years.set(y, { rows: m.rows, units: m.units, revenue: m.revenue });
    else
      years.set(y, {
        rows: cur.rows + m.rows,
        units: (BigInt(cur.units) + BigInt(m.units)).toString(),
        revenue: addDecimal(cur.revenue, m.revenue),
      });
  }
  const dimensions: ReportData['dimensions'] = {};
  for (const d of store.dimensions(run.id)) {
    (dimensions[d.dimension] ??= []).push({
      key: d.key,
      rows: d.rows,
      units: d.units,
      revenue: d.revenue,
    });
  }
  for (const list of Object.values(dimensions)) {
    list.sort((a, b) => {
      const [av, as] = parseDecimal(a.revenue);
      const [bv, bs] = parseDecimal(b.revenue);
      const s = Math.max(as, bs);
      const d = rescale(bv, bs, s) - rescale(av, as, s);
      return d > 0n ? 1 : d < 0n ? -1 : a.key < b.key ? -1 : 1;
    });
  }
  return {
    runId: run.id,
    status: run.status,
    file: run.file,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    wallMs: run.finished_at ? Date.parse(run.finished_at) - Date.parse(run.started_at) : null,
    error: run.error,
    rows: run.rows,
    rejected: run.rejected,
    units: run.units,
    revenue: run.revenue,
    minPrice: run.price_min,
    maxPrice: run.price_max,
    avgPrice: run.avg_price,
    priceBasis: spec.price >= 0 ? 'unit price' : 'line amount',
    chunks: run.chunks_done,
    monthly,
    yearly: [...years].map(([year, c]) => ({ year, ...c })),
    workers: store.workers(run.id).map((w) => ({
      workerId: w.worker_id,
      address: w.address,
      chunks: w.chunks,
      rows: w.rows,
      revenue: w.revenue,
      busyMs: Math.round(w.busy_ms),
      minPrice: w.price_min,
      maxPrice: w.price_max,
      avgPrice: avgOf(w.price_sum, w.rows),
      connectedAt: w.connected_at,
      disconnectedAt: w.disconnected_at,
    })),
    dimensions,
    rejects: store
      .rejectReasons(run.id)
      .map((r) => ({ reason: r.reason, count: r.count, firstLine: r.first_line }))
      .sort((a, b) => Number(BROKEN_QUOTE_RE.test(b.reason)) - Number(BROKEN_QUOTE_RE.test(a.reason))),
    brokenQuotes: brokenQuotes(store, run.id),
    joins: joinStats(store, run.id),
  };
}

const money = (v: string | null) => (v === null ? '-' : groupThousands(v));
const int = (n: number) => n.toLocaleString('en-US');

export function formatReport(r: ReportData): string {
  const out: string[] = [];
  out.push(`run ${r.runId} (${r.status}) over ${r.file}`);
  out.push(
    `started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt} (${((r.wallMs ?? 0) / 1000).toFixed(2)}s)` : ''}`,
  );
  if (r.error) out.push(`error: ${r.error}`);
  out.push('');
  out.push(
    renderTable(
      [
        'rows',
        'rejected',
        'units',
        'revenue',
        `min ${r.priceBasis}`,
        `max ${r.priceBasis}`,
        `avg ${r.priceBasis}`,
      ],
      [
        [
          int(r.rows),
          int(r.rejected),
          groupThousands(r.units),
          money(r.revenue),
          money(r.minPrice),
          money(r.maxPrice),
          money(r.avgPrice),
        ],
      ],
    ),
  );
  const quotes = brokenQuoteLines(r.brokenQuotes);
  if (quotes.length > 0) out.push('', ...quotes);
  if (r.yearly.length > 0) {
    out.push('', 'yearly');
    out.push(
      renderTable(
        ['year', 'rows', 'units', 'revenue'],
        r.yearly.map((y) => [y.year, int(y.rows), groupThousands(y.units), money(y.revenue)]),
      ),
    );
    out.push('', 'monthly');
    out.push(
      renderTable(
        ['month', 'rows', 'units', 'revenue'],
        r.monthly.map((m) => [m.month, int(m.rows), groupThousands(m.units), money(m.revenue)]),
      ),
    );
  } else out.push('', 'no date column: no monthly or yearly results');
  if (r.workers.length > 0) {
    out.push('', 'workers');
    out.push(
      renderTable(
        ['worker', 'chunks', 'rows', 'revenue', 'busy s', 'avg price', 'address'],
        r.workers.map((w) => [
          w.workerId,
          int(w.chunks),
          int(w.rows),
          money(w.revenue),
          (w.busyMs / 1000).toFixed(2),
          money(w.avgPrice),
          w.address ?? '',
        ]),
      ),
    );
  }
  for (const [dim, list] of Object.entries(r.dimensions)) {
    out.push('', `by ${dim} (top 10 of ${list.length})`);
    out.push(
      renderTable(
        [dim, 'rows', 'units', 'revenue'],
        list.slice(0, 10).map((d) => [d.key, int(d.rows), groupThousands(d.units), money(d.revenue)]),
      ),
    );
  }
  if (r.joins.length > 0) out.push('', ...joinStatLines(r.joins));
  out.push('');
  if (r.rejects.length === 0) out.push('rejected rows: none');
  else {
    out.push('rejected rows by reason');
    out.push(
      renderTable(
        ['reason', 'count', 'first line'],
        r.rejects.map((x) => [x.reason, int(x.count), x.firstLine ?? '-']),
      ),
    );
  }
  return out.join('\n');
}
