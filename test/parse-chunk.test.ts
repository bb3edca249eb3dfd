import { describe, expect, it } from 'vitest';
import { formatScaled } from '../src/aggregate/decimal.js';
import type { KeyedRun } from '../src/aggregate/keyed-cells.js';
import { type Agg, type Cell, emptyAgg, mergeAgg } from '../src/aggregate/partial.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { parseChunk } from '../src/worker/parse-chunk.js';
import { cellsOf, dimsOf } from './helpers/keyed.js';
import { Rng } from './helpers/prng.js';

// --- the reference layout, by hand ------------------------------------------------------------

const HEADER = [
  'Region',
  'Country',
  'Item Type',
  'Sales Channel',
  'Order Priority',
  'Order Date',
  'Order ID',
  'Ship Date',
  'Units Sold',
  'Unit Price',
  'Unit Cost',
  'Total Revenue',
  'Total Cost',
  'Total Profit',
];
const C = Object.fromEntries(HEADER.map((h, i) => [h, i])) as Record<string, number>;

function refSpec(over: Partial<ScanSpec> = {}): ScanSpec {
  const dimensions = [
    { name: 'Region', index: C.Region },
    { name: 'Item Type', index: C['Item Type'] },
    { name: 'Sales Channel', index: C['Sales Channel'] },
  ];
  const names = HEADER.map(() => '');
  for (const h of ['Region', 'Item Type', 'Sales Channel', 'Order Date', 'Units Sold', 'Unit Price'])
    names[C[h]] = h;
  return {
    delimiter: 0x2c,
    fieldCount: HEADER.length,
    price: C['Unit Price'],
    quantity: C['Units Sold'],
    revenue: -1,
    date: C['Order Date'],
    dateFormat: 'mdy',
    decimalComma: false,
    scale: 2,
    dimensions,
    maxKeys: 1000,
    names,
    ...over,
  };
}

/** A CSV field: quoted when it needs to be, with quotes doubled. */
function q(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

interface Row {
  fields: string[];
  /** Price as written (mantissa, decimals), units, month key, dimension values. */
  price: [bigint, number];
  units: bigint;
  month: string;
  dims: Record<string, string>;
}

const REGIONS = [
  'Asia',
  'Europe',
  'Middle East and North Africa',
  'Central America and the Caribbean',
  'Sub-Saharan Africa',
];
const ITEMS = ['Fruits', 'Cosmetics', 'Office "Supplies"', 'Baby Food, Organic', 'Snacks'];
const CHANNELS = ['Online', 'Offline'];
const COUNTRIES = ['Chad', 'Peru', 'Côte d’Ivoire', 'Multi\nLine Land', 'Bosnia, Herzegovina'];
const DIM_NAMES = ['Region', 'Item Type', 'Sales Channel'];

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function withThousands(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function randomRow(rng: Rng): Row {
  const year = rng.int(2010, 2020);
  const month = rng.int(1, 12);
  const day = rng.int(1, daysIn(year, month));
  const units = rng.int(1, 10000);
  const intPart = String(rng.chance(0.3) ? rng.int(0, 99) : rng.int(0, 99999));
  const decimals = rng.pick([2, 2, 2, 3, 4]);
  let frac = '';
  for (let i = 0; i < decimals; i++) frac += String(rng.int(0, 9));
  const style = rng.int(0, 3);
  let priceText: string;
  if (style === 0) priceText = `${intPart}.${frac}`;
  else if (style === 1) priceText = `$${intPart}.${frac}`;
  else if (style === 2) priceText = `"${withThousands(intPart)}.${frac}"`;
  else priceText = `"$${withThousands(intPart)}.${frac}"`;
  const dims = {
    Region: rng.pick(REGIONS),
    'Item Type': rng.pick(ITEMS),
    'Sales Channel': rng.pick(CHANNELS),
  };
  const fields = HEADER.map(() => '');
  fields[C.Region] = rng.chance(0.2) ? `"${dims.Region}"` : q(dims.Region);
  fields[C.Country] = q(rng.pick(COUNTRIES));
  fields[C['Item Type']] = q(dims['Item Type']);
  fields[C['Sales Channel']] = dims['Sales Channel'];
  fields[C['Order Priority']] = rng.pick(['H', 'M', 'L', 'C']);
  fields[C['Order Date']] = `${month}/${day}/${year}`;
  fields[C['Order ID']] = String(rng.int(100000000, 999999999));
  fields[C['Ship Date']] = `${month}/${day}/${year}`;
  fields[C['Units Sold']] = String(units);
  fields[C['Unit Price']] = priceText;
  fields[C['Unit Cost']] = '1.00';
  fields[C['Total Revenue']] = 'n/a';
  fields[C['Total Cost']] = '';
  fields[C['Total Profit']] = '0';
  return {
    fields,
    price: [BigInt(intPart + frac), decimals],
    units: BigInt(units),
    month: `${year}-${String(month).padStart(2, '0')}`,
    dims,
  };
}

function render(rows: Row[], rng: Rng | null, finalEol = true): string {
  let out = '';
  rows.forEach((r, i) => {
    const eol = rng?.chance(0.3) ? '\r\n' : '\n';
    out += r.fields.join(',') + (i < rows.length - 1 || finalEol ? eol : '');
  });
  return out;
}

// --- the independent reference computation ----------------------------------------------------

function ten(n: number): bigint {
  let p = 1n;
  for (let i = 0; i < n; i++) p *= 10n;
  return p;
}

interface Plain {
  scale: number;
  rows: number;
  rejected: number;
  units: bigint;
  revenue: bigint;
  priceMin: bigint | null;
  priceMax: bigint | null;
  priceSum: bigint;
  months: Record<string, Cell>;
  dims: Record<string, Record<string, Cell>>;
}

function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Sum of units × price at a common scale, min/max/sum of prices, per month and per dimension. */
function reference(rows: Row[], baseScale = 2): Plain {
  const scale = Math.max(baseScale, ...rows.map((r) => r.price[1]));
  const out: Plain = {
    scale,
    rows: rows.length,
    rejected: 0,
    units: 0n,
    revenue: 0n,
    priceMin: null,
    priceMax: null,
    priceSum: 0n,
    months: {},
    dims: {},
  };
  const add = (cells: Record<string, Cell>, key: string, units: bigint, revenue: bigint) => {
    const c = cells[key] ?? { rows: 0, units: 0n, revenue: 0n };
    cells[key] = { rows: c.rows + 1, units: c.units + units, revenue: c.revenue + revenue };
  };
  for (const name of DIM_NAMES) out.dims[name] = {};
  for (const r of rows) {
    const price = r.price[0] * ten(scale - r.price[1]);
    const revenue = price * r.units;
    out.units += r.units;
    out.revenue += revenue;
    out.priceSum += price;
    if (out.priceMin === null || price < out.priceMin) out.priceMin = price;
    if (out.priceMax === null || price > out.priceMax) out.priceMax = price;
    add(out.months, r.month, r.units, revenue);
    for (const name of DIM_NAMES) add(out.dims[name], r.dims[name], r.units, revenue);
  }
  out.months = sorted(out.months);
  out.dims = sorted(Object.fromEntries(Object.entries(out.dims).map(([n, c]) => [n, sorted(c)])));
  return out;
}

/** The aggregate plus the dimensions of `runs` (keyed cells, merged), in the reference's shape. */
function plain(a: Agg, runs: KeyedRun[]): Plain {
  return {
    dims: sorted(
      Object.fromEntries(
        DIM_NAMES.map((n) => [n, sorted(Object.fromEntries(cellsOf(runs, 'dim', n, a.scale)))]),
      ),
    ),
    scale: a.scale,
    rows: a.rows,
    rejected: a.rejected,
    units: a.units,
    revenue: a.revenue,
    priceMin: a.priceMin,
    priceMax: a.priceMax,
    priceSum: a.priceSum,
    months: sorted(Object.fromEntries(a.months)),
  };
}

function parse(text: string, spec = refSpec()) {
  return parseChunk(Buffer.from(text, 'utf8'), spec);
}

function lf(text: string): number {
  return text.split('\n').length - 1;
}

// --- the core law -----------------------------------------------------------------------------

describe('parseChunk: merging any chunking equals the whole, and both equal the reference', () => {
  it('holds for random documents and random record-aligned splits', () => {
    const rng = new Rng(12345);
    for (let doc = 0; doc < 40; doc++) {
      const rows = Array.from({ length: rng.int(1, 250) }, () => randomRow(rng));
      const finalEol = rng.chance(0.7);
      const text = render(rows, rng, finalEol);
      const want = reference(rows);
      const whole = parse(text);
      expect(whole.rejects).toEqual([]);
      expect(plain(whole.agg, whole.cells)).toEqual(want);
      expect(whole.lines).toBe(lf(text));
      for (let split = 0; split < 4; split++) {
        // Cut the rows into random groups; each group is rendered and parsed on its own.
        const cuts = new Set<number>();
        const k = rng.int(0, Math.min(8, rows.length));
        for (let i = 0; i < k; i++) cuts.add(rng.int(1, rows.length));
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), rows.length];
        let merged = emptyAgg(2);
        const runs: KeyedRun[] = [];
        let lines = 0;
        for (let i = 0; i + 1 < bounds.length; i++) {
          const part = rows.slice(bounds[i], bounds[i + 1]);
          if (part.length === 0) continue;
          const last = bounds[i + 1] === rows.length;
          const chunkText = render(part, rng, !last || finalEol);
          const out = parse(chunkText);
          expect(out.rejects).toEqual([]);
          expect(plain(out.agg, out.cells)).toEqual(reference(part));
          merged = mergeAgg(merged, out.agg);
          runs.push(...out.cells);
          lines += out.lines;
        }
        expect(plain(merged, runs)).toEqual(want);
        expect(lines).toBe(lf(text));
      }
    }
  });

  it('gives the same totals with every price quoted and every text field quoted', () => {
    const rng = new Rng(7);
    const rows = Array.from({ length: 200 }, () => randomRow(rng));
    const quoted = rows.map((r) => ({
      ...r,
      fields: r.fields.map((f) => (f.startsWith('"') ? f : `"${f}"`)),
    }));
    const q = parse(render(quoted, null));
    expect(plain(q.agg, q.cells)).toEqual(reference(rows));
  });
});

// --- rejects ----------------------------------------------------------------------------------

function line(over: Record<string, string>): string {
  const base: Record<string, string> = {
    Region: 'Asia',
    Country: 'Chad',
    'Item Type': 'Fruits',
    'Sales Channel': 'Online',
    'Order Priority': 'H',
    'Order Date': '3/14/2015',
    'Order ID': '1',
    'Ship Date': '3/20/2015',
    'Units Sold': '10',
    'Unit Price': '9.99',
    'Unit Cost': '1.00',
    'Total Revenue': '99.90',
    'Total Cost': '10.00',
    'Total Profit': '89.90',
    ...over,
  };
  return HEADER.map((h) => base[h]).join(',');
}

describe('parseChunk: rejects', () => {
  it('rejects each bad row with its 0-based relative line and a reason, and counts every record', () => {
    const lines = [
      line({}), // 0 good
      line({ 'Unit Price': 'abc' }), // 1
      line({ 'Units Sold': '1.5' }), // 2
      line({ 'Order Date': '2/30/2015' }), // 3
      line({ 'Order Date': '13/1/2015' }), // 4
      line({}).split(',').slice(0, 13).join(','), // 5: 13 fields
      '', // 6: empty line
      line({ Country: '"Two\nLines"' }), // 7-8: good, spans two physical lines
      `${line({})},extra`, // 9: 15 fields
      line({ 'Unit Price': '"1""2"' }), // 10: escaped quotes in a number
      line({ 'Unit Price': '"1,23.45"' }), // 11: bad grouping
      line({ 'Unit Price': '1.1234567891' }), // 12: 10 decimals
      line({ 'Unit Price': '1234567890123456' }), // 13: 16 digits
      line({ Country: '"Chad"x' }), // 14: text after a closing quote
      line({ 'Order Date': '2/29/2015' }), // 15: not a leap year
      line({ 'Order Date': '' }), // 16
      line({}), // 17 good
      `Asia,"unterminated,${line({}).slice(5)}`, // 18: a quote that never closes: its line only
      line({}), // 19 good: reading goes on after the broken quote's line
    ];
    const text = `${lines.join('\r\n')}\n`;
    const out = parse(text);
    const got = out.rejects.map(([l, reason]) => [l, reason]);
    expect(got.map(([l]) => l)).toEqual([1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18]);
    const reasons = Object.fromEntries(got);
    expect(reasons[1]).toMatch(/Unit Price.*not a number/);
    expect(reasons[2]).toMatch(/Units Sold.*whole number/);
    expect(reasons[3]).toMatch(/Order Date.*not a valid date/);
    expect(reasons[4]).toMatch(/Order Date.*not a valid date/);
    expect(reasons[5]).toMatch(/expected 14 fields, found 13/);
    expect(reasons[6]).toMatch(/empty line/);
    expect(reasons[9]).toMatch(/expected 14 fields, found 15/);
    expect(reasons[10]).toMatch(/Unit Price/);
    expect(reasons[11]).toMatch(/Unit Price.*not a number/);
    expect(reasons[12]).toMatch(/Unit Price.*decimals/);
    expect(reasons[13]).toMatch(/Unit Price.*too large/);
    expect(reasons[14]).toMatch(/after a closing quote/);
    expect(reasons[15]).toMatch(/not a valid date/);
    expect(reasons[16]).toMatch(/not a valid date/);
    expect(reasons[18]).toBe('quote opened at column 2 never closes');
    for (const [, reason, raw] of out.rejects) {
      expect(typeof reason).toBe('string');
      expect(raw.length).toBeLessThanOrEqual(200);
    }
    // The raw text is the record without its line end.
    expect(out.rejects[0][2]).toBe(lines[1]);
    expect(out.rejects[5][2]).toBe('');
    expect(out.agg.rows).toBe(4);
    expect(out.agg.rejected).toBe(15);
    expect(out.agg.rows + out.agg.rejected).toBe(lines.length);
    expect(out.lines).toBe(lf(text));
  });

  it('keeps the scan going after every kind of bad row', () => {
    const text = [line({ 'Unit Price': 'x' }), '', line({ 'Units Sold': '-' }), line({})].join('\n');
    const out = parse(text);
    expect(out.agg.rows).toBe(1);
    expect(out.agg.rejected).toBe(3);
    expect(out.agg.revenue).toBe(9990n);
  });

  it('truncates the raw text of a long rejected row', () => {
    const out = parse(`${line({ 'Order ID': 'x'.repeat(1000), 'Unit Price': 'bad' })}\n`);
    expect(out.rejects[0][2]).toHaveLength(200);
  });

  it('accepts leap days, signs, a dollar sign and surrounding spaces', () => {
    const rows = [
      line({ 'Order Date': '2/29/2016', 'Unit Price': '" $1,234.50 "', 'Units Sold': '2' }),
      line({ 'Order Date': '2/29/2000', 'Unit Price': '-$5.00', 'Units Sold': '+3' }),
    ];
    const out = parse(rows.join('\n'));
    expect(out.rejects).toEqual([]);
    expect(out.agg.revenue).toBe(123450n * 2n - 500n * 3n);
    expect(out.agg.priceMin).toBe(-500n);
    expect([...out.agg.months.keys()].sort()).toEqual(['2000-02', '2016-02']);
    expect(parse(line({ 'Order Date': '2/29/1900' })).rejects).toHaveLength(1);
  });
});

// --- scale ------------------------------------------------------------------------------------

describe('parseChunk: money precision', () => {
  it('raises the scale exactly when later rows carry more decimals', () => {
    const rows = [
      line({ 'Unit Price': '10.50', 'Units Sold': '2', 'Order Date': '1/5/2020' }),
      line({ 'Unit Price': '3.25', 'Units Sold': '1', 'Order Date': '2/5/2020', Region: 'Europe' }),
      line({ 'Unit Price': '957.5775', 'Units Sold': '3', 'Order Date': '1/9/2020' }),
      line({ 'Unit Price': '1.5', 'Units Sold': '4', 'Order Date': '3/1/2020' }),
    ];
    const out = parse(rows.join('\n'));
    expect(out.rejects).toEqual([]);
    const a = out.agg;
    expect(a.scale).toBe(4);
    // 10.50×2 + 3.25×1 + 957.5775×3 + 1.5×4 = 2902.9825
    expect(a.revenue).toBe(29029825n);
    expect(a.priceSum).toBe(105000n + 32500n + 9575775n + 15000n);
    expect(a.priceMin).toBe(15000n);
    expect(a.priceMax).toBe(9575775n);
    expect(a.months.get('2020-01')).toEqual({ rows: 2, units: 5n, revenue: 210000n + 28727325n });
    expect(a.months.get('2020-02')).toEqual({ rows: 1, units: 1n, revenue: 32500n });
    expect(a.months.get('2020-03')).toEqual({ rows: 1, units: 4n, revenue: 60000n });
    expect(dimsOf(out).get('Region')?.get('Europe')).toEqual({ rows: 1, units: 1n, revenue: 32500n });
    expect(dimsOf(out).get('Region')?.get('Asia')?.revenue).toBe(210000n + 28727325n + 60000n);
  });

  it('raises in steps, up to 9 decimals', () => {
    const prices = ['1.1', '2.22', '3.333', '4.4444', '5.555555555', '6'];
    const out = parse(prices.map((p) => line({ 'Unit Price': p, 'Units Sold': '1' })).join('\n'));
    expect(out.agg.scale).toBe(9);
    expect(out.agg.revenue).toBe(
      1100000000n + 2220000000n + 3333000000n + 4444400000n + 5555555555n + 6000000000n,
    );
  });

  it('keeps a rejected row from changing totals even if it raised the scale', () => {
    const out = parse(
      [line({ 'Unit Price': '2.00' }), line({ 'Unit Price': '1.2345', 'Order Date': 'bad' })].join('\n'),
    );
    expect(out.agg.rows).toBe(1);
    expect(out.agg.rejected).toBe(1);
    // 2.00 × 10 units = 20, whatever scale the chunk ended at.
    expect(formatScaled(mergeAgg(out.agg, emptyAgg(4)).revenue, 4)).toBe('20.0000');
    expect(formatScaled(mergeAgg(out.agg, emptyAgg(4)).priceSum, 4)).toBe('2.0000');
  });

  it('lifts the unit price too when a line-total column raises the scale', () => {
    // Price 10.50 at 2 decimals, then the total 31.5000 needs 4: every statistic must be at scale 4.
    const spec = refSpec({
      revenue: C['Total Revenue'],
      names: refSpec().names.map((n, i) => (i === C['Total Revenue'] ? 'Total Revenue' : n)),
    });
    const out = parse(
      `${line({ 'Unit Price': '10.50', 'Units Sold': '3', 'Total Revenue': '31.5000' })}\n`,
      spec,
    );
    expect(out.rejects).toEqual([]);
    expect(out.agg.scale).toBe(4);
    expect(out.agg.revenue).toBe(315000n);
    expect(out.agg.priceSum).toBe(105000n);
    expect(out.agg.priceMin).toBe(105000n);
    expect(out.agg.priceMax).toBe(105000n);
  });

  it('uses the line total as revenue when asked, and as the price statistic when there is no price', () => {
    const names = refSpec().names.map((n, i) => (i === C['Total Revenue'] ? 'Total Revenue' : n));
    const text = [
      line({ 'Unit Price': '2.00', 'Units Sold': '3', 'Total Revenue': '6.01' }),
      line({ 'Unit Price': '1.00', 'Units Sold': '1', 'Total Revenue': '"1,000.00"' }),
    ].join('\n');
    const withTotal = parse(text, refSpec({ revenue: C['Total Revenue'], names }));
    expect(withTotal.agg.revenue).toBe(601n + 100000n);
    expect(withTotal.agg.priceSum).toBe(300n);
    const onlyTotal = parse(text, refSpec({ price: -1, revenue: C['Total Revenue'], names }));
    expect(onlyTotal.agg.revenue).toBe(601n + 100000n);
    expect(onlyTotal.agg.priceSum).toBe(601n + 100000n);
    expect(onlyTotal.agg.priceMax).toBe(100000n);
    expect(onlyTotal.agg.units).toBe(4n);
  });

  it('counts one unit per row without a quantity column', () => {
    const out = parse([line({ 'Units Sold': 'ignored' }), line({})].join('\n'), refSpec({ quantity: -1 }));
    expect(out.agg.rows).toBe(2);
    expect(out.agg.units).toBe(2n);
    expect(out.agg.revenue).toBe(999n * 2n);
  });
});

// --- dates and separators -----------------------------------------------------------------------

describe('parseChunk: dates and number formats', () => {
  const cases: [ScanSpec['dateFormat'], string, string | null][] = [
    ['mdy', '1/15/2023', '2023-01'],
    ['mdy', '12/31/1999', '1999-12'],
    ['mdy', '01/05/2023', '2023-01'],
    ['mdy', '15/1/2023', null],
    ['mdy', '1/15/2023 10:23', '2023-01'],
    ['dmy', '15/1/2023', '2023-01'],
    ['dmy', '15.01.2023', '2023-01'],
    ['dmy', '1-12-2023', '2023-12'],
    ['dmy', '1/15/2023', null],
    ['ymd', '2023-01-15', '2023-01'],
    ['ymd', '2023/1/5', '2023-01'],
    ['ymd', '2023-01-15 10:23:00', '2023-01'],
    ['ymd', '2023-01-15T10:23:00Z', '2023-01'],
    ['ymd', '2023-01-15T10:23:00.123+02:00', '2023-01'],
    ['ymd', '2024-02-29', '2024-02'],
    ['ymd', '2023-02-29', null],
    ['ymd', '2023-13-01', null],
    ['ymd', '2023-00-10', null],
    ['ymd', '2023-04-31', null],
    ['ymd', '2023-01-15x', null],
    ['ymd', '2023-01/15', null],
    ['ymd', '15-01-2023', null],
    ['mdy', '', null],
  ];
  for (const [fmt, date, month] of cases) {
    it(`${fmt} ${JSON.stringify(date)} → ${month ?? 'rejected'}`, () => {
      const out = parse(`${line({ 'Order Date': date })}\n`, refSpec({ dateFormat: fmt }));
      if (month === null) {
        expect(out.agg.rows).toBe(0);
        expect(out.rejects[0][1]).toMatch(/Order Date is not a valid date/);
      } else {
        expect(out.rejects).toEqual([]);
        expect([...out.agg.months.keys()]).toEqual([month]);
      }
    });
  }

  it('ignores dates when there is no date column', () => {
    const out = parse(`${line({ 'Order Date': 'garbage' })}\n`, refSpec({ date: -1, dateFormat: null }));
    expect(out.agg.rows).toBe(1);
    expect(out.agg.months.size).toBe(0);
  });

  it('parses decimal commas with a semicolon delimiter', () => {
    const text = [
      'Asia;Fruits;1/2/2020;3;1.234,50',
      'Asia;Fruits;1/3/2020;1;"12,5"',
      'Europe;Snacks;2/3/2020;2;$1.000.000,0001',
      'Europe;Snacks;2/3/2020;2;1,234.50',
    ].join('\r\n');
    const spec: ScanSpec = {
      delimiter: 0x3b,
      fieldCount: 5,
      price: 4,
      quantity: 3,
      revenue: -1,
      date: 2,
      dateFormat: 'mdy',
      decimalComma: true,
      scale: 2,
      dimensions: [{ name: 'Region', index: 0 }],
      maxKeys: 10,
      names: ['Region', '', 'Date', 'Qty', 'Price'],
    };
    const out = parseChunk(Buffer.from(text), spec);
    expect(out.rejects.map(([l, r]) => [l, r])).toEqual([[3, 'Price is not a number']]);
    expect(out.agg.scale).toBe(4);
    expect(out.agg.revenue).toBe(12345000n * 3n + 125000n + 10000000001n * 2n);
    expect(dimsOf(out).get('Region')?.get('Europe')?.revenue).toBe(20000000002n);
  });
});

// --- exactness at scale -------------------------------------------------------------------------

describe('parseChunk: overflow safety', () => {
  it('sums 40,000 rows of 99999999.99 × 9999 exactly', () => {
    const row = `${line({ 'Unit Price': '99999999.99', 'Units Sold': '9999' })}\n`;
    const n = 40_000;
    const text = row.repeat(n);
    const out = parse(text);
    const perRow = 9999999999n * 9999n;
    expect(out.agg.rows).toBe(n);
    expect(out.agg.revenue).toBe(perRow * BigInt(n));
    expect(out.agg.revenue > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(out.agg.priceSum).toBe(9999999999n * BigInt(n));
    expect(out.agg.units).toBe(9999n * BigInt(n));
    expect(out.agg.months.get('2015-03')).toEqual({
      rows: n,
      units: 9999n * BigInt(n),
      revenue: perRow * BigInt(n),
    });
    expect(dimsOf(out).get('Region')?.get('Asia')?.revenue).toBe(perRow * BigInt(n));
    // The same in two chunks, merged.
    const half = row.repeat(n / 2);
    const [h1, h2] = [parse(half), parse(half)];
    const merged = mergeAgg(h1.agg, h2.agg);
    expect(plain(merged, [...h1.cells, ...h2.cells])).toEqual(plain(out.agg, out.cells));
  });

  it('stays exact when running sums pass 2^53', () => {
    // Single values are capped at 2^52 in the smallest unit (bigger ones are rejected as too large,
    // or take the bigint path for a product), so value + accumulator never rounds.
    // 9999999999999.99 × 9 = 8999999999999991 (a product past 2^52: the bigint path).
    const big = '9999999999999.99'; // 999999999999999 at scale 2: 15 digits, the most a value may have
    const text = [
      line({ 'Unit Price': '72000000000.02', 'Units Sold': '1' }),
      line({ 'Unit Price': '9999999999999.99', 'Units Sold': '9' }),
      line({ 'Unit Price': '0.03', 'Units Sold': '1', 'Order Date': '4/1/2015', Region: 'Europe' }),
      ...Array.from({ length: 10 }, () =>
        line({ 'Unit Price': big, 'Units Sold': '1', 'Order Date': '4/1/2015', Region: 'Europe' }),
      ),
    ].join('\n');
    const out = parse(text);
    expect(out.rejects).toEqual([]);
    const r1 = 7200000000002n + 999999999999999n * 9n;
    const r2 = 3n + 10n * 999999999999999n;
    const a = out.agg;
    expect({
      revenue: a.revenue,
      priceSum: a.priceSum,
      march: a.months.get('2015-03')?.revenue,
      april: a.months.get('2015-04')?.revenue,
      asia: dimsOf(out).get('Region')?.get('Asia')?.revenue,
      europe: dimsOf(out).get('Region')?.get('Europe')?.revenue,
    }).toEqual({
      revenue: r1 + r2,
      priceSum: 7200000000002n + 999999999999999n + 3n + 10n * 999999999999999n,
      march: r1,
      april: r2,
      asia: r1,
      europe: r2,
    });
    expect(r2 > 2n ** 53n).toBe(true);
  });

  it('keeps min and max exact when a scale raise lifts a price past 2^53', () => {
    // 9999999999999.99 is 999999999999999 at scale 2; the next row needs scale 4, where it is
    // 99999999999999900, beyond exact doubles.
    const text = [
      line({ 'Unit Price': '9999999999999.99', 'Units Sold': '1' }),
      line({ 'Unit Price': '0.0001', 'Units Sold': '1' }),
    ].join('\n');
    const out = parse(text);
    expect(out.rejects).toEqual([]);
    expect(out.agg.scale).toBe(4);
    expect({ min: out.agg.priceMin, max: out.agg.priceMax, sum: out.agg.priceSum }).toEqual({
      min: 1n,
      max: 99999999999999900n,
      sum: 99999999999999901n,
    });
  });

  it('rejects a price whose scaled value would not be exact, rather than rounding it', () => {
    // 99999999999999.9 at scale 2 is 9999999999999990 > 2^53.
    const out = parse(`${line({ 'Unit Price': '99999999999999.9' })}\n`);
    expect(out.agg.rows + out.agg.rejected).toBe(1);
    if (out.agg.rows === 1) expect(out.agg.priceSum).toBe(9999999999999990n);
    else expect(out.rejects[0][1]).toMatch(/too large/);
  });
});

// --- dimension keys -----------------------------------------------------------------------------

describe('parseChunk: dimension keys', () => {
  it('unescapes doubled quotes and merges quoted and plain spellings of a key', () => {
    const text = [
      line({ Region: '"a ""b"""' }),
      line({ Region: '"a ""b"""' }),
      line({ Region: 'North' }),
      line({ Region: '"North"' }),
      line({ Region: '"Middle East, North Africa"' }),
      line({ Region: '""' }),
      line({ Region: '"日本"' }),
    ].join('\n');
    const out = parse(text);
    expect(out.rejects).toEqual([]);
    const region = dimsOf(out).get('Region');
    expect(new Set(region?.keys())).toEqual(
      new Set(['a "b"', 'North', 'Middle East, North Africa', '', '日本']),
    );
    expect(region?.get('a "b"')?.rows).toBe(2);
    expect(region?.get('North')?.rows).toBe(2);
  });

  it('throws E_TOO_MANY_KEYS past maxKeys', () => {
    const text = ['A', 'B', 'C'].map((r) => line({ Region: r })).join('\n');
    expect(() => parse(text, refSpec({ maxKeys: 2 }))).toThrow(
      expect.objectContaining({ code: 'E_TOO_MANY_KEYS' }),
    );
    expect(dimsOf(parse(text, refSpec({ maxKeys: 3 }))).get('Region')?.size).toBe(3);
  });
});
