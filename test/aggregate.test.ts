import { describe, expect, it } from 'vitest';
import {
  divRound,
  formatScaled,
  groupThousands,
  parseDecimal,
  pow10,
  rescale,
} from '../src/aggregate/decimal.js';
import {
  type Agg,
  aggFromWire,
  aggToWire,
  type Cell,
  emptyAgg,
  finalizeTotals,
  mergeAgg,
  mergeInto,
  type WirePartial,
  type WireReject,
} from '../src/aggregate/partial.js';
import { ProtocolError } from '../src/errors.js';
import { Rng } from './helpers/prng.js';

// --- independent helpers ----------------------------------------------------------------------

function ten(n: number): bigint {
  let p = 1n;
  for (let i = 0; i < n; i++) p *= 10n;
  return p;
}

function bigOf(rng: Rng, maxDigits: number, allowNegative = true): bigint {
  let s = String(rng.int(1, 9));
  const digits = rng.int(0, maxDigits - 1);
  for (let i = 0; i < digits; i++) s += String(rng.int(0, 9));
  const v = rng.chance(0.1) ? 0n : BigInt(s);
  return allowNegative && rng.chance(0.15) ? -v : v;
}

const MONTHS = ['2019-11', '2019-12', '2020-01', '2020-02', '2021-07', '1999-12'];

function randomCell(rng: Rng): Cell {
  return { rows: rng.int(1, 1000), units: bigOf(rng, 8, false), revenue: bigOf(rng, 30) };
}

function randomAgg(rng: Rng): Agg {
  const scale = rng.int(0, 6);
  const rows = rng.chance(0.1) ? 0 : rng.int(1, 5000);
  const a = emptyAgg(scale);
  a.rows = rows;
  a.rejected = rng.int(0, 5);
  a.units = bigOf(rng, 12, false);
  a.revenue = bigOf(rng, 25);
  if (rows > 0) {
    const x = bigOf(rng, 10);
    const y = bigOf(rng, 10);
    // bigints: Math.min/max do not apply.
    [a.priceMin, a.priceMax] = x < y ? [x, y] : [y, x];
  }
  a.priceSum = bigOf(rng, 22);
  for (const m of MONTHS) if (rng.chance(0.4)) a.months.set(m, randomCell(rng));
  return a;
}

function cloneAgg(a: Agg): Agg {
  const cells = (m: Map<string, Cell>) => new Map([...m].map(([k, c]) => [k, { ...c }]));
  return { ...a, months: cells(a.months) };
}

/** A plain, order-independent form of an aggregate, every money value lifted to `scale`. */
function normal(a: Agg, scale: number) {
  const lift = (v: bigint) => v * ten(scale - a.scale);
  const cells = (m: Map<string, Cell>) =>
    Object.fromEntries(
      [...m]
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([k, c]) => [k, { rows: c.rows, units: c.units, revenue: lift(c.revenue) }]),
    );
  return {
    rows: a.rows,
    rejected: a.rejected,
    units: a.units,
    revenue: lift(a.revenue),
    priceMin: a.priceMin === null ? null : lift(a.priceMin),
    priceMax: a.priceMax === null ? null : lift(a.priceMax),
    priceSum: lift(a.priceSum),
    months: cells(a.months),
  };
}

/** The merge, computed independently from the definition. */
function referenceMerge(list: Agg[]) {
  const scale = Math.max(...list.map((a) => a.scale));
  const forms = list.map((a) => normal(a, scale));
  const addCells = (into: Record<string, Cell>, from: Record<string, Cell>) => {
    for (const [k, c] of Object.entries(from)) {
      const cur = into[k];
      into[k] = cur
        ? { rows: cur.rows + c.rows, units: cur.units + c.units, revenue: cur.revenue + c.revenue }
        : { ...c };
    }
  };
  const out = {
    rows: 0,
    rejected: 0,
    units: 0n,
    revenue: 0n,
    priceMin: null as bigint | null,
    priceMax: null as bigint | null,
    priceSum: 0n,
    months: {} as Record<string, Cell>,
  };
  for (const f of forms) {
    out.rows += f.rows;
    out.rejected += f.rejected;
    out.units += f.units;
    out.revenue += f.revenue;
    out.priceSum += f.priceSum;
    if (f.priceMin !== null)
      out.priceMin = out.priceMin === null || f.priceMin < out.priceMin ? f.priceMin : out.priceMin;
    if (f.priceMax !== null)
      out.priceMax = out.priceMax === null || f.priceMax > out.priceMax ? f.priceMax : out.priceMax;
    addCells(out.months, f.months);
  }
  const sortKeys = <T>(o: Record<string, T>) =>
    Object.fromEntries(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)));
  out.months = sortKeys(out.months);
  return { scale, form: out };
}

function expectSame(a: Agg, b: Agg): void {
  expect(a.scale).toBe(b.scale);
  expect(normal(a, a.scale)).toEqual(normal(b, b.scale));
}

function expectProtocolError(fn: () => unknown, what: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, what).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code, what).toBe('E_PROTOCOL');
}

// --- merge ------------------------------------------------------------------------------------

describe('mergeAgg', () => {
  it('equals an independent merge of random aggregates with different scales and months', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 300; i++) {
      const a = randomAgg(rng);
      const b = randomAgg(rng);
      const m = mergeAgg(a, b);
      const ref = referenceMerge([a, b]);
      expect(m.scale).toBe(ref.scale);
      expect(normal(m, m.scale)).toEqual(ref.form);
    }
  });

  it('is associative and commutative', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 300; i++) {
      const [a, b, c] = [randomAgg(rng), randomAgg(rng), randomAgg(rng)];
      expectSame(mergeAgg(mergeAgg(a, b), c), mergeAgg(a, mergeAgg(b, c)));
      expectSame(mergeAgg(a, b), mergeAgg(b, a));
      expectSame(mergeAgg(mergeAgg(a, b), c), mergeAgg(mergeAgg(c, a), b));
    }
  });

  it('has emptyAgg as identity (up to the scale lift)', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 100; i++) {
      const a = randomAgg(rng);
      expectSame(mergeAgg(a, emptyAgg(0)), a);
      expectSame(mergeAgg(emptyAgg(a.scale), a), a);
    }
  });

  it('does not modify its inputs', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 100; i++) {
      const a = randomAgg(rng);
      const b = randomAgg(rng);
      const [ca, cb] = [cloneAgg(a), cloneAgg(b)];
      const m = mergeAgg(a, b);
      // Mutating the result must not reach the inputs either.
      for (const c of m.months.values()) c.rows += 1000;
      expect(a).toEqual(ca);
      expect(b).toEqual(cb);
    }
  });

  it('lifts to the larger scale exactly: 1.5 (scale 1) + 0.0025 (scale 4) = 1.5025', () => {
    const a = emptyAgg(1);
    a.rows = 1;
    a.revenue = 15n;
    a.priceSum = 15n;
    a.priceMin = 15n;
    a.priceMax = 15n;
    a.months.set('2020-01', { rows: 1, units: 1n, revenue: 15n });
    const b = emptyAgg(4);
    b.rows = 1;
    b.revenue = 25n;
    b.priceSum = 25n;
    b.priceMin = 25n;
    b.priceMax = 25n;
    b.months.set('2020-01', { rows: 1, units: 2n, revenue: 25n });
    const m = mergeAgg(a, b);
    expect(m.scale).toBe(4);
    expect(m.revenue).toBe(15025n);
    expect(m.priceMin).toBe(25n);
    expect(m.priceMax).toBe(15000n);
    expect(m.months.get('2020-01')).toEqual({ rows: 2, units: 3n, revenue: 15025n });
  });

  it('keeps min/max null only while there are no rows', () => {
    const a = emptyAgg(2);
    const b = emptyAgg(3);
    expect(mergeAgg(a, b).priceMin).toBeNull();
    b.rows = 1;
    b.priceMin = -7n;
    b.priceMax = -7n;
    const m = mergeAgg(a, b);
    expect([m.priceMin, m.priceMax]).toEqual([-7n, -7n]);
  });
});

describe('mergeInto', () => {
  it('gives the same result as mergeAgg, for either scale order', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 300; i++) {
      const a = randomAgg(rng);
      const b = randomAgg(rng);
      const cb = cloneAgg(b);
      const acc = cloneAgg(a);
      mergeInto(acc, b);
      expectSame(acc, mergeAgg(a, b));
      expect(b).toEqual(cb);
    }
  });

  it('folds a sequence like reduce(mergeAgg), and later merges do not reach earlier inputs', () => {
    const rng = new Rng(6);
    for (let i = 0; i < 50; i++) {
      const list = Array.from({ length: rng.int(1, 8) }, () => randomAgg(rng));
      const copies = list.map(cloneAgg);
      const acc = emptyAgg(0);
      for (const a of list) mergeInto(acc, a);
      expectSame(acc, list.reduce(mergeAgg, emptyAgg(0)));
      const ref = referenceMerge([emptyAgg(0), ...list]);
      expect(normal(acc, acc.scale)).toEqual(ref.form);
      list.forEach((a, k) => {
        expect(a).toEqual(copies[k]);
      });
    }
  });
});

// --- wire -------------------------------------------------------------------------------------

function rejectsFor(rng: Rng, n: number): WireReject[] {
  return Array.from({ length: n }, (_, i) => [
    i * 3 + rng.int(0, 2),
    'Unit Price is not a number',
    `x,y,${i}`,
  ]);
}

describe('wire form', () => {
  it('round-trips: aggFromWire(aggToWire(a)) equals a', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 300; i++) {
      const a = randomAgg(rng);
      const rejects = rejectsFor(rng, a.rejected);
      const lines = a.rows + a.rejected + rng.int(0, 3);
      // Through JSON, as a stand-in for msgpack: only plain data may be needed.
      const wire = JSON.parse(JSON.stringify(aggToWire(a, lines, rejects))) as WirePartial;
      const back = aggFromWire(wire, 1000);
      expect(back.agg).toEqual(a);
      expect(back.lines).toBe(lines);
      expect(back.rejects).toEqual(rejects);
    }
  });

  it('carries money as decimal-integer strings, never as numbers', () => {
    const a = emptyAgg(2);
    a.rows = 1;
    a.revenue = 2n ** 70n;
    a.priceSum = -(2n ** 65n);
    a.priceMin = 1n;
    a.priceMax = 2n ** 64n;
    const w = aggToWire(a, 1, []);
    expect(w.revenue).toBe('1180591620717411303424');
    expect(w.priceSum).toBe('-36893488147419103232');
    expect(w.priceMax).toBe('18446744073709551616');
    expect(aggFromWire(w, 10).agg).toEqual(a);
  });

  function validWire(): WirePartial {
    const a = emptyAgg(2);
    a.rows = 3;
    a.rejected = 1;
    a.units = 30n;
    a.revenue = 12345n;
    a.priceMin = 100n;
    a.priceMax = 500n;
    a.priceSum = 900n;
    a.months.set('2020-02', { rows: 3, units: 30n, revenue: 12345n });
    return JSON.parse(JSON.stringify(aggToWire(a, 4, [[2, 'empty line', '']])));
  }

  it('accepts the valid base partial used below', () => {
    expect(aggFromWire(validWire(), 10).agg.rows).toBe(3);
  });

  const mutations: [string, (w: Record<string, unknown>) => void][] = [
    ['null partial', () => undefined],
    ['units not a number', (w) => (w.units = 'abc')],
    ['units as a decimal string', (w) => (w.units = '12.5')],
    ['units as a float', (w) => (w.units = 12.5)],
    ['units as a JSON number', (w) => (w.units = 12)],
    ['revenue empty', (w) => (w.revenue = '')],
    ['revenue with exponent', (w) => (w.revenue = '1e5')],
    ['revenue of 61 digits', (w) => (w.revenue = '1'.repeat(61))],
    ['priceSum missing', (w) => delete w.priceSum],
    ['priceMin a number', (w) => (w.priceMin = 100)],
    ['priceMax missing', (w) => delete w.priceMax],
    ['rows a float', (w) => (w.rows = 2.5)],
    ['rows negative', (w) => (w.rows = -1)],
    ['rows a string', (w) => (w.rows = '3')],
    ['rows beyond safe integers', (w) => (w.rows = 2 ** 53)],
    ['rejected negative', (w) => (w.rejected = -1)],
    ['lines negative', (w) => (w.lines = -4)],
    ['scale negative', (w) => (w.scale = -1)],
    ['scale too large', (w) => (w.scale = 10)],
    ['scale a float', (w) => (w.scale = 2.5)],
    ['month key 2020-13', (w) => (w.months = [['2020-13', 1, '1', '1']])],
    ['month key 2020-00', (w) => (w.months = [['2020-00', 1, '1', '1']])],
    ['month key 2020-2', (w) => (w.months = [['2020-2', 1, '1', '1']])],
    ['month key 202002', (w) => (w.months = [['202002', 1, '1', '1']])],
    ['month cell with negative rows', (w) => (w.months = [['2020-02', -3, '1', '1']])],
    ['month cell with float rows', (w) => (w.months = [['2020-02', 1.5, '1', '1']])],
    ['month cell too short', (w) => (w.months = [['2020-02', 1, '1']])],
    ['month cell revenue a float', (w) => (w.months = [['2020-02', 1, '1', 1.5]])],
    ['months not an array', (w) => (w.months = { '2020-02': [1, '1', '1'] })],
    ['cells not an array', (w) => (w.cells = {})],
    ['keyed run of an unknown kind', (w) => (w.cells = [{ kind: 'cube', name: 'Region', blocks: [] }])],
    ['keyed run name not a string', (w) => (w.cells = [{ kind: 'dim', name: 7, blocks: [] }])],
    ['keyed run block not bytes', (w) => (w.cells = [{ kind: 'dim', name: 'Region', blocks: ['x'] }])],
    [
      'keyed run block too short',
      (w) => (w.cells = [{ kind: 'dim', name: 'Region', blocks: [new Uint8Array(8)] }]),
    ],
    ['reject count mismatch (more rejected than rejects)', (w) => (w.rejected = 2)],
    ['reject count mismatch (fewer rejected than rejects)', (w) => (w.rejected = 0)],
    ['rejects not an array', (w) => (w.rejects = 'none')],
    ['reject line a float', (w) => (w.rejects = [[1.5, 'r', 'x']])],
    ['reject line negative', (w) => (w.rejects = [[-1, 'r', 'x']])],
    ['reject reason not a string', (w) => (w.rejects = [[1, 2, 'x']])],
    ['reject with two entries', (w) => (w.rejects = [[1, 'r']])],
  ];
  for (const [what, mutate] of mutations) {
    it(`rejects a malformed partial: ${what}`, () => {
      const w = validWire() as unknown as Record<string, unknown>;
      mutate(w);
      const input = what === 'null partial' ? null : w;
      expectProtocolError(() => aggFromWire(input as unknown as WirePartial, 10), what);
    });
  }

  // A duplicate key would overwrite an earlier cell and silently drop its rows and money.
  const duplicates: [string, (w: Record<string, unknown>) => void][] = [
    [
      'a duplicate month key',
      (w) =>
        (w.months = [
          ['2020-02', 2, '20', '10000'],
          ['2020-02', 1, '10', '2345'],
        ]),
    ],
    [
      'a duplicate keyed run',
      (w) =>
        (w.cells = [
          { kind: 'dim', name: 'Region', blocks: [] },
          { kind: 'dim', name: 'Region', blocks: [] },
        ]),
    ],
  ];
  for (const [what, mutate] of duplicates) {
    it(`rejects ${what} rather than dropping a cell`, () => {
      const w = validWire() as unknown as Record<string, unknown>;
      mutate(w);
      expectProtocolError(() => aggFromWire(w as unknown as WirePartial, 10), what);
    });
  }
});

// --- finalize ---------------------------------------------------------------------------------

/** priceSum / rows at `scale`, rounded half away from zero to 4 places, computed independently. */
function referenceAvg(priceSum: bigint, rows: number, scale: number): string {
  const neg = priceSum < 0n;
  const abs = neg ? -priceSum : priceSum;
  // value = abs / (rows * 10^scale); want round(value * 10^4).
  const num = abs * 10000n * 2n + BigInt(rows) * ten(scale);
  const q = num / (2n * BigInt(rows) * ten(scale));
  const s = q.toString().padStart(5, '0');
  const body = `${s.slice(0, -4)}.${s.slice(-4)}`;
  return q === 0n || !neg ? body : `-${body}`;
}

describe('finalizeTotals', () => {
  it('formats every money value at the aggregate scale', () => {
    const a = emptyAgg(2);
    a.rows = 3;
    a.rejected = 2;
    a.units = 12345678901234567890n;
    a.revenue = 123456789012345678901234n;
    a.priceMin = 5n;
    a.priceMax = 99999n;
    a.priceSum = 1000n;
    expect(finalizeTotals(a)).toEqual({
      rows: 3,
      rejected: 2,
      units: '12345678901234567890',
      revenue: '1234567890123456789012.34',
      minPrice: '0.05',
      maxPrice: '999.99',
      avgPrice: '3.3333',
      priceSum: '10.00',
    });
  });

  it('has no min, max or average without rows', () => {
    const t = finalizeTotals(emptyAgg(4));
    expect(t).toMatchObject({ rows: 0, minPrice: null, maxPrice: null, avgPrice: null, priceSum: '0.0000' });
  });

  it('rounds the average half up to 4 places', () => {
    const cases: [bigint, number, number, string][] = [
      [200n, 3, 2, '0.6667'], // 0.666…
      [100n, 3, 2, '0.3333'],
      [1n, 2, 4, '0.0001'], // 0.00005 exactly: half rounds up
      [3n, 2, 4, '0.0002'], // 0.00015
      [1n, 3, 4, '0.0000'], // 0.0000333…
      [99999n, 2, 4, '5.0000'], // 4.99995
      [15n, 1, 0, '15.0000'],
      [123456789n, 1, 6, '123.4568'], // 123.456789
      [-1n, 2, 4, '-0.0001'], // half away from zero for negatives
      [-1n, 3, 4, '0.0000'],
    ];
    for (const [priceSum, rows, scale, want] of cases) {
      const a = emptyAgg(scale);
      a.rows = rows;
      a.priceSum = priceSum;
      a.priceMin = 0n;
      a.priceMax = 0n;
      expect(finalizeTotals(a).avgPrice, `${priceSum}/${rows} @${scale}`).toBe(want);
      expect(referenceAvg(priceSum, rows, scale)).toBe(want);
    }
  });

  it('matches an independent average for random sums, row counts and scales', () => {
    const rng = new Rng(8);
    for (let i = 0; i < 1000; i++) {
      const a = emptyAgg(rng.int(0, 9));
      a.rows = rng.int(1, 5_000_000);
      a.priceSum = bigOf(rng, 24, false);
      a.priceMin = 0n;
      a.priceMax = 0n;
      expect(finalizeTotals(a).avgPrice).toBe(referenceAvg(a.priceSum, a.rows, a.scale));
    }
  });
});

// --- decimal helpers --------------------------------------------------------------------------

describe('decimal helpers', () => {
  it('pow10 is exact, inside and beyond its table', () => {
    for (const n of [0, 1, 2, 18, 19, 20, 40, 41, 60]) expect(pow10(n)).toBe(ten(n));
  });

  it('formatScaled', () => {
    const cases: [bigint, number, string][] = [
      [0n, 2, '0.00'],
      [0n, 0, '0'],
      [5n, 2, '0.05'],
      [-5n, 2, '-0.05'],
      [50n, 2, '0.50'],
      [123n, 5, '0.00123'],
      [-123456n, 2, '-1234.56'],
      [7n, 0, '7'],
      [-7n, 0, '-7'],
      [100n, 2, '1.00'],
      [2n ** 64n, 2, '184467440737095516.16'],
      [-(2n ** 70n), 4, '-118059162071741130.3424'],
      [2n ** 70n, 0, '1180591620717411303424'],
    ];
    for (const [v, s, want] of cases) expect(formatScaled(v, s), `${v}@${s}`).toBe(want);
  });

  it('formatScaled inverts parseDecimal', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 500; i++) {
      const v = bigOf(rng, 30);
      const s = rng.int(0, 9);
      expect(parseDecimal(formatScaled(v, s))).toEqual([v, s]);
    }
  });

  it('divRound rounds half away from zero', () => {
    const cases: [bigint, bigint, number, string][] = [
      [1n, 3n, 4, '0.3333'],
      [2n, 3n, 4, '0.6667'],
      [1n, 2n, 0, '1'],
      [-1n, 2n, 0, '-1'],
      [5n, 10n, 0, '1'],
      [4n, 10n, 0, '0'],
      [-4n, 10n, 0, '0'],
      [-6n, 10n, 0, '-1'],
      [0n, 7n, 2, '0.00'],
      [10n, 1n, 2, '10.00'],
      [2n ** 70n, 3n, 2, '393530540239137101141.33'],
      [2n ** 70n + 1n, 2n, 0, '590295810358705651713'],
      [-(2n ** 66n), 2n ** 64n, 4, '-4.0000'],
    ];
    for (const [n, d, p, want] of cases) expect(divRound(n, d, p), `${n}/${d}`).toBe(want);
  });

  it('divRound refuses a zero or negative divisor', () => {
    expect(() => divRound(1n, 0n, 2)).toThrow(RangeError);
    expect(() => divRound(1n, -3n, 2)).toThrow(RangeError);
  });

  it('parseDecimal accepts plain decimals', () => {
    const cases: [string, bigint, number][] = [
      ['0', 0n, 0],
      ['-0', 0n, 0],
      ['0.00', 0n, 2],
      ['-12.3400', -123400n, 4],
      ['007.5', 75n, 1],
      ['957.5775', 9575775n, 4],
      ['18446744073709551616.5', 184467440737095516165n, 1],
      ['-99999999999999999999999', -99999999999999999999999n, 0],
    ];
    for (const [text, v, s] of cases) expect(parseDecimal(text), text).toEqual([v, s]);
  });

  it('parseDecimal rejects anything else', () => {
    for (const text of [
      '',
      '-',
      '1.',
      '.5',
      '+1',
      '1e5',
      ' 1',
      '1 ',
      '1,000',
      '--1',
      '1.2.3',
      '$1',
      'NaN',
      '0x10',
      '١٢',
    ]) {
      expect(() => parseDecimal(text), JSON.stringify(text)).toThrow(RangeError);
    }
  });

  it('groupThousands', () => {
    const cases: [string, string][] = [
      ['0', '0'],
      ['123', '123'],
      ['1000', '1,000'],
      ['1234567.89', '1,234,567.89'],
      ['-1234', '-1,234'],
      ['-100000.0001', '-100,000.0001'],
      ['999999.12345678', '999,999.12345678'],
      ['0.5', '0.5'],
      ['-0.5', '-0.5'],
      ['18446744073709551616', '18,446,744,073,709,551,616'],
      ['1234.5678', '1,234.5678'],
    ];
    for (const [text, want] of cases) expect(groupThousands(text), text).toBe(want);
  });

  it('rescale raises exactly and refuses to lower', () => {
    expect(rescale(5n, 2, 4)).toBe(500n);
    expect(rescale(-5n, 0, 3)).toBe(-5000n);
    expect(rescale(0n, 0, 9)).toBe(0n);
    expect(rescale(123n, 2, 2)).toBe(123n);
    expect(rescale(1n, 0, 45)).toBe(ten(45));
    expect(rescale(2n ** 70n, 2, 6)).toBe(2n ** 70n * 10000n);
    expect(() => rescale(500n, 4, 2)).toThrow(RangeError);
  });
});
