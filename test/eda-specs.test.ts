/** Chart specs as data: marks, encodings, titles and the numbers they are built from. */
import fs from 'node:fs';
import path from 'node:path';
import { compile } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/db/store.js';
import { compactMoney, fillMonths, HEIGHT, WIDTH } from '../src/eda/chart-style.js';
import type { AttemptSpan, EdaData, MartTop, MonthRevenue, WorkerStat } from '../src/eda/data.js';
import { averageOf, compareDecimalDesc, loadEdaData, loadMartTop, sumDecimals } from '../src/eda/data.js';
import { MART_COLORS, MART_MAX_LINES, martTopSpec, revenueByDimensionSpec } from '../src/eda/key-specs.js';
import { specToSvg } from '../src/eda/render.js';
import { indexHtml, planCharts, slug } from '../src/eda/run-eda.js';
import { loadFontMetrics, textWidth, vegaWidth } from '../src/eda/text-metrics.js';
import {
  monthlyRevenueSpec,
  peakMonth,
  throughputBuckets,
  throughputSpec,
  yearlyFromMonthly,
  yearlyRevenueSpec,
} from '../src/eda/time-specs.js';
import {
  ATTEMPT_KINDS,
  assignSlots,
  attemptKind,
  chunkTimelineSpec,
  pricePerWorkerSpec,
  revenueShareSpec,
  rowsPerWorkerSpec,
} from '../src/eda/worker-specs.js';
import { storeMarts } from './helpers/marts.js';

// biome-ignore lint/suspicious/noExplicitAny: tests walk the spec's JSON freely
type J = any;
const json = (spec: unknown): J => JSON.parse(JSON.stringify(spec));
const markOf = (layer: J): string => (typeof layer.mark === 'string' ? layer.mark : layer.mark?.type);
const layerWith = (spec: J, mark: string): J => {
  const found = (spec.layer as J[]).find((l) => markOf(l) === mark);
  expect(found, `a ${mark} layer`).toBeDefined();
  return found;
};

const workers: WorkerStat[] = [
  { workerId: 'w10', rows: 100, chunks: 2, revenue: 3000, priceAvg: 12.5, priceMin: 1, priceMax: 40 },
  { workerId: 'w2', rows: 300, chunks: 5, revenue: 9000, priceAvg: 10, priceMin: 2, priceMax: 30 },
  { workerId: 'w3', rows: 0, chunks: 0, revenue: 0, priceAvg: null, priceMin: null, priceMax: null },
];

const months: MonthRevenue[] = [
  { month: '2020-11', revenue: 100, rows: 1 },
  { month: '2020-12', revenue: 400, rows: 1 },
  { month: '2021-01', revenue: 900, rows: 1 }, // the peak
  // 2021-02 has no sales
  { month: '2021-03', revenue: 300, rows: 1 },
];

/** A mart as loadMartTop gives it: keys already ranked (SQL's order), months ascending. */
const customers: MartTop = {
  mart: 'customer_id',
  keyCount: 40,
  dated: true,
  firstMonth: '2020-11',
  lastMonth: '2021-03',
  total: 1000,
  keys: [
    {
      rank: 1,
      key: 'c9',
      revenue: 300,
      rows: 3,
      months: [
        { month: '2020-11', revenue: 100, rows: 1 },
        { month: '2021-03', revenue: 200, rows: 2 },
      ],
    },
    // A tie on revenue: SQL ranked 'c1' before 'c2' (key ascending); the spec keeps that order.
    { rank: 2, key: 'c1', revenue: 150, rows: 1, months: [{ month: '2020-12', revenue: 150, rows: 1 }] },
    { rank: 3, key: 'c2', revenue: 150, rows: 1, months: [{ month: '2021-01', revenue: 150, rows: 1 }] },
  ],
};

/** Every spec used below; each must compile without vega-lite warnings. */
function allSpecs() {
  return {
    rows: rowsPerWorkerSpec(workers),
    share: revenueShareSpec(workers),
    price: pricePerWorkerSpec(workers, 'unit price'),
    monthly: monthlyRevenueSpec(months),
    yearly: yearlyRevenueSpec(months),
    timeline: chunkTimelineSpec(
      [
        { workerId: 'w1', chunkId: 0, attempt: 1, outcome: 'lost', start: 0.1, end: 0.2 },
        { workerId: 'w2', chunkId: 0, attempt: 2, outcome: 'done', start: 0.2, end: 0.5 },
      ],
      1,
    ),
    dimension: revenueByDimensionSpec('Region', [{ key: 'Asia', revenue: 5, rows: 1 }], 10),
    throughput: throughputSpec([{ t: 0.5, rows: 10 }], 1),
    martLines: martTopSpec(customers, 10),
    martBars: martTopSpec({ ...customers, dated: false, firstMonth: '', lastMonth: '' }, 10),
  };
}

describe('formatting', () => {
  it('compactMoney uses B for billions and 3 significant digits', () => {
    expect(compactMoney(6654148562384.13)).toBe('$6.65T');
    expect(compactMoney(1.2e9)).toBe('$1.2B');
    expect(compactMoney(999.6e9)).toBe('$1T');
    expect(compactMoney(53074916757.14)).toBe('$53.1B');
    expect(compactMoney(266.2055)).toBe('$266');
    expect(compactMoney(4500)).toBe('$4.5k');
  });

  it('averageOf and compareDecimalDesc are exact', () => {
    expect(averageOf('10', 3)).toBe('3.3333');
    expect(averageOf('0.00005', 1)).toBe('0.0001');
    expect(averageOf('0', 0)).toBeNull();
    expect(['1.5', '10', '9.99', '10.00001'].sort(compareDecimalDesc)).toEqual([
      '10.00001',
      '10',
      '9.99',
      '1.5',
    ]);
  });

  it('slug makes file-name-safe dimension names', () => {
    expect(slug('Item Type')).toBe('item-type');
    expect(slug('  Sales/Channel (EU) ')).toBe('sales-channel-eu');
    expect(slug('Ünïcode')).toBe('unicode');
    expect(slug('日本')).toBe('dimension');
  });

  it('text widths come from the DejaVu font tables and respect the label limit', () => {
    const dir = path.join('node_modules', 'dejavu-fonts-ttf', 'ttf');
    const regular = loadFontMetrics(path.join(dir, 'DejaVuSans.ttf'));
    const bold = loadFontMetrics(path.join(dir, 'DejaVuSans-Bold.ttf'));
    // DejaVu Sans: 'A' advances 1401/2048 em, a space 651/2048.
    expect(regular.advance(65)).toBeCloseTo(1401 / 2048, 6);
    expect(textWidth(regular, 'A A', 20)).toBeCloseTo(((2 * 1401 + 651) / 2048) * 20, 6);
    const width = vegaWidth(regular, bold);
    expect(width({ fontSize: 12, fontWeight: 'bold' }, 'Total')).toBeGreaterThan(
      width({ fontSize: 12 }, 'Total'),
    );
    expect(width({ fontSize: 12, limit: 30 }, 'a very long label indeed')).toBe(30);
    expect(fs.existsSync(dir)).toBe(true);
  });
});

describe('rowsPerWorkerSpec', () => {
  it('draws one bar per worker in natural order with value labels', () => {
    const s = json(rowsPerWorkerSpec(workers));
    expect(s.title.text).toBe('Rows processed per worker');
    expect(s.title.subtitle).toBe('400 rows over 3 workers, 7 chunks');
    expect(s.width).toBeGreaterThanOrEqual(900);
    expect(s.height).toBeGreaterThanOrEqual(500);
    expect(s.config.font).toBe('DejaVu Sans');
    expect(s.data.values.map((v: J) => v.worker)).toEqual(['w2', 'w3', 'w10']);
    expect(s.encoding.x.field).toBe('worker');
    expect(s.encoding.y).toMatchObject({ field: 'rows', type: 'quantitative' });
    expect(s.encoding.y.axis.format).toBe(',.0f');
    expect(layerWith(s, 'text').encoding.text.field).toBe('label');
    expect(s.data.values[0].label).toBe('300');
  });
});

describe('revenueShareSpec', () => {
  it('is a donut of workers with revenue, labelled with percentages', () => {
    const s = json(revenueShareSpec(workers));
    const pie = s.layer[0];
    expect(pie.encoding.theta.field).toBe('revenue');
    expect(pie.encoding.color.field).toBe('worker');
    const arc = layerWith(pie, 'arc');
    expect(arc.mark.innerRadius).toBeGreaterThan(0);
    expect(pie.data.values.map((v: J) => [v.worker, v.label])).toEqual([
      ['w2', '75.0%'],
      ['w10', '25.0%'],
    ]);
    expect(layerWith(pie, 'text').encoding.text.field).toBe('label');
    expect(s.title.subtitle).toBe('$12k across 2 workers; not shown: w3 (no revenue)');
  });
});

describe('pricePerWorkerSpec', () => {
  it('shows the average as a point and min..max as an error bar', () => {
    const s = json(pricePerWorkerSpec(workers, 'unit price'));
    const bar = layerWith(s, 'errorbar');
    expect(bar.encoding.y.field).toBe('min');
    expect(bar.encoding.y2.field).toBe('max');
    const point = layerWith(s, 'point');
    expect(point.encoding.y.field).toBe('avg');
    expect(point.encoding.y.axis.title).toBe('unit price ($)');
    expect(s.data.values).toEqual([
      expect.objectContaining({ worker: 'w2', avg: 10, min: 2, max: 30, avgLabel: 'avg $10.00' }),
      expect.objectContaining({ worker: 'w10', avg: 12.5, min: 1, max: 40 }),
    ]);
    expect(s.title.subtitle).toMatch(/not shown: w3 \(no rows\)/);
    expect(json(pricePerWorkerSpec(workers, 'line amount')).title.text).toBe('Line amount per worker');
  });
});

describe('monthlyRevenueSpec', () => {
  it('fills missing months with zero and finds the peak', () => {
    const filled = fillMonths(months);
    expect(filled.map((m) => m.month)).toEqual(['2020-11', '2020-12', '2021-01', '2021-02', '2021-03']);
    expect(filled[3].revenue).toBe(0);
    expect(peakMonth(filled)?.month).toBe('2021-01');
  });

  it('has the monthly line, a 3-month rolling mean and the peak marked by a rule and a label', () => {
    const s = json(monthlyRevenueSpec(months));
    expect(s.title.text).toBe('Monthly revenue');
    expect(s.data.values).toHaveLength(5);
    expect(s.data.values[0]).toEqual({ t: Date.UTC(2020, 10, 1), month: '2020-11', revenue: 100 });
    expect(s.encoding.x).toMatchObject({ field: 't', type: 'temporal' });
    expect(s.encoding.y.axis.labelExpr).toContain("'$.3~s'");

    const lines = s.layer.filter((l: J) => markOf(l) === 'line');
    expect(lines).toHaveLength(2);
    const rolling = lines.find((l: J) => l.transform !== undefined);
    const window = rolling.transform[0];
    expect(window.frame).toEqual([-2, 0]);
    expect(window.window[0]).toEqual({ op: 'mean', field: 'revenue', as: 'rolling' });
    expect(rolling.transform[1].filter).toBe('datum.months === 3');
    expect(rolling.encoding.y.field).toBe('rolling');

    const rule = layerWith(s, 'rule');
    expect(rule.data.values).toEqual([{ t: Date.UTC(2021, 0, 1), revenue: 900, month: '2021-01' }]);
    expect(rule.encoding.y2.value).toBe(HEIGHT);
    const text = layerWith(s, 'text');
    expect(text.data.values[0].month).toBe('2021-01');
    expect(text.transform[0].calculate).toContain('Jan 2021');
  });
});

describe('yearlyRevenueSpec', () => {
  it('sums months into years and marks partial years', () => {
    expect(yearlyFromMonthly(months)).toEqual([
      { year: '2020', revenue: 500, months: 2 },
      { year: '2021', revenue: 1200, months: 2 },
    ]);
    const s = json(yearlyRevenueSpec(months));
    expect(markOf(s.layer[0])).toBe('bar');
    expect(s.encoding.x.field).toBe('year');
    expect(s.encoding.y.field).toBe('revenue');
    expect(layerWith(s, 'text').transform[0].calculate).toContain("'$.3~s'");
    expect(s.title.subtitle).toBe('lighter bars are partial years: 2020 has 2 months, 2021 has 2 months');
  });
});

describe('chunkTimelineSpec', () => {
  const attempts: AttemptSpan[] = [
    { workerId: 'w1', chunkId: 0, attempt: 1, outcome: 'done', start: 0.1, end: 0.5 },
    { workerId: 'w1', chunkId: 1, attempt: 1, outcome: 'done', start: 0.2, end: 0.6 },
    { workerId: 'w1', chunkId: 3, attempt: 1, outcome: 'done', start: 0.5, end: 0.9 },
    { workerId: 'w2', chunkId: 2, attempt: 1, outcome: 'lost', start: 0.1, end: 0.3 },
    { workerId: 'w1', chunkId: 2, attempt: 2, outcome: 'done', start: 0.6, end: 0.8 },
  ];

  it('puts overlapping attempts of one worker on separate rows', () => {
    const slots = assignSlots(attempts).map((a) => [a.workerId, a.chunkId, a.attempt, a.slot]);
    expect(slots).toEqual([
      ['w1', 0, 1, 0],
      ['w2', 2, 1, 0],
      ['w1', 1, 1, 1],
      ['w1', 3, 1, 0],
      ['w1', 2, 2, 1],
    ]);
  });

  it('colours retries and lost attempts apart, with a legend', () => {
    expect(attemptKind({ attempt: 1, outcome: 'done' })).toBe(ATTEMPT_KINDS[0]);
    expect(attemptKind({ attempt: 2, outcome: 'done' })).toBe(ATTEMPT_KINDS[1]);
    expect(attemptKind({ attempt: 1, outcome: 'timeout' })).toBe(ATTEMPT_KINDS[2]);
    const s = json(chunkTimelineSpec(attempts, 1));
    expect(s.mark.type).toBe('bar');
    expect(s.encoding.x).toMatchObject({ field: 'start', type: 'quantitative' });
    expect(s.encoding.x.axis.title).toBe('time since run start (s)');
    expect(s.encoding.x.scale.domain).toEqual([0, 1]);
    expect(s.encoding.x2.field).toBe('end');
    expect(s.encoding.y.field).toBe('worker');
    expect(s.encoding.yOffset.field).toBe('slot');
    expect(s.encoding.color.field).toBe('kind');
    expect(s.encoding.color.scale.domain).toEqual([...ATTEMPT_KINDS]);
    expect(s.encoding.color.legend).not.toBeNull();
    const kinds = Object.fromEntries(s.data.values.map((v: J) => [`${v.chunk}/${v.attempt}`, v.kind]));
    expect(kinds).toEqual({
      '0/1': ATTEMPT_KINDS[0],
      '1/1': ATTEMPT_KINDS[0],
      '3/1': ATTEMPT_KINDS[0],
      '2/1': ATTEMPT_KINDS[2],
      '2/2': ATTEMPT_KINDS[1],
    });
    expect(s.title.subtitle).toMatch(/5 attempts, 2 retries or lost attempts/);
  });
});

describe('revenueByDimensionSpec', () => {
  it('keeps the top N keys by revenue as horizontal bars', () => {
    const keys = [
      { key: 'b', revenue: 20, rows: 1 },
      { key: 'a', revenue: 50, rows: 1 },
      { key: 'c', revenue: 30, rows: 1 },
    ];
    const s = json(revenueByDimensionSpec('Item Type', keys, 2));
    expect(s.title).toEqual({
      text: 'Revenue by Item Type',
      subtitle: 'top 2 of 3 keys by revenue; labels show revenue and share of $100',
    });
    expect(s.data.values.map((v: J) => v.key)).toEqual(['a', 'c']);
    expect(s.data.values[0].share).toBeCloseTo(0.5);
    expect(s.encoding.y).toMatchObject({ field: 'key', type: 'nominal' });
    expect(s.encoding.x).toMatchObject({ field: 'revenue', type: 'quantitative' });
    expect(markOf(s.layer[0])).toBe('bar');
    expect(json(revenueByDimensionSpec('X', keys, 10)).data.values).toHaveLength(3);
  });
});

describe('martTopSpec', () => {
  it('draws one line per top key over every month, legend in rank order', () => {
    const s = json(martTopSpec(customers, 3));
    expect(s.title).toEqual({
      text: 'Top 3 customer_id by revenue',
      subtitle: 'monthly revenue of the top 3 of 40 keys by total revenue, Nov 2020 to Mar 2021',
    });
    expect(markOf(s)).toBe('line');
    const keys = [...new Set(s.data.values.map((v: J) => v.key))];
    expect(keys).toEqual(['c9', 'c1', 'c2']);
    expect(s.encoding.color.field).toBe('series');
    expect(s.encoding.color.scale).toEqual({
      domain: ['1. c9 ($300)', '2. c1 ($150)', '3. c2 ($150)'],
      scheme: 'tableau10',
    });
    // Every key spans all five months; a month without sales is 0, not a gap.
    const c9 = s.data.values.filter((v: J) => v.key === 'c9');
    expect(c9.map((v: J) => [v.month, v.revenue])).toEqual([
      ['2020-11', 100],
      ['2020-12', 0],
      ['2021-01', 0],
      ['2021-02', 0],
      ['2021-03', 200],
    ]);
    expect(s.data.values).toHaveLength(15);
    const long = json(
      martTopSpec(
        { ...customers, keys: [{ ...customers.keys[0], key: 'x'.repeat(40) }, customers.keys[1]] },
        3,
      ),
    );
    expect(long.encoding.color.scale.domain[0]).toBe(`1. ${'x'.repeat(29)}… ($300)`);
    expect(
      json(martTopSpec({ ...customers, keys: [{ ...customers.keys[0], key: '' }] }, 3)).encoding.color.scale
        .domain,
    ).toEqual(['1. (empty) ($300)']);
    expect(s.encoding.x).toMatchObject({ field: 't', type: 'temporal' });
    expect(s.encoding.y.axis.labelExpr).toContain("'$.3~s'");
  });

  it('keeps the top N, and at most 20 lines with 20 distinct colours', () => {
    const many: MartTop = {
      ...customers,
      keyCount: 30,
      keys: Array.from({ length: 30 }, (_, i) => ({
        rank: i + 1,
        key: `k${String(i + 1).padStart(2, '0')}`,
        revenue: 1000 - i,
        rows: 1,
        months: [{ month: '2021-01', revenue: 1000 - i, rows: 1 }],
      })),
    };
    const two = json(martTopSpec(many, 2));
    expect(two.title.text).toBe('Top 2 customer_id by revenue');
    expect([...new Set(two.data.values.map((v: J) => v.key))]).toEqual(['k01', 'k02']);
    const all = json(martTopSpec(many, 100));
    expect(all.title.text).toBe(`Top ${MART_MAX_LINES} customer_id by revenue`);
    expect(all.title.subtitle).toMatch(/a line chart shows at most 20/);
    expect(all.encoding.color.scale.domain).toHaveLength(20);
    expect(all.encoding.color.scale.range).toEqual(MART_COLORS);
    expect(new Set(MART_COLORS).size).toBe(20);
  });

  it('draws horizontal bars of the totals when the run has no dates', () => {
    const s = json(martTopSpec({ ...customers, dated: false, firstMonth: '', lastMonth: '' }, 2));
    expect(s.title).toEqual({
      text: 'Top 2 customer_id by revenue',
      subtitle:
        'total revenue of the top 2 of 40 keys (the run has no date column); labels show revenue and share of $1k',
    });
    expect(markOf(s.layer[0])).toBe('bar');
    expect(s.encoding.y).toMatchObject({ field: 'name', type: 'nominal', sort: null });
    expect(s.encoding.x).toMatchObject({ field: 'revenue', type: 'quantitative' });
    expect(s.data.values.map((v: J) => [v.key, v.revenue, v.share])).toEqual([
      ['c9', 300, 0.3],
      ['c1', 150, 0.15],
    ]);
  });
});

describe('loadMartTop', () => {
  /** A finished run in memory with the given mart cells: [mart, month, key, revenue text, scale 2]. */
  function storeWith(cells: [string, string, string, string][], spec: unknown = {}): [Store, number] {
    const store = Store.open(':memory:');
    const id = store.createRun({
      file: 'x.csv',
      size: 1,
      mtimeMs: 0,
      options: {},
      spec,
      dataStart: 0,
      headerLines: 1,
      chunkSize: 1024,
      scale: 2,
      startedAt: '2024-01-01T00:00:00.000Z',
      lockOwner: 'test',
      chunksTotal: null,
    });
    store.finishRun(id, 'done', '2024-01-01T00:00:01.000Z', null, { monthly: [], dims: [] });
    storeMarts(
      store,
      id,
      2,
      cells.map(([mart, month, key, revenue]) => [mart, month, key, 1, 1n, BigInt(revenue.replace('.', ''))]),
    );
    return [store, id];
  }

  it('ranks on the exact scaled sum, ties by key ascending, with every month of the mart', () => {
    const [store, id] = storeWith([
      // 'z' beats 'y' by one cent at 2^53 cents, where Numbers could not tell them apart.
      ['who', '2021-01', 'y', '90071992547409.92'],
      ['who', '2021-01', 'z', '90071992547409.90'],
      ['who', '2021-02', 'z', '0.03'],
      // 'b' and 'a' tie (over two months for 'b'): 'a' ranks first.
      ['who', '2021-01', 'b', '10.00'],
      ['who', '2021-03', 'b', '20.00'],
      ['who', '2021-02', 'a', '30.00'],
      ['who', '2021-02', 'c', '5.00'],
      ['other', '2020-06', 'q', '1.00'],
    ]);
    // The two sums as Numbers are equal: only the exact ranking tells them apart.
    expect(Number(9007199254740993n)).toBe(Number(9007199254740992n));
    const top = loadMartTop(store, id, 'who', 4, 0);
    expect(top.keys.map((k) => [k.rank, k.key])).toEqual([
      [1, 'z'],
      [2, 'y'],
      [3, 'a'],
      [4, 'b'],
    ]);
    expect(top).toMatchObject({ keyCount: 5, dated: true, firstMonth: '2021-01', lastMonth: '2021-03' });
    expect(top.keys[3]).toMatchObject({ revenue: 30, rows: 2 });
    expect(top.keys[3].months.map((m) => m.month)).toEqual(['2021-01', '2021-03']);
    expect(loadMartTop(store, id, 'who', 1, 0).keys.map((k) => k.key)).toEqual(['z']);
    expect(sumDecimals(['90071992547409.90', '0.03', '0.001'])).toBe('90071992547409.931');
    store.close();
  });

  it('marks a mart without dates, and loadEdaData keeps the spec order and drops empty marts', () => {
    const [store, id] = storeWith(
      [
        ['Location', '', 'Ohio', '3.00'],
        ['Location', '', 'Maine', '7.00'],
        ['Size', '', 'M', '10.00'],
      ],
      {
        date: -1,
        marts: [
          { name: 'Size', index: 2 },
          { name: 'Location', index: 1 },
          { name: 'None', index: 3 },
        ],
      },
    );
    const run = store.getRun(id);
    if (run === undefined) throw new Error('no run');
    const data = loadEdaData(store, run, 10);
    expect(data.run.martNames).toEqual(['Size', 'Location', 'None']);
    expect(data.marts.map((m) => m.mart)).toEqual(['Size', 'Location']);
    const location = data.marts[1];
    expect(location).toMatchObject({ dated: false, firstMonth: '', lastMonth: '', keyCount: 2 });
    expect(location.keys.map((k) => [k.key, k.revenue, k.months])).toEqual([
      ['Maine', 7, []],
      ['Ohio', 3, []],
    ]);
    const { charts, skipped } = planCharts(data, 10);
    expect(charts.filter((c) => c.name.startsWith('mart-')).map((c) => [c.name, c.title])).toEqual([
      ['mart-size', 'Top 1 Size by revenue'],
      ['mart-location', 'Top 2 Location by revenue'],
    ]);
    expect(skipped).toContain('mart None: the mart has no keys');
    store.close();
  });
});

describe('throughput', () => {
  it('buckets finished rows evenly over the run', () => {
    const b = throughputBuckets(
      [
        { t: 0.05, rows: 10 },
        { t: 0.15, rows: 20 },
        { t: 0.16, rows: 5 },
        { t: 1, rows: 7 },
      ],
      1,
      10,
    );
    expect(b).toHaveLength(10);
    expect(b[0]).toEqual({ t0: 0, t1: 0.1, rows: 10, rowsPerSecond: 100 });
    expect(b[1].rows).toBe(25);
    expect(b[9].rows).toBe(7); // the run's last instant falls in the last bucket
    expect(b.reduce((s, x) => s + x.rows, 0)).toBe(42);
    expect(throughputBuckets([], 0)).toEqual([]);
  });

  it('draws 20-50 buckets as a step area plus the average rule', () => {
    const finishes = Array.from({ length: 100 }, (_, i) => ({ t: i / 50, rows: 1000 }));
    const s = json(throughputSpec(finishes, 2));
    const series = s.layer[0];
    expect(series.data.values.length - 1).toBeGreaterThanOrEqual(20);
    expect(series.data.values.length - 1).toBeLessThanOrEqual(50);
    expect(series.encoding.y.axis.title).toBe('rows per second');
    expect(markOf(series.layer[0])).toBe('area');
    expect(s.layer[1].mark.type).toBe('rule');
    expect(s.layer[1].data.values).toEqual([{ rate: 50_000 }]);
  });
});

describe('all specs', () => {
  it('compile without vega-lite warnings and render text with the compact money format', async () => {
    const specs = allSpecs();
    for (const [name, spec] of Object.entries(specs)) {
      const warnings: string[] = [];
      const note = (...m: unknown[]) => {
        warnings.push(m.join(' '));
        return logger;
      };
      const logger = {
        level: () => logger,
        error: note,
        warn: note,
        info: () => logger,
        debug: () => logger,
      };
      compile(spec, { logger: logger as never });
      expect(warnings, name).toEqual([]);
      expect(json(spec).width, name).toBe(WIDTH);
    }
    const svg = await specToSvg(
      yearlyRevenueSpec([
        { month: '2020-01', revenue: 1.2e9, rows: 1 },
        { month: '2021-01', revenue: 2.5e12, rows: 1 },
      ]),
    );
    expect(svg).toContain('$1.2B');
    expect(svg).toContain('$2.5T');
    expect(svg).not.toMatch(/\$[\d.]+G/);
  });
});

describe('planCharts', () => {
  const base: EdaData = {
    run: {
      id: 7,
      file: '/data/<odd>&.csv',
      startedAt: '2024-01-01T00:00:00.000Z',
      finishedAt: '2024-01-01T00:00:02.000Z',
      wallMs: 2000,
      rows: 400,
      rejected: 1,
      chunks: 7,
      revenue: '12000.50',
      priceMin: '1',
      priceMax: '40',
      priceAvg: '10.6250',
      priceBasis: 'unit price',
      hasDateColumn: false,
      dimensionNames: ['Region', 'Empty'],
      martNames: [],
    },
    workers,
    monthly: [],
    attempts: [{ workerId: 'w2', chunkId: 0, attempt: 1, outcome: 'done', start: 0.1, end: 0.5 }],
    finishes: [{ t: 0.5, rows: 400 }],
    dimensions: [{ dimension: 'Region', keys: [{ key: 'Asia', revenue: 12000.5, rows: 400 }] }],
    marts: [],
  };

  it('leaves out the date charts when the run has no date column, and says why', () => {
    const { charts, skipped } = planCharts(base, 10);
    expect(charts.map((c) => c.name)).toEqual([
      'rows-per-worker',
      'revenue-share',
      'price-per-worker',
      'chunk-timeline',
      'revenue-by-region',
      'throughput',
    ]);
    expect(skipped).toEqual([
      'monthly revenue: the run has no date column',
      'yearly revenue: the run has no date column',
      'revenue by Empty: the dimension has no keys',
    ]);
  });

  it('draws the date charts when there are months, and gives clashing dimension names distinct files', () => {
    const data: EdaData = {
      ...base,
      run: { ...base.run, hasDateColumn: true, dimensionNames: ['A b', 'A-b'] },
      monthly: months,
      dimensions: [
        { dimension: 'A b', keys: [{ key: 'x', revenue: 1, rows: 1 }] },
        { dimension: 'A-b', keys: [{ key: 'y', revenue: 1, rows: 1 }] },
      ],
    };
    const { charts, skipped } = planCharts(data, 10);
    const names = charts.map((c) => c.name);
    expect(names).toContain('monthly-revenue');
    expect(names).toContain('yearly-revenue');
    expect(names).toContain('revenue-by-a-b');
    expect(names).toContain('revenue-by-a-b-2');
    expect(skipped).toEqual([]);
  });

  it('index.html escapes text and embeds the images', () => {
    const png = Buffer.alloc(24);
    png.writeUInt32BE(1800, 16);
    const html = indexHtml(base, [{ name: 'x', title: 'X <chart>', png }], ['a & b']);
    expect(html).toContain('/data/&lt;odd&gt;&amp;.csv');
    expect(html).toContain('X &lt;chart&gt;');
    expect(html).toContain('data:image/png;base64,');
    expect(html).toContain('width="900"');
    expect(html).toContain('$12,000.50');
    expect(html).toContain('2.00 s');
    expect(html).toContain('<li>a &amp; b</li>');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });
});
