/**
 * The per-worker charts (rows, revenue share, price range) and the chunk timeline: plain data in,
 * a vega-lite spec out, no I/O.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  BLUE,
  CONFIG,
  compactMoney,
  GREY,
  HEIGHT,
  int,
  ORANGE,
  plural,
  RED,
  SCHEMA,
  title,
  WIDTH,
} from './chart-style.js';
import type { AttemptSpan, WorkerStat } from './data.js';

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

// --- rows per worker ---------------------------------------------------------------------------

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

// --- revenue share -----------------------------------------------------------------------------

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

// --- price per worker --------------------------------------------------------------------------

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

// --- chunk timeline ----------------------------------------------------------------------------

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
